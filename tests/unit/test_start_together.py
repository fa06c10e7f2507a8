"""Services started side by side: errors come through, and an interrupt does not
wait for every start to finish (it kills them, so their readiness waits end)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import pytest

from harness.provision.together import start_together, stop_in_stages


class _Starting:
    """A service whose start waits for readiness until it is ready or killed."""

    def __init__(self, ready_after: float = 60.0, error: Exception | None = None) -> None:
        self.ready_after = ready_after
        self.error = error
        self.killed = threading.Event()
        self.ended = threading.Event()

    def start(self) -> None:
        try:
            if self.error is not None:
                raise self.error
            if self.killed.wait(self.ready_after):
                raise RuntimeError("the process exited before it was ready")
        finally:
            self.ended.set()

    def crash(self) -> None:
        self.killed.set()


def _run(name: str, start: Callable[[], None]) -> None:
    start()


@pytest.fixture
def interrupt_after() -> Iterator[Callable[[float], None]]:
    """Raise KeyboardInterrupt in the main thread after some seconds, as Ctrl-C does."""

    def ring(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ring)
    try:
        yield lambda seconds: signal.setitimer(signal.ITIMER_REAL, seconds)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_every_service_starts_and_is_timed() -> None:
    services = {"a": _Starting(ready_after=0.05), "b": _Starting(ready_after=0.1)}
    seen: list[str] = []
    start_together(services, lambda name, start: (start(), seen.append(name)))
    assert sorted(seen) == ["a", "b"]
    assert not any(s.killed.is_set() for s in services.values())


def test_the_first_failed_start_is_raised_after_the_others_end() -> None:
    slow = _Starting(ready_after=0.2)
    services = {"bad": _Starting(error=ValueError("no data dir")), "slow": slow}
    with pytest.raises(ValueError, match="no data dir"):
        start_together(services, _run)
    assert slow.ended.is_set() and not slow.killed.is_set()


def test_an_interrupt_kills_the_starting_services_instead_of_waiting(
    interrupt_after: Callable[[float], None],
) -> None:
    services = {name: _Starting() for name in ("postgres", "redis", "kafka")}
    interrupt_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        start_together(services, _run)
    assert all(s.killed.is_set() for s in services.values())
    assert all(s.ended.wait(5) for s in services.values())


def test_stops_run_side_by_side_stage_after_stage_and_all_run_despite_errors() -> None:
    log: list[str] = []
    both_stopping = threading.Barrier(2, timeout=5)

    def service(name: str) -> Callable[[], None]:
        def stop() -> None:
            both_stopping.wait()  # only passes if the other service stops at the same time
            log.append(name)

        return stop

    def failing() -> None:
        log.append("target")
        raise OSError("target already gone")

    with pytest.raises(OSError, match="already gone"):
        stop_in_stages(
            [
                [failing],
                [service("postgres"), service("kafka")],
                [],
                [lambda: log.append("toxiproxy")],
            ]
        )
    assert log[0] == "target" and sorted(log[1:3]) == ["kafka", "postgres"]
    assert log[3] == "toxiproxy"
