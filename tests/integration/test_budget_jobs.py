"""``failmodel verify --budget`` ends within its time with every row judged, and
``--jobs 2`` runs two rows on two stacks at once, reported in the table's order."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROWS = ["--row", "stale-read", "--row", "cas-race"]  # designs/kv.toml's first two rows


def verify(out: Path, *options: str) -> tuple[float, dict[str, Any]]:
    """Run ``failmodel verify designs/kv.toml`` (correct variant) on two rows;
    its seconds and its report. It must pass: no false alarm."""
    argv = [sys.executable, "-m", "harness", "verify", "designs/kv.toml", *ROWS, "--seed", "1"]
    begin = time.monotonic()
    done = subprocess.run(
        [*argv, "--out", str(out), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        start_new_session=True,
    )
    took = time.monotonic() - begin
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return took, json.loads((out / "kv-correct" / "report.json").read_text())


def startup_s() -> float:
    """Seconds to start Python, import what ``verify`` runs on and load the design."""
    code = (
        "import harness.cli, harness.verify, harness.report, harness.jobs\n"
        "from harness.design import load_design\n"
        "load_design('designs/kv.toml')"
    )
    begin = time.monotonic()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    return time.monotonic() - begin


def longest_example_s(row_dir: Path) -> float:
    """Seconds from the first to the last event of the row's longest history."""
    longest = 0.0
    for history in (row_dir / "examples").glob("*.jsonl"):
        times = [json.loads(line)["time"] for line in history.read_text().splitlines() if line]
        longest = max(longest, max(times) - min(times))
    return longest


def test_a_budget_ends_in_time_with_every_row_judged(tmp_path: Path) -> None:
    took, report = verify(tmp_path, "--budget", "40s")
    rows = report["rows"]
    assert [r["row_id"] for r in rows] == ["stale-read", "cas-race"]
    assert all(r["status"] == "PASS" and r["examples"] >= 2 for r in rows), rows
    assert sum(r["budget_s"] for r in rows) <= 40
    # A row stops drawing examples when its share is spent: it runs over by at
    # most the example in flight (a latency-heavy kv example takes up to ~14 s:
    # its batches time out at 2 s each) and that example's set-up. The last
    # row's overrun is the run's; the budget is used, not left idle: the correct
    # variant finds nothing to stop for.
    longest = {r["row_id"]: longest_example_s(tmp_path / "kv-correct" / r["row_id"]) for r in rows}
    assert all(r["duration_s"] <= r["budget_s"] + longest[r["row_id"]] + 3 for r in rows), (
        [(r["row_id"], r["budget_s"], r["duration_s"]) for r in rows],
        longest,
    )
    # The run's own clock (provisioning to the report, the system stopped): the
    # budget, the last example's overrun, and stopping beyond the reserve kept for it.
    assert 28 <= report["duration_s"] <= 40 + longest["cas-race"] + 8, (report, longest)
    # Outside it, the command only starts Python, loads the design and exits: no
    # more than a few times what that takes on this machine now (a loaded CI
    # machine is several times slower at both).
    outside, startup = took - report["duration_s"], startup_s()
    assert outside < 3 * startup + 5, (took, report["duration_s"], startup)


def test_two_jobs_run_two_rows_on_two_stacks_at_once(tmp_path: Path) -> None:
    _, report = verify(tmp_path, "--jobs", "2", "--examples", "3")
    assert [r["row_id"] for r in report["rows"]] == ["stale-read", "cas-race"]
    # 3 examples a round; a row that judged too little on a busy machine runs
    # another round or two (verify's EXTRA_ROUNDS) before it may PASS.
    assert all(r["status"] == "PASS" and r["examples"] in (3, 6, 9) for r in report["rows"]), [
        (r["row_id"], r["status"], r["examples"], r.get("reason")) for r in report["rows"]
    ]
    spans = []
    for job in ("1", "2"):
        part = json.loads(
            (tmp_path / "kv-correct" / "jobs" / job / "kv-correct" / "report.json").read_text()
        )
        begin = datetime.fromisoformat(part["started_at"]).timestamp()
        spans.append((begin, begin + part["duration_s"]))
    # The two stacks were up at the same time, each with its own ports: a clash
    # would have kept one from starting (an ERROR row), not passed both.
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans


def test_another_round_goes_on_with_the_rows_search(tmp_path: Path) -> None:
    """A budgeted row's second round (time was left after every row's turn) adds
    to the same row: its examples, histories, time given and used."""
    from harness.design import load_design
    from harness.system import LiveSystem
    from harness.verify import PROFILES, verify_row

    design = load_design(ROOT / "designs" / "kv.toml")
    row = design.row("stale-read")
    searches: dict[str, Any] = {}
    with LiveSystem(design.target_spec("correct")) as system:
        first, second = (
            verify_row(
                system,
                design,
                row,
                variant="correct",
                profile=PROFILES["dev"],
                seed_=1 + n,
                out_dir=tmp_path / row.id / f"round-{n}",
                run_id=f"budget{n}",
                database=tmp_path / "db",
                time_s=6.0,
                resume=searches,
            )
            for n in (1, 2)
        )
    assert first.status == second.status == "PASS", (first, second)
    assert second.examples > first.examples >= 1
    assert second.histories[: first.examples] == first.histories
    assert len(set(second.histories)) == second.examples  # none overwritten
    assert (first.budget_s, second.budget_s) == (6.0, 12.0)
    assert second.duration_s > first.duration_s
