"""How fast ``linearizable`` is on real kv histories: every example history under
the given folders (a ``failmodel verify`` output, or a detection test's tmp dir).

Prints one line per history (ops, keys, indeterminate ops, verdict, seconds,
configurations explored) and a summary: total and worst time, and how many
histories each verdict got. A script, not a test: it measures.

    scripts/failmodel env > /tmp/fm.env && . /tmp/fm.env
    python bench/kv_linearizable.py OUT_DIR [OUT_DIR ...] [--timeout 10] [--quiet]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from harness.history import read_history
from invariants._kv import check_kv_history, kv_operations
from invariants.linearizability import UNKNOWN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    args = parser.parse_args()
    paths = sorted(
        p
        for d in args.dirs
        for p in d.rglob("*.jsonl")
        if "examples" in p.parts
    )
    verdicts: Counter[str] = Counter()
    times: list[tuple[float, Path, int]] = []
    for path in paths:
        history = read_history(path)
        ops = kv_operations(history)
        if not ops:
            continue
        started = time.perf_counter()
        result = check_kv_history(history, timeout=args.timeout)
        took = time.perf_counter() - started
        verdicts[result.status] += 1
        times.append((took, path, len(ops)))
        if not args.quiet:
            info = sum(1 for op in ops if op.output is UNKNOWN)
            explored = sum(p.explored for p in result.partitions)
            print(
                f"{path}: {len(ops)} ops, {len(result.partitions)} keys, {info} indeterminate: "
                f"{result.status} in {took * 1000:.2f} ms ({explored} configurations)"
            )
    if not times:
        print("no kv histories found")
        return
    worst = max(times)
    total = sum(t for t, _, _ in times)
    counted = ", ".join(f"{n} {status}" for status, n in sorted(verdicts.items()))
    print(
        f"{len(times)} histories ({sum(n for _, _, n in times)} ops): {counted}; "
        f"total {total:.3f} s, mean {total / len(times) * 1000:.2f} ms, "
        f"worst {worst[0] * 1000:.2f} ms ({worst[2]} ops, {worst[1]})"
    )


if __name__ == "__main__":
    main()
