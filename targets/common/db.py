"""PostgreSQL: a bounded connection pool and advisory-locked, idempotent schema creation."""

from __future__ import annotations

import logging

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


async def ensure_schema(pool: AsyncConnectionPool, ddl: str, *, lock_key: int) -> None:
    """Run `ddl` (idempotent statements: CREATE ... IF NOT EXISTS) under an advisory lock.

    Concurrent `CREATE TABLE IF NOT EXISTS` from replicas starting together can still
    collide in the catalog; the transaction-scoped lock serialises them and is released
    by the commit, or by the server if this process dies.
    """
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        await conn.execute(
            ddl.encode()
        )  # bytes: a DDL string built at run time is no LiteralString
    log.info("schema ready (lock %d)", lock_key)


def _redact(url: str) -> str:
    """`url` without a password, for error messages."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{creds.split(':')[0]}{at}{host}" if at else url
