"""Schedule richness: how much the n-th example of a search asks of the system.

A search finds a race or a fault-dependent bug only once its schedules send
several operations with faults among them. This bench draws, without running
any system, the schedules the guided search (Hypothesis, the same settings as
``failmodel verify``) and the random baseline would play, for fresh searches
of a row (seeds 1..N, empty example database each), and prints for example 1,
2, ... the mean number of operations and of faults per schedule. The guided
search's first examples are Hypothesis's simplest test cases (its engine
starts from the simplest choice sequence and, for the first max_examples // 10
examples, keeps new ones close to minimal); this shows how many examples that
costs on each row. A script, not a test.

    eval "$(scripts/failmodel env)"
    python bench/schedule_richness.py --rows kv:cas-race checkout:orders-interleave \\
        [--searches 30] [--examples 20] [--show 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.design import Design, Row, load_design
from harness.schedule.model import Batch, Schedule, StartFault
from harness.verify import Profile, _hypothesis_test, _random_test

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("guided", "random")


def size(schedule: Schedule) -> tuple[int, int]:
    """(operations, faults) of a schedule."""
    ops = sum(len(s.ops) for s in schedule.steps if isinstance(s, Batch))
    faults = sum(
        1
        for s in schedule.steps
        if (isinstance(s, Batch) and s.fault is not None) or isinstance(s, StartFault)
    )
    return ops, faults


def drawn(design: Design, row: Row, strategy: str, seed: int, examples: int) -> list[Schedule]:
    """The schedules one fresh search of ``row`` plays, in order (nothing runs)."""
    played: list[Schedule] = []

    def example(schedule: Schedule) -> None:
        played.append(schedule)

    profile = Profile(name="richness", examples=examples, shrink_s=0.0, replays=0)
    with tempfile.TemporaryDirectory() as tmp:
        run: Callable[[], None] = (
            _random_test(example, design, row, profile, seed)
            if strategy == "random"
            else _hypothesis_test(
                example, design, row, "correct", profile, seed, Path(tmp) / "examples-db"
            )
        )
        run()
    return played[:examples]


def main(rows: list[str], searches: int, examples: int, show: int) -> None:
    print(f"mean operations / faults of example 1..{show}, {searches} fresh searches each")
    for name in rows:
        design_name, row_id = name.split(":", 1)
        design = load_design(ROOT / "designs" / f"{design_name}.toml")
        row = next(r for r in design.rows if r.id == row_id)
        for strategy in STRATEGIES:
            per: list[list[tuple[int, int]]] = [[] for _ in range(show)]
            for seed in range(1, searches + 1):
                for i, schedule in enumerate(drawn(design, row, strategy, seed, examples)[:show]):
                    per[i].append(size(schedule))
            cells = " ".join(
                f"{statistics.mean(o for o, _ in p):4.1f}/{statistics.mean(f for _, f in p):.1f}"
                for p in per
                if p
            )
            print(f"{name:<30} {strategy:<7} {cells}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", required=True, help="design:row ...")
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--show", type=int, default=10, help="how many first examples to show")
    args = parser.parse_args()
    main(args.rows, args.searches, args.examples, args.show)
