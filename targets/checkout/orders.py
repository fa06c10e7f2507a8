"""POST /orders, one function per step; a buggy variant swaps exactly one step.

Correct path (seed Step 8, Template 1), in one transaction: lock the order id and
return the recorded outcome if there is one; take the stock with a conditional
decrement; record the order (accepted or rejected, so a retry gets the same answer);
queue `order.accepted` in the outbox; commit; answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from targets.checkout.schema import ORDER_LOCK_CLASS, TOPIC
from targets.common.kafka import encode_message
from targets.common.outbox import add_to_outbox

RACE_WINDOW_S = 0.005
"""`read_then_write`: the pause between its read and its write, so races are real."""
PUBLISH_TIMEOUT_S = 1.0
"""`dual_write`: the most a request waits for the broker before giving up on the event."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Order:
    """One POST /orders body, already validated."""

    order_id: str
    sku: str
    qty: int

    def event(self) -> dict[str, Any]:
        """The `order.accepted` message the consumer ships from."""
        return {
            "type": "order.accepted",
            "order_id": self.order_id,
            "sku": self.sku,
            "qty": self.qty,
        }


@dataclass(frozen=True, slots=True)
class Stores:
    """What one serve replica talks to; `redis`/`producer` only for the variants using them."""

    variant: str
    pool: AsyncConnectionPool
    redis: aioredis.Redis | None = None
    producer: AIOKafkaProducer | None = None


async def place_order(stores: Stores, order: Order) -> str:
    """The order's outcome, "accepted" or "rejected", decided at most once per order_id."""
    async with stores.pool.connection() as conn, conn.transaction():
        if stores.variant != "no_idempotency":  # no_idempotency: a retry runs it all again
            prior = await _recorded_outcome(conn, order.order_id)
            if prior is not None:
                return prior
        take_stock = _TAKE_STOCK.get(stores.variant, _conditional_decrement)
        status = "accepted" if await take_stock(stores, conn, order) else "rejected"
        await conn.execute(
            "INSERT INTO orders (order_id, sku, qty, status) VALUES (%s, %s, %s, %s)",
            (order.order_id, order.sku, order.qty, status),
        )
        if status == "accepted" and stores.variant != "dual_write":
            await add_to_outbox(conn, TOPIC, order.order_id, order.event())
    if status == "accepted" and stores.variant == "dual_write":
        await _publish_after_commit(stores, order)
    return status


async def _recorded_outcome(conn: AsyncConnection[Any], order_id: str) -> str | None:
    """Serialise duplicates of one order_id, then return the outcome already stored."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (ORDER_LOCK_CLASS, order_id)
    )
    cur = await conn.execute(
        "SELECT status FROM orders WHERE order_id = %s ORDER BY id LIMIT 1", (order_id,)
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def _conditional_decrement(stores: Stores, conn: AsyncConnection[Any], order: Order) -> bool:
    """Correct: check and write in one statement under the row lock (CAS on the stock)."""
    cur = await conn.execute(
        "UPDATE inventory SET available = available - %s WHERE sku = %s AND available >= %s",
        (order.qty, order.sku, order.qty),
    )
    return cur.rowcount == 1


async def _read_then_write(stores: Stores, conn: AsyncConnection[Any], order: Order) -> bool:
    """Bug: check in Python, then write the value computed from a stale read."""
    cur = await conn.execute("SELECT available FROM inventory WHERE sku = %s", (order.sku,))
    row = await cur.fetchone()
    if row is None or row[0] < order.qty:
        return False
    await asyncio.sleep(RACE_WINDOW_S)
    await conn.execute(
        "UPDATE inventory SET available = %s WHERE sku = %s", (row[0] - order.qty, order.sku)
    )
    return True


async def _take_in_redis(stores: Stores, conn: AsyncConnection[Any], order: Order) -> bool:
    """Bug: Redis holds the live count; on a miss it is reloaded from the catalog stock.

    PostgreSQL keeps only the stock as last set, so after Redis loses its data the
    count restarts from there and the SKU sells again what it already sold.
    """
    assert stores.redis is not None
    key = redis_stock_key(order.sku)
    if not await stores.redis.exists(key):
        cur = await conn.execute("SELECT available FROM inventory WHERE sku = %s", (order.sku,))
        row = await cur.fetchone()
        await stores.redis.set(key, 0 if row is None else row[0], nx=True)
    if await stores.redis.decrby(key, order.qty) < 0:
        await stores.redis.incrby(key, order.qty)
        return False
    return True


_TAKE_STOCK = {"read_then_write": _read_then_write, "redis_truth": _take_in_redis}


async def _publish_after_commit(stores: Stores, order: Order) -> None:
    """Bug (dual_write): the event leaves after the commit, outside it; a failure loses it."""
    assert stores.producer is not None
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await stores.producer.send_and_wait(
                TOPIC, value=encode_message(order.event()), key=order.order_id.encode()
            )
    except Exception as exc:
        log.error("publish of %s failed after commit; shipment lost: %r", order.order_id, exc)


def redis_stock_key(sku: str) -> str:
    """Where `redis_truth` keeps a SKU's stock."""
    return f"checkout:stock:{sku}"


STOCK_QUERY = "SELECT available FROM inventory WHERE sku = %s"
REDIS_TRUTH_STOCK_QUERY = (
    "SELECT i.available - COALESCE(SUM(o.qty) FILTER (WHERE o.status = 'accepted'), 0)"
    " FROM inventory i LEFT JOIN orders o ON o.sku = i.sku WHERE i.sku = %s GROUP BY i.sku"
)
"""`redis_truth` never decrements PostgreSQL: report stock as set minus accepted orders,
which is what the correct variant would hold, so checkers see the oversell."""
