"""SLO lines parse into promises, examples give samples, rows are judged on all of them."""

from __future__ import annotations

import pytest

from harness.history import Effect, FinalState, Ledgers, Recorder
from harness.verify import with_slos
from invariants.slo import (
    InvalidSlo,
    Samples,
    judge,
    parse_slo,
    percentile,
    samples,
)


@pytest.mark.parametrize(
    ("text", "kind", "subject", "stat", "bound", "promise"),
    [
        ("p95(order) < 300 ms", "latency", "order", "p95", 0.3, "p95 < 300 ms"),
        ("p99(bid)<=1 s", "latency", "bid", "p99", 1.0, "p99 <= 1.00 s"),
        ("median(pay) < 50 ms", "latency", "pay", "p50", 0.05, "p50 < 50 ms"),
        ("exactly_once_shipment within 5 s", "freshness", "exactly_once_shipment", "max", 5.0,
         "max <= 5.00 s"),
        ("every_match_announced  within 2 s at p99", "freshness", "every_match_announced",
         "p99", 2.0, "p99 <= 2.00 s"),
        ("availability >= 95%", "availability", "availability", "share", 0.95, ">= 95.0%"),
        ("availability > 0.5", "availability", "availability", "share", 0.5, "> 50.0%"),
        ("availability(bid) >= 99%", "availability", "bid", "share", 0.99, ">= 99.0%"),
    ],
)
def test_slo_lines_parse(
    text: str, kind: str, subject: str, stat: str, bound: float, promise: str
) -> None:
    slo = parse_slo(text)
    assert (slo.kind, slo.subject, slo.stat, slo.promise()) == (kind, subject, stat, promise)
    assert slo.bound == pytest.approx(bound)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95(order) > 300 ms", "does not parse; the forms are"),
        ("p0(order) < 3 s", "percentile 'p0' must be between p0 and p100"),
        ("availability >= 120%", "availability must be a share in 0..1 or 0..100%"),
        ("", "an SLO must be a line of at most 200 characters"),
        (42, "an SLO must be a line"),
    ],
)
def test_bad_slo_lines_say_what_is_expected(text: object, message: str) -> None:
    with pytest.raises(InvalidSlo, match=message):
        parse_slo(text)


def test_a_deeply_nested_value_is_refused_in_one_short_line() -> None:
    """A fuzzed design once put 3000 nested tables where an SLO line goes: its
    repr alone overflowed the stack."""
    nested: dict[str, object] = {}
    for i in range(3000):
        nested = {f"k{i}": nested}
    with pytest.raises(InvalidSlo, match="an SLO must be a line") as refused:
        parse_slo(nested)
    assert len(str(refused.value)) < 400 and "\n" not in str(refused.value)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, "p50") == 50.0
    assert percentile(values, "p95") == 95.0
    assert percentile(values, "p99.9") == 100.0
    assert percentile(values, "max") == 100.0
    assert percentile([3.0], "p50") == 3.0
    assert percentile([1.0, 3.0], "mean") == 2.0


def _history() -> tuple[Recorder, list[float]]:
    now = [0.0]
    rec = Recorder(clock=lambda: now[0])
    return rec, now


def _op(rec: Recorder, now: list[float], f: str, body: dict, start: float, end: float,
        outcome: str = "ok", answer: object = None) -> None:
    now[0] = start
    invoke = rec.invoke(0, f, {"node": 0, "attempt": 1, "body": body})
    now[0] = end
    rec.complete(invoke, outcome, {"status": 200, "body": answer})  # type: ignore[arg-type]


def test_latency_counts_the_ok_attempts_of_the_main_phase() -> None:
    rec, now = _history()
    rec.set_phase("main")
    _op(rec, now, "order", {"order_id": "o1"}, 1.0, 1.1, answer={"status": "accepted"})
    _op(rec, now, "order", {"order_id": "o2"}, 1.0, 1.5, answer={"status": "accepted"})
    _op(rec, now, "order", {"order_id": "o3"}, 1.0, 3.0, outcome="info")
    rec.set_phase("final")
    _op(rec, now, "order", {"order_id": "o4"}, 5.0, 9.0)
    slo = parse_slo("p95(order) < 300 ms")
    got = samples(slo, rec.history(), FinalState(workload="inventory"), Ledgers())
    assert got.values == pytest.approx((0.1, 0.5))
    result = judge(slo, [got, Samples(values=(0.2,))])
    assert result.met is False and result.measured == pytest.approx(0.5)
    assert result.line() == "p95(order) < 300 ms: measured 500 ms (NOT MET)"
    assert result.distribution["n"] == 3


def test_freshness_lines_an_answer_up_with_its_effect_and_censors_the_missing() -> None:
    rec, now = _history()
    rec.set_phase("main")
    _op(rec, now, "order", {"order_id": "o1"}, 1.0, 1.2, answer={"status": "accepted"})
    _op(rec, now, "order", {"order_id": "o2"}, 1.0, 1.3, answer={"status": "accepted"})
    _op(rec, now, "order", {"order_id": "o3"}, 1.0, 1.3, outcome="fail",
        answer={"status": "rejected"})
    now[0] = 8.0
    rec.set_phase("final")
    _op(rec, now, "read_order", {"order_id": "o1"}, 8.0, 8.3)
    t0 = 100.0  # the history's time 0 on the monotonic clock the partner stamps with
    ledgers = Ledgers((
        Effect(kind="shipment", effect_id="s1", body={"order_id": "o1"}, time=t0 + 4.2),
        Effect(kind="shipment", effect_id="s9", body={"order_id": "o1"}, time=t0 + 6.0),
    ))
    slo = parse_slo("exactly_once_shipment within 5 s")
    got = samples(slo, rec.history(), FinalState(workload="inventory"), ledgers, t0=t0)
    assert sorted(got.values) == pytest.approx([3.0, 7.0])  # o1 3.0 s; o2 never: >= 7.0 s
    assert got.inexact == 1
    result = judge(slo, [got])
    assert result.met is False and result.measured == pytest.approx(7.0)
    assert "1 of 2 lags are lower bounds" in result.note and "o2 7.00 s" in result.note


def test_availability_is_the_answered_share_of_what_a_fault_met() -> None:
    rec, now = _history()
    rec.set_phase("main")
    _op(rec, now, "pay", {"payment_id": "p0"}, 0.5, 0.6)  # before the fault: not counted
    now[0] = 1.0
    rec.nemesis("start", {"id": 0, "fault": {"kind": "pause", "process": "target-0"}})
    _op(rec, now, "pay", {"payment_id": "p1"}, 1.1, 1.2)
    _op(rec, now, "pay", {"payment_id": "p2"}, 1.1, 3.1, outcome="info")
    _op(rec, now, "pay", {"payment_id": "p3"}, 1.5, 1.6, outcome="fail")
    now[0] = 2.0
    rec.nemesis("heal", {"id": 0, "fault": {"kind": "pause", "process": "target-0"}})
    _op(rec, now, "pay", {"payment_id": "p4"}, 2.5, 2.6)
    slo = parse_slo("availability >= 90%")
    got = samples(slo, rec.history(), FinalState(workload="payments"), Ledgers())
    assert (got.answered, got.total) == (2, 3)
    result = judge(slo, [got])
    assert result.met is False and result.shown == "66.7%"
    assert judge(slo, [Samples()]).met is None
    only_p1 = samples(parse_slo("availability(read) >= 1%"), rec.history(),
                      FinalState(workload="payments"), Ledgers())
    assert only_p1.total == 0


def test_a_promise_missed_on_a_saturated_host_is_not_judged() -> None:
    """Two suites side by side on two cores made a correct service miss its
    latency promise: a miss measured while the host was saturated is shown, not
    judged; a promise met on a busy host is still met."""
    slo = parse_slo("p95(pay) < 300 ms")
    busy = "the host's CPUs were saturated: a runnable task waited for a CPU 83% of the time"
    missed = judge(slo, [Samples(values=(0.2, 0.33, 0.4))], saturated=busy)
    assert missed.met is None and missed.measured == pytest.approx(0.4)
    assert missed.verdict == "not judged"
    assert missed.line() == "p95(pay) < 300 ms: measured 400 ms (not judged)"
    assert missed.note.startswith("the host's CPUs were saturated")
    met = judge(slo, [Samples(values=(0.1, 0.2))], saturated=busy)
    assert met.met is True and met.verdict == "met"
    assert judge(slo, [Samples(values=(0.4,))]).verdict == "NOT MET"
    assert judge(slo, [Samples()], saturated=busy).verdict == "not measured"


def test_a_row_that_could_not_judge_its_slo_does_not_pass() -> None:
    slo = parse_slo("p95(pay) < 300 ms")
    busy = "the host's CPUs were saturated"
    unjudged = judge(slo, [Samples(values=(0.4,))], saturated=busy)
    status, reason = with_slos("PASS", None, [unjudged])
    assert status == "INCONCLUSIVE"
    assert reason is not None and "not judged" in reason and busy in reason
    assert with_slos("FAIL", "a bug", [unjudged]) == ("FAIL", "a bug")
    missed = judge(slo, [Samples(values=(0.4,))])
    assert with_slos("PASS", None, [missed])[0] == "FAIL"
    met = judge(slo, [Samples(values=(0.1,))], saturated=busy)
    assert with_slos("PASS", None, [met]) == ("PASS", None)
