"""Per-example overhead of the harness against the toy target (not a test).

No faults, one batch of one order, invariant ``no_oversell`` only. Overhead
is an example's wall time minus the time its order's HTTP call took (from
the history: completion time - invoke time). Prints the mean/median
overhead in ms and examples per minute; ``--profile`` adds a cProfile of
the examples (top functions by cumulative time).

Run: ``PYTHONPATH=. python bench/example_overhead.py [--examples 50] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.history import read_history
from harness.schedule.model import Batch, ClientOp, Schedule, Setup
from harness.schedule.runner import ExampleRunner
from harness.system import LiveSystem
from harness.targetproc.spec import TargetSpec
from harness.workload.keys import new_run_id

TOY = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "toy_inventory.py"
SCHEDULE = Schedule(
    workload="inventory",
    setup=Setup(values={"set_stock": ({"available": 5},)}),
    steps=(Batch(ops=(ClientOp(f="order", key=0, args={"sku": 0, "qty": 1}),)),),
)


def request_seconds(history_path: Path) -> float:
    """Seconds the main-phase order took, invoke to completion."""
    ops = [op for op in read_history(history_path).select("order") if op.invoke.phase == "main"]
    assert len(ops) == 1 and ops[0].completion is not None, ops
    return ops[0].completion.time - ops[0].invoke.time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the examples")
    args = parser.parse_args()
    spec = TargetSpec(name="toy-bench", command=(sys.executable, str(TOY), "--bug", "none"))
    overheads: list[float] = []
    requests: list[float] = []
    with (
        LiveSystem(spec) as system,
        tempfile.TemporaryDirectory() as out,
        ExampleRunner(
            system,
            workload="inventory",
            invariants=("no_oversell",),
            out_dir=Path(out),
            run_id=new_run_id(),
        ) as runner,
    ):
        for _ in range(args.warmup):
            runner.run(SCHEDULE)
        profiler = cProfile.Profile() if args.profile else None
        began = time.monotonic()
        for _ in range(args.examples):
            start = time.monotonic()
            if profiler is not None:
                profiler.enable()
            outcome = runner.run(SCHEDULE)
            if profiler is not None:
                profiler.disable()
            total = time.monotonic() - start
            if outcome.failed:
                raise SystemExit(f"a correct target failed: {outcome.violated()}")
            request = request_seconds(outcome.history_path)
            requests.append(request)
            overheads.append(total - request)
        elapsed = time.monotonic() - began
    ms = [1000 * o for o in overheads]
    print(f"examples: {len(ms)}")
    print(
        f"overhead per example: mean {statistics.mean(ms):.1f} ms, "
        f"median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms (aim < 150 ms)"
    )
    print(f"order request itself: mean {1000 * statistics.mean(requests):.1f} ms")
    print(f"examples per minute: {60 * len(ms) / elapsed:.0f}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
