"""Stopping on request: SIGINT (Ctrl-C) and SIGTERM (CI cancellation, ``timeout``,
a container stop) end a run within seconds, with every fault healed, every
process stopped and the report written.

Both signals raise `Interrupted` in the main thread. It is a
``KeyboardInterrupt``, which Hypothesis lets through instead of taking it for
a failing example (a ``SystemExit`` would be shrunk like a bug). While the
harness heals and stops, a second signal is ignored; a third one exits at
once (the watchdog still reaps every process the harness started).

Python runs a signal handler in whatever the main thread is executing, and an
exception raised inside a finalizer (``__del__``, a weakref callback: asyncio and
aiohttp run many) is printed and dropped, not propagated. So the request is also
kept: `raise_if_stopped` raises it again at the search's checkpoints (before every
example, step and settle poll), and a dropped signal costs a step, not the run.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
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


class InterruptingHandler:
    """A signal handler that raises `Interrupted` the first time, lets the
    clean-up run the second time (saying so) and exits at once the third."""

    def __init__(self) -> None:
        self.received = 0
        self.requested: int | None = None
        """The first signal's number, until `rearm`: the run must stop."""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.received == 1:
            self.requested = signum
            raise Interrupted(signum)
        if self.received == 2:
            print(
                "failmodel: still healing faults and stopping processes; "
                "signal again to quit at once",
                file=sys.stderr,
                flush=True,
            )
            return
        os._exit(128 + signum)


def _handlers() -> list[InterruptingHandler]:
    return [h for s in SIGNALS if isinstance(h := signal.getsignal(s), InterruptingHandler)]


def raise_if_stopped() -> None:
    """Raise `Interrupted` again if a stop was requested: the first raise may have
    been dropped by a finalizer it interrupted. Call it only where the search may
    stop (not while healing or stopping: that work must finish)."""
    for handler in _handlers():
        if handler.requested is not None:
            raise Interrupted(handler.requested)


def rearm() -> None:
    """The run a signal stopped has healed and stopped everything: the next signal is
    a new request to stop, not a second one while healing (a program using the harness
    as a library may go on, and a later run must stop at once when asked)."""
    for handler in _handlers():
        handler.received = 0
        handler.requested = None


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises `Interrupted`;
    the previous handlers come back afterwards."""
    handle = InterruptingHandler()
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, handle)
    # A parent may have started us with them blocked (the mask is inherited):
    # the run must still stop when asked.
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for s, handler in previous.items():
            signal.signal(s, handler)
