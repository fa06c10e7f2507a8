"""PostgreSQL: stock, orders (with their outcome) and the shipments still owed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from .options import Options

log = logging.getLogger("py-shop.store")

QUERY_TIMEOUT_S = 5.0      # client-side deadline of every statement
ACQUIRE_TIMEOUT_S = 3.0    # waiting for a pooled connection (or a new one)
CONNECT_TIMEOUT_S = 3.0

SERVER_SETTINGS = {
    "statement_timeout": "5000",
    "idle_in_transaction_session_timeout": "3000",
    "lock_timeout": "4000",
}

SCHEMA_LOCK = 73_310_441

SCHEMA = """
CREATE TABLE IF NOT EXISTS pyshop_stock (
    sku        text PRIMARY KEY,
    available  integer NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS pyshop_orders (
    order_id    text PRIMARY KEY,
    sku         text NOT NULL,
    qty         integer NOT NULL CHECK (qty > 0),
    status      text NOT NULL CHECK (status IN ('accepted', 'rejected')),
    shipment_id text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pyshop_orders_owed
    ON pyshop_orders (created_at)
    WHERE status = 'accepted' AND shipment_id IS NULL;
"""

# Take the stock if there is enough and record the order with its outcome, in
# one statement (one atomic step, one round trip). A second attempt for the
# same order_id fails on the primary key and the whole statement, decrement
# included, has no effect; the caller then reads the stored outcome.
PLACE = """
WITH taken AS (
    UPDATE pyshop_stock SET available = available - $3::integer
    WHERE sku = $2::text AND available >= $3::integer
    RETURNING sku
)
INSERT INTO pyshop_orders (order_id, sku, qty, status)
SELECT $1::text, $2::text, $3::integer,
       CASE WHEN EXISTS (SELECT 1 FROM taken) THEN 'accepted' ELSE 'rejected' END
RETURNING status
"""


class Unavailable(Exception):
    """The store could not be reached or did not answer in time."""


@dataclass(frozen=True)
class Order:
    order_id: str
    sku: str
    qty: int
    status: str
    shipment_id: str | None = None


def _order(row: asyncpg.Record) -> Order:
    return Order(row["order_id"], row["sku"], row["qty"], row["status"], row["shipment_id"])


class Store:
    def __init__(self, dsn: str, options: Options, app_name: str) -> None:
        self._dsn = dsn
        self._options = options
        self._app_name = app_name
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect and create the schema; raises while the store is unreachable."""
        settings = dict(SERVER_SETTINGS, application_name=self._app_name)
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=10,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=QUERY_TIMEOUT_S,
            server_settings=settings,
            max_inactive_connection_lifetime=60.0,
        )
        try:
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                await self._schema(conn)
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()

    @staticmethod
    async def _schema(conn: asyncpg.Connection) -> None:
        present = await conn.fetchval(
            "SELECT to_regclass('pyshop_stock') IS NOT NULL"
            " AND to_regclass('pyshop_orders') IS NOT NULL"
            " AND to_regclass('pyshop_orders_owed') IS NOT NULL"
        )
        if present:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
            await conn.execute(SCHEMA)

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise Unavailable("not connected")
        try:
            conn = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"no connection: {exc!r}") from exc
        try:
            yield conn
        except asyncpg.UniqueViolationError:
            raise
        except BaseException:
            # a timed-out, cancelled or broken connection is never reused
            conn.terminate()
            raise
        finally:
            try:
                await asyncio.wait_for(self._pool.release(conn), ACQUIRE_TIMEOUT_S)
            except Exception:
                conn.terminate()

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable]):
        try:
            async with self._conn() as conn:
                return await work(conn)
        except (Unavailable, asyncpg.UniqueViolationError):
            raise
        except Exception as exc:
            raise Unavailable(repr(exc)) from exc

    # -- stock --------------------------------------------------------------

    async def set_stock(self, sku: str, available: int) -> int:
        async def work(conn):
            return await conn.fetchval(
                "INSERT INTO pyshop_stock (sku, available) VALUES ($1, $2)"
                " ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available"
                " RETURNING available",
                sku, available,
            )
        return await self._run(work)

    async def read_stock(self, sku: str) -> int | None:
        async def work(conn):
            return await conn.fetchval(
                "SELECT available FROM pyshop_stock WHERE sku = $1", sku)
        return await self._run(work)

    # -- orders -------------------------------------------------------------

    async def read_order(self, order_id: str) -> Order | None:
        async def work(conn):
            return await self._read(conn, order_id)
        return await self._run(work)

    @staticmethod
    async def _read(conn: asyncpg.Connection, order_id: str) -> Order | None:
        row = await conn.fetchrow(
            "SELECT order_id, sku, qty, status, shipment_id FROM pyshop_orders"
            " WHERE order_id = $1", order_id)
        return _order(row) if row is not None else None

    async def place_order(
        self,
        order_id: str,
        sku: str,
        qty: int,
        ship: Callable[[str, str, int], Awaitable[str]],
    ) -> Order:
        """The order's outcome, decided once and stored; a resend gets the stored one."""

        async def work(conn):
            known = await self._read(conn, order_id)
            if known is not None:
                return known
            try:
                if self._options.reserve == "steps":
                    status = await self._place_steps(conn, order_id, sku, qty)
                elif self._options.ship_stage == "in_transaction":
                    return await self._place_and_ship(conn, order_id, sku, qty, ship)
                else:
                    status = await conn.fetchval(PLACE, order_id, sku, qty)
            except asyncpg.UniqueViolationError:
                known = await self._read(conn, order_id)
                if known is None:
                    raise Unavailable("order vanished after a conflict") from None
                return known
            return Order(order_id, sku, qty, status)

        return await self._run(work)

    @staticmethod
    async def _place_steps(conn, order_id: str, sku: str, qty: int) -> str:
        async with conn.transaction():
            available = await conn.fetchval(
                "SELECT available FROM pyshop_stock WHERE sku = $1", sku)
            status = "rejected"
            if available is not None and available >= qty:
                await conn.execute(
                    "UPDATE pyshop_stock SET available = $2 WHERE sku = $1",
                    sku, available - qty)
                status = "accepted"
            await conn.execute(
                "INSERT INTO pyshop_orders (order_id, sku, qty, status)"
                " VALUES ($1, $2, $3, $4)", order_id, sku, qty, status)
        return status

    @staticmethod
    async def _place_and_ship(conn, order_id: str, sku: str, qty: int, ship) -> Order:
        async with conn.transaction():
            status = await conn.fetchval(PLACE, order_id, sku, qty)
            shipment_id = None
            if status == "accepted":
                shipment_id = await ship(order_id, sku, qty)
                await conn.execute(
                    "UPDATE pyshop_orders SET shipment_id = $2 WHERE order_id = $1",
                    order_id, shipment_id)
        return Order(order_id, sku, qty, status, shipment_id)

    # -- shipments owed -----------------------------------------------------

    async def owed_shipments(self, older_than_s: float, limit: int) -> list[Order]:
        """Accepted orders without a recorded shipment, oldest first (by the database's clock)."""

        async def work(conn):
            rows = await conn.fetch(
                "SELECT order_id, sku, qty, status, shipment_id FROM pyshop_orders"
                " WHERE status = 'accepted' AND shipment_id IS NULL"
                "   AND created_at < now() - make_interval(secs => $1)"
                " ORDER BY created_at LIMIT $2",
                older_than_s, limit)
            return [_order(r) for r in rows]

        return await self._run(work)

    async def mark_shipped(self, order_id: str, shipment_id: str) -> None:
        async def work(conn):
            await conn.execute(
                "UPDATE pyshop_orders SET shipment_id = $2"
                " WHERE order_id = $1 AND shipment_id IS NULL",
                order_id, shipment_id)
        await self._run(work)
