"""At-least-once consumer loop: commit a message's offset only after its handler succeeded."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from targets.common.kafka import start_consumer

Handle = Callable[[dict[str, Any]], Awaitable[None]]

HANDLE_TIMEOUT_S = 10.0
"""Cap on one handler attempt; a timed-out attempt is retried like a failed one."""

MAX_BACKOFF_S = 2.0

log = logging.getLogger(__name__)


async def run_consumer(bootstrap: str, topic: str, group: str, handle: Handle) -> None:
    """Consume `topic` in `group` forever (until cancelled).

    A failing handler is retried with capped backoff and never skipped, so a message
    is either handled and committed, or redelivered after a crash: handlers must be
    idempotent. Only a message that is not a JSON object is logged and skipped.
    """
    consumer = await start_consumer(bootstrap, topic, group)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=50)
            for partition, records in batches.items():
                for record in records:
                    await _handle_until_done(record, handle)
                    await _commit(consumer, partition, record.offset + 1)
    finally:
        await consumer.stop()


async def _handle_until_done(record: ConsumerRecord[bytes, bytes], handle: Handle) -> None:
    try:
        message = json.loads(record.value or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        message = None
    if not isinstance(message, dict):
        log.error("skipping malformed message at offset %d: %r", record.offset, record.value)
        return
    delay = 0.05
    while True:
        try:
            async with asyncio.timeout(HANDLE_TIMEOUT_S):
                await handle(message)
            return
        except Exception as exc:
            log.warning(
                "handler failed at offset %d, retrying in %.2f s: %r", record.offset, delay, exc
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)


async def _commit(consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int) -> None:
    """Commit `offset`; a failed commit only means redelivery later, so it is logged."""
    try:
        async with asyncio.timeout(HANDLE_TIMEOUT_S):
            await consumer.commit({partition: offset})
    except Exception as exc:
        log.warning("commit of offset %d failed (will be redelivered): %r", offset, exc)
