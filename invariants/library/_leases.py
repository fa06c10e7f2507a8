"""Leases from a history: when a holder surely held a key, for eligibility's
``Free`` condition (no grant to anyone else while a lease was live).

A lease is known only from the client's side. A grant or renew answered ok
proves the holder held the key from that answer on, until at least ``ttl``
ms (a body field) past the first sending of that request: the service set
the deadline when the request arrived, which was no earlier, and an answer
replayed to a resend was decided at its first sending. Everything the holder
sent that may have arrived after that request did, without a definite
refusal, may have ended the lease earlier: a release at once, another grant
or renew at its own ``ttl`` (a renew may shorten a lease). An operation
whose answer was lost may arrive at any later time. So a holder surely held
a key over a window only when one of its answered leases covers the window
and nothing it sent before the window ended could have cut it short.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import Operation
from invariants.library._index import Index, Key

INF = float("inf")


@dataclass(frozen=True, slots=True)
class Hold:
    """One operation by a holder that set or ended its lease on a key."""

    op: Operation
    holder: Any
    first: float  # the first sending of its request (a resend repeats the body)
    floor: float  # the earliest its lease can end: ``first + ttl``, or ``first``
    proves: bool  # answered ok by a grant or renew: the lease was set by then

    @property
    def latest(self) -> float:
        """The latest it can have arrived: its answer, or never known if lost."""
        return self.op.end_time if self.op.outcome == "ok" else INF


@dataclass(frozen=True, slots=True)
class Held:
    """Why a key was surely held by another holder over a window."""

    by: Hold
    left_s: float  # how long the lease surely lasted past the window's end


def holds(
    index: Index,
    *,
    grants: Sequence[str],
    renews: Sequence[str],
    releases: Sequence[str],
    key: tuple[str, ...],
    holder: str,
    ttl: str,
) -> dict[Key, list[Hold]]:
    """Every key's holds, in one pass over the named ops (memoised per history).
    A definitely refused operation changed nothing and is left out."""

    def build() -> dict[Key, list[Hold]]:
        out: dict[Key, list[Hold]] = {}
        for names, sets in ((grants, True), (renews, True), (releases, False)):
            for name in names:
                for named, ops in index.by_key(name, key).items():
                    out.setdefault(named, []).extend(_holds(ops, holder, ttl, sets=sets))
        return out

    memo = ("leases", tuple(grants), tuple(renews), tuple(releases), key, holder, ttl)
    return index.memo(memo, build)


def _holds(ops: Iterable[Operation], holder: str, ttl: str, *, sets: bool) -> list[Hold]:
    firsts: dict[tuple[str, str], float] = {}
    out: list[Hold] = []
    for op in ops:
        body = op.invoke.value["body"]
        same = (op.invoke.f, json.dumps(body, sort_keys=True, default=str))
        first = firsts.setdefault(same, op.invoke.time)  # ops come in invoke order
        who = body.get(holder)
        if who is None or op.outcome == "fail":
            continue
        ms = body.get(ttl) if sets else None
        floor = first + ms / 1000 if type(ms) is int or type(ms) is float else first
        out.append(Hold(op, who, first, floor, proves=sets and op.outcome == "ok"))
    return out


def held_by_other(
    hold_list: Sequence[Hold], holder: Any, sent: float, decided: float
) -> Held | None:
    """The longest-lasting lease of a holder other than ``holder`` that surely
    covered ``[sent, decided]``, or None."""
    best: Held | None = None
    for lease in hold_list:
        if not lease.proves or lease.holder == holder or lease.op.end_time > sent:
            continue
        end = lease.floor
        for other in hold_list:
            if (
                other is not lease
                and other.holder == lease.holder
                and other.latest > lease.first
                and other.op.invoke.time < decided
            ):
                end = min(end, other.floor)
        left = end - decided
        if left > 0 and (best is None or left > best.left_s):
            best = Held(lease, left)
    return best


def near_other(hold_list: Sequence[Hold], holder: Any, sent: float, decided: float) -> bool:
    """Whether another holder's lease may have been live at some moment of
    ``[sent, decided]``: the question of the lock being free arose."""
    return any(
        lease.proves
        and lease.holder != holder
        and lease.op.invoke.time < decided
        and sent < lease.op.end_time + (lease.floor - lease.first)
        for lease in hold_list
    )
