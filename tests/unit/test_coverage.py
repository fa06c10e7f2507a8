"""Coverage counters on hand-built histories with a controlled clock."""

from __future__ import annotations

from harness.history import LAG, Event, History, Recorder
from harness.report import timeline
from harness.schedule.coverage import COUNTERS, add_coverage, coverage_of


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def recorder() -> tuple[Recorder, Clock]:
    clock = Clock()
    return Recorder(clock=clock), clock


def invoke(rec: Recorder, attempt: int = 1, f: str = "order") -> Event:
    return rec.invoke(0, f, {"node": 0, "attempt": attempt, "body": {"order_id": "o"}})


def fault(rec: Recorder, fid: int, kind: str, f: str = "start") -> None:
    rec.nemesis(f, {"id": fid, "fault": {"kind": kind}})


def test_a_fault_starting_while_an_op_is_in_flight_counts() -> None:
    rec, clock = recorder()
    op = invoke(rec)
    clock.t = 1.0
    fault(rec, 0, "crash")
    clock.t = 2.0
    rec.complete(op, "info", {"status": None, "body": None}, error="reset")
    clock.t = 3.0
    fault(rec, 0, "crash", "heal")
    c = coverage_of(rec.history())
    assert c["faults"] == 1
    assert c["faults_during_ops"] == 1
    assert c["crashes_during_request"] == 1
    assert c["indeterminate"] == 1
    assert c["operations"] == 1


def test_a_fault_between_ops_does_not_count() -> None:
    rec, clock = recorder()
    first = invoke(rec)
    clock.t = 1.0
    rec.complete(first, "ok", {"status": 200, "body": {}})
    clock.t = 2.0
    fault(rec, 0, "pause")
    clock.t = 3.0
    fault(rec, 0, "pause", "heal")
    clock.t = 4.0
    second = invoke(rec)
    clock.t = 5.0
    rec.complete(second, "fail", {"status": 409, "body": {}})
    c = coverage_of(rec.history())
    assert c["faults"] == 1
    assert c["faults_during_ops"] == 0
    assert c["crashes_during_request"] == 0
    assert c["indeterminate"] == 0
    assert c["operations"] == 2


def test_an_op_starting_inside_a_fault_window_counts_but_is_no_crash_during_request() -> None:
    rec, clock = recorder()
    fault(rec, 0, "toxic")
    fault(rec, 1, "crash")
    clock.t = 1.0
    op = invoke(rec)
    clock.t = 2.0
    rec.complete(op, "ok", {"status": 200, "body": {}})
    clock.t = 3.0
    fault(rec, 1, "crash", "heal")
    fault(rec, 0, "toxic", "heal")
    c = coverage_of(rec.history())
    assert c["faults"] == 2
    assert c["faults_during_ops"] == 2
    assert c["crashes_during_request"] == 0  # nothing was in flight when it crashed


def test_retries_and_phases() -> None:
    rec, clock = recorder()
    rec.set_phase("setup")
    s = invoke(rec, f="set_stock")
    rec.complete(s, "ok", {"status": 200, "body": {}})
    rec.set_phase("main")
    for attempt in (1, 2, 3):
        clock.t += 1
        e = invoke(rec, attempt=attempt)
        rec.complete(e, "ok" if attempt == 3 else "info", {"status": None, "body": None})
    rec.set_phase("final")
    r = invoke(rec, f="read_order")
    rec.complete(r, "ok", {"status": 200, "body": {}})
    c = coverage_of(rec.history())
    assert c["operations"] == 3  # setup and final reads are not the row's operations
    assert c["retries"] == 2
    assert c["indeterminate"] == 2
    assert c["faults"] == 0


def test_a_missing_completion_is_indeterminate_and_in_flight_forever() -> None:
    rec, clock = recorder()
    invoke(rec)  # the run died before the answer
    clock.t = 10.0
    fault(rec, 0, "redelivery")  # never healed either
    c = coverage_of(rec.history())
    assert c["indeterminate"] == 1
    assert c["faults"] == 1
    assert c["faults_during_ops"] == 1
    assert c["crashes_during_request"] == 1


def test_a_failed_start_is_not_a_fault() -> None:
    rec, clock = recorder()
    op = invoke(rec)
    rec.nemesis("start", {"id": 0, "fault": {"kind": "crash"}}, error="boom")
    clock.t = 1.0
    rec.complete(op, "ok", {"status": 200, "body": {}})
    assert coverage_of(rec.history())["faults"] == 0


def test_a_kill_counts_as_during_lag_only_when_kafka_had_messages_uncommitted() -> None:
    """Each kill is followed by its LAG event (the nemesis asks Kafka just after):
    a kill that left 3 messages uncommitted counts, one that left none does not,
    and neither is a fault of its own."""
    rec, clock = recorder()
    for fid, messages in enumerate((3, 0, 1)):
        clock.t = fid + 0.1
        fault(rec, fid, "crash")
        rec.nemesis(LAG, {"id": fid, "process": "consumer", "messages": messages})
        clock.t = fid + 0.5
        fault(rec, fid, "crash", "heal")
    c = coverage_of(rec.history())
    assert c["kills_during_lag"] == 2
    assert c["faults"] == 3
    lags = [line for line in timeline(rec.history()).splitlines() if "..." in line]
    assert lags[0].split(maxsplit=1)[1] == (
        "... consumer killed with 3 Kafka messages not yet committed by a consumer group"
    )


def test_partner_counters_and_totals() -> None:
    empty = coverage_of(History(()), {"injected_failures": 2, "replays": 1})
    assert set(empty) == set(COUNTERS)
    assert empty["partner_failures"] == 2 and empty["replays"] == 1
    rec, clock = recorder()
    op = invoke(rec)
    clock.t = 1.0
    rec.complete(op, "ok", {"status": 200, "body": {}})
    total = add_coverage([empty, coverage_of(rec.history()), empty])
    assert total["partner_failures"] == 4
    assert total["replays"] == 2
    assert total["operations"] == 1
    assert add_coverage([]) == {name: 0 for name in COUNTERS}
