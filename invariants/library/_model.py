"""The vocabulary every invariant type is declared in.

- ``Final(slot, read, key)``: where the settled state of a key is: a slot of
  the ``FinalState`` (``final.of(slot)``), filled by the final reads ``read``
  whose body field ``key`` names the key (cited as evidence).
- ``Requests(op, id, final, ...)``: the logical requests of one write: its
  attempts grouped by the body field ``id`` (resends reuse it). A request's
  *fate* is what its final record shows (``status`` in ``accepted``), or,
  without a final read, what its answers said.
- ``Scope(requests, key)``: the keys an invariant is about: the key of each
  request (body ``key`` fields, ``unordered`` for a pair), with the requests'
  attempts and the final reads of the key's members as evidence.
- Item sources, the things an invariant counts: ``Accepted`` (requests that
  took effect), ``Answered`` (what ok answers name), ``Listed`` (entries of a
  list read per member), ``Effects`` (partner ledger entries) and ``Mutual``
  (pairs whose ops both ways were acknowledged).

Indeterminate operations are never guessed: a request answered only ``info``
and not read at the end has fate ``unknown``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, TypeGuard

from harness.history import FinalState, History, Ledgers, Operation
from invariants._common import NOT_FOUND
from invariants.library._index import (
    EffectIndex,
    Index,
    Key,
    effects_of,
    index_of,
    key_from,
    members_key,
)

Fate: TypeAlias = Literal["accepted", "waiting", "refused", "unknown"]
_MAPS = (MappingProxyType, dict)
INF = math.inf
EMPTY: Mapping[str, Any] = MappingProxyType({})
_ABSENT = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class Final:
    """A slot of the final state and the final read that fills it (``read`` ops
    whose body field ``key`` names the key; their op ids are cited as evidence)."""

    slot: str
    read: str = ""
    key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Requests:
    """The logical requests of the write ``op``: attempts grouped by body field ``id``.

    With ``final``, a request's fate is its final record: ``accepted`` when
    the record's ``status`` is in ``accepted``; ``waiting`` (time may still
    change it) for a 404 or a status in ``waiting``; ``refused`` for any other
    status; ``unknown`` when the final read was indeterminate. Without
    ``final`` its answers decide: ``ok`` accepted, ``fail`` refused, else unknown.
    """

    op: str
    id: str
    final: Final | None = None
    status: str = "status"
    accepted: tuple[str, ...] = ("accepted",)
    waiting: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """The keys an invariant is about: each request's key (body ``key`` fields,
    the request id when empty; ``unordered`` for a pair of users)."""

    requests: Requests
    key: tuple[str, ...] = ()
    unordered: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return self.key or (self.requests.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """Requests as items, with their fate; ``id`` names a field of the final
    record that identifies the item (a charge_id), else the request id."""

    requests: Requests
    key: tuple[str, ...] = ()
    unordered: bool = False
    id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    """What the ok answers of ``op`` name: answer field ``id`` (a match_id, a
    charge_id), keyed by request body fields ``key``; only answers whose
    fields equal ``when`` (e.g. ``{"matched": True}``) and that name an id."""

    op: str
    id: str
    key: tuple[str, ...]
    unordered: bool = False
    when: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Listed:
    """Entries of a list read per member (``final``: member -> its list, or a
    body whose field ``entries`` is the list): entry field ``id`` identifies
    the item, entry field ``key`` names its members (a list, e.g. the two
    users of a match). An entry belongs in the list of each of its members."""

    final: Final
    id: str
    key: str
    entries: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Effects:
    """Partner effects of ``kind``, keyed by body fields ``key``; the item id is
    body field ``id`` (a message's match_id), else the effect id. Only effects
    whose key names a member of a key of the scope count (the partner serves
    every example)."""

    kind: str
    key: tuple[str, ...]
    unordered: bool = False
    id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Mutual:
    """Keys whose ops ``op`` were acknowledged (ok) both ways: an ok op with key
    (a, b) and one with (b, a), both with body fields equal to ``where``."""

    op: str
    key: tuple[str, str]
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """Requests of ``op`` (attempts grouped by body field ``id``) that no
    attempt got accepted and that a definite ``fail`` answer with fields
    equal to ``when`` refused (``{"reason": "expired"}``), keyed by body
    fields ``key`` (the id by default). An item's ``at`` is that first
    refusal's answer: the latest moment it was decided. For an eligibility
    rule that judges refusals: one refused as expired must have been decided
    once its deadline could have passed."""

    op: str
    id: str
    key: tuple[str, ...] = ()
    unordered: bool = False
    when: Mapping[str, Any] = field(default_factory=dict)


Source: TypeAlias = Accepted | Answered | Listed | Effects | Mutual | Refused


class Request:
    """Every attempt at one logical request (``oks``/``fails``: the op ids of
    the attempts answered so); the final reads of its record. ``body`` and
    ``sent`` are the first attempt's, kept at hand: checkers read them per
    request, and a walk back into the history's events is a cache miss each."""

    __slots__ = ("_reads", "acked_at", "body", "fails", "id", "oks", "ops", "sent")

    def __init__(
        self,
        id: str,
        ops: list[Operation],
        oks: list[int],
        fails: list[int],
        reads: Mapping[str, list[Operation]] | None = None,
        acked_at: float = INF,
    ) -> None:
        self.id = id
        self.ops = ops
        self.oks = oks
        self.fails = fails
        self._reads = reads
        first = ops[0].invoke
        # What the first attempt asked (resends send the same body), and when.
        self.body: Mapping[str, Any] = first.value["body"]
        self.sent: float = first.time
        # When the first ok answer came (inf when none did): the least end
        # time of the ok attempts, found while their answers are sorted out.
        self.acked_at = acked_at

    @property
    def reads(self) -> list[int]:
        """Op ids of the final reads (last snapshot) of its record."""
        if self._reads is None:
            return []
        return [op.invoke.op_id for op in self._reads.get(self.id, ())]

    @property
    def ids(self) -> list[int]:
        """Every attempt, then the final reads."""
        return [*(op.invoke.op_id for op in self.ops), *self.reads]


class Item:
    """One thing an invariant counts: an id, a key, its fields and the ops it rests on.

    ``name`` is its own name when that is not its id (an effect's id when the
    item is linked by a field of it); ``at`` is the latest moment it was
    decided (the first ok answer that named it; inf when only the final state
    or a ledger shows it); ``sent`` when it was first asked for; ``seen`` when
    a partner recorded it (its clock); ``fate``, ``status`` and ``record``
    what its final record says (``accepted`` for anything seen); ``request``
    the logical request it is. Items are shared by the checkers of one call:
    never change one (``but`` makes a changed copy).
    """

    __slots__ = (
        "at",
        "body",
        "fate",
        "id",
        "key",
        "name",
        "ops",
        "origin",
        "record",
        "request",
        "seen",
        "sent",
        "status",
    )

    def __init__(
        self,
        id: str,
        key: Key,
        body: Mapping[str, Any],
        ops: tuple[int, ...],
        origin: Literal["request", "answer", "final", "effect", "pair", "refusal"],
        at: float = INF,
        fate: Fate = "accepted",
        status: str = "",
        record: Mapping[str, Any] | None = None,
        name: str = "",
        seen: float | None = None,
        sent: float = -INF,
        request: Request | None = None,
    ) -> None:
        self.id = id
        self.key = key
        self.body = body
        self.ops = ops
        self.origin = origin
        self.at = at
        self.fate = fate
        self.status = status
        self.record = record
        self.name = name
        self.seen = seen
        self.sent = sent
        self.request = request

    def but(self, **changes: Any) -> Item:
        """A copy with ``changes``."""
        copy = Item(
            self.id,
            self.key,
            self.body,
            self.ops,
            self.origin,
            self.at,
            self.fate,
            self.status,
            self.record,
            self.name,
            self.seen,
            self.sent,
            self.request,
        )
        for name, value in changes.items():
            setattr(copy, name, value)
        return copy

    def __repr__(self) -> str:
        return f"Item({self.origin} {self.id!r} of {self.key!r}, {self.fate})"

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def took_effect(self) -> bool:
        """Surely happened: accepted in its final record, or answered ok (a
        definite answer, whatever became of its final read)."""
        return self.fate == "accepted" or (self.request is not None and bool(self.request.oks))

    @property
    def acks(self) -> list[int]:
        """The ops that decided it: the ok answers that named it, or its request's."""
        if self.request is not None and not self.ops:
            return list(self.request.oks)
        return list(self.ops)

    @property
    def evidence(self) -> list[int]:
        """The ops it rests on: its own, or its request's attempts and final reads."""
        if self.request is not None:
            return [*self.request.ids, *self.ops]
        return list(self.ops)


class Context:
    """What one checker call reads: the history's and ledger's shared indexes
    and the final state."""

    __slots__ = ("_slots", "effects", "final", "history", "index")

    def __init__(self, history: History, final: FinalState, ledgers: Ledgers) -> None:
        self.history = history
        self.final = final
        self.index: Index = index_of(history)
        self.effects: EffectIndex = effects_of(ledgers)
        self._slots: dict[str, Mapping[str, Any]] = {}

    def requests(self, spec: Requests) -> dict[str, Request]:
        """The logical requests of ``spec``, by id, in order of their first attempt."""
        return self.index.memo(
            ("requests", spec.op, spec.id, spec.final), lambda: self._requests(spec)
        )

    def _requests(self, spec: Requests) -> dict[str, Request]:
        final = spec.final
        reads = self.index.by(final.read, final.key) if final is not None and final.read else None
        out: dict[str, Request] = {}
        for name, ops in self.index.by(spec.op, spec.id).items():
            oks: list[int] = []
            fails: list[int] = []
            acked_at = INF
            for op in ops:
                completion = op.completion
                if completion is not None:
                    kind = completion.type
                    if kind == "ok":
                        oks.append(op.invoke.op_id)
                        if completion.time < acked_at:
                            acked_at = completion.time
                    elif kind == "fail":
                        fails.append(op.invoke.op_id)
            out[name] = Request(name, ops, oks, fails, reads, acked_at)
        return out

    def grouped(self, spec: Requests, field: str) -> dict[str, list[Request]]:
        """The requests of ``spec`` by the text of their first attempt's body ``field``."""

        def build() -> dict[str, list[Request]]:
            out: dict[str, list[Request]] = {}
            for request in self.requests(spec).values():
                value = request.body.get(field)
                if value is not None:
                    out.setdefault(str(value), []).append(request)
            return out

        return self.index.memo(("grouped", spec.op, spec.id, spec.final, field), build)

    def slot(self, final: Final) -> Mapping[str, Any]:
        """The settled reads of a final slot: key -> body, or None for a 404."""
        found = self._slots.get(final.slot)
        if found is None:
            found = self._slots[final.slot] = self.final.of(final.slot)
        return found

    def reads(self, final: Final, key: str) -> list[int]:
        return self.index.reads(final.read, final.key, key)

    def fate(self, spec: Requests, request: Request) -> tuple[Fate, str, Mapping[str, Any] | None]:
        """What became of ``request``: its fate, the status to show, and its final record."""
        fates = self.fates(spec)
        found = fates.get(request.id)
        return found if found is not None else self._fate(spec, request)

    def fates(self, spec: Requests) -> dict[str, tuple[Fate, str, Mapping[str, Any] | None]]:
        """The fate of every request of ``spec`` (shared by the checkers of one call)."""

        def build() -> dict[str, tuple[Fate, str, Mapping[str, Any] | None]]:
            requests = self.requests(spec)
            if spec.final is None:
                return {r.id: self._fate(spec, r) for r in requests.values()}
            slot, status_field = self.slot(spec.final), spec.status
            accepted, waiting = set(spec.accepted), set(spec.waiting)
            out: dict[str, tuple[Fate, str, Mapping[str, Any] | None]] = {}
            for name in requests:
                record = slot.get(name, _ABSENT)
                if record is _ABSENT:
                    out[name] = ("unknown", "", None)
                elif record is None:
                    out[name] = ("waiting", NOT_FOUND, None)
                else:
                    status = str(record.get(status_field))
                    if status in accepted:
                        out[name] = ("accepted", status, record)
                    else:
                        fate: Fate = "waiting" if status in waiting else "refused"
                        out[name] = (fate, status, record)
            return out

        return self.index.memo_on(("fates", spec), (self.final,), build)

    def _fate(self, spec: Requests, request: Request) -> tuple[Fate, str, Mapping[str, Any] | None]:
        if spec.final is None:
            if request.oks:
                return "accepted", "answered ok", None
            if request.fails:
                return "refused", "refused", None
            return "unknown", "unanswered", None
        record = self.slot(spec.final).get(request.id, _ABSENT)
        if record is _ABSENT:
            return "unknown", "", None
        if record is None:
            return "waiting", NOT_FOUND, None
        status = str(record.get(spec.status))
        if status in spec.accepted:
            return "accepted", status, record
        return ("waiting" if status in spec.waiting else "refused"), status, record

    # --- scopes -------------------------------------------------------------------

    def scope(self, scope: Scope) -> dict[Key, list[Operation]]:
        """The scope's keys, each with the attempts of the requests that name it."""
        return self.index.by_key(scope.requests.op, scope.fields, scope.unordered)

    def evidence(self, scope: Scope | None, finals: Sequence[Final], key: Key) -> list[int]:
        """The ops a key rests on: the attempts that name it, then the final
        reads of each of its members."""
        ids = (
            [op.invoke.op_id for op in self.scope(scope).get(key, ())] if scope is not None else []
        )
        for final in finals:
            for member in key:
                ids.extend(self.reads(final, member))
        return ids

    # --- items ----------------------------------------------------------------------

    def items(self, source: Source, scope: Scope | None = None) -> list[Item]:
        """The items ``source`` yields (see each source's docstring); built once
        per check call and shared: never change them."""
        subjects = (source, scope, self.final, self.effects.ledgers)
        return self.index.memo_on(
            ("items", id(source), id(scope)), subjects, lambda: self._items(source, scope)
        )

    def _items(self, source: Source, scope: Scope | None) -> list[Item]:
        if isinstance(source, Accepted):
            return self._accepted(source)
        if isinstance(source, Answered):
            return self._answered(source)
        if isinstance(source, Listed):
            return self._listed(source)
        if isinstance(source, Effects):
            return self._effects(source, scope)
        if isinstance(source, Refused):
            return self._refused(source)
        return self._mutual(source)

    def _accepted(self, source: Accepted) -> list[Item]:
        spec = source.requests
        fields = source.key or (spec.id,)
        out = []
        fates = self.fates(spec)
        own = fields == (spec.id,)  # keyed by the request id itself: no key to build
        id_field, unordered = source.id, source.unordered
        for request in self.requests(spec).values():
            fate, status, record = fates[request.id]
            body = request.body
            if own:
                key: Key = (request.id,)
            else:
                try:
                    key = key_from(body, fields, unordered)
                except KeyError:
                    continue
            name = request.id
            if id_field:
                named = record.get(id_field) if record is not None else None
                name = "" if named is None else str(named)
            at = request.acked_at if request.oks else INF
            sent = request.sent
            out.append(
                Item(
                    name,
                    key,
                    body,
                    (),
                    "request",
                    at,
                    fate,
                    status,
                    record,
                    "",
                    None,
                    sent,
                    request,
                )
            )
        return out

    def _answered(self, source: Answered) -> list[Item]:
        """One item per (id, key), resting on every ok answer that named it."""
        out: dict[tuple[str, Key], Item] = {}
        when = list(source.when.items())
        fields, unordered, id_field = source.key, source.unordered, source.id
        for op in self.index.judged(source.op):
            completion = op.completion
            if completion is None or completion.type != "ok":
                continue
            said = completion.value.get("body")
            if not is_mapping(said):
                continue
            named = said.get(id_field)
            if named is None:
                continue
            wanted = True
            for k, v in when:
                if said.get(k) != v:
                    wanted = False
                    break
            if not wanted:
                continue
            body = op.invoke.value["body"]
            try:
                key = key_from(body, fields, unordered)
            except KeyError:
                continue
            item_id = named if type(named) is str else str(named)
            invoke = op.invoke
            seen = out.get((item_id, key))
            if seen is not None:
                at, sent = min(seen.at, completion.time), min(seen.sent, invoke.time)
                ops = (*seen.ops, invoke.op_id)
                out[(item_id, key)] = seen.but(ops=ops, at=at, sent=sent)
                continue
            # Positional (the order of Item's parameters): one per ok answer.
            out[(item_id, key)] = Item(
                item_id,
                key,
                {**body, **said},
                (invoke.op_id,),
                "answer",
                completion.time,
                "accepted",
                "",
                None,
                "",
                None,
                invoke.time,
            )
        return list(out.values())

    def _refused(self, source: Refused) -> list[Item]:
        """One item per request refused as ``when`` says, resting on its attempts."""
        fields = source.key or (source.id,)
        out = []
        for request in self.requests(Requests(op=source.op, id=source.id)).values():
            if request.oks or not request.fails:
                continue
            refusals = [
                op
                for op in request.ops
                if op.completion is not None
                and op.completion.type == "fail"
                and is_mapping(said := op.completion.value.get("body"))
                and matches(said, source.when)
            ]
            if not refusals:
                continue
            try:
                key = key_from(request.body, fields, source.unordered)
            except KeyError:
                continue
            at = min(op.end_time for op in refusals)
            ops = tuple(op.invoke.op_id for op in request.ops)  # every attempt: the evidence
            out.append(
                Item(
                    request.id, key, request.body, ops, "refusal", at, "refused", "refused",
                    sent=request.sent,
                )
            )
        return out

    def _listed(self, source: Listed) -> list[Item]:
        out: dict[tuple[str, Key], Item] = {}
        id_field, key_field = source.id, source.key
        for listed in self.slot(source.final).values():
            for entry in self.entries(source, listed):
                named, members = entry.get(id_field), entry.get(key_field)
                if named is None or members is None:
                    continue
                item_id = named if type(named) is str else str(named)
                key = members_key(members)
                if (item_id, key) not in out:
                    out[(item_id, key)] = Item(
                        id=item_id, key=key, body=entry, ops=(), origin="final"
                    )
        return list(out.values())

    @staticmethod
    def entries(source: Listed, listed: Any) -> Sequence[Mapping[str, Any]]:
        """The entries of one member's list (a body or the list itself)."""
        if listed is None:
            return ()
        if is_mapping(listed):
            listed = listed.get(source.entries, ()) if source.entries else ()
        if not isinstance(listed, tuple | list):
            return ()
        if all(type(e) in _MAPS for e in listed):
            return listed
        return [e for e in listed if is_mapping(e)]

    def listed_ids(self, source: Listed) -> dict[str, set[str]]:
        """Member -> the ids its final list shows (read members only)."""

        def build() -> dict[str, set[str]]:
            return {
                member: {str(e.get(source.id)) for e in self.entries(source, listed)}
                for member, listed in self.slot(source.final).items()
            }

        return self.index.memo_on(("listed_ids", id(source)), (source, self.final), build)

    def unread(self, listed: Listed, members: Iterable[str]) -> list[str]:
        """The members whose final list read was indeterminate."""
        slot = self.slot(listed.final)
        return [m for m in dict.fromkeys(members) if m not in slot]

    def _effects(self, source: Effects, scope: Scope | None) -> list[Item]:
        members = None
        if scope is not None:
            members = {m for key in self.scope(scope) for m in key}
        out = []
        for key, effects in self.effects.by_key(source.kind, source.key, source.unordered).items():
            if members is not None:
                if len(key) == 1:  # the common key: one member, no set to build
                    if key[0] not in members:
                        continue
                elif not members.intersection(key):
                    continue
            for e in effects:
                named = e.body.get(source.id) if source.id else e.effect_id
                if named is None:
                    continue
                out.append(
                    Item(
                        named if type(named) is str else str(named),
                        key,
                        e.body,
                        (),
                        "effect",
                        INF,
                        "accepted",
                        "",
                        None,
                        e.effect_id,
                        e.time,
                    )
                )
        return out

    def _mutual(self, source: Mutual) -> list[Item]:
        directed = self.index.by_key(source.op, source.key)
        out = []
        for (a, b), ops in directed.items():
            if a >= b:
                continue  # each unordered pair once, from its sorted direction
            there = _acked(ops, source.where)
            back = _acked(directed.get((b, a), ()), source.where) if there else []
            if there and back:
                out.append(
                    Item(
                        id="",
                        key=(a, b),
                        body={"ops": (*there, *back)},
                        ops=(*there, *back),
                        origin="pair",
                    )
                )
        return out


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, fast for the JSON bodies of a history."""
    return type(value) in _MAPS or isinstance(value, Mapping)


def merged(items: Iterable[Item]) -> list[Item]:
    """Items with the same id and key as one: decided at the earliest, sent at
    the earliest, resting on every op (an answered match also in the final lists)."""
    out: dict[tuple[str, Key], Item] = {}
    for item in items:
        seen = out.get((item.id, item.key))
        if seen is None:
            out[(item.id, item.key)] = item
            continue
        first = seen if seen.origin == "answer" or item.origin != "answer" else item
        out[(item.id, item.key)] = first.but(
            ops=tuple(dict.fromkeys((*seen.ops, *item.ops))),
            at=min(seen.at, item.at),
            sent=min(seen.sent, item.sent),
        )
    return list(out.values())


def hidden(ctx: Context, listed: Listed, scope: Scope | None) -> list[str]:
    """Members whose final list reads were indeterminate, when there are enough
    of them to make up a key of the scope among themselves (then items of
    that list may be unseen: an item with a member who was read is in that
    member's list)."""
    if scope is None:
        return []
    slot = ctx.slot(listed.final)
    members = dict.fromkeys(m for key in ctx.scope(scope) for m in key)
    unread = [m for m in members if m not in slot]
    return unread if len(unread) >= len(scope.fields) else []


def _acked(ops: Iterable[Operation], where: Mapping[str, Any]) -> list[int]:
    return [
        op.invoke.op_id
        for op in ops
        if (done := op.completion) is not None
        and done.type == "ok"
        and matches(op.invoke.value["body"], where)
    ]


def matches(body: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Every field of ``where`` has its value in ``body``. Called once per op of
    a key: the common one-field ``where`` is tested without a generator, which
    costs more than the test."""
    if len(where) == 1:
        ((k, v),) = where.items()
        return bool(body.get(k) == v)
    return all(body.get(k) == v for k, v in where.items())
