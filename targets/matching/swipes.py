"""`POST /swipes` per variant: how a swipe and the match it may complete are written.

`correct` follows Step 8's match-creation rule: under a per-pair advisory lock, in one
transaction, insert the swipe (idempotent on swipe_id), and if the reverse right swipe
exists insert the match under the canonical pair key plus its outbox event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from targets.common.outbox import add_to_outbox
from targets.matching.store import MATCHES_TOPIC

VARIANTS = (
    "correct",
    "no_canonical_key",
    "no_pair_lock",
    "at_most_once_consumer",
    "slow_relay",
)
_PAIR_LOCKED = ("correct", "at_most_once_consumer")

Direction = Literal["right", "left"]


class SwipeIdReused(ValueError):
    """A swipe_id was sent again with a different swiper, swipee or direction."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Swipe:
    """One swipe as requested."""

    swipe_id: str
    swiper: str
    swipee: str
    direction: Direction

    def canonical_pair(self) -> tuple[str, str]:
        """The unordered pair as (least, greatest): one key whoever swiped first."""
        first, second = sorted((self.swiper, self.swipee))
        return first, second


async def swipe(variant: str, pool: AsyncConnectionPool, request: Swipe) -> dict[str, Any]:
    """Record the swipe once and answer `{"swipe_id", "matched", "match_id"}`.

    A retry (same swipe_id) gets the stored answer, never a second match.
    """
    async with pool.connection() as conn:
        async with conn.transaction():
            if variant in _PAIR_LOCKED:
                lo, hi = request.canonical_pair()
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{lo}:{hi}",))
            stored = await _insert_swipe(conn, request)
            if stored is not None:
                return stored
            if variant != "no_canonical_key":
                return await _complete(conn, request, request.canonical_pair())
        # no_canonical_key: the swipe is already committed; the match is decided later,
        # keyed by the pair as received.
        async with conn.transaction():
            return await _complete(conn, request, (request.swiper, request.swipee))


async def _insert_swipe(conn: AsyncConnection[Any], request: Swipe) -> dict[str, Any] | None:
    """None if the swipe is new (now inserted), else the answer stored for it."""
    cur = await conn.execute(
        "INSERT INTO swipes (swipe_id, swiper, swipee, direction) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (swipe_id) DO NOTHING RETURNING swipe_id",
        (request.swipe_id, request.swiper, request.swipee, request.direction),
    )
    if await cur.fetchone() is not None:
        return None
    cur = await conn.execute(
        "SELECT swiper, swipee, direction, match_id FROM swipes WHERE swipe_id = %s",
        (request.swipe_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError(f"swipe {request.swipe_id!r} neither inserted nor found")
    swiper, swipee, direction, match_id = row
    if (swiper, swipee, direction) != (request.swiper, request.swipee, request.direction):
        raise SwipeIdReused(
            f"swipe_id {request.swipe_id!r} was already used for {swiper} -> {swipee}"
            f" ({direction})"
        )
    return _answer(request.swipe_id, match_id)


async def _complete(
    conn: AsyncConnection[Any], request: Swipe, pair: tuple[str, str]
) -> dict[str, Any]:
    """Create the match under `pair` if this right swipe completes one; store the answer."""
    match_id = None
    if request.direction == "right":
        cur = await conn.execute(
            "SELECT 1 FROM swipes WHERE swiper = %s AND swipee = %s AND direction = 'right'",
            (request.swipee, request.swiper),
        )
        if await cur.fetchone() is not None:
            match_id = await _create_match(conn, pair)
    await conn.execute(
        "UPDATE swipes SET match_id = %s WHERE swipe_id = %s", (match_id, request.swipe_id)
    )
    return _answer(request.swipe_id, match_id)


async def _create_match(conn: AsyncConnection[Any], pair: tuple[str, str]) -> str:
    """The match of `pair`: inserted with its outbox event, or the one already there."""
    user_a, user_b = pair
    cur = await conn.execute(
        "INSERT INTO matches (user_a, user_b, match_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (user_a, user_b) DO NOTHING RETURNING match_id",
        (user_a, user_b, f"m{uuid.uuid4().hex}"),
    )
    row = await cur.fetchone()
    if row is not None:
        match_id: str = row[0]
        event = {"match_id": match_id, "users": [user_a, user_b]}
        await add_to_outbox(conn, MATCHES_TOPIC, match_id, event)
        return match_id
    cur = await conn.execute(
        "SELECT match_id FROM matches WHERE user_a = %s AND user_b = %s", pair
    )
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError(f"match of {pair} neither inserted nor found")
    existing: str = row[0]
    return existing


def _answer(swipe_id: str, match_id: str | None) -> dict[str, Any]:
    return {"swipe_id": swipe_id, "matched": match_id is not None, "match_id": match_id}
