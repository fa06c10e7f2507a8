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

Per key, one table answers every action's question in about
O(log n + leases that can reach it): the holder's operations by when they
were sent, with range minima of the earliest ends they may set, and each
lease's earlier operations still in flight (or lost) when it was sent.
"""

from __future__ import annotations

import bisect
import heapq
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


class _RangeMin:
    """Minima of ``values[i:j]`` in O(1) after an O(n log n) build."""

    __slots__ = ("_levels",)

    def __init__(self, values: Sequence[float]) -> None:
        self._levels = [list(values)]
        width = 1
        while 2 * width <= len(values):
            last = self._levels[-1]
            self._levels.append([min(last[i], last[i + width]) for i in range(len(last) - width)])
            width *= 2

    def min(self, i: int, j: int) -> float:
        if j <= i:
            return INF
        level = (j - i).bit_length() - 1
        row = self._levels[level]
        return min(row[i], row[j - (1 << level)])


class _Holder:
    """One holder's operations on one key by when they were sent."""

    __slots__ = ("floors", "ordered", "sent")

    def __init__(self, holds: Sequence[Hold]) -> None:
        self.ordered = sorted(holds, key=lambda h: h.op.invoke.time)
        self.sent = [h.op.invoke.time for h in self.ordered]
        self.floors = _RangeMin([h.floor for h in self.ordered])

    def straddling(self, first: float) -> float:
        """The earliest end set by an operation sent before ``first`` that may have
        arrived after it (asked only for two grants decided together: rare)."""
        n = bisect.bisect_left(self.sent, first)
        return min((h.floor for h in self.ordered[:n] if h.latest > first), default=INF)

    def earliest_end(self, since: float, before: float) -> float:
        """The earliest end set by an operation sent in ``[since, before)``."""
        return self.floors.min(
            bisect.bisect_left(self.sent, since), bisect.bisect_left(self.sent, before)
        )


class KeyLeases:
    """Every holder's leases on one key, and what could have cut each short."""

    __slots__ = ("_firsts", "_holders", "_leases", "_live", "_longest", "_straddled")

    def __init__(self, holds: Sequence[Hold]) -> None:
        by_holder: dict[Any, list[Hold]] = {}
        for hold in holds:
            by_holder.setdefault(hold.holder, []).append(hold)
        self._holders = {who: _Holder(mine) for who, mine in by_holder.items()}
        self._leases = sorted((h for h in holds if h.proves), key=lambda h: h.first)
        self._firsts = [h.first for h in self._leases]
        self._longest = max((h.floor - h.first for h in self._leases), default=0.0)
        self._straddled = {
            id(lease): end
            for lease, end in _straddled(
                {who: mine.ordered for who, mine in self._holders.items()}, self._leases
            )
        }
        self._live = {
            who: _live_spans([h for h in mine.ordered if h.proves])
            for who, mine in self._holders.items()
        }

    def held_by_other(
        self,
        holder: Any,
        sent: float,
        decided: float,
        *,
        ttl_s: float | None = None,
        epsilon_s: float = 0.0,
    ) -> Held | None:
        """The longest-lasting lease of a holder other than ``holder`` that the
        action, sent at ``sent`` and decided by ``decided``, surely overlapped, or
        None. A lease answered before the action was sent must still have been
        live when it was decided. One answered later may have come second; with
        the action's own lease of ``ttl_s`` (a grant), that one is a violation
        too when it was decided before the action's lease could end: whichever
        came first, the second was granted while the first was live."""
        best: Held | None = None
        # A lease that can last past ``decided`` was first sent within the
        # longest lease before it; one first sent after the action was decided
        # came second, and is that one's violation, not this one's.
        low = bisect.bisect_right(self._firsts, decided - self._longest)
        high = bisect.bisect_left(self._firsts, decided)
        for lease in self._leases[low:high]:
            if lease.holder == holder or lease.floor <= decided:
                continue
            left = self._end(lease, decided) - decided
            if left <= epsilon_s or (best is not None and left <= best.left_s):
                continue
            came = lease.op.end_time
            if came > sent and (
                ttl_s is None or came >= self._own_end(holder, sent, ttl_s, came) - epsilon_s
            ):
                continue
            best = Held(lease, left)
        return best

    def _end(self, lease: Hold, before: float) -> float:
        """The earliest ``lease`` can end, given what its holder sent before ``before``."""
        return min(
            lease.floor,
            self._straddled[id(lease)],
            self._holders[lease.holder].earliest_end(lease.first, before),
        )

    def _own_end(self, holder: Any, first: float, ttl_s: float, before: float) -> float:
        """The earliest the action's own lease (first sent at ``first``) can end,
        given what its holder sent before ``before``."""
        mine = self._holders.get(holder)
        if mine is None:
            return first + ttl_s
        return min(first + ttl_s, mine.straddling(first), mine.earliest_end(first, before))

    def near_other(self, holder: Any, sent: float, decided: float) -> bool:
        """Whether another holder's lease may have been live at some moment of
        ``[sent, decided]``: the question of the key being free arose."""
        for who, (starts, reach) in self._live.items():
            if who == holder:
                continue
            n = bisect.bisect_left(starts, decided)
            if n and reach[n - 1] > sent:
                return True
        return False


def _straddled(
    ordered: dict[Any, list[Hold]], leases: Sequence[Hold]
) -> Iterable[tuple[Hold, float]]:
    """Per lease, the earliest end set by an operation of its holder sent before
    it (its first sending) that may have arrived after: still in flight, or lost.
    Leases in order of first sending, each holder's operations in order of
    sending; one sweep per holder with two heaps."""
    pending: dict[Any, list[tuple[float, int, float]]] = {}  # (latest, n, floor)
    floors: dict[Any, list[tuple[float, int]]] = {}  # (floor, n): min of those pending
    gone: dict[Any, set[int]] = {}
    queued: dict[Any, int] = {}
    for lease in leases:
        who = lease.holder
        mine, waiting = ordered[who], pending.setdefault(who, [])
        lowest, dropped = floors.setdefault(who, []), gone.setdefault(who, set())
        n = queued.get(who, 0)
        while n < len(mine) and mine[n].op.invoke.time < lease.first:
            heapq.heappush(waiting, (mine[n].latest, n, mine[n].floor))
            heapq.heappush(lowest, (mine[n].floor, n))
            n += 1
        queued[who] = n
        while waiting and waiting[0][0] <= lease.first:  # arrived before it was sent
            dropped.add(heapq.heappop(waiting)[1])
        while lowest and lowest[0][1] in dropped:
            heapq.heappop(lowest)
        yield lease, lowest[0][0] if lowest else INF


def _live_spans(leases: Sequence[Hold]) -> tuple[list[float], list[float]]:
    """A holder's leases (in order of sending), with the running latest moment one
    may still have been live: its answer plus its ttl."""
    reach, top = [], -INF
    for lease in leases:
        top = max(top, lease.op.end_time + (lease.floor - lease.first))
        reach.append(top)
    return [h.op.invoke.time for h in leases], reach


def leases_by_key(
    index: Index,
    *,
    grants: Sequence[str],
    renews: Sequence[str],
    releases: Sequence[str],
    key: tuple[str, ...],
    holder: str,
    ttl: str,
) -> dict[Key, KeyLeases]:
    """Every key's leases, from one pass over the named ops (memoised per history).
    A definitely refused operation changed nothing and is left out."""

    def build() -> dict[Key, KeyLeases]:
        holds: dict[Key, list[Hold]] = {}
        for names, sets in ((grants, True), (renews, True), (releases, False)):
            for name in names:
                for named, ops in index.by_key(name, key).items():
                    holds.setdefault(named, []).extend(_holds(ops, holder, ttl, sets=sets))
        return {named: KeyLeases(mine) for named, mine in holds.items()}

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
