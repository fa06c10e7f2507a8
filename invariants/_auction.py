"""Auction invariants (docs/contracts.md section 9): the temporal-boundary class.

Pure checkers of (history, final state), written in the conventions of the other
checkers (``Findings``: violations no outcome of the indeterminate operations
explains, pending findings for what time may still fix, undecided notes when data
is missing, evidence in words with keys and op ids). The invariant library
(issue 8's eligibility and ordering types) had not landed on main when these were
written; `no_bid_after_close` and `bids_open_until_end` are eligibility rules
judged on the target's clock, `close_is_final` and `single_winner` ordering rules
on the auction's state machine (open -> closed, closed terminal).

**Time.** A deadline is judged on the target's clock, which the history samples:
``GET /clock`` answers (``clock`` operations), and the creates of setup, whose
answered ``end_time`` minus the ``ends_in_ms`` sent is the target's time then.
A sample answered ``now`` between the invoke at ``t0`` and the completion at ``t1``
(harness seconds) maps harness time ``t`` to ``now + (t - (t0 + t1) / 2) * 1000``
ms, give or take half the round trip. The sample with the shortest round trip
is used, and its uncertainty widens every tolerance. A bid's *arrival* is
bounded below by the invoke of its first attempt (mapped), and its decision
above by the completion of the answer that reported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from harness.history import FinalState, History, Ledgers, Operation
from invariants._common import Findings, ops_text
from invariants.verdict import Checker, Verdict

DEFAULT_EPSILON_MS = 50
"""The default half-width of the window [end_time - eps, end_time + eps] within
which a bid may go either way (``epsilon_ms`` in a design's ``[invariants]``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionNames:
    """Where the auction's facts are in a history: the operations' names, their
    fields, and the final-read slot (the defaults are docs/contracts.md section 9)."""

    create: str = "create_auction"
    clock: str = "clock"
    bid: str = "bid"
    close: str = "close"
    read: str = "read_auction"
    slot: str = "auctions"
    now: str = "now"
    end_time: str = "end_time"
    ends_in: str = "ends_in_ms"


NAMES = AuctionNames()


@dataclass(frozen=True, slots=True)
class TargetClock:
    """Harness time -> the target's clock, from one ``GET /clock`` sample."""

    offset_ms: float
    uncertainty_ms: float
    op_id: int

    def at(self, t: float) -> float:
        """The target's clock (epoch ms) at harness time ``t`` (seconds)."""
        return t * 1000 + self.offset_ms


def target_clock(history: History, names: AuctionNames = NAMES) -> TargetClock | None:
    """The best (shortest round trip) clock sample of the history, or None.

    Samples are ``clock`` answers (``now``) and answers to a create sent with
    ``ends_in_ms`` (``end_time - ends_in_ms`` was the authority's time when it
    decided). Those taken in setup, before any fault, are preferred: a sample
    from a replica whose clock a fault skewed would mislead every judgement."""
    best: dict[bool, TargetClock] = {}
    for op in history.operations():
        now = _sample(op, names)
        if now is None:
            continue
        t0, t1 = op.invoke.time, op.end_time
        sample = TargetClock(
            offset_ms=float(now) - (t0 + t1) / 2 * 1000,
            uncertainty_ms=(t1 - t0) / 2 * 1000,
            op_id=op.invoke.op_id,
        )
        setup = op.invoke.phase == "setup"
        if setup not in best or sample.uncertainty_ms < best[setup].uncertainty_ms:
            best[setup] = sample
    return best.get(True) or best.get(False)


def _sample(op: Operation, names: AuctionNames) -> int | None:
    """The target's time an ok answer reports, if it is a clock sample."""
    if op.outcome != "ok":
        return None
    if op.f == names.clock:
        now = _body(op).get(names.now)
    elif op.f == names.create:
        ends_in, end = _request(op).get(names.ends_in), _body(op).get(names.end_time)
        if not (_is_int(ends_in) and _is_int(end)):
            return None
        now = end - ends_in
    else:
        return None
    return now if _is_int(now) else None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _body(op: Operation) -> Mapping[str, Any]:
    """The answer's body (empty when there is none)."""
    value = op.response.get("body")
    return value if isinstance(value, Mapping) else {}


def _request(op: Operation) -> Mapping[str, Any]:
    value = op.request.get("body")
    return value if isinstance(value, Mapping) else {}


@dataclass(slots=True)
class _Bid:
    bid_id: str
    auction: str
    amount: int | None
    ops: list[Operation] = field(default_factory=list)

    @property
    def sent(self) -> float:
        return min(op.invoke.time for op in self.ops)

    @property
    def oks(self) -> list[Operation]:
        return [op for op in self.ops if op.outcome == "ok"]

    @property
    def refusals(self) -> list[Operation]:
        return [op for op in self.ops if op.outcome == "fail"]


@dataclass(frozen=True, slots=True)
class _Seen:
    """One determinate observation of an auction: a read, or a close's answer."""

    op: Operation
    status: str
    winner: str | None
    amount: Any
    bids: tuple[str, ...] | None  # None: the observation lists no bids (a close's answer)

    @property
    def op_id(self) -> int:
        return self.op.invoke.op_id


@dataclass(slots=True)
class _Index:
    """One pass over a history: end times, bids, observations per auction."""

    names: AuctionNames
    end_time: dict[str, tuple[int, int]] = field(default_factory=dict)
    bids: dict[str, _Bid] = field(default_factory=dict)
    seen: dict[str, list[_Seen]] = field(default_factory=dict)
    auctions: dict[str, None] = field(default_factory=dict)


def _index(history: History, names: AuctionNames) -> _Index:
    out = _Index(names)
    for op in history.operations():
        body = _request(op)
        auction = body.get("auction_id")
        if not isinstance(auction, str):
            continue
        out.auctions.setdefault(auction)
        if op.f == names.create:
            # The end_time the create fixed: the one sent, else the one answered.
            end = body.get(names.end_time, _body(op).get(names.end_time))
            if op.outcome == "ok" and _is_int(end):
                out.end_time.setdefault(auction, (end, op.invoke.op_id))
        elif op.f == names.bid:
            bid_id = body.get("bid_id")
            if isinstance(bid_id, str):
                amount = body.get("amount")
                bid = out.bids.setdefault(
                    bid_id, _Bid(bid_id, auction, amount if isinstance(amount, int) else None)
                )
                bid.ops.append(op)
        elif op.f in (names.read, names.close) and op.outcome == "ok":
            answer = _body(op)
            status = answer.get("status")
            if not isinstance(status, str):
                continue  # a 404 read: the auction's absence says nothing here
            listed = answer.get("bids")
            out.seen.setdefault(auction, []).append(
                _Seen(
                    op=op,
                    status=status,
                    winner=_text(answer.get("winner")),
                    amount=answer.get("amount"),
                    bids=tuple(map(str, listed)) if isinstance(listed, list | tuple) else None,
                )
            )
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ops(ops: list[Operation]) -> str:
    """``op 3`` or ``ops 3, 7``: the operations, for a sentence."""
    return ops_text([op.invoke.op_id for op in ops])


def _listed_by(seen: list[_Seen], bid_id: str) -> list[int]:
    return [s.op_id for s in seen if s.bids is not None and bid_id in s.bids]


def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def make_no_bid_after_close(
    *, epsilon_ms: float = DEFAULT_EPSILON_MS, names: AuctionNames = NAMES
) -> Checker:
    """No bid accepted whose arrival is later than end_time + epsilon: a bid answered
    accepted, or listed by a read, was first sent (its earliest possible arrival,
    on the target's clock) no later than end_time + epsilon + the clock's
    uncertainty."""

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("no_bid_after_close", "accepted bid")
        index = _index(history, names)
        clock = target_clock(history, names)
        for bid in index.bids.values():
            seen = index.seen.get(bid.auction, [])
            oks, listed = [op.invoke.op_id for op in bid.oks], _listed_by(seen, bid.bid_id)
            if not oks and not listed:
                continue
            out.checked += 1
            how = (
                f"answered accepted ({ops_text(oks)})" if oks else f"listed ({ops_text(listed)})"
            )
            ids = [*oks, *listed]
            end = index.end_time.get(bid.auction)
            if end is None or clock is None:
                missing = "no clock sample" if clock is None else f"no end_time of {bid.auction}"
                out.undecided(f"bid {bid.bid_id} {how}: {missing}", [bid.bid_id], ids)
                continue
            late = clock.at(bid.sent) - end[0]
            if late > epsilon_ms + clock.uncertainty_ms:
                out.violation(
                    f"bid {bid.bid_id} on {bid.auction} was {how} though it was first sent "
                    f"{_ms(late)} after end_time on the target's clock (epsilon {_ms(epsilon_ms)}, "
                    f"clock known to +-{_ms(clock.uncertainty_ms)} by op {clock.op_id})",
                    [bid.auction, bid.bid_id],
                    [*(op.invoke.op_id for op in bid.ops), *listed, end[1], clock.op_id],
                )
        return out.verdict()

    return check


def make_bids_open_until_end(
    *, epsilon_ms: float = DEFAULT_EPSILON_MS, names: AuctionNames = NAMES
) -> Checker:
    """No bid refused as ``closed`` before end_time - epsilon: the refusal was decided
    by the time its answer came, so an answer that came earlier (on the target's
    clock, give or take its uncertainty) proves the auction closed early."""

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("bids_open_until_end", "refused bid")
        index = _index(history, names)
        clock = target_clock(history, names)
        for bid in index.bids.values():
            closed = [op for op in bid.refusals if _body(op).get("reason") == "closed"]
            if not closed:
                continue
            out.checked += 1
            end = index.end_time.get(bid.auction)
            first = min(closed, key=lambda op: op.end_time)
            if end is None or clock is None:
                missing = "no clock sample" if clock is None else f"no end_time of {bid.auction}"
                out.undecided(
                    f"bid {bid.bid_id} refused as closed: {missing}",
                    [bid.bid_id],
                    [first.invoke.op_id],
                )
                continue
            early = end[0] - clock.at(first.end_time)
            if early > epsilon_ms + clock.uncertainty_ms:
                out.violation(
                    f"bid {bid.bid_id} on {bid.auction} was refused as closed (op "
                    f"{first.invoke.op_id}) {_ms(early)} before end_time on the target's clock "
                    f"(epsilon {_ms(epsilon_ms)}, clock known to +-{_ms(clock.uncertainty_ms)} "
                    f"by op {clock.op_id})",
                    [bid.auction, bid.bid_id],
                    [first.invoke.op_id, end[1], clock.op_id],
                )
        return out.verdict()

    return check


def _closed(seen: list[_Seen]) -> list[_Seen]:
    return [s for s in seen if s.status == "closed"]


def _result(s: _Seen) -> str:
    return "no winner" if s.winner is None else f"winner {s.winner} ({s.amount})"


def make_single_winner(*, names: AuctionNames = NAMES) -> Checker:
    """Every observation of a closed auction -- reads from any replica, answers to
    close, the final state -- names the same result (winner and amount)."""

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("single_winner", "closed auction")
        index = _index(history, names)
        for auction, seen in index.seen.items():
            closed = _closed(seen)
            if not closed:
                continue
            out.checked += 1
            results: dict[tuple[str | None, str], list[_Seen]] = {}
            for s in closed:
                results.setdefault((s.winner, repr(s.amount)), []).append(s)
            if len(results) > 1:
                shown = "; ".join(
                    f"{_result(group[0])} ({ops_text([s.op_id for s in group])})"
                    for group in results.values()
                )
                out.violation(
                    f"auction {auction} was shown closed with {len(results)} results: {shown}",
                    [auction, *(w for w, _ in results if w is not None)],
                    [s.op_id for s in closed],
                )
        return out.verdict()

    return check


def make_close_is_final(*, names: AuctionNames = NAMES) -> Checker:
    """Once a read (or a close's answer) shows an auction closed, no observation sent
    after it completed shows it open, with another result, or with a bid it did not
    list; and no bid sent after it completed is answered accepted."""

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("close_is_final", "closed auction")
        index = _index(history, names)
        for auction, seen in index.seen.items():
            closed = sorted(_closed(seen), key=lambda s: s.op.end_time)
            if not closed:
                continue
            out.checked += 1
            first = closed[0]
            listing = next((s for s in closed if s.bids is not None), None)
            for later in sorted(seen, key=lambda s: s.op.invoke.time):
                if later.op.invoke.time <= first.op.end_time:
                    continue
                if later.status != "closed":
                    out.violation(
                        f"auction {auction} was read closed (op {first.op_id}) and later "
                        f"{later.status} again (op {later.op_id})",
                        [auction],
                        [first.op_id, later.op_id],
                    )
                elif (later.winner, repr(later.amount)) != (first.winner, repr(first.amount)):
                    out.violation(
                        f"auction {auction} was read closed with {_result(first)} (op "
                        f"{first.op_id}) and later with {_result(later)} (op {later.op_id})",
                        [auction, *(w for w in (first.winner, later.winner) if w)],
                        [first.op_id, later.op_id],
                    )
                elif (
                    listing is not None
                    and later.bids is not None
                    and later.op.invoke.time > listing.op.end_time
                    and (new := [b for b in later.bids if b not in (listing.bids or ())])
                ):
                    out.violation(
                        f"auction {auction} was read closed with {len(listing.bids or ())} bids "
                        f"(op {listing.op_id}) and later with new bids {', '.join(new)} "
                        f"(op {later.op_id})",
                        [auction, *new],
                        [listing.op_id, later.op_id],
                    )
            for bid in index.bids.values():
                if bid.auction != auction:
                    continue
                after = [op for op in bid.oks if op.invoke.time > first.op.end_time]
                if after and all(op.invoke.time > first.op.end_time for op in bid.ops):
                    out.violation(
                        f"bid {bid.bid_id} was answered accepted ({_ops(after)}) "
                        f"though it was first sent after auction {auction} was read closed "
                        f"(op {first.op_id})",
                        [auction, bid.bid_id],
                        [first.op_id, *(op.invoke.op_id for op in after)],
                    )
        return out.verdict()

    return check


def make_winner_is_highest_accepted_bid(*, names: AuctionNames = NAMES) -> Checker:
    """Once the system is quiet, every auction past its end_time is closed (pending
    until then), and its winner is the highest accepted bid: an accepted bid (answered
    accepted, or listed) with the amount it was sent with, and no accepted bid is
    higher. An auction with no accepted bid closes with no winner."""

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("winner_is_highest_accepted_bid", "auction")
        index = _index(history, names)
        reads = final.of(names.slot)
        clock = target_clock(history, names)
        last = max((e.time for e in history.events), default=0.0)
        for auction in index.auctions:
            if auction not in reads:
                if auction in index.end_time:
                    out.checked += 1
                    out.undecided(f"auction {auction}: its final read was indeterminate",
                                  [auction], [])
                continue
            record = reads[auction]
            if record is None:
                continue
            out.checked += 1
            seen = index.seen.get(auction, [])
            final_seen = [s for s in seen if s.op.invoke.phase == "final"]
            evidence = [s.op_id for s in final_seen[-1:]]
            status = record.get("status")
            if status != "closed":
                end = index.end_time.get(auction)
                if end is not None and clock is not None and clock.at(last) > end[0]:
                    out.pending(
                        f"auction {auction} is still {status} "
                        f"{_ms(clock.at(last) - end[0])} after its end_time",
                        [auction],
                        evidence,
                    )
                continue
            winner, amount = record.get("winner"), record.get("amount")
            listed = set(record.get("bids") or ())
            accepted = {
                b.bid_id: b
                for b in index.bids.values()
                if b.auction == auction and (b.oks or b.bid_id in listed)
            }
            if winner is None:
                if accepted:
                    top = max(accepted.values(), key=lambda b: b.amount or 0)
                    out.violation(
                        f"auction {auction} closed with no winner though bid {top.bid_id} "
                        f"({top.amount}) was accepted",
                        [auction, top.bid_id],
                        [*evidence, *(op.invoke.op_id for op in top.ops)],
                    )
                continue
            bid = index.bids.get(str(winner))
            if bid is None or bid.auction != auction:
                out.violation(
                    f"auction {auction} closed with winner {winner}, a bid never sent to it",
                    [auction, str(winner)],
                    evidence,
                )
                continue
            if str(winner) not in accepted:
                refused = [op.invoke.op_id for op in bid.refusals]
                why = f"refused ({ops_text(refused)})" if refused else "never accepted"
                out.violation(
                    f"auction {auction} closed with winner {winner}, a bid that was {why}",
                    [auction, str(winner)],
                    [*evidence, *(op.invoke.op_id for op in bid.ops)],
                )
                continue
            if amount != bid.amount:
                out.violation(
                    f"auction {auction} closed with winner {winner} at {amount}, but that bid "
                    f"was for {bid.amount}",
                    [auction, str(winner)],
                    [*evidence, *(op.invoke.op_id for op in bid.ops)],
                )
                continue
            top_amount = bid.amount or 0
            higher = [b for b in accepted.values() if (b.amount or 0) > top_amount]
            if higher:
                top = max(higher, key=lambda b: b.amount or 0)
                how = (
                    f"answered accepted ({_ops(top.oks)})"
                    if top.oks
                    else "listed as accepted"
                )
                out.violation(
                    f"auction {auction} closed with winner {winner} ({bid.amount}) though bid "
                    f"{top.bid_id} ({top.amount}) was {how}",
                    [auction, str(winner), top.bid_id],
                    [*evidence, *(op.invoke.op_id for op in top.ops)],
                )
        return out.verdict()

    return check


def make_acknowledged_bids_survive(*, names: AuctionNames = NAMES) -> Checker:
    """A bid answered accepted is listed among the auction's accepted bids in the
    final state (pending until it is); one answered rejected is not."""

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("acknowledged_writes_survive", "answered bid")
        index = _index(history, names)
        reads = final.of(names.slot)
        for bid in index.bids.values():
            oks, refusals = bid.oks, bid.refusals
            if not oks and not refusals:
                continue
            out.checked += 1
            record = reads.get(bid.auction, _MISSING)
            if record is _MISSING:
                out.undecided(
                    f"bid {bid.bid_id}: the final read of {bid.auction} was indeterminate",
                    [bid.bid_id],
                    [op.invoke.op_id for op in bid.ops],
                )
                continue
            listed = bid.bid_id in ((record or {}).get("bids") or ())
            ids = [op.invoke.op_id for op in bid.ops]
            if oks and refusals:
                out.violation(
                    f"bid {bid.bid_id} was answered both accepted ({_ops(oks)}) "
                    f"and rejected ({_ops(refusals)})",
                    [bid.auction, bid.bid_id],
                    ids,
                )
            elif oks and not listed:
                out.pending(
                    f"bid {bid.bid_id} was answered accepted ({_ops(oks)}) "
                    f"but the final state of {bid.auction} does not list it",
                    [bid.auction, bid.bid_id],
                    ids,
                )
            elif refusals and listed:
                out.violation(
                    f"bid {bid.bid_id} was answered rejected ({_ops(refusals)}) "
                    f"but the final state of {bid.auction} lists it as accepted",
                    [bid.auction, bid.bid_id],
                    ids,
                )
        return out.verdict()

    return check


_MISSING: Any = object()


def auction_close_lags(history: History, names: AuctionNames = NAMES) -> dict[str, float]:
    """How long after its end_time each auction read at all was still open (s), as
    far as reads can tell: a read answered ``open`` was open at some instant after it
    was sent, so the lag is at least (that send - end_time); a lower bound, never an
    overestimate (the freshness SLO ``auction_closed``)."""
    index = _index(history, names)
    clock = target_clock(history, names)
    if clock is None:
        return {}
    lags = {}
    for auction, (end_ms, _) in index.end_time.items():
        end = (end_ms - clock.offset_ms) / 1000 - clock.uncertainty_ms / 1000
        seen = index.seen.get(auction, [])
        if seen:
            still_open = [s.op.invoke.time - end for s in seen if s.status != "closed"]
            lags[auction] = max([0.0, *still_open])
    return lags
