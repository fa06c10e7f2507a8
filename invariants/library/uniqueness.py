"""Uniqueness / idempotency: at most one accepted X per (canonical) key; the
same logical request sent N times has the outcome of one.

``make_uniqueness``: the items the sources yield (accepted requests, ids
named by ok answers, entries of final lists, partner effects) are grouped by
key; a key with two or more distinct ids is a violation, and so (with
``one_key_per_id``) is an id under two keys. Only items that surely exist
count, so an indeterminate operation never makes a violation; a key whose
every member's final list read was indeterminate is undecided (an item may
be unseen).

``make_idempotency``: all definite answers of one logical request agree
(``ok`` vs ``fail``, and the ``agree`` fields of ok answers), and agree with
its final record: answered ok -> accepted there (a 404 or a ``waiting``
status is pending: the write may not be visible yet), answered ``fail`` ->
not accepted. An indeterminate final read leaves the request undecided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import FinalState, History, Ledgers
from invariants._common import Findings, listing, ops_text
from invariants.library._index import Key, standalone
from invariants.library._model import (
    Context,
    Final,
    Item,
    Listed,
    Request,
    Requests,
    Scope,
    Source,
)
from invariants.library._words import check_words, key_text, say, show
from invariants.verdict import Checker, Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class UniqueWords:
    """Nouns and sentences of ``make_uniqueness`` (``{key}`` is ``a and b`` for a pair)."""

    noun: str = "key"
    item: str = "{id}"
    many: str = "{key} has {n} distinct items: {items}"  # {most}: the limit
    shared: str = "{id} is used for {n} keys: {keys}"
    unseen: str = "{key}: the final read of {unread} was indeterminate"


_UNIQUE_FIELDS = {
    "many": ("key", "n", "items", "most"),
    "shared": ("id", "n", "keys"),
    "unseen": ("key", "unread"),
}


def make_uniqueness(
    name: str,
    *,
    items: Sequence[Source],
    scope: Scope | None = None,
    one_key_per_id: bool = False,
    at_most: int = 1,
    words: UniqueWords = UniqueWords(),
) -> Checker:
    """At most ``at_most`` distinct items per key (and, with ``one_key_per_id``,
    one key per id).

    ``items``: where the Xs come from (``Accepted``, ``Answered``, ``Listed``,
    ``Effects``); ``scope``: the keys to check besides those items name (and
    the only keys partner effects may name); with a ``Listed`` source, a key
    none of whose members' lists was read is undecided. ``at_most`` above 1
    is a limit per key, such as two redemptions of a coupon per user.
    """
    check_words(words, _UNIQUE_FIELDS)
    if isinstance(at_most, bool) or not isinstance(at_most, int) or at_most < 1:
        raise ValueError(f"{name}: at_most must be an int of at least 1 (got {at_most!r})")
    sources = tuple(items)
    listed = [s for s in sources if isinstance(s, Listed)]
    finals = _finals(scope, sources)

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final, ledgers)
        by_key: dict[Key, dict[str, Item]] = {}
        by_id: dict[str, dict[Key, None]] = {}
        for source in sources:
            for item in ctx.items(source, scope):
                if item.fate != "accepted" or not item.id:
                    continue
                found = by_key.get(item.key)
                if found is None:
                    by_key[item.key] = {item.id: item}
                elif item.id not in found:
                    found[item.id] = item
                if one_key_per_id:
                    by_id.setdefault(item.id, {})[item.key] = None
        out = Findings(name, words.noun)
        if one_key_per_id:
            for item_id, keys in by_id.items():
                if len(keys) > 1:
                    out.violation(
                        say(
                            words.shared,
                            id=item_id,
                            n=len(keys),
                            keys=listing([key_text(k) for k in keys]),
                        ),
                        [item_id, *(m for k in keys for m in k)],
                        [i for k in keys for i in ctx.evidence(scope, finals, k)],
                    )
        universe = list(ctx.scope(scope)) if scope is not None else []
        slots = [(s, ctx.slot(s.final)) for s in listed]
        keys = dict.fromkeys([*universe, *by_key])
        out.checked += len(keys)
        for key in keys:
            found = by_key.get(key, _NONE)
            if len(found) > at_most:
                out.violation(
                    say(
                        words.many,
                        key=key_text(key),
                        n=len(found),
                        most=at_most,
                        items=listing([show(words.item, i, it.body) for i, it in found.items()]),
                    ),
                    [*key, *found],
                    ctx.evidence(scope, finals, key),
                )
                continue
            if not slots:
                continue  # no list whose unread members could hide an item
            unseen = next(
                (
                    u
                    for s, slot in slots
                    if any(m not in slot for m in key)  # else every member was read
                    and len(u := ctx.unread(s, key)) == len(key)
                ),
                None,
            )
            if unseen:
                out.undecided(
                    say(words.unseen, key=key_text(key), unread=listing(unseen)),
                    list(key),
                    ctx.evidence(scope, finals, key),
                )
        return out.verdict()

    check.__doc__ = f"{name}: at most one item per key (invariants.library.uniqueness)."
    return standalone(check)


_NONE: dict[str, Item] = {}  # a key no item names (never changed)


def _finals(scope: Scope | None, sources: Sequence[Source]) -> list[Final]:
    """The final reads whose op ids are evidence about a key."""
    finals = [s.final for s in sources if isinstance(s, Listed)]
    if scope is not None and scope.requests.final is not None:
        finals.append(scope.requests.final)
    return list(dict.fromkeys(finals))


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotentWords:
    """Nouns and sentences of ``make_idempotency``. ``{said}`` is the answer
    (``accepted``, or ``captured as ch-1`` with ``agree`` fields), ``{ops}``
    the attempts so answered, ``{status}`` the final record's status."""

    noun: str = "request"
    unit: str = ""  # what the verdict counts ("acknowledged order"); the noun by default
    ok: str = "ok"
    fail: str = "refused"
    both: str = "{noun} {key} was answered both {ok} ({ok_ops}) and {fail} ({fail_ops})"
    differ: str = "{noun} {key} was answered {ok} as {first} ({first_ops}) and as {other} ({ops})"
    unread: str = "{noun} {key} was answered {said} ({ops}) but its final read was indeterminate"
    contradicts: str = "{noun} {key} was answered {said} ({ops}) but is {status} in the final state"


_IDEMPOTENT_FIELDS = {
    "both": ("noun", "key", "ok", "ok_ops", "fail", "fail_ops"),
    "differ": ("noun", "key", "ok", "first", "first_ops", "other", "ops"),
    "unread": ("noun", "key", "said", "ops"),
    "contradicts": ("noun", "key", "said", "ops", "status"),
}


def make_idempotency(
    name: str,
    *,
    requests: Requests,
    agree: tuple[str, ...] = (),
    refusals: bool = True,
    words: IdempotentWords | None = None,
) -> Checker:
    """Definite answers of one logical request agree with each other and with its final record.

    ``agree``: answer fields every ok answer and the final record must share
    (a charge_id); ``refusals``: judge ``fail`` answers too (else only the
    acknowledged outcome must survive). Needs ``requests.final``.
    """
    if requests.final is None:
        raise ValueError(
            f"{name}: make_idempotency needs requests.final (the record to agree with)"
        )
    words = words or IdempotentWords(ok=requests.accepted[0])
    check_words(words, _IDEMPOTENT_FIELDS)
    w = words

    def contradicted(key: str, said: str, ops: Sequence[int], status: Any) -> str:
        """The record's fate contradicts what the request was told."""
        return say(w.contradicts, noun=w.noun, key=key, said=said, ops=ops_text(ops), status=status)

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final, ledgers)
        out = Findings(name, w.unit or w.noun)
        fates = ctx.fates(requests)
        for request in ctx.requests(requests).values():
            acks, fails = request.oks, (request.fails if refusals else [])
            if not acks and not fails:
                continue
            out.checked += 1
            key = request.id
            if acks and fails:
                out.violation(
                    say(
                        w.both,
                        noun=w.noun,
                        key=key,
                        ok=w.ok,
                        ok_ops=ops_text(acks),
                        fail=w.fail,
                        fail_ops=ops_text(fails),
                    ),
                    [key],
                    request.ids,
                )
                continue
            said_ops = acks or fails
            fate, status, record = fates[request.id]
            if fate == "unknown":
                out.undecided(
                    say(
                        w.unread,
                        noun=w.noun,
                        key=key,
                        said=w.ok if acks else w.fail,
                        ops=ops_text(said_ops),
                    ),
                    [key],
                    request.ids,
                )
                continue
            if fails:
                if fate == "accepted":
                    out.violation(contradicted(key, w.fail, fails, status), [key], request.ids)
                continue
            if not agree:
                if fate != "accepted":
                    report = out.pending if fate == "waiting" else out.violation
                    report(contradicted(key, w.ok, acks, status), [key], request.ids)
                continue
            _agreement(out, w, request, agree, fate, status, record)
        return out.verdict()

    check.__doc__ = f"{name}: one request, one outcome (invariants.library.uniqueness)."
    return standalone(check)


def _agreement(
    out: Findings,
    w: IdempotentWords,
    request: Request,
    agree: tuple[str, ...],
    fate: str,
    status: str,
    record: Mapping[str, Any] | None,
) -> None:
    """With ``agree`` fields: each ok answer against the others and the final record."""
    if fate == "accepted" and record is not None and _agreed(request, agree, record):
        return  # the common case: nothing to say
    key = request.id
    first: tuple[str, list[int]] | None = None
    for op in request.ops:
        if op.outcome != "ok":
            continue
        said_body = op.response.get("body") or {}
        values = " ".join(str(said_body.get(f)) for f in agree)
        this = [op.invoke.op_id]
        said = f"{w.ok} as {values}"
        if first is None:
            first = (values, this)
        elif values != first[0]:
            out.violation(
                say(
                    w.differ,
                    noun=w.noun,
                    key=key,
                    ok=w.ok,
                    first=first[0],
                    first_ops=ops_text(first[1]),
                    other=values,
                    ops=ops_text(this),
                ),
                [key, first[0], values],
                request.ids,
            )
        if fate != "accepted":
            report = out.pending if fate == "waiting" else out.violation
            report(
                say(
                    w.contradicts,
                    noun=w.noun,
                    key=key,
                    said=said,
                    ops=ops_text(this),
                    status=status,
                ),
                [key],
                request.ids,
            )
            continue
        assert record is not None
        recorded = " ".join(str(record.get(f)) for f in agree)
        if recorded != values:
            out.violation(
                say(
                    w.contradicts,
                    noun=w.noun,
                    key=key,
                    said=said,
                    ops=ops_text(this),
                    status=f"{status} as {recorded}",
                ),
                [key, values],
                request.ids,
            )


def _agreed(request: Request, agree: tuple[str, ...], record: Mapping[str, Any]) -> bool:
    """Every ok answer shows the record's ``agree`` fields (as text, as the
    findings compare them)."""
    recorded = [str(record.get(f)) for f in agree]
    for op in request.ops:
        completion = op.completion
        if completion is None or completion.type != "ok":
            continue
        said = completion.value.get("body") or {}
        if [str(said.get(f)) for f in agree] != recorded:
            return False
    return True
