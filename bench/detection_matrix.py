"""Detection matrix: every variant of every reference design against every row.

Prints, per design, a table variant x row with ``caught <invariants> in <s>``
(time from the row's start to its first failing example), ``pass``,
``not exercised`` or ``error``, plus the wall time of each variant's run.
A script, not a test: it takes a long time and measures, it does not judge.

    scripts/failmodel env > /tmp/fm.env && . /tmp/fm.env
    python bench/detection_matrix.py [--designs checkout payments] [--examples 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.design import load_design
from harness.report import RowResult
from harness.verify import Profile, verify_design

ROOT = Path(__file__).resolve().parents[1]


def cell(row: RowResult) -> str:
    if row.status == "FAIL" and row.counterexample is not None:
        names = ",".join(sorted({v.invariant for v in row.counterexample.verdicts}))
        took = f"{row.first_failure_s:.0f}s" if row.first_failure_s is not None else "?"
        rate = f"{row.counterexample.reproduced}/{row.counterexample.attempts}"
        return f"caught {names} in {took} (repro {rate})"
    return {"PASS": "pass", "NOT EXERCISED": "not exercised"}.get(row.status, row.status.lower())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="*", default=["checkout", "payments", "matching", "kv"])
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--shrink-s", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    profile = Profile(name="matrix", examples=args.examples, shrink_s=args.shrink_s, replays=2)
    for name in args.designs:
        design = load_design(ROOT / "designs" / f"{name}.toml")
        print(f"\n## {name} ({args.examples} examples per row, seed {args.seed})\n")
        print("| variant | " + " | ".join(r.id for r in design.rows) + " | wall |")
        print("|---" * (len(design.rows) + 2) + "|")
        for variant in design.target.variants:
            started = time.monotonic()
            with tempfile.TemporaryDirectory() as out:
                report = verify_design(
                    design, variant=variant, profile=profile, seed_=args.seed,
                    out_dir=Path(out), log=False,
                )
            if report.interrupted:
                raise SystemExit(f"detection_matrix: interrupted by {report.interrupted}")
            cells = [cell(r) for r in report.rows]
            wall = time.monotonic() - started
            print(f"| {variant} | " + " | ".join(cells) + f" | {wall:.0f}s |", flush=True)


if __name__ == "__main__":
    main()
