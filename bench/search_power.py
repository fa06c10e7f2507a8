"""Search power: how fast a fresh search finds each reference bug.

For every buggy variant of the reference designs, ``--searches`` fresh
searches of the row that should catch it (a new, empty example database
each, seeds 1..N), recording the examples and seconds to the first failing
example and the size of the final (shrunk) counterexample. Prints per
variant and overall: the share of searches that found the bug within the
budget, median and worst time to detect, median examples, median
counterexample size. A script, not a test: it measures, it does not judge.

    eval "$(scripts/failmodel env)"
    python bench/search_power.py [--searches 5] [--examples 20] [--designs checkout]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.design import load_design
from harness.verify import Profile, verify_design

ROOT = Path(__file__).resolve().parents[1]
# variant -> the row expected to catch it (as tests/integration/test_detection.py)
BUGS: dict[str, dict[str, str]] = {
    "checkout": {
        "read_then_write": "orders-interleave",
        "no_idempotency": "client-retry",
        "dual_write": "event-not-published",
        "redis_truth": "cache-loss",
        "non_idempotent_consumer": "duplicate-event",
    },
    "payments": {
        "psp_retry_without_key": "psp-answer-lost",
        "check_then_act": "duplicate-request",
        "no_idempotency": "client-retry",
        "dual_write": "charge-not-recorded",
    },
    "matching": {
        "no_canonical_key": "mutual-swipe-race",
        "no_pair_lock": "mutual-swipe-race",
        "at_most_once_consumer": "announcement-lost",
    },
}


@dataclass(frozen=True, slots=True)
class Search:
    found: bool
    seconds: float | None
    examples: int | None
    size: int | None
    wall: float


def search(design_name: str, variant: str, row: str, seed: int, profile: Profile) -> Search:
    design = load_design(ROOT / "designs" / f"{design_name}.toml")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        report = verify_design(
            design,
            variant=variant,
            profile=profile,
            rows=[row],
            seed_=seed,
            out_dir=Path(tmp) / "report",
            database=Path(tmp) / "examples-db",
            log=False,
        )
    (result,) = report.rows
    ce = result.counterexample
    return Search(
        found=result.status == "FAIL",
        seconds=result.first_failure_s,
        examples=result.first_failure_example,
        size=None if ce is None else sum(1 for s in ce.schedule_lines if s[:1].isdigit()),
        wall=time.monotonic() - started,
    )


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="*", default=sorted(BUGS))
    parser.add_argument("--searches", type=int, default=5)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--shrink-s", type=float, default=20.0)
    args = parser.parse_args()
    profile = Profile(name="power", examples=args.examples, shrink_s=args.shrink_s, replays=0)
    print(f"{args.searches} fresh searches per bug, {args.examples} examples each\n")
    print("| design | variant | found | median s | worst s | median examples | median size |")
    print("|---|---|---|---|---|---|---|")
    everything: list[Search] = []
    for design_name in args.designs:
        for variant, row in BUGS[design_name].items():
            runs = [
                search(design_name, variant, row, seed, profile)
                for seed in range(1, args.searches + 1)
            ]
            everything += runs
            hits = [r for r in runs if r.found]
            seconds = [r.seconds for r in hits if r.seconds is not None]
            examples = [float(r.examples) for r in hits if r.examples is not None]
            sizes = [float(r.size) for r in hits if r.size is not None]
            worst = f"{max(seconds):.1f}" if len(hits) == len(runs) and seconds else "not found"
            print(
                f"| {design_name} | {variant} | {len(hits)}/{len(runs)} | {_median(seconds)} | "
                f"{worst} | {_median(examples)} | {_median(sizes)} |",
                flush=True,
            )
    hits = [r for r in everything if r.found]
    seconds = [r.seconds for r in hits if r.seconds is not None]
    print(
        f"\noverall: found {len(hits)}/{len(everything)}; median {_median(seconds)} s, worst "
        f"{max(seconds, default=0):.1f} s to the first failure; median counterexample "
        f"{_median([float(r.size) for r in hits if r.size is not None])} steps; "
        f"{sum(r.wall for r in everything) / 60:.1f} min in all"
    )


if __name__ == "__main__":
    main()
