"""POST /bids, one function per step; a buggy variant swaps exactly one step.

Correct path (seed Step 8): in one transaction, serialise resends of the bid_id and
return the recorded outcome if there is one; accept with a CAS on (auction_id,
version) whose condition holds the whole eligibility rule (open, before end_time on
the clock authority, higher than the current highest); a CAS lost to a concurrent
writer re-reads and tries again; record the outcome (accepted or rejected, so a
resend gets the same answer); commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from targets.auction.clock import NOW
from targets.auction.schema import BID_LOCK_CLASS

Status: TypeAlias = Literal["accepted", "rejected"]
CAS_ATTEMPTS = 50
RACE_WINDOW_S = 0.01
"""`check_then_act`: the time between its check and its write (business logic,
a fraud score, a log line), so the race is as real as in production."""


class UnknownAuction(LookupError):
    """A bid names an auction that was never created."""


@dataclass(frozen=True, slots=True)
class Bid:
    """One POST /bids body, already validated."""

    bid_id: str
    auction_id: str
    bidder: str
    amount: int


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    reason: str | None = None


async def place_bid(
    pool: AsyncConnectionPool, variant: str, bid: Bid, now: int | None
) -> Decision:
    """The bid's outcome, decided at most once per bid_id."""
    async with pool.connection() as conn, conn.transaction():
        prior = await _recorded(conn, bid.bid_id)
        if prior is not None:
            return prior
        decide = _check_then_act if variant == "check_then_act" else _cas
        decision = await decide(conn, bid, now)
        await conn.execute(
            "INSERT INTO bids (bid_id, auction_id, bidder, amount, status, reason, decided_at_ms)"
            " VALUES (%(bid)s, %(auction)s, %(bidder)s, %(amount)s, %(status)s, %(reason)s,"
            f" {NOW})",
            {
                "bid": bid.bid_id,
                "auction": bid.auction_id,
                "bidder": bid.bidder,
                "amount": bid.amount,
                "status": decision.status,
                "reason": decision.reason,
                "now": now,
            },
        )
    return decision


async def _recorded(conn: AsyncConnection[Any], bid_id: str) -> Decision | None:
    """Serialise resends of one bid_id, then return the outcome already stored."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (BID_LOCK_CLASS, bid_id)
    )
    cur = await conn.execute("SELECT status, reason FROM bids WHERE bid_id = %s", (bid_id,))
    row = await cur.fetchone()
    return None if row is None else Decision(row[0], row[1])


async def _state(conn: AsyncConnection[Any], auction_id: str, now: int | None) -> tuple[Any, ...]:
    """(version, status, end_time_ms, high_amount, now) of the auction, read without a lock."""
    cur = await conn.execute(
        f"SELECT version, status, end_time_ms, COALESCE(high_amount, 0), {NOW}"
        " FROM auctions WHERE auction_id = %(auction)s",
        {"auction": auction_id, "now": now},
    )
    row = await cur.fetchone()
    if row is None:
        raise UnknownAuction(auction_id)
    return tuple(row)


def _refusal(status: str, end_time_ms: int, now_ms: int) -> Decision:
    closed = status != "open" or now_ms >= end_time_ms
    return Decision("rejected", "closed" if closed else "too_low")


async def _cas(conn: AsyncConnection[Any], bid: Bid, now: int | None) -> Decision:
    """Correct: the whole eligibility rule in one conditional write on (auction_id, version)."""
    for _ in range(CAS_ATTEMPTS):
        version, status, end_time_ms, high, now_ms = await _state(conn, bid.auction_id, now)
        if status != "open" or now_ms >= end_time_ms or bid.amount <= high:
            return _refusal(status, end_time_ms, now_ms)
        cur = await conn.execute(
            "UPDATE auctions SET version = version + 1, high_bid = %(bid)s,"
            " high_amount = %(amount)s"
            " WHERE auction_id = %(auction)s AND version = %(version)s AND status = 'open'"
            f" AND end_time_ms > {NOW} AND COALESCE(high_amount, 0) < %(amount)s",
            {
                "bid": bid.bid_id,
                "amount": bid.amount,
                "auction": bid.auction_id,
                "version": version,
                "now": now,
            },
        )
        if cur.rowcount == 1:
            return Decision("accepted")
        # Lost to a concurrent bid or the close (the version moved), or the clock
        # passed end_time between the read and the write: judge again from a new read.
    raise RuntimeError(f"bid {bid.bid_id}: the auction kept changing ({CAS_ATTEMPTS} CAS attempts)")


async def _check_then_act(conn: AsyncConnection[Any], bid: Bid, now: int | None) -> Decision:
    """Bug: check "open?" and "highest?" by a read, then write the bid blindly."""
    _, status, end_time_ms, high, now_ms = await _state(conn, bid.auction_id, now)
    if status != "open" or now_ms >= end_time_ms or bid.amount <= high:
        return _refusal(status, end_time_ms, now_ms)
    await asyncio.sleep(RACE_WINDOW_S)
    await conn.execute(
        "UPDATE auctions SET version = version + 1, high_bid = %(bid)s, high_amount = %(amount)s"
        " WHERE auction_id = %(auction)s",
        {"bid": bid.bid_id, "amount": bid.amount, "auction": bid.auction_id},
    )
    return Decision("accepted")
