"""A service in another language, validated end to end: the Go payments target
of examples/go-payments, written from docs/contracts.md alone.

Its correct variant passes every row of its design; its bug (a fresh
Idempotency-Key on every PSP call) fails the row about lost PSP answers with
the invariant it breaks. Each search starts from an empty example database,
so a catch is a fresh find. The binary is built first (cached by source
digest), so a cold build does not count against the target's start timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness.design import load_design
from harness.report import RowResult
from harness.verify import Profile, verify_design

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go-payments"
DESIGN = EXAMPLE / "design.toml"
PASS_ALL = Profile(name="third-party", examples=6, shrink_s=20.0, replays=2)
DETECT = Profile(name="detect", examples=20, shrink_s=20.0, replays=2)
SEARCHES = 2
BUG = "key_per_attempt"
CAUGHT_BY = ("psp-answer-lost", frozenset({"no_duplicate_charge", "no_unrecorded_money"}))
BUILD_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def go_binary() -> Path:
    """``run --build-only``: the binary's path (built on first use, in its own group)."""
    build = subprocess.Popen(
        [str(EXAMPLE / "run"), "--build-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = build.communicate(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        pytest.fail(f"building {EXAMPLE} took more than {BUILD_TIMEOUT_S} s")
    text = output.decode(errors="replace")
    assert build.returncode == 0, f"building {EXAMPLE} failed:\n{text}"
    binary = Path(text.strip().splitlines()[-1])
    assert binary.is_file() and os.access(binary, os.X_OK), text
    return binary


def _describe(row: RowResult) -> str:
    lines = [f"{row.row_id}: {row.status} after {row.examples} examples; coverage {row.coverage}"]
    if row.reason:
        lines.append(row.reason)
    if row.error:
        lines.append(row.error[-3000:])
    if row.counterexample:
        lines += [v.summary for v in row.counterexample.verdicts]
        lines += row.counterexample.schedule_lines
    return "\n".join(lines)


def test_correct_go_target_passes_every_row(go_binary: Path, tmp_path: Path) -> None:
    design = load_design(DESIGN)
    report = verify_design(
        design,
        variant="correct",
        profile=PASS_ALL,
        seed_=20261201,
        out_dir=tmp_path,
        database=tmp_path / "examples-db",
        log=False,
    )
    assert [r.row_id for r in report.rows] == [r.id for r in design.rows]
    bad = [r for r in report.rows if r.status != "PASS"]
    assert not bad, "\n\n".join(_describe(r) for r in bad)


def test_buggy_go_target_fails_its_row_with_the_invariant_it_breaks(
    go_binary: Path, tmp_path: Path
) -> None:
    design = load_design(DESIGN)
    row_id, invariants = CAUGHT_BY
    tries: list[RowResult] = []
    for seed in range(11, 11 + SEARCHES):
        report = verify_design(
            design,
            variant=BUG,
            profile=DETECT,
            rows=[row_id],
            seed_=seed,
            out_dir=tmp_path / f"seed-{seed}",
            database=tmp_path / f"examples-db-{seed}",
            log=False,
        )
        (row,) = report.rows
        tries.append(row)
        if row.status == "FAIL":
            break
    assert row.status == "FAIL", "\n\n".join(_describe(r) for r in tries)
    assert row.counterexample is not None
    violated = {v.invariant for v in row.counterexample.verdicts}
    assert "no_duplicate_charge" in violated, f"expected no_duplicate_charge; got {violated}"
    assert violated <= invariants | {"charge_recorded", "consistent_reads"}, violated
    assert row.counterexample.reproduced >= 1, "a caught bug must reproduce at least once"
    assert report.exit_code == 1
