"""Checking a whole history: split by key, search each part within one time budget,
and say the result as a failmodel ``Verdict``."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from harness.history import FinalState, History, Ledgers
from invariants.linearizability._model import Model, Op
from invariants.linearizability._readers import ops_from_history
from invariants.linearizability._search import PartitionResult, Status, search
from invariants.verdict import Checker, Evidence, Verdict
from invariants.verdict import Status as VerdictStatus

INVARIANT: Final = "linearizable"
_VERDICT_STATUS: Final[Mapping[Status, VerdictStatus]] = {
    "linearizable": "valid",
    "not linearizable": "invalid",
    "unknown": "unknown",
}
_SHOWN = 8  # operations of a prefix listed by id in the evidence
_SPELLED = 3  # the last operations of a prefix described in words


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearizabilityResult:
    """The verdict on a history: ``not linearizable`` if any part is (whatever the
    others say), else ``unknown`` if the budget ran out on one, else
    ``linearizable``. ``partitions`` are in order of first appearance."""

    model: Model[Any, Any, Any]
    status: Status
    partitions: tuple[PartitionResult, ...]
    seconds: float

    @property
    def op_count(self) -> int:
        return sum(len(p.ops) for p in self.partitions)

    def failures(self) -> tuple[PartitionResult, ...]:
        return tuple(p for p in self.partitions if p.status == "not linearizable")

    def describe(self, partition: PartitionResult) -> str:
        """Words for one part: the longest prefix, and the operation that cannot follow."""
        return _describe(self.model, partition)

    def to_verdict(self) -> Verdict:
        return _verdict(self)


def partition_ops(model: Model[Any, Any, Any], ops: Iterable[Op]) -> dict[Hashable, list[Op]]:
    """The operations split by ``model.partition`` (one part, key ``None``, without it)."""
    parts: dict[Hashable, list[Op]] = {}
    key_of = model.partition
    for op in ops:
        parts.setdefault(None if key_of is None else key_of(op.input), []).append(op)
    return parts


def check_operations(
    model: Model[Any, Any, Any], ops: Iterable[Op], *, timeout: float | None = None
) -> LinearizabilityResult:
    """Check ``ops`` against ``model``, key by key when it partitions.

    ``timeout`` (seconds, for the whole history) bounds the search: a part
    still undecided when it runs out is ``unknown``, never a guess; ``None``
    searches to the end. With a budget, each key first gets an equal share
    of what is left, so one hard key cannot hide a violation at another; the
    keys still undecided then share the rest, one after the other.
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"'timeout' must be > 0 seconds or None (got {timeout!r})")
    started = time.perf_counter()
    parts = list(partition_ops(model, ops).items())
    if timeout is None:
        results = [search(model, part, key=key) for key, part in parts]
    else:
        deadline = started + timeout
        results = []
        for left, (key, part) in zip(range(len(parts), 0, -1), parts, strict=True):
            share = max(0.0, deadline - time.perf_counter()) / left
            results.append(search(model, part, key=key, deadline=time.perf_counter() + share))
        for i, (key, part) in enumerate(parts):
            if results[i].status == "unknown" and time.perf_counter() < deadline:
                results[i] = search(model, part, key=key, deadline=deadline)
    statuses = {r.status for r in results}
    status: Status = (
        "not linearizable"
        if "not linearizable" in statuses
        else "unknown"
        if "unknown" in statuses
        else "linearizable"
    )
    return LinearizabilityResult(
        model=model,
        status=status,
        partitions=tuple(results),
        seconds=time.perf_counter() - started,
    )


def check_history(
    model: Model[Any, Any, Any], history: History, *, timeout: float | None = None
) -> Verdict:
    """The ``linearizable`` verdict on a failmodel history (read with
    ``model.from_operation``); an unreadable operation raises ``HistoryFormatError``."""
    return check_operations(model, ops_from_history(history, model), timeout=timeout).to_verdict()


def linearizability_checker(
    model: Model[Any, Any, Any], *, timeout: float | None = 60.0
) -> Checker:
    """A failmodel ``Checker`` ``(history, final, ledgers) -> Verdict`` for ``model``
    (the final state and ledgers are not needed: the history says it all)."""

    def check_linearizable(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        return check_history(model, history, timeout=timeout)

    return check_linearizable


def check_linearization(
    model: Model[Any, Any, Any], ops: Iterable[Op], order: Iterable[int]
) -> str | None:
    """Check a proposed linearization of one partition: ``None`` if ``order`` (op ids)
    places every determinate operation once, each indeterminate one at most
    once, respects real time and the model accepts it step by step; else the
    first problem, in words."""
    by_id = {op.id: op for op in ops}
    state, latest_call, placed = model.init, float("-inf"), set()
    for op_id in order:
        op = by_id.get(op_id)
        if op is None or op_id in placed:
            return f"op {op_id} is {'placed twice' if op else 'not in the history'}"
        placed.add(op_id)
        if not op.indeterminate and op.ret < latest_call:
            return f"op {op_id} returned at {op.ret:g}, before an op placed earlier was called"
        latest_call = max(latest_call, op.call)
        ok, state = model.step(state, op.input, op.output)
        if not ok:
            return (
                f"op {op_id} ({model.describe_operation(op.input, op.output)}) is not legal there"
            )
    missing = [i for i, op in by_id.items() if not op.indeterminate and i not in placed]
    return f"ops {_listed(tuple(missing))} are not placed" if missing else None


def _at_key(partition: PartitionResult) -> str:
    return "" if partition.key is None else f" at key {partition.key!r}"


def _listed(ids: tuple[int, ...]) -> str:
    if len(ids) > _SHOWN:
        return f"{', '.join(map(str, ids[:2]))}, ..., {', '.join(map(str, ids[-_SHOWN + 2 :]))}"
    return ", ".join(map(str, ids))


def _describe(model: Model[Any, Any, Any], partition: PartitionResult) -> str:
    by_id: Mapping[int, Op] = {op.id: op for op in partition.ops}

    def op_words(op_id: int) -> str:
        op = by_id[op_id]
        span = (
            f"from {op.call:g}, outcome unknown"
            if op.indeterminate
            else (f"from {op.call:g} to {op.ret:g}")
        )
        what = model.describe_operation(op.input, op.output)
        return f"op {op_id} (process {op.process}: {what}, {span})"

    order, state = partition.order, model.describe_state(partition.state)
    if partition.status == "linearizable":
        return (
            f"linearizable{_at_key(partition)}: {len(partition.ops)} ops, in the order "
            f"{_listed(order)}"
        )
    # The last operations placed say what led to the state, next to the one that cannot follow.
    last = ", ".join(op_words(op_id) for op_id in order[-_SPELLED:])
    prefix = (
        f"the longest linearizable prefix found orders {len(order)} ops ({_listed(order)}), "
        f"leaving the state {state} after {last}"
        if order
        else f"no operation can come first from the initial state {state}"
    )
    if partition.status == "unknown":
        return (
            f"undecided{_at_key(partition)}: the time budget ran out after "
            f"{partition.explored} configurations; {prefix}"
        )
    if partition.blocked is None:  # pragma: no cover - a dead end always names its op
        return f"not linearizable{_at_key(partition)}: {prefix}"
    if not order:
        return (
            f"not linearizable{_at_key(partition)}: {op_words(partition.blocked)} cannot be "
            f"placed: {prefix}, and no order of the operations pending before it explains "
            f"its result."
        )
    return (
        f"not linearizable{_at_key(partition)}: {op_words(partition.blocked)} cannot be "
        f"placed. {prefix[0].upper()}{prefix[1:]}; no order of the operations pending after it "
        f"explains the result of op {partition.blocked}."
    )


def _verdict(result: LinearizabilityResult) -> Verdict:
    parts = result.partitions
    keys = sum(1 for p in parts if p.key is not None)
    scope = f"{keys} key{'' if keys == 1 else 's'}, " if keys else ""
    counted = f"{scope}{result.op_count} ops, model {result.model.name}, {result.seconds:.3g} s"
    decisive = [p for p in parts if p.status == result.status]
    if result.status == "linearizable":
        summary, decisive = f"linearizable ({counted})", []
    elif result.status == "not linearizable":
        where = f" at {len(decisive)} of {keys} keys" if keys else ""
        summary = f"not linearizable{where} ({counted})"
    else:
        where = f" at {len(decisive)} of {keys} keys" if keys else ""
        summary = f"unknown: the time budget ran out undecided{where} ({counted})"
    evidence = tuple(
        Evidence(
            message=result.describe(p),
            keys=() if p.key is None else (str(p.key),),
            op_ids=((p.blocked,) if p.blocked is not None else ()) + p.order,
        )
        for p in decisive
    )
    return Verdict(
        invariant=INVARIANT,
        status=_VERDICT_STATUS[result.status],
        summary=summary,
        evidence=evidence,
        checked=len(parts),
    )
