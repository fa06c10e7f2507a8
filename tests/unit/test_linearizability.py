"""The linearizability search on hand-written histories, against a brute-force
reference, and on histories a real register produced (Hypothesis)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history import FinalState, History, Ledgers, Recorder
from invariants.linearizability import (
    CAS_REGISTER,
    KV,
    UNKNOWN,
    KvOp,
    Model,
    ModelError,
    Op,
    RegisterOp,
    check_linearization,
    check_operations,
    linearizability_checker,
    ops_from_history,
)

# -- building histories by hand: times are small integers, [call, ret] closed


def read(i: int, call: float, ret: float, value: Any, *, key: Any = None) -> Op:
    return Op(id=i, input=RegisterOp("read", key=key), output=value, call=call, ret=ret)


def write(i: int, call: float, ret: float | None, value: Any) -> Op:
    """``ret=None``: an indeterminate write (info, or never completed)."""
    if ret is None:
        return Op(id=i, input=RegisterOp("write", value=value), output=UNKNOWN, call=call)
    return Op(id=i, input=RegisterOp("write", value=value), output=None, call=call, ret=ret)


def cas(i: int, call: float, ret: float | None, expected: Any, new: Any, swapped: Any = True) -> Op:
    output = UNKNOWN if ret is None else swapped
    return Op(
        id=i,
        input=RegisterOp("cas", expected=expected, new=new),
        output=output,
        call=call,
        ret=float("inf") if ret is None else ret,
    )


def status(ops: Sequence[Op], model: Model[Any, Any, Any] = CAS_REGISTER) -> str:
    result = check_operations(model, ops)
    for part in result.partitions:
        if part.status == "linearizable":  # every yes comes with a checked witness
            assert check_linearization(model, part.ops, part.order) is None
    return result.status


def test_sequential_reads_see_the_last_write() -> None:
    assert status([write(0, 0, 1, 1), read(1, 2, 3, 1), write(2, 4, 5, 2), read(3, 6, 7, 2)]) == (
        "linearizable"
    )
    assert status([write(0, 0, 1, 1), read(1, 2, 3, 2)]) == "not linearizable"


def test_a_register_starts_as_nil() -> None:
    assert status([read(0, 0, 1, None)]) == "linearizable"
    assert status([read(0, 0, 1, 0)]) == "not linearizable"


def test_concurrent_writes_may_take_effect_in_either_order() -> None:
    both = [write(0, 0, 3, 1), write(1, 1, 4, 2)]
    assert status([*both, read(2, 5, 6, 1)]) == "linearizable"
    assert status([*both, read(2, 5, 6, 2)]) == "linearizable"
    # ...but in one order only: after reading 1 then 2, nothing explains it
    assert status([*both, read(2, 5, 6, 1), read(3, 7, 8, 2)]) == "not linearizable"


def test_an_operation_takes_effect_within_its_interval() -> None:
    # a read concurrent with a write may see either value
    assert status([write(0, 0, 10, 1), read(1, 2, 3, None), read(2, 4, 5, 1)]) == "linearizable"
    # once it saw the new value, a later read cannot see the old one
    assert status([write(0, 0, 10, 1), read(1, 2, 3, 1), read(2, 4, 5, None)]) == (
        "not linearizable"
    )


def test_shared_instants_are_concurrent() -> None:
    # intervals are closed: a read returning at 5 and a write called at 5 overlap
    assert status([write(0, 5, 6, 1), read(1, 0, 5, 1)]) == "linearizable"
    assert status([write(0, 6, 7, 1), read(1, 0, 5, 1)]) == "not linearizable"


def test_an_indeterminate_write_may_take_effect_late() -> None:
    history = [write(0, 0, None, 1), read(1, 1, 2, None), read(2, 10, 11, 1)]
    assert status(history) == "linearizable"


def test_an_indeterminate_write_may_never_take_effect() -> None:
    assert status([write(0, 0, None, 1), read(1, 1, 2, None), read(2, 10, 11, None)]) == (
        "linearizable"
    )


def test_an_indeterminate_write_cannot_take_effect_before_its_call() -> None:
    assert status([read(0, 0, 1, 1), write(1, 2, None, 1)]) == "not linearizable"


def test_an_indeterminate_write_takes_effect_once() -> None:
    history = [
        write(0, 0, None, 1),
        read(1, 1, 2, 1),
        write(2, 3, 4, 2),
        read(3, 5, 6, 1),  # would need the lost write to happen a second time
    ]
    assert status(history) == "not linearizable"


def test_failed_operations_are_dropped_by_the_reader() -> None:
    rec = _recorder()
    failed = rec.invoke(0, "write", {"body": {"value": 1}})
    rec.complete(failed, "fail", {"status": 409, "body": None})
    _ok(rec, "read", {}, {"value": None})
    assert ops_from_history(rec.history(), CAS_REGISTER) == (
        Op(id=1, input=RegisterOp("read"), output=None, call=2, ret=3, process=0),
    )
    _ok(rec, "read", {}, {"value": 1})  # the failed write cannot explain this
    verdict = linearizability_checker(CAS_REGISTER)(
        rec.history(), FinalState(workload="kv"), Ledgers()
    )
    assert (verdict.invariant, verdict.status) == ("linearizable", "invalid")


def test_cas_swaps_only_on_the_expected_value() -> None:
    assert status([write(0, 0, 1, 1), cas(1, 2, 3, 1, 2), read(2, 4, 5, 2)]) == "linearizable"
    assert status([write(0, 0, 1, 1), cas(1, 2, 3, 0, 2), read(2, 4, 5, 2)]) == ("not linearizable")
    assert status([cas(0, 0, 1, None, 7), read(1, 2, 3, 7)]) == "linearizable"


def test_a_cas_that_answered_no_swap_saw_another_value() -> None:
    assert status([write(0, 0, 1, 1), cas(1, 2, 3, 0, 2, swapped=False)]) == "linearizable"
    assert status([write(0, 0, 1, 1), cas(1, 2, 3, 1, 2, swapped=False)]) == "not linearizable"
    # concurrent with the write: it may have come first
    assert status([write(0, 0, 3, 1), cas(1, 2, 4, 1, 2, swapped=False)]) == "linearizable"


def test_an_indeterminate_cas_may_or_may_not_have_swapped() -> None:
    base = [write(0, 0, 1, 1), cas(1, 2, None, 1, 2)]
    assert status([*base, read(2, 5, 6, 2)]) == "linearizable"
    assert status([*base, read(2, 5, 6, 1)]) == "linearizable"
    assert status([*base, read(2, 5, 6, 2), read(3, 7, 8, 1)]) == "not linearizable"


def test_an_empty_history_and_one_of_only_indeterminate_ops_are_linearizable() -> None:
    assert status([]) == "linearizable"
    assert status([write(0, 0, None, 1), cas(1, 0, None, 1, 2)]) == "linearizable"


def test_keys_are_checked_alone() -> None:
    def op(i: int, f: str, key: str, value: str, call: int, ret: int) -> Op:
        output = value if f == "get" else None
        kv_op = KvOp("get", key) if f == "get" else KvOp("append", key, value)
        return Op(id=i, input=kv_op, output=output, call=call, ret=ret)

    history = [
        op(0, "append", "a", "x", 0, 1),
        op(1, "append", "b", "y", 0, 1),
        op(2, "get", "a", "x", 2, 3),
        op(3, "get", "b", "yy", 2, 3),
    ]
    result = check_operations(KV, history)
    assert result.status == "not linearizable"
    assert [(p.key, p.status) for p in result.partitions] == [
        ("a", "linearizable"),
        ("b", "not linearizable"),
    ]
    verdict = result.to_verdict()
    assert verdict.status == "invalid"
    assert [e.keys for e in verdict.evidence] == [("b",)]
    assert verdict.summary.startswith("not linearizable at 1 of 2 keys")


def test_the_evidence_names_the_longest_prefix_and_the_op_that_cannot_follow() -> None:
    history = [write(10, 0, 1, 1), write(11, 2, 3, 2), read(12, 4, 5, 1), write(13, 6, 7, 3)]
    result = check_operations(CAS_REGISTER, history)
    (part,) = result.partitions
    assert (part.status, part.order, part.blocked, part.state) == (
        "not linearizable",
        (10, 11),
        12,
        2,
    )
    verdict = result.to_verdict()
    (evidence,) = verdict.evidence
    assert evidence.op_ids == (12, 10, 11)
    assert "op 12 (process 0: read() -> 1, from 4 to 5) cannot be placed" in evidence.message
    assert (
        "orders 2 ops (10, 11), leaving the state 2 after op 10 (process 0: write(1), from 0 "
        "to 1), op 11 (process 0: write(2), from 2 to 3);"
    ) in evidence.message


def test_when_no_operation_can_come_first_the_evidence_names_the_earliest_return() -> None:
    """Reads of a value nothing wrote (a server answering with the value of its
    own re-run, a refused cas): no operation can be placed at all, and the
    evidence still names one, not an empty list."""
    history = [read(20, 0, 2, "v0"), read(21, 3, 4, "v0")]
    result = check_operations(CAS_REGISTER, history)
    (part,) = result.partitions
    assert (part.status, part.order, part.blocked) == ("not linearizable", (), 20)
    (evidence,) = result.to_verdict().evidence
    assert evidence.op_ids == (20,)
    assert evidence.message.startswith(
        "not linearizable: op 20 (process 0: read() -> 'v0', from 0 to 2) cannot be placed: "
        "no operation can come first from the initial state"
    )


def test_a_model_whose_read_only_lies_is_an_error() -> None:
    liar = replace(CAS_REGISTER, read_only=lambda op, output: True)
    with pytest.raises(ModelError, match="read_only says op 0"):
        check_operations(liar, [write(0, 0, 1, 1)])


def test_a_model_of_your_own() -> None:
    def step(state: int, input: str, output: Any) -> tuple[bool, int]:
        if input == "inc":
            return True, state + 1
        return output is UNKNOWN or output == state, state

    counter: Model[int, str, Any] = Model(name="counter", init=0, step=step)
    ops = [
        Op(id=0, input="inc", output=None, call=0, ret=3),
        Op(id=1, input="inc", output=None, call=1, ret=4),
        Op(id=2, input="get", output=1, call=2, ret=5),
        Op(id=3, input="get", output=2, call=6, ret=7),
    ]
    assert status(ops, counter) == "linearizable"
    assert status([*ops, Op(id=4, input="get", output=1, call=8, ret=9)], counter) == (
        "not linearizable"
    )


# -- the time budget


def _hard(n: int) -> list[Op]:
    """n concurrent writes, then a read of a value nobody wrote: not linearizable,
    and a plain search tries every order of the writes first."""
    return [write(i, 0, 1, i) for i in range(n)] + [read(n, 2, 3, -1)]


def test_a_budget_that_runs_out_gives_unknown_never_a_guess() -> None:
    started = time.perf_counter()
    result = check_operations(CAS_REGISTER, _hard(18), timeout=0.05)
    assert time.perf_counter() - started < 10.0  # 18! orders without the budget
    assert result.status == "unknown"
    assert result.to_verdict().status == "unknown"
    assert "undecided" in result.describe(result.partitions[0])
    assert check_operations(CAS_REGISTER, _hard(6)).status == "not linearizable"


def test_a_key_whose_budget_runs_out_does_not_hide_a_violation_at_another() -> None:
    hard = [replace(op, input=replace(op.input, key="hard")) for op in _hard(18)]
    easy = [read(100, 0, 1, 5, key="easy")]
    result = check_operations(CAS_REGISTER, [*hard, *easy], timeout=0.2)
    assert [p.status for p in result.partitions] == ["unknown", "not linearizable"]
    assert result.status == "not linearizable"


def test_the_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="'timeout' must be > 0"):
        check_operations(CAS_REGISTER, [], timeout=0)


# -- against a brute-force reference: every order of the operations


def brute_force(model: Model[Any, Any, Any], ops: Sequence[Op]) -> bool:
    """Try every order (indeterminate ops: placed anywhere after their call, or never)."""

    def extend(part: list[Op], placed: frozenset[int], state: Any) -> bool:
        if all(op.id in placed for op in part if not op.indeterminate):
            return True
        for op in part:
            if op.id in placed:
                continue
            if any(p.id not in placed and p.ret < op.call for p in part if not p.indeterminate):
                continue  # an unplaced op completed before this one was called
            ok, new = model.step(state, op.input, op.output)
            if ok and extend(part, placed | {op.id}, new):
                return True
        return False

    parts: dict[Any, list[Op]] = {}
    for op in ops:
        parts.setdefault(model.partition(op.input) if model.partition else None, []).append(op)
    return all(extend(part, frozenset(), model.init) for part in parts.values())


VALUES = st.sampled_from([None, 0, 1, 2])


@st.composite
def register_histories(draw: st.DrawFn, max_ops: int = 7) -> list[Op]:
    ops = []
    for i in range(draw(st.integers(0, max_ops))):
        call = draw(st.integers(0, 8))
        ret = call + draw(st.integers(0, 4))
        f = draw(st.sampled_from(["read", "write", "cas"]))
        unknown = draw(st.integers(0, 4)) == 0
        if f == "read":
            op_in = RegisterOp("read")
            output = draw(VALUES)
        elif f == "write":
            op_in = RegisterOp("write", value=draw(VALUES))
            output = None
        else:
            op_in = RegisterOp("cas", expected=draw(VALUES), new=draw(VALUES))
            output = draw(st.booleans())
        if unknown:
            ops.append(Op(id=i, input=op_in, output=UNKNOWN, call=call))
        else:
            ops.append(Op(id=i, input=op_in, output=output, call=call, ret=ret))
    return ops


@given(register_histories())
@settings(max_examples=1000, deadline=None)
def test_the_register_verdict_is_the_brute_force_one(ops: list[Op]) -> None:
    expected = "linearizable" if brute_force(CAS_REGISTER, ops) else "not linearizable"
    assert status(ops) == expected


@st.composite
def kv_histories(draw: st.DrawFn) -> list[Op]:
    ops = []
    for i in range(draw(st.integers(0, 8))):
        call = draw(st.integers(0, 8))
        ret = call + draw(st.integers(0, 4))
        key = draw(st.sampled_from("ab"))
        f = draw(st.sampled_from(["get", "put", "append"]))
        value = draw(st.sampled_from(["", "x", "y", "xy"]))
        op_in = KvOp(f, key, "" if f == "get" else value)  # type: ignore[arg-type]
        if draw(st.integers(0, 4)) == 0:
            ops.append(Op(id=i, input=op_in, output=UNKNOWN, call=call))
        else:
            ops.append(
                Op(id=i, input=op_in, output=value if f == "get" else None, call=call, ret=ret)
            )
    return ops


@given(kv_histories())
@settings(max_examples=500, deadline=None)
def test_the_kv_verdict_is_the_brute_force_one(ops: list[Op]) -> None:
    expected = "linearizable" if brute_force(KV, ops) else "not linearizable"
    assert status(ops, KV) == expected


# -- histories a real register produced: each op took effect at one instant of its interval


@dataclass(frozen=True)
class Planned:
    f: str
    args: dict[str, Any]
    before: int  # the op is called this long before it takes effect
    after: int  # ... and returns this long after
    outcome: str  # ok | info (took effect, answer lost) | lost (info, never took effect) | fail


def planned_ops(outcomes: Sequence[str]) -> st.SearchStrategy[Planned]:
    small = st.integers(0, 3)
    return st.builds(
        Planned,
        f=st.sampled_from(["read", "write", "cas"]),
        args=st.fixed_dictionaries(
            {"value": small, "expected": st.one_of(st.none(), small), "new": small}
        ),
        before=st.integers(0, 30),
        after=st.integers(0, 30),
        outcome=st.sampled_from(outcomes),
    )


def run_register(plan: Sequence[Planned], rec: Recorder, start: int = 0) -> int:
    """Execute ``plan`` on a real register, the i-th op taking effect at
    ``start + 10 * i``, and record each invoke and completion at its time (a
    failmodel history, so the reader is exercised too). Returns the end time."""
    value: Any = None
    events: list[tuple[int, int, int, str, dict[str, Any]]] = []  # time, kind, op, ...
    for i, p in enumerate(plan):
        at = start + 10 * i
        body = {"read": {}, "write": {"value": p.args["value"]}, "cas": p.args}[p.f]
        answer: dict[str, Any] = {}
        took_effect = p.outcome in ("ok", "info")
        completion = "info" if p.outcome == "lost" else p.outcome
        if p.f == "read":
            answer = {"value": value}
        elif p.f == "write" and took_effect:
            value = p.args["value"]
        elif p.f == "cas":
            if value != p.args["expected"]:
                completion = "fail" if completion == "ok" else completion  # no swap
            elif took_effect:
                value = p.args["new"]
        events.append((at - p.before, 0, i, p.f, body))
        events.append((at + p.after, 1, i, completion, answer))
    events.sort()
    invokes = {}
    for _, kind, i, what, data in events:
        if kind == 0:
            invokes[i] = rec.invoke(i % 5, what, {"node": 0, "attempt": 1, "body": data})
        else:
            rec.complete(invokes[i], what, {"status": 200, "body": data})  # type: ignore[arg-type]
    return start + 10 * len(plan) + 31


def _recorder() -> Recorder:
    ticks = itertools.count()
    return Recorder(clock=lambda: float(next(ticks)))


def _ok(rec: Recorder, f: str, body: dict[str, Any], answer: dict[str, Any]) -> int:
    invoke = rec.invoke(0, f, {"node": 0, "attempt": 1, "body": body})
    rec.complete(invoke, "ok", {"status": 200, "body": answer})
    return invoke.op_id


@given(st.lists(planned_ops(["ok", "ok", "ok", "info", "lost", "fail"]), max_size=40))
@settings(max_examples=300, deadline=None)
def test_a_history_a_real_register_produced_is_linearizable(plan: list[Planned]) -> None:
    rec = _recorder()
    run_register(plan, rec)
    ops = ops_from_history(rec.history(), CAS_REGISTER)
    assert status(ops) == "linearizable"


@given(
    st.lists(planned_ops(["ok", "ok", "fail"]), max_size=25),
    st.lists(planned_ops(["ok", "ok", "info", "lost", "fail"]), max_size=15),
    st.integers(0, 3),
    st.sampled_from([None, 0, 1, 2, 3, 4]),
)
@settings(max_examples=300, deadline=None)
def test_a_read_corrupted_where_nothing_runs_concurrently_is_caught(
    before: list[Planned], after: list[Planned], written: int, corrupted: Any
) -> None:
    if corrupted == written:
        corrupted = 4
    rec = _recorder()
    end = run_register(before, rec)
    # all quiet: one write, then one read, each alone on the timeline
    _ok(rec, "write", {"value": written}, {})
    read_id = _ok(rec, "read", {}, {"value": corrupted})
    run_register(after, rec, start=end + 100)
    history = rec.history()
    result = check_operations(CAS_REGISTER, ops_from_history(history, CAS_REGISTER))
    assert result.status == "not linearizable"
    assert result.partitions[0].blocked == read_id


def test_run_register_records_what_happened() -> None:
    rec = _recorder()
    plan = [
        Planned("write", {"value": 1, "expected": None, "new": 0}, 0, 0, "ok"),
        Planned("cas", {"value": 0, "expected": 2, "new": 3}, 0, 0, "ok"),
        Planned("read", {"value": 0, "expected": None, "new": 0}, 0, 0, "ok"),
    ]
    run_register(plan, rec)
    history: History = rec.history()
    assert [(e.f, e.type) for e in history.events if e.type != "invoke"] == [
        ("write", "ok"),
        ("cas", "fail"),
        ("read", "ok"),
    ]
    assert history.events[-1].value["body"] == {"value": 1}
