"""The target() signals on recorded histories: each counts what it says and
nothing else (faults between operations meet nothing, touching is not overlap)."""

from __future__ import annotations

from harness.history import FIRE, Effect, Ledgers, Recorder
from harness.history.events import Event
from harness.schedule.signals import fault_windows, signals

A = "r1-0-key-0"
B = "r1-0-key-1"


class Clock:
    """A clock the test sets: every event happens when the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def at(clock: Clock, t: float) -> Clock:
    clock.now = t
    return clock


def test_fault_windows_pair_starts_with_heals_and_open_faults_last_to_the_end() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    at(clock, 1.0)
    rec.nemesis("start", {"id": 1})
    at(clock, 2.0)
    rec.nemesis("heal", {"id": 1})
    at(clock, 3.0)
    rec.nemesis("start", {"id": 2})
    at(clock, 5.0)
    rec.invoke(0, "read", {"key": A})
    assert fault_windows(rec.history()) == [(1.0, 2.0), (3.0, 5.0)]


def _op(rec: Recorder, clock: Clock, start: float, end: float | None, key: str, out: str = "ok"
        ) -> Event:
    at(clock, start)
    invoke = rec.invoke(0, "write", {"key": key, "n": 1})
    if end is not None:
        at(clock, end)
        rec.complete(invoke, out, {})  # type: ignore[arg-type]
    return invoke


def test_quiet_history_scores_zero_but_overlap_of_one() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    _op(rec, clock, 1.0, 2.0, A)
    _op(rec, clock, 2.0, 3.0, A)  # touches the first: not concurrent
    # Without the partner's ledgers or deadlines, their signals cannot move: absent.
    assert signals(rec.history()) == {
        "in_flight_during_fault": 0,
        "max_key_overlap": 1,
        "sent_together": 0,
        "indeterminate": 0,
    }
    assert signals(rec.history(), Ledgers(), deadlines=(9.0,)) == {
        "in_flight_during_fault": 0,
        "max_key_overlap": 1,
        "sent_together": 0,
        "indeterminate": 0,
        "effects_during_fault": 0,
        "calls_cut_by_crash": 0,
        "in_flight_at_deadline": 0,
        "ok_past_deadline_ms": 0,
    }


def test_counts_ops_in_flight_during_faults_overlap_info_and_effects() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    # Three writes on A overlap in [1.5, 2), the first two sent together; one on B
    # alone; one lost answer. The recorder appends in call order, so record by
    # increasing time.
    at(clock, 1.0)
    a1 = rec.invoke(0, "write", {"key": A})
    at(clock, 1.1)
    a2 = rec.invoke(1, "write", {"nested": [{"key": A}]})
    at(clock, 1.5)
    a3 = rec.invoke(2, "write", {"key": A})
    b = rec.invoke(3, "write", {"key": B})
    at(clock, 2.0)
    for event in (a1, a2, a3):
        rec.complete(event, "ok", {})
    rec.complete(b, "info", {})
    # A fault from 4 to 6 meets one op in flight (4.5..7) and one that never completed.
    at(clock, 4.0)
    rec.nemesis("start", {"id": 7})
    at(clock, 4.5)
    c = rec.invoke(0, "write", {"key": B})
    at(clock, 5.0)
    rec.invoke(1, "write", {"key": A})  # open: indeterminate, in flight to the end
    at(clock, 5.8)
    rec.nemesis(FIRE, {"id": 7, "held": 1})  # an aimed crash killed a caller mid-call
    at(clock, 6.0)
    rec.nemesis("heal", {"id": 7})
    at(clock, 7.0)
    rec.complete(c, "fail", {})
    t0 = 100.0  # the partner stamps effects on the shared monotonic clock
    ledgers = Ledgers(
        (
            Effect(kind="charge", effect_id="e1", body={}, time=t0 + 5.5),  # during the fault
            Effect(kind="charge", effect_id="e2", body={}, time=t0 + 6.5),  # after the heal
        )
    )
    assert signals(rec.history(), ledgers, t0=t0) == {
        "in_flight_during_fault": 2,
        "max_key_overlap": 3,
        "sent_together": 1,
        "indeterminate": 2,
        "effects_during_fault": 1,
        "calls_cut_by_crash": 1,
    }


def test_sent_together_counts_close_starts_against_the_shorter_operation_per_shared_key() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    # Two 400 ms requests naming both A and B, sent 10 ms apart: two shared keys.
    at(clock, 1.0)
    x = rec.invoke(0, "swap", {"from": A, "to": B})
    at(clock, 1.01)
    y = rec.invoke(1, "swap", {"from": B, "to": A})
    # A quick one on A, 30 ms after the first: within a quarter of 400 ms, but
    # not of its own 40 ms.
    at(clock, 1.03)
    z = rec.invoke(2, "write", {"key": A})
    at(clock, 1.07)
    rec.complete(z, "ok", {})
    at(clock, 1.4)
    rec.complete(x, "ok", {})
    at(clock, 1.41)
    rec.complete(y, "ok", {})
    # Held back 150 ms behind a 400 ms one: the first had most of its time alone.
    at(clock, 2.0)
    u = rec.invoke(0, "write", {"key": B})
    at(clock, 2.15)
    v = rec.invoke(1, "write", {"key": B})
    at(clock, 2.4)
    rec.complete(u, "ok", {})
    at(clock, 2.55)
    rec.complete(v, "ok", {})

    assert signals(rec.history())["sent_together"] == 2


def test_final_reads_and_non_ids_are_not_counted() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    _op(rec, clock, 1.0, 3.0, "plain-text")
    _op(rec, clock, 1.5, 3.0, "plain-text")
    rec.set_phase("final")
    _op(rec, clock, 4.0, 5.0, A, out="info")
    _op(rec, clock, 4.0, 5.0, A)
    got = signals(rec.history())
    assert got["max_key_overlap"] == got["sent_together"] == 0
    assert got["indeterminate"] == 0


def test_operations_in_flight_when_a_deadline_passes() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    _op(rec, clock, 1.0, 2.0, A)  # ends exactly at the deadline: decided on one side
    _op(rec, clock, 1.5, 2.5, A)  # across it
    _op(rec, clock, 2.0, 3.0, B)  # starts at it
    _op(rec, clock, 3.5, 4.5, B)  # across the second deadline
    assert "in_flight_at_deadline" not in signals(rec.history())
    assert signals(rec.history(), deadlines=(2.0, 4.0))["in_flight_at_deadline"] == 2


def test_the_longest_ok_answer_past_a_deadline_it_was_sent_before() -> None:
    clock = Clock()
    rec = Recorder(clock=clock)
    _op(rec, clock, 1.5, 2.25, A)  # ok 250 ms past the deadline at 2.0
    _op(rec, clock, 1.8, 2.9, A, out="info")  # longer, but its answer was lost
    _op(rec, clock, 1.9, 2.6, B, out="fail")  # longer, but refused
    _op(rec, clock, 2.1, 2.95, B)  # sent after the deadline
    _op(rec, clock, 3.9, 4.1, B)  # ok 100 ms past the second one
    assert signals(rec.history(), deadlines=(9.0,))["ok_past_deadline_ms"] == 0
    assert signals(rec.history(), deadlines=(2.0, 4.0))["ok_past_deadline_ms"] == 250
    assert signals(rec.history(), deadlines=(4.0,))["ok_past_deadline_ms"] == 100
