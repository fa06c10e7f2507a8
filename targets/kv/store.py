"""The `kv` table and the three operations, one function per step; a buggy variant
swaps exactly one step.

Correct: every operation is one short PostgreSQL transaction that takes effect
at one instant between the request and the answer -- a read is a `SELECT`, a put
an upsert, a compare-and-set a conditional `UPDATE ... WHERE value = expected`
(or an insert-if-absent when `expected` is null). Rows are never deleted, so a
key that has a value keeps one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

SCHEMA_LOCK = 0x6B76_0001
"""Advisory lock key serialising schema creation between replicas starting together."""

DDL = """
CREATE TABLE IF NOT EXISTS kv (
    key text PRIMARY KEY,
    value text NOT NULL
);
"""

CACHE_TTL_S = 1.0
"""`stale_cache`: how long a cached value is served before it is read again."""
CACHE_MAX_KEYS = 10_000
"""`stale_cache`: past this many entries, expired ones are dropped."""
RACE_WINDOW_S = 0.01
"""`read_then_write`: the pause between its read and its write, so races are real."""
CAS_ATTEMPTS = 20
"""Correct compare-and-set: rounds of (conditional write, read) before giving up (503)."""

_UPSERT = (
    "INSERT INTO kv (key, value) VALUES (%s, %s)"
    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)


class CasGaveUp(RuntimeError):
    """The value kept changing to and from `expected`: the outcome is not known (503)."""


@dataclass(slots=True)
class _Cache:
    """`stale_cache`: key -> (value or None for "no value", expiry on the monotonic clock)."""

    entries: dict[str, tuple[str | None, float]] = field(default_factory=dict)

    def get(self, key: str) -> tuple[bool, str | None]:
        entry = self.entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, key: str, value: str | None) -> None:
        now = time.monotonic()
        if len(self.entries) >= CACHE_MAX_KEYS:
            self.entries = {k: e for k, e in self.entries.items() if e[1] >= now}
        self.entries[key] = (value, now + CACHE_TTL_S)


class Store:
    """The operations of one replica over its pool; `variant` picks the buggy step."""

    def __init__(self, variant: str, pool: AsyncConnectionPool) -> None:
        self.variant = variant
        self.pool = pool
        self._cache = _Cache() if variant == "stale_cache" else None

    async def get(self, key: str) -> str | None:
        """The key's value, or None when it has none."""
        if self._cache is not None:
            hit, value = self._cache.get(key)
            if hit:
                return value
        async with self.pool.connection() as conn:
            value = await _select(conn, key)
        if self._cache is not None:
            self._cache.put(key, value)
        return value

    async def put(self, key: str, value: str) -> None:
        """Set the key's value, whatever it was."""
        async with self.pool.connection() as conn:
            await conn.execute(_UPSERT, (key, value))
        if self._cache is not None:
            self._cache.put(key, value)

    async def cas(self, key: str, expected: str | None, new: str) -> tuple[bool, str | None]:
        """Set the key to `new` if its value is `expected` (None: if it has none).

        Returns (True, new) when it swapped, else (False, the value it found, which
        is not `expected`)."""
        if self.variant == "read_then_write":
            swapped, value = await _read_then_write(self.pool, key, expected, new)
        else:
            swapped, value = await _conditional_write(self.pool, key, expected, new)
        if self._cache is not None:
            self._cache.put(key, value)
        return swapped, value


async def _select(conn: AsyncConnection[Any], key: str) -> str | None:
    cur = await conn.execute("SELECT value FROM kv WHERE key = %s", (key,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def _conditional_write(
    pool: AsyncConnectionPool, key: str, expected: str | None, new: str
) -> tuple[bool, str | None]:
    """Correct: the comparison and the write are one statement under the row lock.

    When it does not swap, the value it answers is read by a later statement, so
    it is checked against `expected` again: a value that became `expected` in
    between would make a refusal that contradicts itself, so that round starts
    over instead.
    """
    for _ in range(CAS_ATTEMPTS):
        async with pool.connection() as conn:
            if expected is None:
                cur = await conn.execute(
                    "INSERT INTO kv (key, value) VALUES (%s, %s)"
                    " ON CONFLICT (key) DO NOTHING RETURNING value",
                    (key, new),
                )
            else:
                cur = await conn.execute(
                    "UPDATE kv SET value = %s WHERE key = %s AND value = %s RETURNING value",
                    (new, key, expected),
                )
            if await cur.fetchone() is not None:
                return True, new
            current = await _select(conn, key)
        if current != expected:
            return False, current
    raise CasGaveUp(f"the value of {key!r} kept changing; compare-and-set gave up")


async def _read_then_write(
    pool: AsyncConnectionPool, key: str, expected: str | None, new: str
) -> tuple[bool, str | None]:
    """Bug: compare in Python, then write blindly; a concurrent swap in between is lost."""
    async with pool.connection() as conn:
        current = await _select(conn, key)
        if current != expected:
            return False, current
        await asyncio.sleep(RACE_WINDOW_S)
        await conn.execute(_UPSERT, (key, new))
    return True, new
