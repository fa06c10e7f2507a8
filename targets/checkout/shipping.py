"""The `relay` and `consumer` roles: outbox -> `checkout.orders` -> partner warehouse.

Correct consumer (seed Step 6.4: propagation needs an idempotent consumer): skip an
order already in `shipments_done`, call the warehouse with `Idempotency-Key:
ship-<order_id>` (so a redelivery after a crash between the call and the record is
answered from the partner's memory), record it, then let the loop commit the offset.
`non_idempotent_consumer` drops both guards: a redelivery ships again.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from targets.checkout.schema import CONSUMER_GROUP, DDL, SCHEMA_LOCK, TOPIC
from targets.common.config import TargetEnv
from targets.common.consumer import run_consumer
from targets.common.db import ensure_schema, open_pool
from targets.common.kafka import ensure_topic, start_producer
from targets.common.outbox import relay_poll_s, run_relay
from targets.common.partner import PartnerClient

log = logging.getLogger(__name__)


async def relay_role(env: TargetEnv) -> None:
    """Publish the outbox to Kafka until cancelled."""
    bootstrap = env.require("kafka_bootstrap")
    pool = await open_pool(env.require("database_url"), max_size=2)
    try:
        await ensure_schema(pool, DDL, lock_key=SCHEMA_LOCK)
        await ensure_topic(bootstrap, TOPIC)
        producer = await start_producer(bootstrap)
        try:
            await run_relay(pool, producer, poll_s=relay_poll_s(env.variant))
        finally:
            await producer.stop()
    finally:
        await pool.close()


async def consumer_role(env: TargetEnv) -> None:
    """Ship every accepted order until cancelled."""
    bootstrap = env.require("kafka_bootstrap")
    partner_url = env.require("partner_url")
    pool = await open_pool(env.require("database_url"), max_size=2)
    try:
        await ensure_schema(pool, DDL, lock_key=SCHEMA_LOCK)
        await ensure_topic(bootstrap, TOPIC)
        async with PartnerClient(partner_url) as partner:
            shipper = Shipper(pool, partner, idempotent=env.variant != "non_idempotent_consumer")
            await run_consumer(bootstrap, TOPIC, CONSUMER_GROUP, shipper.handle)
    finally:
        await pool.close()


class Shipper:
    """Turns one `order.accepted` message into one warehouse shipment."""

    def __init__(self, pool: AsyncConnectionPool, partner: PartnerClient, *, idempotent: bool):
        self._pool = pool
        self._partner = partner
        self._idempotent = idempotent

    async def handle(self, message: dict[str, Any]) -> None:
        """Ship the order; raise (so the loop retries) unless the warehouse said 200."""
        if message.get("type") != "order.accepted":
            log.warning("ignoring message %r", message)
            return
        order_id = str(message["order_id"])
        if self._idempotent and await self._already_shipped(order_id):
            return
        status, body = await self._partner.post(
            "/warehouse/shipments",
            {"order_id": order_id, "sku": message["sku"], "qty": message["qty"]},
            idempotency_key=f"ship-{order_id}" if self._idempotent else None,
        )
        if status != 200:
            raise RuntimeError(f"warehouse refused {order_id}: HTTP {status} {body!r}")
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO shipments_done (order_id, shipment_id) VALUES (%s, %s)"
                " ON CONFLICT (order_id) DO NOTHING",
                (order_id, str(body.get("shipment_id", "")) if isinstance(body, dict) else ""),
            )
        log.info("shipped %s", order_id)

    async def _already_shipped(self, order_id: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM shipments_done WHERE order_id = %s", (order_id,)
            )
            return await cur.fetchone() is not None
