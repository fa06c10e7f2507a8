"""Propagation: a derived view or side effect reflects its source.

Every source item (an accepted request, an id an ok answer names, an entry
of a final list, a partner effect, a pair acknowledged both ways) is linked
to the target items that reflect it, by key (``link="key"``: a shipment
names its order) or by id (``link="id"``: a message names its match, an
answer names its charge). Then:

- ``count``: ``exactly_once`` (none is pending -- the derived work may be
  asynchronous --, two or more a violation), ``at_least_once`` (none is
  pending) or ``any`` (only what is there is judged);
- ``carry``: each reflecting target carries the source's fields
  (``{"qty": "qty"}``: target field <- source field; ``id`` is the item id);
- ``orphans``: a target whose source was refused is a violation, whose
  source is waiting (404, pending) is pending; with a ``Listed`` source, a
  target naming no item of the final state is pending, or undecided when
  none of the members who would list it was read;
- ``everywhere``: with a ``Listed`` target, the item must be in the list of
  each of its members (else one list showing it is enough, and a key none
  of whose members was read is undecided);
- ``within``: each reflection is observed within that many seconds of the
  source's acknowledgement (a ``Listed`` target: the first read showing it;
  an ``Effects`` target: when the partner recorded it, if the ledger says
  where time 0 is); the largest observed lag is in the summary.

A source whose fate is unknown (its final read was indeterminate) is judged
only with ``orphans`` (the invariant covers both outcomes): a violation if
its targets are wrong whether it took effect or not, else undecided. An id
that an answer or a record names, and that no partner effect has, is a
violation at once (the partner records an effect before it answers).

With ``Accepted`` as the target, each source item must be recorded by the
final record of its key: accepted, and (with ``id``) naming the item; a
waiting record is pending, a refused one a violation, an unread one undecided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from harness.history import FinalState, History, Ledgers
from invariants._common import Findings, listing, ops_text
from invariants.library._index import Key, standalone
from invariants.library._model import (
    Accepted,
    Context,
    Effects,
    Final,
    Item,
    Listed,
    Scope,
    Source,
    hidden,
)
from invariants.library._words import check_words, key_text, say, show
from invariants.verdict import Checker, Verdict

Count = Literal["exactly_once", "at_least_once", "any"]
Link = Literal["key", "id"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowWords:
    """Nouns and sentences of ``make_propagation``.

    A message is a *subject*, chosen by where the source item comes from
    (``request``, ``answer``, ``final``, ``effect``, ``pair``), with an
    ``{error}`` in it. Subject fields: ``{noun} {id} {key} {item} {status}
    {ops}``; error fields add ``{target_noun} {n} {targets} {target} {got}
    {want} {others} {related} {member} {unread} {lag} {within}``. ``item``
    shows one item (``{id}`` and its body fields), ``carried`` the carried
    fields of either side.
    """

    noun: str = "source"
    unit: str = ""  # what the verdict counts; the noun by default
    target_noun: str = "target"
    item: str = "{id}"
    carried: str = ""  # e.g. "{qty} x {sku}"; by default "field=value, ..."
    first: Literal["id", "key"] = "id"  # which comes first in the evidence keys
    request: str = "{noun} {id} is {status} in the final state but {error}"
    unknown: str = "{noun} {id} (final read indeterminate): {error}"
    unknown_open: str = "{noun} {id} has {n} {target_noun}s but its final read was indeterminate"
    answer: str = "{noun} {id} of {key} was answered ({ops}) but {error}"
    final: str = "{noun} {id} of {key} in the final state: {error}"
    effect: str = "{noun} {item} of {key}: {error}"
    pair: str = "{key} ({ops}): {error}"
    none: str = "no {target_noun} reflects it"
    many: str = "it has {n} {target_noun}s ({targets})"
    carry: str = "{target_noun} {target} carries {got}, not {want}"
    orphan: str = "{target_noun} {targets} exists anyway"
    named: str = "there is no such {target_noun} (for it: {related})"
    misplaced: str = "only {others}, for other keys"
    missing_in: str = "it is missing from the final list of {member}"
    unread_in: str = "the final read of {member} was indeterminate"
    unseen: str = "the final read of {unread} was indeterminate"
    late: str = "{target_noun} {target} came {lag:.3f} s after it, more than {within} s"
    stray: str = (
        "{target_noun} {target} names {noun} {id} of {key}, which does not exist in the final state"
    )
    stray_unseen: str = (
        "{target_noun} {target} names {noun} {id} of {key}, not seen in the final state; {error}"
    )
    unrecorded: str = "{noun} {item} of {key} is not recorded: it is {status} in the final state"
    record_unread: str = "{noun} {item} of {key}: the final read of its record was indeterminate"
    hidden: str = "{noun}s of {member} are unchecked: the final read of {member} was indeterminate"


_SUBJECT = ("noun", "id", "key", "item", "status", "ops", "error")
_ERROR = (
    *_SUBJECT,
    "target_noun",
    "n",
    "targets",
    "target",
    "got",
    "want",
    "others",
    "related",
    "member",
    "unread",
    "lag",
    "within",
)
_FIELDS: Mapping[str, Sequence[str]] = {
    **{k: _SUBJECT for k in ("request", "unknown", "answer", "final", "effect", "pair")},
    **{k: _ERROR for k in ("none", "many", "carry", "orphan", "named", "misplaced")},
    **{k: _ERROR for k in ("missing_in", "unread_in", "unseen", "late")},
    "unknown_open": _ERROR,
    "stray": _ERROR,
    "stray_unseen": _ERROR,
    "unrecorded": _SUBJECT,
    "record_unread": _SUBJECT,
    "hidden": ("noun", "member"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Spec:
    target: Source
    link: Link
    count: Count
    carry: Mapping[str, str]
    orphans: bool
    everywhere: bool
    within: float | None


@dataclass(slots=True)
class _Judge:
    """One check call: the context, the findings, the lags observed."""

    ctx: Context
    out: Findings
    w: FlowWords
    spec: _Spec
    scope: Scope | None
    finals: list[Final]
    lags: list[float] = field(default_factory=list)
    shown_at: dict[str, float] | None = None

    def ids(self, item: Item) -> list[int]:
        return [*self.ctx.evidence(self.scope, self.finals, item.key), *item.evidence]

    def keys(self, item: Item, *more: str) -> list[str]:
        own = [item.id] if item.id else []
        first = [*item.key, *own] if self.w.first == "key" else [*own, *item.key]
        return [*first, *more]

    def fields(self, item: Item, **more: Any) -> dict[str, Any]:
        """Every field a template may use, for ``item``."""
        values: dict[str, Any] = {
            "noun": self.w.noun,
            "id": item.id,
            "key": key_text(item.key),
            "item": show(self.w.item, item.label, item.body),
            "status": item.status,
            "ops": ops_text(item.acks) if item.acks else "",
            "error": "",
            "target_noun": self.w.target_noun,
            "n": 0,
            "targets": "",
            "target": "",
            "got": "",
            "want": "",
            "others": "",
            "related": "none",
            "member": "",
            "unread": "",
            "lag": 0.0,
            "within": self.spec.within or 0.0,
        }
        values.update(more)
        return values

    def subject(self, item: Item, error: str, template: str = "") -> str:
        return say(template or getattr(self.w, item.origin), **self.fields(item, error=error))

    def error(self, template: str, item: Item, **more: Any) -> str:
        return say(template, **self.fields(item, **more))

    def shown(self, targets: Sequence[Item]) -> str:
        return listing([show(self.w.item, t.label, t.body) for t in targets])

    def carried(self, item_id: str, body: Mapping[str, Any], names: Sequence[str]) -> str:
        if self.w.carried:
            return show(self.w.carried, item_id, body)
        return ", ".join(f"{n}={item_id if n == 'id' else body.get(n)}" for n in names)


def make_propagation(
    name: str,
    *,
    source: Source | Sequence[Source],
    target: Source,
    link: Link = "key",
    count: Count = "exactly_once",
    carry: Mapping[str, str] | None = None,
    orphans: bool = True,
    everywhere: bool = False,
    within: float | None = None,
    scope: Scope | None = None,
    words: FlowWords = FlowWords(),
) -> Checker:
    """Each source item is reflected by its targets (see the module docstring)."""
    check_words(words, _FIELDS)
    sources = (source,) if not isinstance(source, Sequence) else tuple(source)
    if everywhere and not isinstance(target, Listed):
        raise ValueError(f"{name}: everywhere needs a Listed target")
    if within is not None and not isinstance(target, Effects | Listed):
        raise ValueError(f"{name}: within needs an Effects or a Listed target")
    spec = _Spec(
        target=target,
        link=link,
        count=count,
        carry=dict(carry or {}),
        orphans=orphans,
        everywhere=everywhere,
        within=within,
    )
    finals = _finals(scope, (*sources, target))
    listed = next((s for s in sources if isinstance(s, Listed)), None)
    # Nothing but the count and the carried fields to judge of an item that
    # took effect (else _judge_item also looks into lists and lags): with
    # ``everywhere``, nothing either when every member's list shows it.
    quiet = within is None

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final, ledgers)
        judge = _Judge(ctx, Findings(name, words.unit or words.noun), words, spec, scope, finals)
        items = [
            i
            for s in sources
            for i in ctx.items(s, scope)
            if (i.fate == "accepted" or orphans) and (i.id or link == "key")
        ]
        if isinstance(target, Accepted):
            _recorded(judge, items, target)
            return judge.out.verdict()
        targets = ctx.items(target, scope)
        linked: dict[Any, list[Item]] = {}
        by_key: dict[Key, list[Item]] = {}
        for t in targets:
            linked.setdefault(t.id if link == "id" else t.key, []).append(t)
            by_key.setdefault(t.key, []).append(t)
        groups: dict[Any, list[Item]] = {}
        for item in items:
            groups.setdefault(item.id if link == "id" else item.key, []).append(item)
        shown: dict[str, set[str]] | None = None  # the lists, when everywhere asks
        by_id = link == "id"
        for group, members in groups.items():
            judge.out.checked += 1
            mine = linked.get(group, [])
            for item in members:
                if not by_id:
                    same = mine
                elif len(mine) == 1:  # the common case: one target, no list to filter
                    same = mine if mine[0].key == item.key else []
                else:
                    same = [t for t in mine if t.key == item.key]
                if quiet and same and item.fate == "accepted" and _fine(spec, item, same):
                    if not everywhere:
                        continue  # reflected as it should be: the common case, nothing to say
                    if shown is None:
                        shown = ctx.listed_ids(cast(Listed, target))
                    if _in_every_list(item, shown):
                        continue
                others = [t for t in mine if t.key != item.key] if link == "id" else []
                _judge_item(judge, item, same, others, by_key.get(item.key, []))
        if orphans and listed is not None:
            _strays(judge, listed, groups, linked)
        if listed is not None:
            _hidden(judge, listed)
        verdict = judge.out.verdict()
        if judge.lags and verdict.status == "valid":
            note = f" (largest observed lag {max(judge.lags):.3f} s, bound {within} s)"
            return Verdict(
                invariant=verdict.invariant,
                status=verdict.status,
                summary=verdict.summary + note,
                evidence=verdict.evidence,
                checked=verdict.checked,
            )
        return verdict

    check.__doc__ = (
        f"{name}: a view or effect reflects its source (invariants.library.propagation)."
    )
    return standalone(check)


def _finals(scope: Scope | None, sources: Sequence[Source]) -> list[Final]:
    """The final reads whose op ids are evidence about a key."""
    finals = [s.final for s in sources if isinstance(s, Listed)]
    finals += [s.requests.final for s in sources if isinstance(s, Accepted) and s.requests.final]
    if scope is not None and scope.requests.final is not None:
        finals.append(scope.requests.final)
    return list(dict.fromkeys(finals))


def _errors(
    judge: _Judge, item: Item, same: list[Item], others: list[Item], related: list[Item]
) -> list[tuple[str, bool]]:
    """What is wrong with ``item``'s targets if it took effect: (error, pending?)."""
    w, spec = judge.w, judge.spec
    if not same:
        if spec.count == "any":
            return []
        if others:
            shown = listing([t.label for t in others])
            return [
                (
                    judge.error(w.misplaced, item, others=shown, related=_related(judge, related)),
                    False,
                )
            ]
        named = (
            spec.link == "id"
            and isinstance(spec.target, Effects)
            and not spec.target.id
            and item.origin != "effect"
        )
        if named:
            return [(judge.error(w.named, item, related=_related(judge, related)), False)]
        return [(judge.error(w.none, item), True)]
    if spec.count == "exactly_once" and len(same) > 1:
        return [(judge.error(w.many, item, n=len(same), targets=judge.shown(same)), False)]
    errors = []
    for t in same:
        got = {k: (t.id if k == "id" else t.body.get(k)) for k in spec.carry}
        want = {k: (item.id if v == "id" else item.body.get(v)) for k, v in spec.carry.items()}
        if got != want:
            theirs = {**t.body, **got}
            ours = {**item.body, **want, **{v: want[k] for k, v in spec.carry.items()}}
            error = judge.error(
                w.carry,
                item,
                target=t.label,
                targets=judge.shown([t]),
                got=judge.carried(t.label, theirs, list(spec.carry)),
                want=judge.carried(item.id, ours, list(spec.carry.values())),
            )
            errors.append((error, False))
    return errors


def _related(judge: _Judge, related: list[Item]) -> str:
    return judge.shown(related) or "none"


def _judge_item(
    judge: _Judge, item: Item, same: list[Item], others: list[Item], related: list[Item]
) -> None:
    out, w, spec = judge.out, judge.w, judge.spec
    if item.fate == "unknown":
        wrong = _errors(judge, item, same, others, related)
        if wrong and same:
            error = wrong[0][0]
            out.violation(judge.subject(item, error, w.unknown), judge.keys(item), judge.ids(item))
        elif wrong or same:
            message = judge.error(w.unknown_open, item, n=len(same))
            out.undecided(message, judge.keys(item), judge.ids(item))
        return
    if item.fate != "accepted":
        if same:
            report = out.pending if item.fate == "waiting" else out.violation
            error = judge.error(w.orphan, item, targets=listing([t.label for t in same]))
            report(judge.subject(item, error), judge.keys(item), judge.ids(item))
        return
    target = spec.target
    if not same and isinstance(target, Listed) and not spec.everywhere:
        unread = judge.ctx.unread(target, item.key)
        if len(unread) == len(set(item.key)):
            error = judge.error(w.unseen, item, unread=listing(unread))
            out.undecided(judge.subject(item, error), judge.keys(item), judge.ids(item))
            return
    if not _fine(spec, item, same):
        for error, pending in _errors(judge, item, same, others, related):
            # Items of a final view are keys the user knows (a second match id).
            many = [t.id for t in same] if len(same) > 1 and isinstance(target, Listed) else []
            (out.pending if pending else out.violation)(
                judge.subject(item, error), judge.keys(item, *many), judge.ids(item)
            )
    if spec.everywhere and isinstance(target, Listed):
        _everywhere(judge, item, target)
    if spec.within is not None:
        _timely(judge, item, same, spec.within)


def _fine(spec: _Spec, item: Item, same: list[Item]) -> bool:
    """The common case, decided without building any message: reflected as
    ``count`` wants, carrying what it should."""
    if not same:
        return spec.count == "any"
    if spec.count == "exactly_once" and len(same) > 1:
        return False
    if not spec.carry:
        return True
    body = item.body
    for t in same:
        for k, v in spec.carry.items():
            got = t.id if k == "id" else t.body.get(k)
            if got != (item.id if v == "id" else body.get(v)):
                return False
    return True


def _in_every_list(item: Item, shown: Mapping[str, set[str]]) -> bool:
    """Every member of the item's key was read and lists it (``_everywhere``
    would find nothing to say)."""
    for member in item.key:
        ids = shown.get(member)
        if ids is None or item.id not in ids:
            return False
    return True


def _everywhere(judge: _Judge, item: Item, target: Listed) -> None:
    """The item is in the list of each of its members."""
    ctx, out, w = judge.ctx, judge.out, judge.w
    shown = ctx.listed_ids(target)
    for member in dict.fromkeys(item.key):
        ids = shown.get(member)
        if ids is None:
            out.undecided(
                judge.subject(item, judge.error(w.unread_in, item, member=member)),
                [item.id, member],
                list(item.ops),
            )
        elif item.id not in ids:
            out.pending(
                judge.subject(item, judge.error(w.missing_in, item, member=member)),
                [item.id, member],
                [*item.ops, *ctx.reads(target.final, member)],
            )


def _timely(judge: _Judge, item: Item, same: list[Item], within: float) -> None:
    """Each reflection was observed within ``within`` s of the source's acknowledgement."""
    if math.isinf(item.at):
        return
    for t in same:
        seen = _observed(judge, t)
        if seen is None:
            continue
        lag = max(0.0, seen - item.at)
        judge.lags.append(lag)
        if lag > within:
            error = judge.error(judge.w.late, item, target=t.label, lag=lag)
            judge.out.violation(
                judge.subject(item, error), judge.keys(item, t.label), judge.ids(item)
            )


def _observed(judge: _Judge, t: Item) -> float | None:
    """When a target item was first seen on the history's timeline (None: unknown)."""
    target = judge.spec.target
    if isinstance(target, Effects):
        origin = getattr(judge.ctx.effects.ledgers, "t0", None)
        if origin is None or t.seen is None:
            return None
        return float(t.seen) - float(origin)
    if isinstance(target, Listed):
        if judge.shown_at is None:
            judge.shown_at = _first_shown(judge.ctx, target)
        return judge.shown_at.get(t.id)
    return None


def _first_shown(ctx: Context, target: Listed) -> dict[str, float]:
    """Item id -> when the first ok read of the list showing it answered."""
    out: dict[str, float] = {}
    for op in ctx.index.of(target.final.read):
        if op.outcome != "ok":
            continue
        for entry in ctx.entries(target, op.response.get("body")):
            name = entry.get(target.id)
            if name is not None:
                out[str(name)] = min(out.get(str(name), op.end_time), op.end_time)
    return out


def _strays(
    judge: _Judge,
    listed: Listed,
    groups: Mapping[Any, list[Item]],
    linked: Mapping[Any, list[Item]],
) -> None:
    """Targets naming no item of the final state: pending, or undecided when unseen."""
    w = judge.w
    for group, targets in linked.items():
        if group in groups:
            continue
        judge.out.checked += 1
        for t in targets:
            stray = Item(
                id=t.id if judge.spec.link == "id" else "",
                key=t.key,
                body=t.body,
                ops=(),
                origin="final",
            )
            unread = judge.ctx.unread(listed, t.key)
            ids, keys = judge.ids(stray), judge.keys(stray)
            if len(unread) == len(set(t.key)):
                error = judge.error(w.unseen, stray, unread=listing(unread))
                judge.out.undecided(
                    judge.error(w.stray_unseen, stray, target=t.label, error=error), keys, ids
                )
            else:
                judge.out.pending(judge.error(w.stray, stray, target=t.label), keys, ids)


def _hidden(judge: _Judge, listed: Listed) -> None:
    """Items only unread members would list may be unseen: undecided."""
    ctx = judge.ctx
    for member in hidden(ctx, listed, judge.scope):
        judge.out.undecided(
            say(judge.w.hidden, noun=judge.w.noun, member=member),
            [member],
            ctx.reads(listed.final, member),
        )


def _recorded(judge: _Judge, items: list[Item], target: Accepted) -> None:
    """Each source item is recorded by the final record of its key."""
    ctx, out, w = judge.ctx, judge.out, judge.w
    spec = target.requests
    requests = ctx.requests(spec)
    fates = ctx.fates(spec)  # looked up once: ``ctx.fate`` per item finds the memo anew
    counted: dict[Key, None] = {}
    for item in items:
        if item.fate != "accepted":
            continue
        if item.key not in counted:
            counted[item.key] = None
            out.checked += 1
        request = requests.get(item.key[0]) if item.key else None
        if request is None:
            continue
        found = fates.get(request.id)
        fate, status, record = found if found is not None else ctx.fate(spec, request)
        if fate == "accepted" and not (
            target.id and record is not None and str(record.get(target.id)) != item.id
        ):
            continue  # recorded: the common case, no evidence to build
        ids, keys = [*request.ids, *item.ops], judge.keys(item)
        if fate == "unknown":
            out.undecided(say(w.record_unread, **judge.fields(item)), keys, ids)
        elif fate != "accepted":
            report = out.pending if fate == "waiting" else out.violation
            report(say(w.unrecorded, **judge.fields(item, status=status)), keys, ids)
        else:
            assert record is not None
            shown = f"{status} as {record.get(target.id)}"
            out.violation(say(w.unrecorded, **judge.fields(item, status=shown)), keys, ids)
