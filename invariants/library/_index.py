"""One index of a history (and of a ledger), built once and shared by every
checker of one ``check(...)`` call.

Checkers keep the ``Checker`` signature ``(history, final, ledgers)``; they
ask ``index_of(history)`` / ``effects_of(ledgers)`` for the index. Inside a
``sharing()`` block (``invariants.check`` opens one) the first checker builds
it and the others reuse it; outside one, each call builds its own, so a
checker called on its own behaves exactly the same.

Views are built lazily, on first use, and memoised: the operations (invokes
paired with completions, grouped by ``f`` in the same pass), by the value of
body fields (a two-field key both ways, directed and unordered, in one
pass), the final reads of the last settle snapshot, and effects by kind and
body fields. On a 10^6-operation history each pass over the operations
costs tenths of a second, mostly cache misses into the events: views are
shared, and what checkers read per request is kept at hand (see
``_model.Request``) rather than walked to again.

``sharing()`` also pauses Python's cyclic garbage collector while the
checkers run: the index allocates millions of small objects and no cycles,
and the collector's passes over them cost several times the work itself
(building 10^6 operations: 2.5 s with it, 0.4 s without). Reference
counting still frees everything; the collector is restored on exit. A
checker called on its own (a user's test, a bench) opens a block of its own
(``standalone``): the same pause, twice as fast on 3*10^5 operations.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from harness.history import Effect, Event, FinalState, History, Ledgers, Operation
from harness.history.events import COMPLETIONS

Key = tuple[str, ...]
T = TypeVar("T")
V = TypeVar("V")

_SHARED: ContextVar[dict[int, tuple[object, object]] | None] = ContextVar(
    "failmodel_shared_index", default=None
)


@contextmanager
def sharing() -> Iterator[None]:
    """Within the block, one index per history (and per ledger) is built and
    shared, and the cyclic garbage collector is paused."""
    token = _SHARED.set({})
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        _SHARED.reset(token)


def standalone(
    checker: Callable[[History, FinalState, Ledgers], V],
) -> Callable[[History, FinalState, Ledgers], V]:
    """``checker``, run inside a ``sharing()`` block of its own when it is called
    outside one; inside one, it reuses that block's indexes as before."""

    @functools.wraps(checker)
    def run(history: History, final: FinalState, ledgers: Ledgers) -> V:
        if _SHARED.get() is not None:
            return checker(history, final, ledgers)
        with sharing():
            return checker(history, final, ledgers)

    return run


def _shared(subject: object, build: Callable[[], T]) -> T:
    memo = _SHARED.get()
    if memo is None:
        return build()
    held = memo.get(id(subject))
    if held is not None and held[0] is subject:  # the same object, not a reused id
        value: Any = held[1]
        return value  # type: ignore[no-any-return]
    built = build()
    memo[id(subject)] = (subject, built)
    return built


def index_of(history: History) -> Index:
    """The index of ``history``: shared inside ``sharing()``, else built afresh."""
    return _shared(history, lambda: Index(history))


def effects_of(ledgers: Ledgers) -> EffectIndex:
    """The index of ``ledgers``: shared inside ``sharing()``, else built afresh."""
    return _shared(ledgers, lambda: EffectIndex(ledgers))


def key_of(values: Sequence[Any], unordered: bool = False) -> Key:
    """A key from field values: each value as text, list values flattened;
    ``unordered`` sorts them (an unordered pair, a set of members)."""
    out: list[str] = []
    for value in values:
        kind = type(value)
        if kind is str:
            out.append(value)
        elif kind is tuple or kind is list:
            out.extend(v if type(v) is str else str(v) for v in value)
        else:
            out.append(str(value))
    if unordered:
        out.sort()
    return tuple(out)


def key_from(body: Mapping[str, Any], fields: Key, unordered: bool = False) -> Key:
    """``key_of`` the values of body ``fields`` (KeyError when one is missing).
    The common keys, one text field (an id) or two (a pair of users), are
    made directly: once per operation, ``key_of``'s general case costs more."""
    if len(fields) == 1:
        value = body[fields[0]]
        return (value,) if type(value) is str else key_of([value], unordered)
    if len(fields) == 2:
        a, b = body[fields[0]], body[fields[1]]
        if type(a) is str and type(b) is str:
            return (b, a) if unordered and b < a else (a, b)
        return key_of([a, b], unordered)
    return key_of([body[name] for name in fields], unordered)


def members_key(members: Any) -> Key:
    """``key_of([members], unordered=True)``: the members of a list entry (the
    two users of a match) as a sorted key; a pair of text members made directly."""
    if type(members) is tuple and len(members) == 2:
        a, b = members
        if type(a) is str and type(b) is str:
            return (b, a) if b < a else (a, b)
    return key_of([members], unordered=True)


class Index:
    """Lazily built, memoised views of one history (see the module docstring)."""

    __slots__ = ("_by_f", "_final", "_final_fs", "_last", "_memo", "_ops", "_single", "history")

    def __init__(self, history: History) -> None:
        self.history = history
        self._ops: tuple[Operation, ...] | None = None
        self._by_f: dict[str, list[Operation]] = {}
        self._final: list[Event] = []  # the final-phase invokes, in history order
        self._final_fs: set[str] = set()  # the f of each
        self._last: int | None = None
        self._single = True
        self._memo: dict[Hashable, Any] = {}

    @property
    def ops(self) -> tuple[Operation, ...]:
        """Client operations in invoke order, each paired with its completion."""
        if self._ops is None:
            self._pair()
        assert self._ops is not None
        return self._ops

    def _pair(self) -> None:
        """One pass over the events: the operations, by ``f`` too, and the
        final-phase invokes and their ``f`` (what ``last_snapshot`` and
        ``judged`` look at: a few of a million operations)."""
        events = self.history.events
        done = {e.op_id: e for e in events if e.type in COMPLETIONS}
        get = done.get
        ops: list[Operation] = []
        by_f: dict[str, list[Operation]] = {}
        final: list[Event] = []
        final_fs: set[str] = set()
        for e in events:
            if e.type != "invoke":
                continue
            op = Operation(e, get(e.op_id))
            ops.append(op)
            f_ops = by_f.get(e.f)
            if f_ops is None:
                by_f[e.f] = [op]
            else:
                f_ops.append(op)
            if e.phase == "final":
                final.append(e)
                final_fs.add(e.f)
        self._by_f, self._final, self._final_fs = by_f, final, final_fs
        self._ops = tuple(ops)

    def of(self, f: str) -> list[Operation]:
        """Every operation ``f`` (every phase, every snapshot), in invoke order."""
        if self._ops is None:
            self._pair()
        return self._by_f.get(f, [])

    @property
    def last_snapshot(self) -> int:
        """The settle snapshot the final state was read in: the last one (0 when none)."""
        if self._last is None:
            self._snapshots()
        assert self._last is not None
        return self._last

    def _snapshots(self) -> None:
        if self._ops is None:
            self._pair()
        snapshots: set[int] = set()
        for invoke in self._final:
            snapshots.add(int(invoke.value.get("snapshot") or 0))
        self._last = max(snapshots, default=0)
        self._single = len(snapshots) <= 1

    def judged(self, f: str) -> list[Operation]:
        """Operations ``f`` that the final state rests on: the setup and main
        phases, and of the final reads only the last snapshot's."""
        return self.memo(("judged", f), lambda: self._judged(f))

    def _judged(self, f: str) -> list[Operation]:
        ops = self.of(f)
        last = self.last_snapshot
        if self._single or f not in self._final_fs:
            return ops  # one snapshot (or none): every final read is judged
        return [
            op
            for op in ops
            if op.invoke.phase != "final" or int(op.invoke.value.get("snapshot") or 0) == last
        ]

    def by(self, f: str, field: str) -> dict[str, list[Operation]]:
        """Judged operations ``f`` grouped by the text of body field ``field``, in
        invoke order (an operation without the field is left out)."""
        return self.memo(("by", f, field), lambda: self._by(f, field))

    def _by(self, f: str, field: str) -> dict[str, list[Operation]]:
        out: dict[str, list[Operation]] = {}
        get = out.get
        for op in self.judged(f):
            value = op.invoke.value["body"].get(field)
            if value is None:
                continue
            name = value if isinstance(value, str) else str(value)
            group = get(name)
            if group is None:
                out[name] = [op]
            else:
                group.append(op)
        return out

    def by_key(self, f: str, fields: Key, unordered: bool = False) -> dict[Key, list[Operation]]:
        """Judged operations ``f`` grouped by the key made of body ``fields``."""
        found = self._memo.get(("by_key", f, fields, unordered))
        if found is not None:  # asked once per item by some checkers: no closure then
            value: dict[Key, list[Operation]] = found
            return value
        return self.memo(
            ("by_key", f, fields, unordered), lambda: self._by_key(f, fields, unordered)
        )

    def _by_key(self, f: str, fields: Key, unordered: bool) -> dict[Key, list[Operation]]:
        if len(fields) == 1 and not unordered:
            return {(name,): ops for name, ops in self.by(f, fields[0]).items()}
        if len(fields) == 2:
            return self._pairs(f, fields)[unordered]
        out: dict[Key, list[Operation]] = {}
        get = out.get
        for op in self.judged(f):
            try:
                key = key_from(op.invoke.value["body"], fields, unordered)
            except KeyError:
                continue
            group = get(key)
            if group is None:
                out[key] = [op]
            else:
                group.append(op)
        return out

    def _pairs(
        self, f: str, fields: Key
    ) -> tuple[dict[Key, list[Operation]], dict[Key, list[Operation]]]:
        """Judged operations ``f`` by a two-field key, directed and unordered,
        in one pass (a pair of users: the checkers of one workload ask for both,
        and the body lookups are most of the work); each is memoised."""
        directed: dict[Key, list[Operation]] = {}
        either: dict[Key, list[Operation]] = {}
        first, second = fields
        for op in self.judged(f):
            body = op.invoke.value["body"]
            try:
                a, b = body[first], body[second]
            except KeyError:
                continue
            if type(a) is str and type(b) is str:  # key_of's result, made directly
                key: Key = (a, b)
                pair = (b, a) if b < a else key
            else:
                key, pair = key_of([a, b]), key_of([a, b], unordered=True)
            group = directed.get(key)
            if group is None:
                directed[key] = [op]
            else:
                group.append(op)
            group = either.get(pair)
            if group is None:
                either[pair] = [op]
            else:
                group.append(op)
        self._memo.setdefault(("by_key", f, fields, False), directed)
        self._memo.setdefault(("by_key", f, fields, True), either)
        return directed, either

    def reads(self, f: str, field: str, key: str) -> list[int]:
        """Op ids of the judged reads ``f`` whose body field ``field`` is ``key``."""
        if not f:
            return []
        return [op.invoke.op_id for op in self.by(f, field).get(key, ())]

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """A view derived from this history, built once (``key`` names it)."""
        memo = self._memo
        if key in memo:
            value: Any = memo[key]
            return value  # type: ignore[no-any-return]
        built = build()
        memo[key] = built
        return built

    def memo_on(self, key: Hashable, subjects: tuple[object, ...], build: Callable[[], T]) -> T:
        """A view derived from this history and ``subjects`` (a final state, a
        ledger, the specs it is made of), built once per same objects."""
        memo = self._memo
        held = memo.get(key)
        if (
            held is not None
            and len(held[0]) == len(subjects)
            and all(a is b for a, b in zip(held[0], subjects, strict=True))
        ):
            value: Any = held[1]
            return value  # type: ignore[no-any-return]
        built = build()
        memo[key] = (subjects, built)
        return built


class EffectIndex:
    """Effects of one ledger by kind and by body fields."""

    __slots__ = ("_memo", "ledgers")

    def __init__(self, ledgers: Ledgers) -> None:
        self.ledgers = ledgers
        self._memo: dict[Hashable, Any] = {}

    def of(self, kind: str) -> list[Effect]:
        key = ("of", kind)
        if key not in self._memo:
            by_kind: dict[str, list[Effect]] = {}
            for effect in self.ledgers.effects:
                by_kind.setdefault(effect.kind, []).append(effect)
            for name, effects in by_kind.items():
                self._memo[("of", name)] = effects
            self._memo.setdefault(key, [])
        value: list[Effect] = self._memo[key]
        return value

    def by_key(self, kind: str, fields: Key, unordered: bool = False) -> dict[Key, list[Effect]]:
        """Effects of ``kind`` grouped by the key made of body ``fields``, in ledger order."""
        key = ("by_key", kind, fields, unordered)
        if key not in self._memo:
            out: dict[Key, list[Effect]] = {}
            for effect in self.of(kind):
                try:
                    named = key_from(effect.body, fields, unordered)
                except KeyError:  # an effect without the fields names no key
                    continue
                out.setdefault(named, []).append(effect)
            self._memo[key] = out
        value: dict[Key, list[Effect]] = self._memo[key]
        return value
