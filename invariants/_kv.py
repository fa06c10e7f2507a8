"""Workload ``kv`` invariants (docs/contracts.md, workload kv): every key is a
linearizable compare-and-set register, and acknowledged writes survive.

``linearizable`` reads the history into the operations of ``KV_REGISTER`` (the
cas register of ``invariants.linearizability`` plus one output: a cas refused
with 409 found the value it answers, which the search checks like a read) and
searches each key within a time budget. It answers ``unknown`` when the
budget runs out, never a guess; a violation's evidence is the operation that
cannot be placed and the longest linearizable prefix found before it.

Operations and bodies (history ``f``, request body, documented answers):

- ``put`` ``{"key", "value"}``: 200 ``{"key", "value"}``
- ``get`` ``{"key"}``: 200 ``{"key", "value"}``, or 404 (no value: nil)
- ``cas`` ``{"key", "expected", "new"}``: 200 ``{"key", "value": new}`` (swapped),
  409 ``{"key", "value": current}`` (refused: ``fail``, yet a read of ``current``)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from harness.history import NEMESIS, FinalState, History, Ledgers, Operation
from invariants._common import Findings, answer, body, listing, op_ids, ops_text
from invariants.linearizability import (
    CAS_REGISTER,
    UNKNOWN,
    LinearizabilityResult,
    Model,
    Op,
    RegisterOp,
    check_operations,
    ops_from_history,
)
from invariants.verdict import Checker, Verdict

WORKLOAD: Final = "kv"
SLOT: Final = "kv"
"""The final-state slot of the kv workload: key -> ``{"key", "value"}``, or None (404)."""
LINEARIZABLE_TIMEOUT_S: Final = 10.0
"""Default budget of one ``linearizable`` check (all keys of one example together)."""
WRITES: Final = ("put", "cas")


@dataclass(frozen=True, slots=True)
class Refused:
    """The output of a cas answered 409: it did not swap, and found ``value``
    (``None``: the key had no value)."""

    value: str | None


def _step(state: Any, op: RegisterOp, output: Any) -> tuple[bool, Any]:
    if isinstance(output, Refused):
        return state == output.value and state != op.expected, state
    return CAS_REGISTER.step(state, op, output)


def _read_only(op: RegisterOp, output: Any) -> bool:
    return op.f == "read" or isinstance(output, Refused)


def _shown(value: Any) -> str:
    return "nil" if value is None else repr(value)


def _describe(op: RegisterOp, output: Any) -> str:
    """The contract's words: ``get() -> 'v'``, ``put('v')``, ``cas(nil, 'v') -> swapped``."""
    unknown = output is UNKNOWN
    if op.f == "read":
        return f"get() -> {'?' if unknown else _shown(output)}"
    if op.f == "write":
        return f"put({op.value!r})" + (" -> ?" if unknown else "")
    said = (
        "?"
        if unknown
        else f"refused, found {_shown(output.value)}"
        if isinstance(output, Refused)
        else "swapped"
    )
    return f"cas({_shown(op.expected)}, {op.new!r}) -> {said}"


def _from_operation(op: Operation) -> tuple[RegisterOp, Any] | None:
    if op.f not in ("put", "get", "cas"):
        raise ValueError(f"the kv workload has no operation {op.f!r}")
    read = CAS_REGISTER.from_operation
    assert read is not None, "the cas register reads failmodel histories"
    return read(op)


KV_REGISTER: Final[Model[Any, RegisterOp, Any]] = Model(
    name="kv-register",
    init=None,
    step=_step,
    partition=lambda op: op.key,
    read_only=_read_only,
    describe_operation=_describe,
    describe_state=_shown,
    from_operation=_from_operation,
)
"""One cas register per key (nil until written): ``get`` reads, ``put`` writes,
``cas`` compares and sets; a 409 refusal is checked as a read of what it found."""


def kv_operations(history: History) -> tuple[Op, ...]:
    """The checker's operations of a kv history, in invoke order: ``ok`` and
    indeterminate operations as ``ops_from_history`` reads them, plus every cas
    refused with a documented 409 as a read of the value it found. Other ``fail``
    operations (there are none in the contract) surely had no effect: dropped.
    Raises ``HistoryFormatError`` on an operation the contract does not have."""
    ops = list(ops_from_history(history, KV_REGISTER))
    for op in history.operations():
        if op.outcome != "fail" or op.f != "cas" or op.invoke.process == NEMESIS:
            continue
        found = answer(op)
        completion = op.completion
        if completion is None or op.response.get("status") != 409 or "value" not in found:
            continue
        request = body(op)
        ops.append(
            Op(
                id=op.invoke.op_id,
                input=RegisterOp(
                    "cas", expected=request["expected"], new=request["new"], key=request["key"]
                ),
                output=Refused(found["value"]),
                call=op.invoke.index,
                ret=completion.index,
                process=op.invoke.process,
            )
        )
    ops.sort(key=lambda o: o.call)
    return tuple(ops)


def check_kv_history(history: History, *, timeout: float | None) -> LinearizabilityResult:
    """Search every key of a kv history within ``timeout`` seconds (``None``: no limit)."""
    return check_operations(KV_REGISTER, kv_operations(history), timeout=timeout)


def make_linearizable(timeout_s: float | None = LINEARIZABLE_TIMEOUT_S) -> Checker:
    """The ``linearizable`` checker of the kv workload: each key's history is
    linearizable as a cas register (Wing & Gong; indeterminate operations may
    take effect at any point after their invoke, or never). ``unknown`` when
    ``timeout_s`` runs out before every key is decided."""
    if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"'timeout_s' must be a finite number > 0 or None (got {timeout_s!r})")

    def check_linearizable(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ops = kv_operations(history)
        if not ops:
            return Verdict(invariant="linearizable", status="valid", summary="no keys to check")
        return check_operations(KV_REGISTER, ops, timeout=timeout_s).to_verdict()

    return check_linearizable


check_linearizable: Final[Checker] = make_linearizable()


def _written(op: Operation) -> str | None:
    """The value a put or cas writes if it takes effect."""
    value = body(op).get("value" if op.f == "put" else "new")
    return value if isinstance(value, str) else None


def check_acknowledged_values(
    history: History, values: Mapping[str, Mapping[str, Any] | None]
) -> Verdict:
    """``acknowledged_writes_survive`` for kv, given the final reads (key -> answer
    body, None for 404; a key whose read was indeterminate is absent).

    For each key written with an acknowledged put or swap, the final value
    must be one some write sent (never a value nobody wrote), and must not be
    one an acknowledged write overwrote: a value all of whose writes completed
    before an acknowledged write of another value was sent. No value at all is
    the same loss. A lost write may yet show (a replica still catching up), so
    that finding is pending; a value never written is a violation at once.
    """
    out = Findings("acknowledged_writes_survive", "key")
    writes: dict[str, list[Operation]] = {}
    for op in history.operations():
        if op.f in WRITES and op.invoke.phase != "final" and op.invoke.process != NEMESIS:
            writes.setdefault(str(body(op).get("key")), []).append(op)
    for key, ops in writes.items():
        acked = [op for op in ops if op.outcome == "ok"]
        if not acked:
            continue
        if key not in values:
            out.undecided(f"key {key}: the final read was indeterminate", [key], op_ids(acked))
            continue
        out.checked += 1
        read = values[key]
        shown = read.get("value") if read is not None else None
        if shown is None:
            out.pending(
                f"key {key} has no value in the final state, yet "
                f"{ops_text(op_ids(acked))} wrote one and {'was' if len(acked) == 1 else 'were'} "
                "acknowledged",
                [key],
                op_ids(acked),
            )
            continue
        sources = [op for op in ops if op.outcome != "fail" and _written(op) == shown]
        if not sources:
            out.violation(
                f"key {key} ends with {shown!r}, a value no write sent",
                [key],
                op_ids(ops),
            )
            continue
        if any(op.completion is None or op.outcome != "ok" for op in sources):
            continue  # an indeterminate write of it may take effect at any time
        done = max(op.completion.index for op in sources if op.completion is not None)
        later = [op for op in acked if op.invoke.index > done and _written(op) != shown]
        if later:
            out.pending(
                f"key {key} ends with {shown!r} (written by {ops_text(op_ids(sources))}), "
                f"overwritten by acknowledged {ops_text(op_ids(later))} "
                f"({listing([repr(_written(op)) for op in later])}) sent after it completed",
                [key],
                [*op_ids(later), *op_ids(sources)],
            )
    return out.verdict()


def check_acknowledged_kv(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """``acknowledged_writes_survive`` on the final state's ``kv`` slot."""
    return check_acknowledged_values(history, final.of(SLOT))
