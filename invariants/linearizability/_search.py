"""The search: Wing & Gong's algorithm with Lowe's state cache, as Porcupine does it,
plus three prunings that keep its answers and cut most of its work.

One partition's determinate operations become call and return entries sorted
by time (calls first at equal times) in a doubly linked list. A
configuration is (the set of linearized operations as a bitset, the model
state). From a configuration the candidates are the calls before the first
remaining return: linearizing one *lifts* its call and return out of the
list; a return reached means that operation should have been linearized
already, so the search backtracks (*unlifts* the last choice). A
configuration that failed once fails again and is not entered twice.

Indeterminate operations (``info``, or no completion) have no return entry:
they may take effect at any time after their call, or never, so success is
"every determinate operation linearized", and they are tried last at each
configuration, only for their effect. The prunings, each sound:

1. An indeterminate operation that leaves the state unchanged is never
   tried: never taking effect is at least as good. (An indeterminate
   read-only operation is dropped up front.)
2. Failed configurations are kept per (determinate bitset, state) as the
   sets of indeterminate operations they had linearized; a configuration
   with the same determinate set and state and a superset of those has
   fewer options, so it fails too. (Without indeterminate operations this
   is Porcupine's cache exactly.)
3. A determinate read-only operation (``Model.read_only``) that fits is
   placed before any other candidate, and alone: a configuration succeeds
   if and only if the one with it placed does, so when that one fails the
   configuration fails too, without trying the alternatives.

Everything the loop touches is a list of ints indexed by entry or operation,
a bitset int, or a dict keyed by (bitset, state); each operation's step
results are memoized per state, so ``step`` runs once per (operation, state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal, TypeAlias

from invariants.linearizability._model import UNKNOWN, Model, Op

Status: TypeAlias = Literal["linearizable", "not linearizable", "unknown"]

_CLOCK_EVERY = 1023  # configurations between two looks at the clock (a mask: 2**k - 1)


class ModelError(ValueError):
    """A model broke its contract (a ``read_only`` operation changed the state)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionResult:
    """The verdict on one partition (one key, or the whole history).

    ``order`` holds op ids: a complete linearization when ``linearizable``;
    otherwise the longest linearizable prefix the search found, after which
    ``blocked`` (not linearizable only) is the operation that must come next
    (the earliest completion not yet placed) and fits in no order; ``state``
    is the model state after ``order``. ``explored`` counts configurations.
    """

    key: Hashable
    status: Status
    ops: tuple[Op, ...]
    order: tuple[int, ...]
    blocked: int | None
    state: Any
    explored: int
    seconds: float


def search(
    model: Model[Any, Any, Any],
    ops: Sequence[Op],
    *,
    key: Hashable = None,
    deadline: float | None = None,
) -> PartitionResult:
    """Check one partition; ``deadline`` is a ``time.perf_counter()`` value."""
    started = time.perf_counter()
    step: Callable[[Any, Any, Any], tuple[bool, Any]] = model.step
    read_only = model.read_only
    det: list[Op] = []
    info: list[Op] = []
    for op in ops:
        if op.output is not UNKNOWN:
            det.append(op)
        elif read_only is None or not read_only(op.input, UNKNOWN):
            info.append(op)
    info.sort(key=lambda op: op.call)

    def result(
        status: Status, order: Sequence[int], blocked: int | None, state: Any
    ) -> PartitionResult:
        return PartitionResult(
            key=key,
            status=status,
            ops=tuple(ops),
            order=tuple(everything[o].id for o in order),
            blocked=None if blocked is None else everything[blocked].id,
            state=state,
            explored=explored,
            seconds=time.perf_counter() - started,
        )

    everything = det + info
    nd, ni = len(det), len(info)
    explored = 0
    if nd == 0:
        return result("linearizable", (), None, model.init)

    # The linked list: 0 is the head, 1..m the entries, m + 1 a tail sentinel.
    entries = sorted(
        [(op.call, 0, i) for i, op in enumerate(det)] + [(op.ret, 1, i) for i, op in enumerate(det)]
    )
    m = len(entries)
    nxt = [*range(1, m + 2), 0]
    prv = [0, *range(m + 1)]
    ent_op = [-1] * (m + 2)  # the operation of an entry
    ent_ret = [-1] * (m + 2)  # a call's return entry; -1 marks a return (and the sentinels)
    ent_time = [0.0] * (m + 2)
    ret_of = [0] * nd
    for index, (at, kind, i) in enumerate(entries, start=1):
        ent_op[index], ent_time[index] = i, at
        if kind:
            ret_of[i] = index
    for index, (_, kind, i) in enumerate(entries, start=1):
        if not kind:
            ent_ret[index] = ret_of[i]
    info_call = [op.call for op in info]
    inputs = [op.input for op in everything]
    outputs = [op.output for op in everything]
    forced = [read_only is not None and read_only(op.input, op.output) for op in det]
    memo: list[dict[Any, tuple[bool, Any]]] = [{} for _ in everything]
    dbit = [1 << i for i in range(nd)]
    ibit = [1 << k for k in range(ni)]

    failed: dict[tuple[int, Any], list[int]] = {}
    failed_get = failed.get
    memo_get = [d.get for d in memo]
    stack: list[tuple[int, int, int, Any, int, int, bool]] = []
    push, pop = stack.append, stack.pop
    state: Any = model.init
    dbits = ibits = 0
    remaining = nd
    e, k = nxt[0], -1
    best: tuple[list[int], int | None, Any] = ([], None, state)

    while True:
        # -- one configuration: find a candidate to descend into, from (e, k) on
        o, new, new_d, new_i, must = -1, None, 0, 0, False
        if k < 0:  # the determinate calls before the first remaining return
            first = -1  # the first one that fits, unless a read-only one does
            r = ent_ret[e]
            while r >= 0:
                o = ent_op[e]
                if first >= 0 and not forced[o]:  # only a read-only op can beat it now
                    e = nxt[e]
                    r = ent_ret[e]
                    continue
                cached = memo_get[o](state)
                if cached is None:
                    cached = memo[o][state] = step(state, inputs[o], outputs[o])
                if cached[0]:
                    if forced[o]:
                        if cached[1] != state:
                            raise _lying(model, everything[o], state, cached[1])
                        seen = failed_get((dbits | dbit[o], state))
                        if seen is not None:  # pruning 2
                            for s in seen:
                                if s & ibits == s:
                                    break
                            else:
                                seen = None
                        # pruning 3: this configuration succeeds if and only if the one
                        # with the read-only op placed does; it failed already, or try it
                        new, new_d, new_i, must = state, dbits | dbit[o], ibits, True
                        if seen is not None:
                            o = -2
                        break
                    new_d = dbits | dbit[o]
                    seen = failed_get((new_d, cached[1]))
                    if seen is not None:  # pruning 2
                        for s in seen:
                            if s & ibits == s:
                                break
                        else:
                            seen = None
                    if seen is None:
                        first, new, first_d = e, cached[1], new_d
                e = nxt[e]
                r = ent_ret[e]
            else:
                if first >= 0:
                    e, o, new_d, new_i = first, ent_op[first], first_d, ibits
                    r = ent_ret[e]
                else:
                    o = -1
                    if ni:
                        k = 0
        if o == -1 and k >= 0:  # then the indeterminate calls made before that return
            limit = ent_time[e]
            while k < ni and info_call[k] <= limit:
                if not ibits & ibit[k]:
                    o = nd + k
                    cached = memo_get[o](state)
                    if cached is None:
                        cached = memo[o][state] = step(state, inputs[o], outputs[o])
                    new = cached[1]
                    if cached[0] and new != state:  # pruning 1: no effect is as good as never
                        new_i = ibits | ibit[k]
                        seen = failed_get((dbits, new))
                        if seen is not None:  # pruning 2
                            for s in seen:
                                if s & new_i == s:
                                    break
                            else:
                                seen = None
                        if seen is None:
                            new_d = dbits
                            break
                k += 1
            else:
                o = -1

        if o >= 0:  # -- descend
            push((o, e, k, state, dbits, ibits, must))
            state, dbits, ibits = new, new_d, new_i
            if k < 0:  # lift the call and its return
                nxt[prv[e]] = nxt[e]
                prv[nxt[e]] = prv[e]
                nxt[prv[r]] = nxt[r]
                prv[nxt[r]] = prv[r]
                remaining -= 1
                if not remaining:
                    return result("linearizable", [f[0] for f in stack], None, state)
            e, k = nxt[0], -1
            explored += 1
            if not explored & _CLOCK_EVERY and deadline is not None and perf_counter() > deadline:
                return result("unknown", best[0], None, best[2])
            continue

        # -- this configuration failed: record it, then backtrack
        # A dead end at the return entry e: the deepest names the op that cannot
        # follow; the first at the root too, when no op at all can come first.
        if o == -1 and (best[1] is None or len(stack) > len(best[0])):
            best = ([f[0] for f in stack], ent_op[e], state)
        while True:
            seen = failed_get((dbits, state))
            if seen is None:
                failed[dbits, state] = [ibits]
            else:
                seen.append(ibits)
            if not stack:
                return result("not linearizable", best[0], best[1], best[2])
            o, e, k, state, dbits, ibits, must = pop()
            if k < 0:  # unlift
                r = ent_ret[e]
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                nxt[prv[e]] = e
                prv[nxt[e]] = e
                remaining += 1
            if not must:
                break
        if k < 0:
            e = nxt[e]
        else:
            k += 1


def _lying(model: Model[Any, Any, Any], op: Op, state: Any, new: Any) -> ModelError:
    return ModelError(
        f"model {model.name!r}: read_only says op {op.id} "
        f"({model.describe_operation(op.input, op.output)}) leaves the state unchanged, "
        f"but step took {model.describe_state(state)} to {model.describe_state(new)}"
    )
