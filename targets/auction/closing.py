"""Closing auctions: the closer's lease with its fencing token, and the closing write.

The lease lives in PostgreSQL and expires on PostgreSQL's clock. Acquiring it while it
is free or expired, or renewing it while one still holds it, is one statement; every
new holder gets a token one larger than the last. The closing write of the correct
design is a CAS on (auction_id, version) that also carries the token: the database
refuses a writer whose token is older than the one that last closed the auction
(Kleppmann's fencing token), and one whose read is stale (a bid committed since).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from targets.auction.clock import NOW, process_now
from targets.auction.schema import CLOSER_LEASE, DDL, SCHEMA_LOCK
from targets.common.config import TargetEnv
from targets.common.db import ensure_schema, open_pool

LEASE_TTL_MS = 1500
POLL_S = 0.5
"""The closer closes due auctions in rounds at most this far apart, waking early at the
next open auction's end_time: end_time itself is enforced by every bid's own time
check, so the close may come later (the freshness SLO), but a closer that acts at once
is what a real one does, and what meets a bid still committing at end_time."""
LAZY_POLL_S = 5.0
"""`lazy_closer`: how often it looks for due auctions (and its lease outlives that)."""
CLOSE_ATTEMPTS = 20

log = logging.getLogger(__name__)


def new_holder(role: str) -> str:
    """A name no other process (or earlier run of this one) ever held the lease under."""
    return f"{role}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def acquire_lease(
    pool: AsyncConnectionPool, holder: str, *, ttl_ms: int = LEASE_TTL_MS, renew: bool = True
) -> int | None:
    """The fencing token of the lease if ``holder`` holds it after this call (acquired
    because it was free or expired, or -- with ``renew`` -- renewed), else None."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO leases (name, holder, expires_at_ms, token)"
            f" VALUES (%(name)s, %(holder)s, {NOW} + %(ttl)s, 1)"
            " ON CONFLICT (name) DO UPDATE SET"
            "  holder = EXCLUDED.holder,"
            "  expires_at_ms = EXCLUDED.expires_at_ms,"
            "  token = CASE WHEN leases.holder = EXCLUDED.holder"
            f"   AND leases.expires_at_ms > {NOW} THEN leases.token ELSE leases.token + 1 END"
            " WHERE (leases.holder = EXCLUDED.holder AND %(renew)s)"
            f" OR leases.expires_at_ms <= {NOW}"
            " RETURNING token",
            {"name": CLOSER_LEASE, "holder": holder, "ttl": ttl_ms, "renew": renew, "now": None},
        )
        row = await cur.fetchone()
    return None if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class Result:
    """An auction's state as the contract's reads show it."""

    auction_id: str
    end_time_ms: int
    status: str
    winner: str | None
    amount: int | None
    bids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "auction_id": self.auction_id,
            "end_time": self.end_time_ms,
            "status": self.status,
            "winner": self.winner,
            "amount": self.amount,
            "bids": list(self.bids),
        }


async def read_auction(pool: AsyncConnectionPool, auction_id: str) -> Result | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT end_time_ms, status, winner, winner_amount FROM auctions"
            " WHERE auction_id = %s",
            (auction_id,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        cur = await conn.execute(
            "SELECT bid_id FROM bids WHERE auction_id = %s AND status = 'accepted' ORDER BY id",
            (auction_id,),
        )
        bids = tuple(r[0] for r in await cur.fetchall())
    end_time_ms, status, winner, amount = row
    return Result(auction_id, int(end_time_ms), str(status), winner, amount, bids)


async def close_auction(
    pool: AsyncConnectionPool, variant: str, auction_id: str, token: int
) -> bool:
    """Close one auction if it is due, with lease ``token``; True once it is closed
    (by this call or an earlier one), False if it is not due or the token is stale."""
    now = process_now(variant)
    for _ in range(CLOSE_ATTEMPTS):
        async with pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT version, status, end_time_ms, high_bid, high_amount, fence, {NOW}"
                " FROM auctions WHERE auction_id = %(auction)s",
                {"auction": auction_id, "now": now},
            )
            row = await cur.fetchone()
            if row is None:
                return False
            version, status, end_time_ms, high_bid, high_amount, fence, now_ms = row
            if status == "closed":
                return True
            if now_ms < end_time_ms:
                return False
            if token < fence:
                return False
            params: Mapping[str, Any] = {
                "auction": auction_id,
                "winner": high_bid,
                "amount": high_amount,
                "version": version,
                "token": token,
                "now": now,
            }
            if variant == "unfenced_lease":
                # The bug: "I hold the lease, so nobody else writes": no token, no version.
                await conn.execute(
                    "UPDATE auctions SET status = 'closed', winner = %(winner)s,"
                    f" winner_amount = %(amount)s, version = version + 1, closed_at_ms = {NOW}"
                    " WHERE auction_id = %(auction)s",
                    params,
                )
                return True
            cur = await conn.execute(
                "UPDATE auctions SET status = 'closed', winner = %(winner)s,"
                " winner_amount = %(amount)s, version = version + 1, fence = %(token)s,"
                f" closed_at_ms = {NOW}"
                " WHERE auction_id = %(auction)s AND version = %(version)s AND status = 'open'"
                f" AND fence <= %(token)s AND end_time_ms <= {NOW}",
                params,
            )
            if cur.rowcount == 1:
                log.info("closed %s: winner %s (token %d)", auction_id, high_bid, token)
                return True
        # A bid committed after the read, another holder closed it, or the token is
        # stale: read again and decide from what the database says now.
    return False


async def due_auctions(pool: AsyncConnectionPool, variant: str, limit: int = 50) -> list[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT auction_id FROM auctions WHERE status = 'open'"
            f" AND end_time_ms <= {NOW} ORDER BY end_time_ms LIMIT %(limit)s",
            {"now": process_now(variant), "limit": limit},
        )
        return [r[0] for r in await cur.fetchall()]


async def closer_role(env: TargetEnv) -> None:
    """Hold the closer lease and close every due auction until cancelled."""
    lazy = env.variant == "lazy_closer"
    poll_s = LAZY_POLL_S if lazy else POLL_S
    ttl_ms = int(3 * LAZY_POLL_S * 1000) if lazy else LEASE_TTL_MS
    pool = await open_pool(env.require("database_url"), max_size=2)
    holder = new_holder("closer")
    held: int | None = None
    try:
        await ensure_schema(pool, DDL, lock_key=SCHEMA_LOCK)
        while True:
            try:
                token = await acquire_lease(pool, holder, ttl_ms=ttl_ms)
                if token != held:
                    log.info("lease %s", f"held with token {token}" if token else "lost")
                    held = token
                if token is not None:
                    for auction_id in await due_auctions(pool, env.variant):
                        await close_auction(pool, env.variant, auction_id, token)
            except Exception as exc:  # a cut link, a restarted database: try again
                log.warning("closer round failed: %r", exc)
            await asyncio.sleep(poll_s if lazy else await _until_next(pool, env.variant, poll_s))
    finally:
        try:  # stopping on purpose: let the next closer take over at once
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await release_lease(pool, holder)
        finally:
            await pool.close()


async def _until_next(pool: AsyncConnectionPool, variant: str, poll_s: float) -> float:
    """Seconds to sleep: until the next open auction's end_time (on the clock the
    variant decides by), at most ``poll_s`` so the lease is renewed in time."""
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT min(end_time_ms) - {NOW} FROM auctions WHERE status = 'open'"
                f" AND end_time_ms > {NOW}",
                {"now": process_now(variant)},
            )
            row = await cur.fetchone()
    except Exception:
        return poll_s
    if row is None or row[0] is None:
        return poll_s
    return max(0.0, min(poll_s, (int(row[0]) + 1) / 1000))


async def release_lease(pool: AsyncConnectionPool, holder: str) -> None:
    """Give the lease up if ``holder`` has it (a graceful stop; a crash just lets it expire)."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE leases SET expires_at_ms = 0 WHERE name = %s AND holder = %s",
            (CLOSER_LEASE, holder),
        )
