"""Workload kv: ``linearizable`` (each key a cas register, 409 refusals read what
they found) and ``acknowledged_writes_survive``, on hand-written histories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from histories import recorder

from harness.history import Event, History, Recorder
from invariants._kv import (
    KV_REGISTER,
    Refused,
    check_acknowledged_values,
    check_kv_history,
    kv_operations,
    make_linearizable,
)
from invariants.linearizability import (
    CAS_REGISTER,
    HistoryFormatError,
    check_history,
    check_linearization,
)
from invariants.verdict import Verdict

Answer = tuple[int | None, Any]  # (status, body); status None: a timeout (info)


def start(rec: Recorder, f: str, body: Mapping[str, Any], process: int = 0) -> Event:
    return rec.invoke(process, f, {"node": 0, "attempt": 1, "body": dict(body)})


def end(rec: Recorder, invoke: Event, answer: Answer) -> int:
    status, said = answer
    if status is None:
        rec.complete(invoke, "info", {"status": None, "body": None}, error="timeout")
    else:
        outcome = "fail" if status == 409 else "ok"
        rec.complete(invoke, outcome, {"status": status, "body": said})
    return invoke.op_id


def put(key: str, value: str, ok: bool = True) -> tuple[str, dict[str, Any], Answer]:
    return "put", {"key": key, "value": value}, (200 if ok else None, {"key": key, "value": value})


def get(key: str, value: str | None) -> tuple[str, dict[str, Any], Answer]:
    answer: Answer = (404, {"key": key}) if value is None else (200, {"key": key, "value": value})
    return "get", {"key": key}, answer


def cas(
    key: str, expected: str | None, new: str, found: str | None = "", ok: bool = True
) -> tuple[str, dict[str, Any], Answer]:
    """A swap (``found=""``), a 409 refusal that found ``found``, or a timeout (``ok=False``)."""
    answer: Answer = (
        (None, None)
        if not ok
        else (200, {"key": key, "value": new})
        if found == ""
        else (409, {"key": key, "value": found})
    )
    return "cas", {"key": key, "expected": expected, "new": new}, answer


Call = tuple[str, dict[str, Any], Answer]


def sequential(*calls: Call) -> tuple[History, list[int]]:
    """Each call completes before the next starts."""
    rec = recorder()
    ids = [end(rec, start(rec, f, b), a) for f, b, a in calls]
    return rec.history(), ids


def concurrent(*groups: tuple[Call, ...]) -> tuple[History, list[int]]:
    """Each group's calls all start, then all complete, in order; groups follow each other."""
    rec = recorder()
    ids: list[int] = []
    for group in groups:
        started = [(start(rec, f, b, process=i), a) for i, (f, b, a) in enumerate(group)]
        ids += [end(rec, invoke, a) for invoke, a in started]
    return rec.history(), ids


def verdict(history: History, timeout: float | None = 10.0) -> Verdict:
    return make_linearizable(timeout)(history, None, None)  # type: ignore[arg-type]


def test_a_sequential_register_history_is_linearizable_with_a_witness() -> None:
    history, _ = sequential(
        get("k", None),
        cas("k", "a", "b", found=None),
        put("k", "a"),
        get("k", "a"),
        cas("k", "a", "b"),
        cas("k", "a", "c", found="b"),
        cas("k", None, "d", found="b"),
        get("k", "b"),
        put("j", "x"),
        cas("j", "x", "y"),
    )
    result = check_kv_history(history, timeout=10)
    assert result.status == "linearizable"
    ops = kv_operations(history)
    for part in result.partitions:
        mine = [op for op in ops if op.input.key == part.key]
        assert check_linearization(KV_REGISTER, mine, part.order) is None
    v = verdict(history)
    assert v.status == "valid" and v.checked == 2
    assert "2 keys, 10 ops, model kv-register" in v.summary


def test_a_stale_read_is_not_linearizable_and_names_the_read_and_the_prefix() -> None:
    history, ids = sequential(put("k", "a"), put("k", "b"), get("k", "a"))
    v = verdict(history)
    assert v.status == "invalid"
    (evidence,) = v.evidence
    assert evidence.keys == ("k",)
    assert evidence.op_ids[0] == ids[2]
    assert f"op {ids[2]} (process 0: get() -> 'a'" in evidence.message
    assert f"orders 2 ops ({ids[0]}, {ids[1]}), leaving the state 'b'" in evidence.message
    # The ops that led to that state are spelled out, not only numbered.
    assert f"'b' after op {ids[0]} (process 0: put('a')," in evidence.message
    assert f"op {ids[1]} (process 0: put('b')," in evidence.message


def test_a_read_concurrent_with_a_write_may_see_either_value() -> None:
    for seen in ("a", "b"):
        history, _ = concurrent((put("k", "a"),), (put("k", "b"), get("k", seen)))
        assert verdict(history).status == "valid", seen


def test_two_swaps_from_one_value_is_a_lost_update() -> None:
    history, _ = concurrent(
        (put("k", "a"),), (cas("k", "a", "b"), cas("k", "a", "c")), (get("k", "c"),)
    )
    v = verdict(history)
    assert v.status == "invalid"
    assert "cas('a', " in v.evidence[0].message
    # One of them swapping and the other refused is fine.
    history, _ = concurrent(
        (put("k", "a"),), (cas("k", "a", "b"), cas("k", "a", "c", found="b")), (get("k", "b"),)
    )
    assert verdict(history).status == "valid"


def test_a_refusal_is_checked_as_a_read_of_what_it_found() -> None:
    # The 409 found 'a', which 'b' had overwritten before the cas was sent.
    history, ids = sequential(put("k", "a"), put("k", "b"), cas("k", "x", "y", found="a"))
    v = verdict(history)
    assert v.status == "invalid"
    assert v.evidence[0].op_ids[0] == ids[2]
    assert "cas('x', 'y') -> refused, found 'a'" in v.evidence[0].message
    # The plain cas register drops the refusal (a fail) and misses it.
    assert check_history(CAS_REGISTER, history).status == "valid"
    # A refusal that found the expected value contradicts itself.
    history, _ = sequential(put("k", "a"), cas("k", "a", "y", found="a"))
    assert verdict(history).status == "invalid"
    assert [op.output for op in kv_operations(history)] == [None, Refused("a")]


def test_an_indeterminate_write_may_take_effect_late_or_never() -> None:
    calls = (put("k", "a"), put("k", "b", ok=False), get("k", "a"), get("k", "b"))
    assert verdict(sequential(*calls)[0]).status == "valid"
    assert verdict(sequential(*calls[:3])[0]).status == "valid"  # never
    history, _ = sequential(*calls, get("k", "a"))
    assert verdict(history).status == "invalid"  # but not undone
    # An indeterminate cas too: it swapped, later, or never.
    calls = (put("k", "a"), cas("k", "a", "b", ok=False), get("k", "a"), get("k", "b"))
    assert verdict(sequential(*calls)[0]).status == "valid"


def test_no_value_after_an_acknowledged_write_is_not_linearizable() -> None:
    assert verdict(sequential(get("k", None), put("k", "a"))[0]).status == "valid"
    assert verdict(sequential(put("k", "a"), get("k", None))[0]).status == "invalid"


def test_only_the_broken_key_is_reported() -> None:
    history, _ = sequential(
        put("good", "a"), get("good", "a"), put("bad", "a"), put("bad", "b"), get("bad", "a")
    )
    v = verdict(history)
    assert v.status == "invalid" and v.checked == 2
    assert [e.keys for e in v.evidence] == [("bad",)]
    assert "not linearizable at 1 of 2 keys" in v.summary


def test_the_budget_running_out_is_unknown_never_a_guess() -> None:
    # Many indeterminate writes make the search wide; a tiny budget cannot finish it.
    calls: list[Call] = [put("k", f"v{i}", ok=False) for i in range(14)]
    history, _ = concurrent(tuple(calls), (get("k", "v3"), get("k", "zz")))
    v = verdict(history, timeout=1e-6)
    assert v.status == "unknown"
    assert "time budget ran out" in v.summary
    assert verdict(history, timeout=None).status == "invalid"


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        make_linearizable(0)


def test_an_operation_the_contract_does_not_have_is_an_error() -> None:
    rec = recorder()
    end(rec, start(rec, "append", {"key": "k", "value": "x"}), (200, {}))
    with pytest.raises(HistoryFormatError, match="no operation 'append'"):
        kv_operations(rec.history())


# -- acknowledged_writes_survive


def values(**shown: str | None) -> dict[str, Any]:
    return {k: None if v is None else {"key": k, "value": v} for k, v in shown.items()}


def test_the_last_acknowledged_value_survives() -> None:
    history, _ = sequential(put("k", "a"), cas("k", "a", "b"), cas("k", "a", "c", found="b"))
    v = check_acknowledged_values(history, values(k="b"))
    assert v.status == "valid" and v.checked == 1


def test_an_overwritten_value_in_the_final_state_is_a_pending_loss() -> None:
    history, ids = sequential(put("k", "a"), put("k", "b"))
    v = check_acknowledged_values(history, values(k="a"))
    assert v.status == "invalid" and v.waiting
    assert f"overwritten by acknowledged op {ids[1]} ('b')" in v.evidence[0].message
    v = check_acknowledged_values(history, values(k=None))
    assert v.status == "invalid" and v.waiting and "no value" in v.summary


def test_a_value_whose_write_may_still_land_is_fine() -> None:
    history, _ = sequential(put("k", "a", ok=False), put("k", "b"))
    assert check_acknowledged_values(history, values(k="a")).status == "valid"
    # Concurrent writes may land in either order.
    history, _ = concurrent((put("k", "a"), put("k", "b")))
    assert check_acknowledged_values(history, values(k="a")).status == "valid"


def test_a_value_nobody_wrote_is_a_violation_at_once() -> None:
    history, _ = sequential(put("k", "a"), cas("k", "a", "b", found="x"))
    v = check_acknowledged_values(history, values(k="b"))
    assert v.status == "invalid" and not v.waiting
    assert "a value no write sent" in v.summary


def test_an_unread_key_is_unknown_and_unacknowledged_keys_are_not_judged() -> None:
    history, _ = sequential(put("k", "a"), put("j", "a", ok=False))
    v = check_acknowledged_values(history, {})
    assert v.status == "unknown" and "indeterminate" in v.summary
    assert check_acknowledged_values(history, values(k="a")).checked == 1
