"""Examples per minute of reference-design rows, and where each example's time goes.

Runs ``failmodel verify`` once per row, a fresh search each (the same seed for
every row and an empty example database, so two checkouts compared row by row
draw the same schedules; with the cache's database, a run would first replay
what earlier runs kept) and prints a Markdown
table: examples per minute of the row's wall time, the mean seconds per
example of each phase (``harness.phases``), and the ceiling the schedule
alone allows -- 60 / the mean seconds of its own steps (batches, waits,
faults) -- which no saving in the harness can pass. A script, not a test.

    scripts/failmodel env > /tmp/fm.env && . /tmp/fm.env
    PYTHONPATH=. python bench/examples_per_minute.py \\
        --rows checkout:client-retry payments:client-retry --examples 12 --seed 7

``--strategies guided,random`` runs each row once per strategy, one after the
other: what an example costs under each (the guided search's examples are
richer in faults, the random baseline's in requests).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.phases import PHASES

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROWS = (
    "checkout:client-retry",
    "checkout:node-crash",
    "payments:client-retry",
    "payments:charge-not-recorded",
    "matching:client-retry",
    "matching:node-crash",
    "kv:client-retry",
    "kv:replica-crash",
    "auction:client-retry",
    "auction:node-crash",
)
SCHEDULE = ("batches", "wait_steps", "fault_steps")
"""The phases whose time the schedule itself asks for."""
RUN_TIMEOUT_S = 1800


def verify_row(
    design: str, row: str, examples: int, seed: int, strategy: str, out: Path
) -> dict[str, Any]:
    """The row's result in report.json, after one ``failmodel verify`` of it."""
    command = [
        sys.executable, "-m", "harness.cli", "verify", str(ROOT / "designs" / f"{design}.toml"),
        "--row", row, "--examples", str(examples), "--seed", str(seed), "--report-dir", str(out),
        "--strategy", strategy, "--database", str(out / "examples-db"),
    ]
    subprocess.run(command, cwd=ROOT, capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    (report,) = out.glob("*/report.json")
    (result,) = json.loads(report.read_text())["rows"]
    return dict(result, design=design, strategy=strategy)


def line(result: dict[str, Any]) -> str:
    n = max(result["examples"], 1)
    phases: dict[str, float] = result.get("phases") or {}
    means = [phases.get(name, 0.0) / n for name in PHASES]
    other = (result["duration_s"] - sum(phases.values())) / n
    schedule = sum(phases.get(name, 0.0) for name in SCHEDULE) / n
    ceiling = f"{60 / schedule:.0f}" if schedule > 0 else "-"
    cells = " | ".join(f"{m:.2f}" for m in [*means, other])
    return (
        f"| {result['design']} | {result['row_id']} | {result['strategy']} | {result['status']} "
        f"| {result['examples']} "
        f"| {result['examples_per_minute']:.1f} | {ceiling} | {cells} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, help="design:row ...")
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--strategies", default="guided", help="comma-separated: guided, random, swarm"
    )
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    print(
        "| design | row | strategy | status | examples | examples/min | schedule's ceiling | "
        + " | ".join(PHASES.values())
        + " | other |"
    )
    print("|---" * (len(PHASES) + 8) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(args.rows):
            design, row = spec.split(":", 1)
            for strategy in strategies:
                out = Path(tmp) / f"{i}-{strategy}"
                print(line(verify_row(design, row, args.examples, args.seed, strategy, out)))


if __name__ == "__main__":
    main()
