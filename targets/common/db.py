"""PostgreSQL: a bounded connection pool and advisory-locked, idempotent schema creation."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

CONNECT_WAIT_S = 20.0
"""How long start-up waits for the database before failing with a clear error."""

STATEMENT_TIMEOUT_MS = 5000
"""Server-side cap on any statement or lock wait, so no call can hang a handler."""

log = logging.getLogger(__name__)


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An open pool; waits (bounded) until the database accepts `min_size` connections.

    Connections are checked before use, so a pool recovers by itself after the link
    was cut or the database restarted.
    """
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=5.0,
        reconnect_timeout=CONNECT_WAIT_S,
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "connect_timeout": 3,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
            f" -c lock_timeout={STATEMENT_TIMEOUT_MS}"
            f" -c idle_in_transaction_session_timeout={STATEMENT_TIMEOUT_MS * 2}",
        },
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_WAIT_S)
    except PoolTimeout:
        await pool.close()
        raise ConnectionError(
            f"PostgreSQL at {_redact(url)} not reachable within {CONNECT_WAIT_S:.0f} s"
        ) from None
    return pool


SCHEMA_TABLE_DDL = b"CREATE TABLE IF NOT EXISTS applied_schema (digest text PRIMARY KEY)"
SCHEMA_ATTEMPTS = 6


async def ensure_schema(pool: AsyncConnectionPool, ddl: str, *, lock_key: int) -> None:
    """Apply `ddl` (idempotent CREATE ... IF NOT EXISTS statements) once per database.

    A restarting replica must not run DDL while others serve traffic: `CREATE INDEX`
    waits for every open transaction on its table. So a digest of the applied DDL is
    recorded, and a start that finds it does a plain read and no DDL at all. The
    first start applies it under a transaction-scoped advisory lock (released by the
    commit, or by the server if this process dies); a lock wait that times out is
    retried with backoff, a bounded number of times.
    """
    digest = hashlib.sha256(ddl.encode()).hexdigest()[:32]
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            async with pool.connection() as conn:
                if await _applied(conn, digest):
                    break
                await conn.commit()  # end the read, so what follows is a real transaction
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
                    await conn.execute(SCHEMA_TABLE_DDL)
                    # bytes: a DDL string built at run time is no LiteralString
                    await conn.execute(ddl.encode())
                    await conn.execute(
                        "INSERT INTO applied_schema (digest) VALUES (%s) ON CONFLICT DO NOTHING",
                        (digest,),
                    )
            break
        except (errors.QueryCanceled, errors.LockNotAvailable) as exc:
            if attempt == SCHEMA_ATTEMPTS - 1:
                raise
            log.warning("schema change waited too long (%r); retrying", exc)
            await asyncio.sleep(0.5 * 2**attempt)
    log.info("schema ready (lock %d)", lock_key)


async def _applied(conn: AsyncConnection[Any], digest: str) -> bool:
    """Has this exact DDL been applied? A plain read: takes no DDL locks."""
    cur = await conn.execute("SELECT to_regclass('applied_schema') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return False
    cur = await conn.execute("SELECT 1 FROM applied_schema WHERE digest = %s", (digest,))
    return await cur.fetchone() is not None


def _redact(url: str) -> str:
    """`url` without a password, for error messages."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{creds.split(':')[0]}{at}{host}" if at else url
