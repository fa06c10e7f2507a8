"""Search power: how fast a fresh search finds each reference bug, per strategy.

For every buggy variant of the reference designs, ``--searches`` fresh
searches per strategy (guided, random, swarm: harness.verify) of the row
that should catch it (a new, empty example database each, seeds 1..N),
recording the examples and seconds to the first failing example and the
size of the final counterexample (shrunk, except for random). Prints per
variant and overall, per strategy: the share of searches that found the bug
within the budget, median and worst time to detect, median examples and
counterexample size, and the ratio of each strategy's median time to detect
to guided's; then, per strategy, the median of those ratios over the
variants and on how many guided is at least 3x faster, and the same for
seconds per find (every search's time over the finds). A search that did
not find the bug counts its whole time (the budget spent) as its time to
detect, so a miss is never faster than a find of the same strategy; across
strategies a quick miss can make a median look fast, seconds per find not.
The strategies of one variant run interleaved (search 1 of each, then 2),
so machine load hits them alike. A script, not a test: it measures, it does
not judge.

    eval "$(scripts/failmodel env)"
    python bench/search_power.py [--searches 5] [--examples 20] [--designs checkout]
        [--strategies guided,random,swarm] [--design my.toml --bug VARIANT=ROW ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.design import load_design
from harness.schedule import STRATEGIES
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
    "kv": {
        "stale_cache": "stale-read",
        "read_then_write": "cas-race",
    },
    "auction": {
        "client_clock": "client-clock-lies",
        "local_clock": "replica-clock-skew",
        "check_then_act": "concurrent-bids",
        "unfenced_lease": "bid-commit-slow-link",
    },
}


@dataclass(frozen=True, slots=True)
class Search:
    strategy: str
    found: bool
    seconds: float
    """To the first failure; the whole search when nothing was found."""
    examples: int
    """To the first failure; every example run when nothing was found."""
    size: int | None
    wall: float
    reproduced: int = 0
    """Failing replays of the final counterexample (of ``--replays``)."""


def search(
    design_path: Path, variant: str, row: str, seed: int, profile: Profile, strategy: str
) -> Search:
    design = load_design(design_path)
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
            strategy=strategy,
        )
    (result,) = report.rows
    if report.interrupted:
        raise SystemExit(f"search_power: interrupted by {report.interrupted}")
    ce = result.counterexample
    first_s, first_example = result.first_failure_s, result.first_failure_example
    found = result.status == "FAIL" and first_s is not None and first_example is not None
    return Search(
        strategy=strategy,
        found=found,
        seconds=first_s if found and first_s is not None else result.duration_s,
        examples=first_example if found and first_example is not None else result.examples,
        size=None if ce is None else sum(1 for s in ce.schedule_lines if s[:1].isdigit()),
        wall=time.monotonic() - started,
        reproduced=0 if ce is None else ce.reproduced,
    )


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _line(label: str, runs: list[Search], baseline: float | None) -> str:
    """One table row: a strategy's searches of one variant (or of all)."""
    hits = [r for r in runs if r.found]
    median = _median([r.seconds for r in runs])
    ratio = "-" if median is None or not baseline else f"{median / baseline:.2f}"
    worst = max((r.seconds for r in runs), default=None)
    missed = "" if len(hits) == len(runs) else " (miss)"
    return (
        f"| {label} | {runs[0].strategy} | {len(hits)}/{len(runs)} | {_fmt(median)} | "
        f"{_fmt(worst)}{missed} | {_fmt(_median([float(r.examples) for r in runs]))} | "
        f"{_fmt(_median([float(r.size) for r in hits if r.size is not None]))} | {ratio} |"
    )


def _block(label: str, by_strategy: dict[str, list[Search]]) -> list[str]:
    guided = by_strategy.get("guided")
    baseline = _median([r.seconds for r in guided]) if guided else None
    return [_line(label, runs, baseline) for runs in by_strategy.values() if runs]


def _per_find(runs: list[Search]) -> float:
    """Seconds spent per bug found: every search's time (a miss its whole
    budget) over the finds; what a user who searches again after a miss waits
    on average (infinite when none found it)."""
    finds = sum(r.found for r in runs)
    return sum(r.seconds for r in runs) / finds if finds else float("inf")


def _ratios(label: str, per_variant: list[dict[str, list[Search]]]) -> str | None:
    """Issue 12's figure for one strategy against guided: over the variants, the
    median of (its median seconds to detect / guided's), on how many it is at
    least 3 (guided three times faster) or below 1; and the same for seconds
    per find, which a quick miss does not make look fast."""
    medians, per_find = [], []
    for runs in per_variant:
        theirs, guided = runs.get(label, []), runs.get("guided", [])
        if not theirs or not guided:
            continue
        medians.append(statistics.median(r.seconds for r in theirs) / statistics.median(
            r.seconds for r in guided
        ))
        per_find.append(_per_find(theirs) / _per_find(guided))
    if not medians:
        return None

    def figure(ratios: list[float]) -> str:
        at_least, below = sum(r >= 3 for r in ratios), sum(r < 1 for r in ratios)
        return (
            f"median {statistics.median(ratios):.2f}, at least 3 on {at_least} "
            f"of {len(ratios)}, below 1 on {below}"
        )

    return (
        f"{label} / guided per variant: median s to detect: {figure(medians)}; "
        f"s per find: {figure(per_find)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="*", default=sorted(BUGS))
    parser.add_argument("--variants", nargs="*", help="only these variants")
    parser.add_argument("--searches", type=int, default=5)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--shrink-s", type=float, default=20.0)
    parser.add_argument(
        "--replays", type=int, default=0, help="replay each final counterexample this often"
    )
    parser.add_argument(
        "--design",
        type=Path,
        help="also a design of your own (a path), with the bugs --bug names",
    )
    parser.add_argument(
        "--bug",
        action="append",
        default=[],
        metavar="VARIANT=ROW",
        help="a buggy variant of --design and the row expected to catch it (repeatable)",
    )
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument(
        "--raw", type=Path, help="also append every search as a JSON line (to pool runs)"
    )
    args = parser.parse_args()
    bugs = {name: (ROOT / "designs" / f"{name}.toml", BUGS[name]) for name in args.designs}
    if args.design is not None:
        pairs = [b.partition("=") for b in args.bug]
        if not pairs or any(not v or not r for v, _, r in pairs):
            parser.error("--design needs at least one --bug VARIANT=ROW")
        bugs[load_design(args.design).name] = (args.design, {v: r for v, _, r in pairs})
    elif args.bug:
        parser.error("--bug needs --design")
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        parser.error(f"--strategies: unknown {', '.join(sorted(unknown))}")
    profile = Profile(
        name="power", examples=args.examples, shrink_s=args.shrink_s, replays=args.replays
    )
    print(
        f"{args.searches} fresh searches per bug and strategy, {args.examples} examples each "
        "(a row's own budget wins); a search that missed counts its whole time and examples\n"
    )
    print(
        "| variant | strategy | found | median s to detect | worst s | median examples "
        "| median size | median / guided |"
    )
    print("|---|---|---|---|---|---|---|---|")
    everything: dict[str, list[Search]] = {s: [] for s in strategies}
    per_variant: list[dict[str, list[Search]]] = []
    for design_name, (design_path, variants) in bugs.items():
        for variant, row in variants.items():
            if args.variants and variant not in args.variants:
                continue
            runs: dict[str, list[Search]] = {s: [] for s in strategies}
            for seed in range(args.first_seed, args.first_seed + args.searches):
                for strategy in strategies:
                    runs[strategy].append(
                        search(design_path, variant, row, seed, profile, strategy)
                    )
            for strategy in strategies:
                everything[strategy] += runs[strategy]
                if args.raw is not None:
                    with args.raw.open("a", encoding="utf-8") as out:
                        for r in runs[strategy]:
                            line = {"design": design_name, "variant": variant, **asdict(r)}
                            out.write(json.dumps(line) + "\n")
            per_variant.append(runs)
            print("\n".join(_block(f"{design_name}/{variant}", runs)), flush=True)
    print("\n".join(_block("overall", everything)))
    if "guided" in strategies:
        lines = [_ratios(s, per_variant) for s in strategies if s != "guided"]
        print("\n" + "\n".join(line for line in lines if line))
    wall = sum(r.wall for runs in everything.values() for r in runs)
    print(f"\n{wall / 60:.1f} min in all")


if __name__ == "__main__":
    main()
