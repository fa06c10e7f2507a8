"""Transactional outbox + relay: an event is stored with the state change, then published.

The business transaction inserts the event row; the relay publishes unpublished rows,
waits for the broker's ack and only then marks them. A crash anywhere between publish
and mark republishes the rows (at-least-once), so consumers must be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from targets.common.kafka import encode_message

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    key text,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
"""

ROUND_TIMEOUT_S = 15.0
SLOW_RELAY_POLL_S = 10.0
"""The `slow_relay` variant's poll interval: correct, but events wait up to 10 s."""


def relay_poll_s(variant: str) -> float:
    """How often a relay looks at the outbox: every 50 ms, or every 10 s in `slow_relay`."""
    return SLOW_RELAY_POLL_S if variant == "slow_relay" else 0.05
"""Cap on one claim-publish-mark round, so a hung broker or database cannot stall the relay."""

log = logging.getLogger(__name__)


async def add_to_outbox(
    conn: AsyncConnection[Any], topic: str, key: str | None, payload: dict[str, Any]
) -> None:
    """Queue an event; call inside the transaction that makes the change it announces."""
    await conn.execute(
        "INSERT INTO outbox (topic, key, payload) VALUES (%s, %s, %s)",
        (topic, key, Jsonb(payload)),
    )


async def run_relay(
    pool: AsyncConnectionPool,
    producer: AIOKafkaProducer,
    *,
    batch: int = 100,
    poll_s: float = 0.05,
) -> None:
    """Publish the outbox forever; errors are logged and retried with capped backoff.

    Rows are claimed with FOR UPDATE SKIP LOCKED, so several relays can run at once
    without publishing the same row concurrently.
    """
    delay = poll_s
    while True:
        try:
            async with asyncio.timeout(ROUND_TIMEOUT_S):
                published = await _relay_round(pool, producer, batch)
            delay = poll_s
        except Exception as exc:
            log.warning("relay round failed, retrying in %.2f s: %r", delay, exc)
            published = 0
            delay = min(delay * 2, 2.0)
        if published < batch:
            await asyncio.sleep(delay)


async def _relay_round(pool: AsyncConnectionPool, producer: AIOKafkaProducer, batch: int) -> int:
    """Claim up to `batch` rows, publish them, await every ack, mark them; the row count."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (batch,),
        )
        rows = await cur.fetchall()
        if not rows:
            return 0
        acks = [
            await producer.send(
                topic,
                value=encode_message(payload),
                key=None if key is None else key.encode(),
            )
            for _id, topic, key, payload in rows
        ]
        await asyncio.gather(*acks)
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY(%s)",
            ([row[0] for row in rows],),
        )
    log.info("published %d outbox rows", len(rows))
    return len(rows)
