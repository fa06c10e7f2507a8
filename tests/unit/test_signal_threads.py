"""Helper threads block SIGINT and SIGTERM, so the kernel hands them to the main
thread, whose blocking wait they must interrupt (a helper thread that takes one
leaves the main thread asleep: a run that does not stop)."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

from harness.interrupt import event_loop_runner, helper_pool, start_helper


def _blocked(native_id: int) -> set[signal.Signals]:
    """The signals a thread of this process blocks, from /proc."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
    mask = int(line.split()[1], 16)
    return {s for s in (signal.SIGINT, signal.SIGTERM) if mask >> (s - 1) & 1}


def _here() -> set[signal.Signals]:
    return _blocked(threading.get_native_id())


BOTH = {signal.SIGINT, signal.SIGTERM}


def test_a_started_helper_blocks_both_and_the_main_thread_neither() -> None:
    seen: list[set[signal.Signals]] = []
    start_helper(threading.Thread(target=lambda: seen.append(_here()))).join()
    assert seen == [BOTH]
    assert _here() == set()


def test_a_helper_timer_blocks_both() -> None:
    seen: list[set[signal.Signals]] = []
    start_helper(threading.Timer(0.01, lambda: seen.append(_here()))).join()
    assert seen == [BOTH]


def test_pool_threads_block_both() -> None:
    with helper_pool(2) as pool:
        assert pool.submit(_here).result() == BOTH


def test_the_event_loop_s_threads_block_both() -> None:
    runner = event_loop_runner()
    try:
        assert runner.run(asyncio.to_thread(_here)) == BOTH
    finally:
        runner.close()
    assert _here() == set()
