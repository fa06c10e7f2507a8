"""The signal handler's three steps (stop, hurry, quit), the stop it keeps for the
search's checkpoints, and its re-arming once the interrupted run has healed and
stopped everything."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from harness.interrupt import Interrupted, InterruptingHandler, raise_if_stopped, rearm


@pytest.fixture
def installed() -> Iterator[InterruptingHandler]:
    handler = InterruptingHandler()
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, handler)
    try:
        yield handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_first_signal_stops_the_second_only_says_it_is_healing(
    installed: InterruptingHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Interrupted) as caught:
        installed(signal.SIGTERM, None)
    assert caught.value.name == "SIGTERM" and caught.value.exit_code == 143
    installed(signal.SIGTERM, None)  # while healing: no second exception
    assert "still healing faults" in capsys.readouterr().err


def test_after_the_run_has_stopped_a_signal_stops_the_next_run_again(
    installed: InterruptingHandler,
) -> None:
    with pytest.raises(Interrupted):
        installed(signal.SIGTERM, None)
    rearm()  # what verify_design does once an interrupted run has stopped
    with pytest.raises(Interrupted):
        installed(signal.SIGTERM, None)


def test_rearm_leaves_other_handlers_alone() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    mine = InterruptingHandler()
    mine.received = 1
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        rearm()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert mine.received == 1  # not installed: not touched
    finally:
        signal.signal(signal.SIGTERM, previous)


class _SignalsWhileCollected:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        while True:  # the handler runs here, inside the finalizer
            time.sleep(0.001)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_a_finalizer_dropped_is_raised_again_until_rearmed(
    installed: InterruptingHandler,
) -> None:
    raise_if_stopped()  # nothing requested: nothing raised
    doomed = _SignalsWhileCollected()
    del doomed  # Python prints the Interrupted raised in __del__ and drops it
    assert installed.received == 1
    for _ in range(2):  # every checkpoint, until the run has stopped
        with pytest.raises(Interrupted) as caught:
            raise_if_stopped()
        assert caught.value.name == "SIGTERM"
    rearm()
    raise_if_stopped()
