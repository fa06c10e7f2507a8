"""Stopping on request: SIGINT (Ctrl-C) and SIGTERM (CI cancellation, ``timeout``,
a container stop) end a run within seconds, with every fault healed, every
process stopped and the report written.

Both signals raise `Interrupted` in the main thread. It is a
``KeyboardInterrupt``, which Hypothesis lets through instead of taking it for
a failing example (a ``SystemExit`` would be shrunk like a bug). While the
harness heals and stops, a second signal is ignored; a third one exits at
once (the watchdog still reaps every process the harness started).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``name`` is ``SIGINT`` or ``SIGTERM``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130, 143)."""
        return 128 + self.signum


def signal_name(exc: KeyboardInterrupt) -> str:
    """``SIGTERM`` for an `Interrupted` by it, ``SIGINT`` for any other interrupt."""
    return exc.name if isinstance(exc, Interrupted) else "SIGINT"


def interrupting_handler() -> Callable[[int, FrameType | None], None]:
    """A signal handler that raises `Interrupted` the first time, lets the
    clean-up run the second time (saying so) and exits at once the third."""
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Interrupted(signum)
        if len(received) == 2:
            print(
                "failmodel: still healing faults and stopping processes; "
                "signal again to quit at once",
                file=sys.stderr,
                flush=True,
            )
            return
        os._exit(128 + signum)

    return handle


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises `Interrupted`;
    the previous handlers come back afterwards."""
    handle = interrupting_handler()
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, handle)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# -- signals go to the main thread ----------------------------------------------------
#
# The kernel may hand a process's SIGINT or SIGTERM to any thread that does not
# block it. Python runs the handler in the main thread either way, but only the
# receiving thread's system call is interrupted: a main thread asleep in a wait
# sleeps on, and the run does not stop (seen in CI: a watchdog thread took the
# SIGINT and the main thread slept through it). Every helper thread therefore
# blocks both signals.


def block_signals_in_this_thread() -> None:
    """Keep SIGINT and SIGTERM off the calling helper thread (a pool's initializer)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def start_helper(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` with SIGINT and SIGTERM blocked in it (a new thread
    inherits the signal mask of the thread that starts it)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return thread


def helper_pool(max_workers: int | None = None) -> ThreadPoolExecutor:
    """A thread pool whose threads never take SIGINT or SIGTERM."""
    return ThreadPoolExecutor(max_workers=max_workers, initializer=block_signals_in_this_thread)


def event_loop_runner() -> asyncio.Runner:
    """An ``asyncio.Runner`` whose default executor (``to_thread``, DNS lookups)
    is a `helper_pool`."""
    runner = asyncio.Runner()
    runner.get_loop().set_default_executor(helper_pool())
    return runner
