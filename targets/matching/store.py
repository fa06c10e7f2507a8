"""The matching schema and its reads: swipes (with their stored answers), matches, outbox."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from targets.common.config import TargetEnv
from targets.common.db import ensure_schema, open_pool
from targets.common.outbox import OUTBOX_DDL

SCHEMA_LOCK = 0x6D617431
"""Advisory lock key serialising schema creation between processes starting together."""

MATCHES_TOPIC = "matching.matches"

DDL = (
    """
CREATE TABLE IF NOT EXISTS swipes (
    swipe_id text PRIMARY KEY,
    swiper text NOT NULL,
    swipee text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('right', 'left')),
    match_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS swipes_by_pair ON swipes (swiper, swipee);
-- The pair is the primary key; `correct` always stores it as (least, greatest).
CREATE TABLE IF NOT EXISTS matches (
    user_a text NOT NULL,
    user_b text NOT NULL,
    match_id text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_a, user_b)
);
CREATE INDEX IF NOT EXISTS matches_by_user_b ON matches (user_b);
"""
    + OUTBOX_DDL
)


async def open_store(env: TargetEnv) -> AsyncConnectionPool:
    """A pool on DATABASE_URL with the schema in place."""
    pool = await open_pool(env.require("database_url"))
    try:
        await ensure_schema(pool, DDL, lock_key=SCHEMA_LOCK)
    except BaseException:
        await pool.close()
        raise
    return pool


async def matches_of(pool: AsyncConnectionPool, user: str) -> list[dict[str, Any]]:
    """Every match `user` is in, oldest first, in the contract's shape."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT match_id, user_a, user_b FROM matches"
            " WHERE user_a = %s OR user_b = %s ORDER BY created_at, match_id",
            (user, user),
        )
        rows = await cur.fetchall()
    return [{"match_id": match_id, "users": [a, b]} for match_id, a, b in rows]
