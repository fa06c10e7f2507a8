"""Accounting: an aggregate read equals a function of the accepted events.

Per scope key (a sku, an account), the aggregate is ``initial + the amounts
of accepted requests of the adding flows - those of the taking flows``, each
logical request counted once whatever its retries. A request whose fate is
unknown (its final read, or without one its every answer, was
indeterminate) may or may not count, which spans a range:

- ``equal``: the final read of the aggregate lies in that range; outside it
  is a violation, except on the side of the initial value where the value
  is one some accepted events not yet applied explain (pending: the
  aggregate may lag) -- unless the value the accepted events make is below
  ``least``, the least value the aggregate can hold (stock is never
  negative): the aggregate can never catch up with it, so no lag explains
  anything; inside the range but not decided by the known requests is
  undecided.
- ``floor``: the aggregate the accepted requests make, and the final read,
  stay at or above ``floor`` (no oversell: ``floor=0``); a request of
  unknown fate that could push it below is undecided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.history import FinalState, History, Ledgers, Operation
from invariants._common import Findings, counted, listing, plural
from invariants.library._index import standalone
from invariants.library._model import Context, Final, Request, Requests
from invariants.library._words import check_words, say
from invariants.verdict import Checker, Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """Accepted requests that move an aggregate: ``sign`` x body field ``amount``
    (1 per request when empty) on the aggregate named by body field ``scope``."""

    requests: Requests
    scope: str
    amount: str = ""
    sign: int = -1
    noun: str = ""  # one request of this flow in messages ("order"); the words' event by default


@dataclass(frozen=True, slots=True, kw_only=True)
class Initial:
    """The initial value of each aggregate: body field ``value`` of the set-up op
    ``op`` whose body field ``key`` names it. Known when an attempt was ok and
    every attempt that may have taken effect set the same value."""

    op: str
    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountWords:
    """Nouns of ``make_accounting``'s messages: ``{scope} s-1 has 2 {value} in
    the final state, expected 1: initial 3 - 1 accepted {event} (2 {unit}s)``."""

    scope: str = "key"
    value: str = ""  # after a number ("2 available"); the read field's name by default
    event: str = "request"
    initial: str = "value"  # "the initial stock of sku s-1"
    read: str = ""  # "the final stock read of sku s-1"; the scope noun by default
    unit: str = "unit"
    below: str = "take it below {floor}"  # "whether orders ... {below} is unknown"


_FIELDS = {"below": ("floor",)}


class _Flowing:
    """One flow's requests of one scope key, by what became of them; shared
    by the checkers of one call (see ``_flowing``), their totals summed once."""

    __slots__ = ("_maybe", "_moved", "accepted", "flow", "unread")

    def __init__(self, flow: Flow, accepted: list[Request], unread: list[Request]) -> None:
        self.flow = flow
        self.accepted = accepted
        self.unread = unread
        self._moved: int | None = None
        self._maybe: int | None = None

    def total(self, requests: Sequence[Request]) -> int:
        if not self.flow.amount:
            return len(requests)
        return sum(int(r.body[self.flow.amount]) for r in requests)

    @property
    def moved(self) -> int:
        """The total of the accepted requests."""
        if self._moved is None:
            self._moved = self.total(self.accepted)
        return self._moved

    @property
    def maybe(self) -> int:
        """The total of the requests of unknown fate."""
        if self._maybe is None:
            self._maybe = self.total(self.unread)
        return self._maybe


def _flowing(ctx: Context, flow: Flow) -> dict[str, _Flowing]:
    """Scope key -> the flow's accepted and unknown requests of it, built once
    per check call and final state (the accounting checkers of a row share it)."""

    def build() -> dict[str, _Flowing]:
        fates = ctx.fates(flow.requests)
        out: dict[str, _Flowing] = {}
        for key, requests in ctx.grouped(flow.requests, flow.scope).items():
            accepted, unread = [], []
            for request in requests:
                fate = fates[request.id][0]
                if fate == "accepted":
                    accepted.append(request)
                elif fate == "unknown":
                    unread.append(request)
            out[key] = _Flowing(flow, accepted, unread)
        return out

    return ctx.index.memo_on(("flowing", flow), (ctx.final,), build)


def make_accounting(
    name: str,
    *,
    flows: Sequence[Flow],
    final: Final,
    field: str,
    initial: Initial | int = 0,
    equal: bool = True,
    floor: int | None = None,
    least: int | None = None,
    words: AccountWords = AccountWords(),
) -> Checker:
    """Per scope key: final ``field`` of ``final`` == initial + adding - taking
    flows (``equal``), and/or neither falls below ``floor``. ``least`` (``floor``
    by default) is the least value the aggregate can hold: an expected value
    below it is never reached, so a final value above it is not pending."""
    if not flows:
        raise ValueError(f"{name}: make_accounting needs at least one flow")
    if not equal and floor is None:
        raise ValueError(f"{name}: make_accounting checks nothing without equal or floor")
    check_words(words, _FIELDS)
    flows = tuple(flows)
    w = words
    value_noun = w.value or field
    bound = floor if least is None else least
    read_noun = w.read or w.scope

    def check(history: History, final_state: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final_state, ledgers)
        setups = ctx.index.by(initial.op, initial.key) if isinstance(initial, Initial) else {}
        per_flow = [(flow, _flowing(ctx, flow)) for flow in flows]
        values = ctx.slot(final)
        out = Findings(name, w.scope)
        keys = dict.fromkeys([*setups, *(k for _, groups in per_flow for k in groups)])
        for key in keys:
            out.checked += 1
            setup = setups.get(key, [])
            setup_ids = [op.invoke.op_id for op in setup]
            start = initial if isinstance(initial, int) else _initial(setup, initial.value)
            reads = ctx.reads(final, key)
            read = values.get(key)
            shown = None if read is None else int(read[field])
            flowing = [groups.get(key) or _Flowing(flow, [], []) for flow, groups in per_flow]
            scope = f"{w.scope} {key}"
            if floor is not None:
                _floor(
                    out,
                    w,
                    scope,
                    key,
                    floor,
                    start,
                    shown,
                    flowing,
                    setup_ids,
                    reads,
                    value_noun,
                    read_noun,
                    initial,
                )
            if equal:
                _equal(
                    out,
                    w,
                    scope,
                    key,
                    start,
                    shown,
                    flowing,
                    setup_ids,
                    reads,
                    value_noun,
                    read_noun,
                    bound,
                )
        return out.verdict()

    check.__doc__ = f"{name}: an aggregate accounts for its events (invariants.library.accounting)."
    return standalone(check)


def _initial(setup: Sequence[Operation], field: str) -> int | None:
    """The value the set-up ops surely left: one an ok attempt set, which every
    attempt that may have taken effect (ok or indeterminate) also set."""
    values = {op.invoke.value["body"].get(field) for op in setup if op.outcome != "fail"}
    if len(values) != 1 or not any(op.outcome == "ok" for op in setup):
        return None
    (value,) = values
    return None if value is None else int(value)


def _noun(w: AccountWords, f: _Flowing) -> str:
    return f.flow.noun or w.event


def _unknown_why(f: _Flowing) -> str:
    return "final read indeterminate" if f.flow.requests.final is not None else "outcome unknown"


def _floor(
    out: Findings,
    w: AccountWords,
    scope: str,
    key: str,
    floor: int,
    start: int | None,
    shown: int | None,
    flowing: list[_Flowing],
    setup_ids: list[int],
    reads: list[int],
    value_noun: str,
    read_noun: str,
    initial: Initial | int,
) -> None:
    """The accepted requests, and the final read, leave the aggregate >= floor."""
    if shown is not None and shown < floor:
        below = "(negative)" if floor == 0 else f"(below {floor})"
        out.violation(f"{scope} has {shown} {value_noun} in the final state {below}", [key], reads)
    elif shown is None:
        out.undecided(f"the final {read_noun} read of {scope} was indeterminate", [key], reads)
    if start is None:
        op = initial.op if isinstance(initial, Initial) else "set-up"
        out.undecided(
            f"the initial {w.initial} of {scope} is unknown (no acknowledged {op})",
            [key],
            setup_ids,
        )
        return
    taking = [f for f in flowing if f.flow.sign < 0]
    adding = sum(f.moved for f in flowing if f.flow.sign > 0)
    # Adding requests of unknown fate may have happened: room for a violation.
    maybe_adding = sum(f.maybe for f in flowing if f.flow.sign > 0)
    taken = sum(f.moved for f in taking)
    limit = start + adding - floor
    if taken > limit + maybe_adding:
        accepted = [r for f in taking for r in f.accepted]
        noun = _noun(w, taking[0])
        names = listing([r.id for r in accepted])
        were = (
            f"{noun} {names} was"
            if len(accepted) == 1
            else f"{plural(noun)} {names} were {'both' if len(accepted) == 2 else 'all'}"
        )
        room = f"initial {w.initial} {start}"
        if adding or maybe_adding or floor:
            added = adding + maybe_adding
            room = f"{limit + maybe_adding} (initial {w.initial} {start} + {added} added"
            room += f" - floor {floor})" if floor else ")"
        out.violation(
            f"{were} accepted for {scope}: {_quantities(taking)} > {room}",
            [key, *(r.id for r in accepted)],
            [*setup_ids, *(i for r in accepted for i in r.ids)],
        )
        return
    unread = [(f, r) for f in flowing for r in f.unread]
    could_take = taken + sum(f.total([r]) for f, r in unread if f.flow.sign < 0)
    if unread and could_take > limit:
        noun = _noun(w, unread[0][0])
        out.undecided(
            f"{scope}: {taken} of {start + adding} accepted; whether {plural(noun)} "
            f"{listing([r.id for _, r in unread])} ({_unknown_why(unread[0][0])}) "
            f"{say(w.below, floor=floor)} is unknown",
            [key, *(r.id for _, r in unread)],
            [i for _, r in unread for i in r.ids],
        )


def _quantities(taking: list[_Flowing]) -> str:
    """``2 + 2`` for a few requests, ``a total of 40`` for many."""
    amounts = [f.total([r]) for f in taking for r in f.accepted]
    if len(amounts) > 5:
        return f"a total of {sum(amounts)}"
    return " + ".join(str(a) for a in amounts)


def _equal(
    out: Findings,
    w: AccountWords,
    scope: str,
    key: str,
    start: int | None,
    shown: int | None,
    flowing: list[_Flowing],
    setup_ids: list[int],
    reads: list[int],
    value_noun: str,
    read_noun: str,
    least: int | None,
) -> None:
    """The final read equals initial + adding - taking, within what unknown requests allow."""
    if start is None or shown is None:
        missing = f"initial {w.initial}" if start is None else f"final {read_noun} read"
        out.undecided(
            f"{scope} cannot be accounted: its {missing} is unknown", [key], [*setup_ids, *reads]
        )
        return
    exact = start + sum(f.flow.sign * f.moved for f in flowing)
    maybe_up = sum(f.maybe for f in flowing if f.flow.sign > 0)
    maybe_down = sum(f.maybe for f in flowing if f.flow.sign < 0)
    low, high = exact - maybe_down, exact + maybe_up
    accepted = [r for f in flowing for r in f.accepted]
    unread = [r for f in flowing for r in f.unread]

    def keys() -> list[str]:
        return [key, *(r.id for r in accepted), *(r.id for r in unread)]

    def ids() -> list[int]:
        return [
            *setup_ids,
            *reads,
            *(i for r in accepted for i in r.ids),
            *(i for r in unread for i in r.ids),
        ]

    if not low <= shown <= high:
        expected = f"{high}" if low == high else f"between {low} and {high}"
        terms = "".join(
            f" {'+' if f.flow.sign > 0 else '-'} "
            f"{counted(len(f.accepted), 'accepted ' + _noun(w, f))} "
            f"({counted(f.moved, w.unit)})"
            for f in [f for f in flowing if f.accepted] or flowing  # the flows that moved it
        )
        if unread:
            terms += f", {counted(len(unread), _noun(w, flowing[0]))} unread"
        # A value that some accepted requests not yet applied explain may still
        # change (the aggregate may lag), unless what they make is below what the
        # aggregate can hold: then it never catches up. Any other never heals.
        lag_low = start - sum(f.moved + f.maybe for f in flowing if f.flow.sign < 0)
        lag_high = start + sum(f.moved + f.maybe for f in flowing if f.flow.sign > 0)
        reachable = least is None or high >= least
        report = out.pending if reachable and lag_low <= shown <= lag_high else out.violation
        report(
            f"{scope} has {shown} {value_noun} in the final state, expected {expected}: "
            f"initial {start}{terms}",
            keys(),
            ids(),
        )
    elif unread:
        noun = _noun(w, next(f for f in flowing if f.unread))
        why = _unknown_why(next(f for f in flowing if f.unread))
        out.undecided(
            f"{scope}: whether {plural(noun)} {listing([r.id for r in unread])} ({why}) "
            f"account for {shown} {value_noun} is unknown",
            keys(),
            ids(),
        )
