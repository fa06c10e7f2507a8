"""Ordering: within a scope, accepted values follow the declared order, and
every reader observes the same order.

The declared order is ``"increasing"`` (strictly: each accepted value above
every one accepted before it, so no value twice), ``"non_decreasing"``, or
a state machine: ``{"open": ["closed"], "created": ["open"]}`` (a state may
follow another if the transitions reach it; a state may be accepted twice
only if it may follow itself).

- Accepted items (an accepted request, an id an ok answer names) on one key,
  by ``field`` of the request's body, else (a value the service assigns: a
  sequence number) of its final record, else of its ok answer:
  if one was decided (its ok answer came) before another was sent, the
  other must come after it in the declared order. Items decided only by the
  final state were decided at an unknown time: they are compared only with
  what was decided before they were sent.
- Readers: ``Reader(op, key, value=...)`` reads the current value (a
  highest bid, a status): one replica's successive reads never go back in
  the order. ``Reader(op, key, list=..., item=..., value=...)`` reads the
  sequence of accepted items: each list follows the declared order, and any
  two lists of a key agree on the relative order of the items both show.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from harness.history import FinalState, History, Ledgers, Operation
from invariants._common import Findings, ops_text
from invariants.library._index import Key, standalone
from invariants.library._model import (
    INF,
    Accepted,
    Answered,
    Context,
    Item,
    Scope,
    is_mapping,
    merged,
)
from invariants.library._words import check_words, key_text, say
from invariants.verdict import Checker, Verdict

Order: TypeAlias = Literal["increasing", "non_decreasing"] | Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """A read of the ordered values of a key: ``op`` ops whose body field ``key``
    names it, answering the current ``value`` (an answer field), or a ``list``
    field of entries with an ``item`` id field and a ``value`` field."""

    op: str
    key: str
    value: str
    list: str = ""
    item: str = "id"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderWords:
    """Nouns and sentences of ``make_ordering``."""

    noun: str = "item"
    unit: str = "key"  # what the verdict counts
    after: str = (
        "{noun} {id} of {key} ({field} {value}) was accepted after {noun} {other} "
        "({field} {other_value}, acknowledged {ops}), out of order"
    )
    twice: str = "{noun}s {id} and {other} of {key} were both accepted with {field} {value}"
    back: str = (
        "{key} read {other_value} (op {first}) and then {value} (op {then}) "
        "on target-{node}: backwards"
    )
    unordered: str = (
        "{key} is listed out of order (op {then}): {other} ({other_value}) before {id} ({value})"
    )
    disagree: str = (
        "the lists of {key} disagree: op {first} has {other} before {id}, op {then} the reverse"
    )


_FIELDS = {
    "after": ("noun", "id", "key", "field", "value", "other", "other_value", "ops"),
    "twice": ("noun", "id", "other", "key", "field", "value"),
    "back": ("key", "value", "other_value", "first", "then", "node"),
    "unordered": ("key", "id", "value", "other", "other_value", "then"),
    "disagree": ("key", "id", "other", "first", "then"),
}


class _Rule:
    """The declared order as two questions: may ``b`` follow ``a``? may a reader
    see ``a`` and later ``b``?"""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.reach: dict[str, set[str]] = {}
        if not isinstance(order, str):
            graph = {str(k): {str(v) for v in vs} for k, vs in order.items()}
            for start in graph:
                seen: set[str] = set()
                stack = list(graph[start])
                while stack:
                    state = stack.pop()
                    if state not in seen:
                        seen.add(state)
                        stack.extend(graph.get(state, ()))
                self.reach[start] = seen

    def follows(self, a: Any, b: Any) -> bool:
        """May ``b`` be accepted after ``a``?"""
        if self.order == "increasing":
            return float(b) > float(a)
        if self.order == "non_decreasing":
            return float(b) >= float(a)
        return str(b) in self.reach.get(str(a), set())

    def seen_after(self, a: Any, b: Any) -> bool:
        """May a reader see ``b`` after it saw ``a`` (the same value included)?"""
        return a == b or str(a) == str(b) or self.follows(a, b)


def make_ordering(
    name: str,
    *,
    items: Accepted | Answered | Sequence[Accepted | Answered],
    field: str,
    order: Order = "increasing",
    readers: Sequence[Reader] = (),
    scope: Scope | None = None,
    words: OrderWords = OrderWords(),
) -> Checker:
    """Accepted ``field`` values of each key follow ``order``; readers agree (see the module)."""
    check_words(words, _FIELDS)
    if isinstance(order, str) and order not in ("increasing", "non_decreasing"):
        raise ValueError(f"{name}: order must be increasing, non_decreasing or transitions")
    rule = _Rule(order)
    readers = tuple(readers)
    sources = (items,) if isinstance(items, Accepted | Answered) else tuple(items)
    if not sources:
        raise ValueError(f"{name}: make_ordering needs at least one items source")

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final, ledgers)
        accepted = merged(i for s in sources for i in ctx.items(s, scope) if i.took_effect)
        by_key: dict[Key, list[Item]] = {}
        for item in accepted:
            valued = item if item.body.get(field) is not None else _assigned(item, field)
            if valued is not None:
                by_key.setdefault(item.key, []).append(valued)
        out = Findings(name, words.unit)
        keys: dict[Key, None] = dict.fromkeys(by_key)
        for reader in readers:
            keys.update(dict.fromkeys((k,) for k in ctx.index.by(reader.op, reader.key)))
        for key in keys:
            at_stake = _accepted(ctx, out, words, rule, field, key, by_key.get(key, []), scope)
            for reader in readers:
                at_stake = _read(ctx, out, words, rule, reader, key) or at_stake
            out.checked += at_stake
        return out.verdict()

    check.__doc__ = (
        f"{name}: accepted values follow the declared order (invariants.library.ordering)."
    )
    return standalone(check)


def _assigned(item: Item, field: str) -> Item | None:
    """``item`` with the value of ``field`` the service gave it (a sequence number
    it assigns), from its final record, else its first ok answer that names one;
    None when neither does."""
    sources: list[Any] = [item.record]
    if item.request is not None:
        sources += [op.response.get("body") for op in item.request.ops if op.outcome == "ok"]
    for said in sources:
        if is_mapping(said) and said.get(field) is not None:
            return item.but(body={**item.body, field: said[field]})
    return None


def _accepted(
    ctx: Context,
    out: Findings,
    w: OrderWords,
    rule: _Rule,
    field: str,
    key: Key,
    items: list[Item],
    scope: Scope | None,
) -> bool:
    """Items decided before another was sent precede it in the declared order.
    True when the key had two items to compare: one alone cannot be out of order,
    and a key with one is not counted as checked."""
    if len(items) < 2:
        return False
    ids = ctx.evidence(scope, (), key)
    decided = sorted((i for i in items if i.at != INF), key=lambda i: i.at)
    reported: set[str] = set()
    for later in items:
        for earlier in decided:
            if earlier.at >= later.sent:
                break
            if earlier is later or rule.follows(earlier.body[field], later.body[field]):
                continue
            out.violation(
                say(
                    w.after,
                    noun=w.noun,
                    id=later.id,
                    key=key_text(key),
                    field=field,
                    value=later.body[field],
                    other=earlier.id,
                    other_value=earlier.body[field],
                    ops=ops_text(earlier.acks) if earlier.acks else "in the final state",
                ),
                [*key, later.id, earlier.id],
                [*earlier.evidence, *later.evidence, *ids],
            )
            reported.add(later.id)
            break
    seen: dict[str, Item] = {}
    for item in items:
        value = str(item.body[field])
        other = seen.get(value)
        if other is None:
            seen[value] = item
        elif item.id not in reported and not rule.follows(item.body[field], item.body[field]):
            out.violation(
                say(
                    w.twice,
                    noun=w.noun,
                    id=other.id,
                    other=item.id,
                    key=key_text(key),
                    field=field,
                    value=item.body[field],
                ),
                [*key, other.id, item.id],
                [*other.evidence, *item.evidence, *ids],
            )
    return True


def _read(
    ctx: Context, out: Findings, w: OrderWords, rule: _Rule, reader: Reader, key: Key
) -> bool:
    """The key's reads follow the declared order; True when they showed two
    values to compare (a list of two entries, or two reads one after the other)."""
    ops = [op for op in ctx.index.by(reader.op, reader.key).get(key[0], ()) if op.outcome == "ok"]
    if not ops:
        return False
    if not reader.list:
        return _current(out, w, rule, reader, key, ops)
    lists: list[tuple[Operation, list[tuple[str, Any]]]] = []
    for op in ops:
        said = op.response.get("body")
        entries = said.get(reader.list) if is_mapping(said) else None
        if not isinstance(entries, Sequence):
            continue
        shown = [
            (str(e.get(reader.item)), e.get(reader.value))
            for e in entries
            if is_mapping(e) and e.get(reader.value) is not None
        ]
        lists.append((op, shown))
        for (a, va), (b, vb) in itertools.pairwise(shown):
            if not rule.follows(va, vb):
                out.violation(
                    say(
                        w.unordered,
                        key=key_text(key),
                        id=b,
                        value=vb,
                        other=a,
                        other_value=va,
                        then=op.invoke.op_id,
                    ),
                    [*key, a, b],
                    [op.invoke.op_id],
                )
                break
    compared = any(len(shown) >= 2 for _, shown in lists)
    if len(lists) < 2:
        return compared
    first_op, reference = max(lists, key=lambda pair: len(pair[1]))
    rank = {item: n for n, (item, _) in enumerate(reference)}
    for op, shown in lists:
        placed = [(rank[item], item) for item, _ in shown if item in rank]
        for (ra, a), (rb, b) in itertools.pairwise(placed):
            if rb < ra:
                out.violation(
                    say(
                        w.disagree,
                        key=key_text(key),
                        id=a,
                        other=b,
                        first=first_op.invoke.op_id,
                        then=op.invoke.op_id,
                    ),
                    [*key, a, b],
                    [first_op.invoke.op_id, op.invoke.op_id],
                )
                break
    return compared


def _current(
    out: Findings, w: OrderWords, rule: _Rule, reader: Reader, key: Key, ops: list[Operation]
) -> bool:
    """One replica's reads, one after the other, never go back in the order; True
    when some replica read the key twice, the second after the first had ended."""
    compared = False
    by_node: dict[int, list[Operation]] = {}
    for op in ops:
        said = op.response.get("body")
        if is_mapping(said) and said.get(reader.value) is not None:
            by_node.setdefault(int(op.invoke.value.get("node", 0)), []).append(op)
    for node, series in by_node.items():
        series.sort(key=lambda o: o.invoke.time)
        first_end = INF
        for n, op in enumerate(series):
            compared = compared or first_end < op.invoke.time
            first_end = min(first_end, op.end_time)
            value = op.response["body"][reader.value]
            before = next(
                (
                    b
                    for b in reversed(series[:n])
                    if b.end_time < op.invoke.time
                    and not rule.seen_after(b.response["body"][reader.value], value)
                ),
                None,
            )
            if before is not None:
                out.violation(
                    say(
                        w.back,
                        key=key_text(key),
                        value=value,
                        other_value=before.response["body"][reader.value],
                        first=before.invoke.op_id,
                        then=op.invoke.op_id,
                        node=node,
                    ),
                    [*key],
                    [before.invoke.op_id, op.invoke.op_id],
                )
                break
    return compared
