"""Kafka: idempotent topic creation and producers/consumers with bounded start-up retries."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

START_WAIT_S = 30.0
"""How long start-up keeps retrying an unreachable broker before giving up."""

REQUEST_TIMEOUT_MS = 5000
"""Cap on each broker request, so a cut link surfaces as an error instead of a hang."""

T = TypeVar("T")
log = logging.getLogger(__name__)


async def ensure_topic(bootstrap: str, topic: str, *, partitions: int = 1) -> None:
    """Create `topic` unless it exists; safe when several processes do it at once."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS
        )
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
            )
        finally:
            await admin.close()
        for _name, code, *_ in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise for_code(code)(f"creating topic {topic!r}")

    await _retrying(f"create topic {topic!r} at {bootstrap}", create)


async def start_producer(
    bootstrap: str, *, request_timeout_ms: int | None = None
) -> AIOKafkaProducer:
    """A started idempotent producer that waits for all in-sync replicas (acks=all).

    Idempotence stops the broker from storing a batch twice when the producer retries
    after a lost ack; duplicates from a relay crash are left to the consumers.
    ``request_timeout_ms`` also bounds how long an undeliverable batch waits in the
    producer's buffer before it expires (and its messages are gone).
    """

    async def start() -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=request_timeout_ms or REQUEST_TIMEOUT_MS,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    return await _retrying(f"start producer at {bootstrap}", start)


async def start_consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    """A started consumer of `topic` in `group`; the caller commits after processing."""

    async def start() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=REQUEST_TIMEOUT_MS * 2,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            # Static membership: a consumer restarted after a crash takes its
            # partitions back at once instead of stalling the group until the
            # dead member's session times out.
            group_instance_id=f"{group}-{os.environ.get('INSTANCE_ID', '0')}",
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    return await _retrying(f"start consumer of {topic!r} at {bootstrap}", start)


async def _retrying(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()` retried with capped backoff on Kafka/OS errors until START_WAIT_S passes."""
    deadline = time.monotonic() + START_WAIT_S
    delay = 0.1
    while True:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_MS / 1000 * 2):
                return await attempt()
        except (KafkaError, OSError, TimeoutError) as exc:
            if time.monotonic() + delay > deadline:
                raise ConnectionError(
                    f"could not {what} within {START_WAIT_S:.0f} s: {exc!r}"
                ) from exc
            log.info("retrying %s after %r", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def encode_message(payload: dict[str, Any]) -> bytes:
    """The wire form of every message the targets publish: a UTF-8 JSON object."""
    return json.dumps(payload, separators=(",", ":")).encode()
