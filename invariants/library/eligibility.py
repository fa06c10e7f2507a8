"""Eligibility: an action is accepted only when its condition held at decision time.

The actions are items (accepted requests, ids named by ok answers, entries
of final lists). An action was decided at the latest when its first ok
answer came (``at``; never, for one only the final state shows) and at the
earliest when it was first sent. Each condition is judged on that window,
giving indeterminate operations the benefit of the doubt:

- ``Prior(op, key, where)``: an ``op`` on the action's key (body ``key``
  fields equal to the action's key, ``each_way`` also reversed, body fields
  equal to ``where``) that may have happened -- acknowledged, or
  indeterminate (``acknowledged=True`` wants an ok answer) -- was sent
  before the action was decided (a match needs both right swipes; a bid an
  opened auction);
- ``NoPrior(op, key, where)``: no ``op`` on the key was acknowledged before
  the action was sent (no bid accepted on an auction closed before it);
- ``Exceeds(field)``: the action's ``field`` is above that of every other
  accepted action on its key decided before it was sent (a bid beats the
  highest accepted bid);
- ``Bound(field, low, high)``: the action's ``field`` is within bounds;
- ``Before(op, key, after)``: the action was sent before its key's deadline,
  which the ok ``op`` on the key set ``after`` (a body field, ms) past its
  arrival, give or take ``epsilon_ms`` (no confirm of a hold sent after it
  expired);
- ``Past(op, key, after)``: the action was decided once its key's deadline
  could have passed, give or take ``epsilon_ms`` (a close only after the
  end; with ``Refused`` actions, no hold refused as expired before it could
  have expired);
- ``Newest(op, key, field)``: the action's ``field`` is at least the
  ``field`` of every ok answer to an ``op`` on its key that came before it
  was sent (a write fenced by the token of the latest grant acknowledged);
- ``Free(op, key, holder, after, renew, release)``: the action was decided
  while no other holder surely held its key: no lease a grant ``op`` or a
  ``renew`` answered ok to another ``holder`` gave for ``after`` ms (a body
  field) covered the whole time from its sending to its decision, with
  nothing that holder sent (a ``release``, a renew) able to have ended it
  first (two live holders of one lock);
- ``Holds(fn)``: a Python predicate ``fn(ctx, action) -> reason | None``.

The actions are what took effect, or, from a ``Refused`` source, requests a
definite answer refused (as expired, as frozen): their conditions are then
what justified the refusal (a ``Prior`` freeze that may have happened, a
``Past`` deadline). A request of an ``Accepted`` source that a definite
answer refused, though a condition made it ineligible, counts as checked:
the rule was put to the service, and it held. A violation names every unmet
condition. With a
``Listed`` source, members whose final lists were not read may hide actions:
undecided.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeAlias, TypeVar

from harness.history import FinalState, History, Ledgers, Operation
from invariants._common import Findings, ops_text
from invariants.library._index import Key, standalone
from invariants.library._leases import KeyLeases, leases_by_key
from invariants.library._model import (
    INF,
    Accepted,
    Context,
    Final,
    Item,
    Listed,
    Refused,
    Scope,
    Source,
    hidden,
    matches,
    merged,
)
from invariants.library._words import check_words, key_text, names_in, say
from invariants.verdict import Checker, Verdict

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prior:
    """An op on the action's key that may have happened before it was decided.

    Wording: ``never`` when no such op may have happened at all (``{seen}``
    says what was sent instead), ``late`` when one was sent only after the
    action was decided; both may use the op's ``key`` fields by name
    (``{swiper}``) and ``{op}``.
    """

    op: str
    key: tuple[str, ...]
    where: Mapping[str, Any] = field(default_factory=dict)
    each_way: bool = False
    acknowledged: bool = False
    never: str = "no {op} on {key} may have happened ({seen})"
    late: str = "no {op} on {key} was sent before it was decided"
    what: str = (
        ""  # "a right swipe": in ``{seen}``, "only op 3, none {what} that may have happened"
    )
    nothing: str = ""  # ``{seen}`` when no op on the key was sent at all; "no {op}" by default


@dataclass(frozen=True, slots=True, kw_only=True)
class NoPrior:
    """No ``op`` on the action's key was acknowledged before the action was sent."""

    op: str
    key: tuple[str, ...]
    where: Mapping[str, Any] = field(default_factory=dict)
    reason: str = "{op} on {key} was acknowledged ({ops}) before it was sent"


@dataclass(frozen=True, slots=True, kw_only=True)
class Exceeds:
    """The action's body ``field`` is above (``strict``) or at least that of
    every other accepted action on its key that was decided before it was sent."""

    field: str
    strict: bool = True
    reason: str = (
        "its {field} {value} is not above {other_value} of {other} "
        "(accepted, {ops}) before it was sent"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """The action's body ``field`` is within ``[low, high]`` (either may be None)."""

    field: str
    low: float | None = None
    high: float | None = None
    reason: str = "its {field} {value} is outside {low}..{high}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deadline:
    """A key's deadline: the first ok ``op`` on the key (body ``key`` fields
    equal to the action's key) set it ``after`` ms (a body field) past the
    moment the target received it, which was after the op was sent and before
    its answer came; ``epsilon_ms`` of slack either way. A key no ok ``op``
    set a deadline for is not judged by it."""

    op: str
    key: tuple[str, ...]
    after: str
    epsilon_ms: float = 50.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Before(Deadline):
    """The action was sent before its key's deadline: one first sent more than
    epsilon after the latest moment the deadline can fall arrived after it,
    whatever the target's clock said."""

    reason: str = (
        "it was first sent {late_ms} ms after the deadline of {key}, which {op} ({ops}) "
        "set {after_ms} ms after it arrived (epsilon {epsilon_ms} ms)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Past(Deadline):
    """The action was decided once its key's deadline could have passed: one
    whose deciding answer came more than epsilon before the earliest moment
    the deadline can fall was decided before it, whatever the target's clock
    said. An action no answer decided (only a final read shows it) is not
    judged by it."""

    reason: str = (
        "it was decided {early_ms} ms before the deadline of {key} could have passed, "
        "which {op} ({ops}) set {after_ms} ms after it arrived (epsilon {epsilon_ms} ms)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Newest:
    """The action's body ``field`` is at least the ``field`` of every ok
    answer to an ``op`` on its key (body ``key`` fields equal to the action's
    key) that came before the action was sent: a fencing token no older than
    the newest grant the client could have known of. An ``op`` answered only
    after the action was sent is not held against it. ``op`` may name several
    ops (a set-up grant and the main phase's)."""

    op: str | tuple[str, ...]
    key: tuple[str, ...]
    field: str
    reason: str = (
        "its {field} {value} is below {field} {newest} that {op} answered ({ops}) "
        "before it was sent"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Free:
    """The action was decided while no holder but its own surely held its key
    (``invariants/library/_leases.py``): a grant ``op`` or a ``renew``
    answered ok to another ``holder`` (a body field) set a lease of ``after``
    ms (a body field) past its first sending, and nothing that holder sent
    that may have arrived since (a ``release``, a grant or renew with a
    shorter ``after``) could have ended it before the action was decided,
    give or take ``epsilon_ms``. Two grants decided together are a violation
    when each was answered before the other's lease could end. An action
    with no ``holder`` field is not judged by it."""

    op: str | tuple[str, ...]
    key: tuple[str, ...]
    holder: str
    after: str
    renew: tuple[str, ...] = ()
    release: tuple[str, ...] = ()
    epsilon_ms: float = 50.0
    reason: str = (
        "it was decided while {other} held {key}: {op} ({ops}) gave {other} a lease "
        "of {after_ms} ms that surely had {left_ms} ms left (epsilon {epsilon_ms} ms)"
    )


@dataclass(frozen=True, slots=True)
class Holds:
    """A Python condition: ``fn(ctx, action)`` returns why it is not met, or None."""

    fn: Callable[[Context, Item], str | None]


Condition: TypeAlias = Prior | NoPrior | Exceeds | Bound | Before | Past | Newest | Free | Holds


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibleWords:
    """Nouns and sentences of ``make_eligibility``."""

    noun: str = "action"
    unit: str = ""  # what the verdict counts; the noun by default
    subject: str = "{noun} {id} of {key} is not eligible: {reasons}"
    hidden: str = "{noun}s of {member} are unchecked: the final read of {member} was indeterminate"


_FIELDS = {"subject": ("noun", "id", "key", "reasons"), "hidden": ("noun", "member")}


def make_eligibility(
    name: str,
    *,
    actions: Source | Sequence[Source],
    require: Sequence[Condition],
    scope: Scope | None = None,
    words: EligibleWords = EligibleWords(),
) -> Checker:
    """Every action was eligible when it was decided (see the module docstring)."""
    check_words(words, _FIELDS)
    sources = (actions,) if not isinstance(actions, Sequence) else tuple(actions)
    conditions = tuple(require)
    if not conditions:
        raise ValueError(f"{name}: make_eligibility needs at least one condition")
    finals: list[Final] = [s.final for s in sources if isinstance(s, Listed)]
    if scope is not None and scope.requests.final is not None:
        finals.append(scope.requests.final)
    listed = next((s for s in sources if isinstance(s, Listed)), None)

    labels = _labels(conditions)
    for label, condition in zip(labels, conditions, strict=True):
        _check_reasons(label, condition)

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final, ledgers)
        items = merged(
            i
            for s in sources
            for i in ctx.items(s, scope)
            if i.took_effect or i.origin == "refusal"
        )
        out = Findings(name, words.unit or words.noun)
        ranked = _ranked(items, conditions)
        stakes = [0] * len(conditions)
        for item in items:
            reasons, staked = [], False
            for n, condition in enumerate(conditions):
                reason = _unmet(ctx, condition, item, ranked)
                if reason:
                    reasons.append(reason)
                if reason or _at_stake(ctx, condition, item, ranked):
                    stakes[n] += 1
                    staked = True
            out.checked += staked
            if reasons:
                out.violation(
                    say(
                        words.subject,
                        noun=words.noun,
                        id=item.id,
                        key=key_text(item.key),
                        reasons="; ".join(reasons),
                    ),
                    [item.id, *item.key],
                    [*item.evidence, *ctx.evidence(scope, finals, item.key)],
                )
        for refusal in _refusals(ctx, sources, items):
            unmet = [
                n
                for n, condition in enumerate(conditions)
                if not isinstance(condition, Holds) and _unmet(ctx, condition, refusal, ranked)
            ]
            for n in unmet:
                stakes[n] += 1
            out.checked += bool(unmet)
        if listed is not None:
            for member in hidden(ctx, listed, scope):
                out.undecided(
                    say(words.hidden, noun=words.noun, member=member),
                    [member],
                    ctx.reads(listed.final, member),
                )
        verdict = out.verdict()
        if len(labels) == 1:
            return verdict
        return replace(verdict, parts=tuple(zip(labels, stakes, strict=True)))

    check.__doc__ = f"{name}: actions only when eligible (invariants.library.eligibility)."
    return standalone(check)


def _refusals(ctx: Context, sources: Sequence[Source], items: Sequence[Item]) -> list[Item]:
    """The requests of the ``Accepted`` sources that a definite answer refused
    and that took no effect: one a condition makes ineligible was put to the
    rule, and the service held it (a write with a stale token refused as
    stale). They count as checked, never as violations."""
    took = {item.request.id if item.request is not None else item.id for item in items}
    return [
        refusal
        for s in sources
        if isinstance(s, Accepted)
        for refusal in ctx.items(
            Refused(op=s.requests.op, id=s.requests.id, key=s.key, unordered=s.unordered)
        )
        if refusal.id not in took
    ]


_OWN_FIELDS: dict[type, dict[str, tuple[str, ...]]] = {
    Prior: {"never": ("op", "key", "seen"), "late": ("op", "key")},
    NoPrior: {"reason": ("op", "key", "ops")},
    Exceeds: {"reason": ("field", "value", "other_value", "other", "ops")},
    Bound: {"reason": ("field", "value", "low", "high")},
    Before: {"reason": ("late_ms", "key", "op", "ops", "after_ms", "epsilon_ms")},
    Past: {"reason": ("early_ms", "key", "op", "ops", "after_ms", "epsilon_ms")},
    Newest: {"reason": ("field", "value", "newest", "op", "ops", "key")},
    Free: {"reason": ("other", "key", "op", "ops", "after_ms", "left_ms", "epsilon_ms")},
}


def _check_reasons(label: str, condition: Condition) -> None:
    """A condition's sentences use only the fields it offers (and the op's key
    fields by name): a misspelt one is refused when the checker is made, not
    found when a violation is worded."""
    own = _OWN_FIELDS.get(type(condition), {})
    by_name = tuple(getattr(condition, "key", ()))
    for attribute, offered in own.items():
        template = getattr(condition, attribute)
        unknown = names_in(template) - {*offered, *by_name}
        if unknown:
            raise ValueError(
                f"condition {label}: {attribute} {template!r} uses unknown "
                f"field(s) {sorted(unknown)}; it may use {sorted({*offered, *by_name})}"
            )


def _labels(conditions: Sequence[Condition]) -> tuple[str, ...]:
    """A short name per condition, as a design writes it (``no_prior expire``,
    ``bound amount``), numbered where two would read alike."""
    names = [_label(c) for c in conditions]
    return tuple(
        f"{n} #{names[:i].count(n) + 1}" if names.count(n) > 1 else n
        for i, n in enumerate(names)
    )


def _label(condition: Condition) -> str:
    if isinstance(condition, Holds):
        return f"holds {getattr(condition.fn, '__name__', 'fn')}"
    if isinstance(condition, Exceeds | Bound):
        word = "exceeds" if isinstance(condition, Exceeds) else "bound"
        return f"{word} {condition.field}"
    if isinstance(condition, Free | Newest):
        word = "free" if isinstance(condition, Free) else "newest"
        return f"{word} {', '.join(_names_of(condition.op))}"
    word = {Prior: "prior", NoPrior: "no_prior", Before: "before", Past: "past"}[type(condition)]
    where = getattr(condition, "where", {})
    shown = f" ({', '.join(f'{k}={v}' for k, v in where.items())})" if where else ""
    return f"{word} {condition.op}{shown}"


@dataclass(frozen=True, slots=True)
class _Highest(Generic[T]):
    """Values by when they came, with the running maximum and what holds it:
    the highest that came before a given time, by bisection."""

    at: list[float]
    best: list[tuple[float, T]]

    @classmethod
    def of(cls, timed: Iterable[tuple[float, float, T]]) -> _Highest[T]:
        """From ``(time, value, holder)`` triples in any order."""
        ordered = sorted(timed, key=lambda t: t[0])
        best: list[tuple[float, T]] = []
        for _, value, holder in ordered:
            best.append((value, holder) if not best or value > best[-1][0] else best[-1])
        return cls([t[0] for t in ordered], best)

    def before(self, time: float) -> tuple[float, T] | None:
        n = bisect.bisect_left(self.at, time)
        return self.best[n - 1] if n else None


_Ranked: TypeAlias = _Highest[Item]
"""Per key and ``Exceeds`` field: accepted actions by when they were decided."""


def _ranked(
    items: Sequence[Item], conditions: Sequence[Condition]
) -> dict[tuple[str, Key], _Ranked]:
    out: dict[tuple[str, Key], _Ranked] = {}
    for name in {c.field for c in conditions if isinstance(c, Exceeds)}:
        by_key: dict[Key, list[tuple[float, float, Item]]] = {}
        for item in items:
            if item.at != INF and item.body.get(name) is not None:
                by_key.setdefault(item.key, []).append((item.at, float(item.body[name]), item))
        for key, decided in by_key.items():
            out[(name, key)] = _Highest.of(decided)
    return out


def _at_stake(
    ctx: Context, condition: Condition, item: Item, ranked: Mapping[tuple[str, Key], _Ranked]
) -> bool:
    """Whether ``condition`` could have failed ``item``. A ``NoPrior`` whose op
    was neither acknowledged on the item's key nor sent on it before the item
    was, or an ``Exceeds`` with no other accepted action on it, cannot: an item
    only such conditions bear on is not counted as checked, so a row that never
    disabled a coupon does not pass on "no redemption after a disable" as if it
    had judged one. An op sent before the item, even refused, could have: had
    the service acknowledged it, the item had to be refused (a confirm and an
    expiry of one hold, which a correct service never both accepts)."""
    if isinstance(condition, NoPrior):
        ops = ctx.index.by_key(condition.op, condition.key).get(item.key, [])
        sent = item.sent
        return any(
            (op.outcome == "ok" or op.invoke.time < sent)
            and matches(op.invoke.value["body"], condition.where)
            for op in ops
        )
    if isinstance(condition, Exceeds):
        table = ranked.get((condition.field, item.key))
        own = item.at != INF and item.body.get(condition.field) is not None
        return table is not None and len(table.at) > own
    if isinstance(condition, Before):
        return _deadline(ctx, condition, item.key) is not None
    if isinstance(condition, Past):
        return item.at != INF and _deadline(ctx, condition, item.key) is not None
    if isinstance(condition, Newest):
        return _newest(ctx, condition, item) is not None
    if isinstance(condition, Free):
        holder = item.body.get(condition.holder)
        leases = _leases(ctx, condition).get(item.key)
        return holder is not None and leases is not None and leases.near_other(
            holder, item.sent, item.at
        )
    return True


def _deadline(ctx: Context, condition: Deadline, key: Key) -> tuple[Operation, int] | None:
    """The op that set the deadline of ``key`` and its ms: the first ok ``op`` on
    the key (with an integer ``after``). It arrived after it was sent and before
    its answer: the deadline falls ``after`` ms past a moment between the two.
    Every key's is found in one pass, shared by the checks of one history."""

    def build() -> dict[Key, tuple[Operation, int]]:
        out: dict[Key, tuple[Operation, int]] = {}
        for named, ops in ctx.index.by_key(condition.op, condition.key).items():
            for op in ops:
                after = op.invoke.value["body"].get(condition.after)
                if op.outcome == "ok" and type(after) is int:
                    out[named] = (op, after)
                    break
        return out

    memo = ("deadlines", condition.op, condition.key, condition.after)
    return ctx.index.memo(memo, build).get(key)


def _leases(ctx: Context, condition: Free) -> dict[Key, KeyLeases]:
    return leases_by_key(
        ctx.index,
        grants=_names_of(condition.op),
        renews=condition.renew,
        releases=condition.release,
        key=condition.key,
        holder=condition.holder,
        ttl=condition.after,
    )


def _free(ctx: Context, condition: Free, item: Item) -> str | None:
    """Why another holder surely held the item's key while it was decided, or None."""
    holder = item.body.get(condition.holder)
    leases = _leases(ctx, condition).get(item.key)
    if holder is None or leases is None or item.at == INF:
        return None
    ttl = item.body.get(condition.after)
    held = leases.held_by_other(
        holder,
        item.sent,
        item.at,
        ttl_s=ttl / 1000 if type(ttl) is int or type(ttl) is float else None,
        epsilon_s=condition.epsilon_ms / 1000,
    )
    if held is None:
        return None
    lease = held.by
    return say(
        condition.reason,
        **{
            **_named(condition.key, item.key),
            "other": lease.holder,
            "key": key_text(item.key),
            "op": lease.op.f,
            "ops": ops_text([lease.op.invoke.op_id]),
            "after_ms": round((lease.floor - lease.first) * 1000),
            "left_ms": round(held.left_s * 1000),
            "epsilon_ms": round(condition.epsilon_ms),
        },
    )


def _names_of(ops: str | tuple[str, ...]) -> tuple[str, ...]:
    """One op's name or several, as a tuple."""
    return (ops,) if isinstance(ops, str) else tuple(ops)


def _newest(ctx: Context, condition: Newest, item: Item) -> tuple[float, Operation] | None:
    """The highest ``field`` an ``op`` on the item's key answered before the
    item was sent, and that op; None when none did."""

    def build() -> dict[Key, _Highest[Operation]]:
        out: dict[Key, _Highest[Operation]] = {}
        by_key: dict[Key, list[Operation]] = {}
        for name in _names_of(condition.op):
            for named, ops in ctx.index.by_key(name, condition.key).items():
                by_key.setdefault(named, []).extend(ops)
        for named, ops in by_key.items():
            answered = []
            for op in ops:
                completion = op.completion
                ok = completion is not None and completion.type == "ok"
                said = completion.value.get("body") if ok and completion is not None else None
                value = said.get(condition.field) if isinstance(said, Mapping) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    answered.append((op.end_time, float(value), op))
            if answered:
                out[named] = _Highest.of(answered)
        return out

    memo = ("newest", condition.op, condition.key, condition.field)
    table = ctx.index.memo(memo, build).get(item.key)
    return table.before(item.sent) if table is not None else None


def _off_deadline(
    ctx: Context, condition: Deadline, item: Item
) -> tuple[float, Operation, int] | None:
    """How many ms the item missed its key's deadline by, the op that set it and
    its ms: for ``Before``, its first sending after the latest moment the deadline
    can fall; for ``Past``, its decision before the earliest. None when within
    epsilon, or not judged."""
    deadline = _deadline(ctx, condition, item.key)
    if deadline is None:
        return None
    op, after_ms = deadline
    if isinstance(condition, Before):
        off_ms = (item.sent - (op.end_time + after_ms / 1000)) * 1000
    elif item.at == INF:
        return None
    else:
        off_ms = (op.invoke.time + after_ms / 1000 - item.at) * 1000
    return (off_ms, op, after_ms) if off_ms > condition.epsilon_ms else None


def _named(op_key: Sequence[str], key: Key) -> dict[str, str]:
    return {name: value for name, value in zip(op_key, key, strict=False)}


def _unmet(
    ctx: Context, condition: Condition, item: Item, ranked: Mapping[tuple[str, Key], _Ranked]
) -> str | None:
    """Why ``condition`` did not hold for ``item``, or None."""
    if isinstance(condition, Holds):
        return condition.fn(ctx, item)
    if isinstance(condition, Bound):
        value = item.body.get(condition.field)
        if value is None:
            return None
        low = condition.low if condition.low is not None else -INF
        high = condition.high if condition.high is not None else INF
        if low <= float(value) <= high:
            return None
        return say(
            condition.reason,
            field=condition.field,
            value=value,
            low=condition.low,
            high=condition.high,
        )
    if isinstance(condition, Deadline):
        missed = _off_deadline(ctx, condition, item)
        if missed is None:
            return None
        off_ms, op, after_ms = missed
        return say(
            condition.reason,
            **{
                **_named(condition.key, item.key),
                "late_ms" if isinstance(condition, Before) else "early_ms": round(off_ms),
                "key": key_text(item.key),
                "op": condition.op,
                "ops": ops_text([op.invoke.op_id]),
                "after_ms": after_ms,
                "epsilon_ms": round(condition.epsilon_ms),
            },
        )
    if isinstance(condition, Newest):
        value = item.body.get(condition.field)
        newest = _newest(ctx, condition, item)
        if newest is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        top, op = newest
        if float(value) >= top:
            return None
        return say(
            condition.reason,
            **{
                **_named(condition.key, item.key),
                "field": condition.field,
                "value": value,
                "newest": int(top) if top.is_integer() else top,
                "op": op.f,
                "ops": ops_text([op.invoke.op_id]),
                "key": key_text(item.key),
            },
        )
    if isinstance(condition, Free):
        return _free(ctx, condition, item)
    if isinstance(condition, Exceeds):
        value = item.body.get(condition.field)
        table = ranked.get((condition.field, item.key))
        highest = table.before(item.sent) if table is not None else None
        if value is None or highest is None:
            return None
        top, other = highest
        if other is item or (float(value) > top if condition.strict else float(value) >= top):
            return None
        return say(
            condition.reason,
            field=condition.field,
            value=value,
            other_value=other.body[condition.field],
            other=other.id,
            ops=ops_text(other.acks) if other.acks else "final state",
        )
    keys = (
        [item.key]
        if not isinstance(condition, Prior) or not condition.each_way
        else [item.key, tuple(reversed(item.key))]
    )
    if isinstance(condition, NoPrior):
        ops = ctx.index.by_key(condition.op, condition.key).get(item.key, [])
        done = [
            op.invoke.op_id
            for op in ops
            if op.outcome == "ok"
            and op.end_time < item.sent
            and matches(op.invoke.value["body"], condition.where)
        ]
        if not done:
            return None
        return say(
            condition.reason,
            # A key field named like a placeholder (kv's "key") does not clash.
            **{
                **_named(condition.key, item.key),
                "op": condition.op,
                "key": key_text(item.key),
                "ops": ops_text(done),
            },
        )
    reasons = [r for key in keys if (r := _prior(ctx, condition, item, key))]
    return "; ".join(reasons) or None


def _prior(ctx: Context, condition: Prior, item: Item, key: Key) -> str | None:
    """Why no ``condition.op`` on ``key`` may have happened before ``item`` was decided."""
    ops: list[Operation] = ctx.index.by_key(condition.op, condition.key).get(key, [])
    outcomes = ("ok",) if condition.acknowledged else ("ok", "info")
    at, where = item.at, condition.where
    for op in ops:  # the common case first: one that fits, in time
        invoke, completion = op.invoke, op.completion
        if (
            invoke.time < at
            and (completion.type if completion is not None else "info") in outcomes
            and matches(invoke.value["body"], where)
        ):
            return None
    fit = [op for op in ops if matches(op.invoke.value["body"], where) and op.outcome in outcomes]
    named = {**_named(condition.key, key), "op": condition.op, "key": key_text(key)}
    if fit:  # only after the decision
        return say(condition.late, **named)
    tried = [op.invoke.op_id for op in ops]
    seen = condition.nothing or f"no {condition.op}"
    if tried:
        what = condition.what or f"a matching {condition.op}"
        seen = f"only {ops_text(tried)}, none {what} that may have happened"
    return say(condition.never, seen=seen, **named)
