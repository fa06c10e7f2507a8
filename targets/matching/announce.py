"""The `relay` and `consumer` roles: match events from the outbox to the partner's notify.

The relay is at-least-once (common.outbox), so the announcement carries
`Idempotency-Key: match-<match_id>`: a redelivered event is not a second message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from targets.common.config import TargetEnv
from targets.common.consumer import Handle, run_consumer
from targets.common.kafka import ensure_topic, start_consumer, start_producer
from targets.common.outbox import relay_poll_s, run_relay
from targets.common.partner import PartnerClient
from targets.matching.store import MATCHES_TOPIC, open_store

NOTIFY_PATH = "/notify/messages"
GROUP = "matching-announcer"
NOTIFY_TIMEOUT_S = 2.0
COMMIT_TIMEOUT_S = 5.0

log = logging.getLogger(__name__)


class AnnouncementRefused(RuntimeError):
    """The partner gave a definite answer other than 200; the event is retried."""


async def run_relay_role(env: TargetEnv) -> None:
    """Publish the outbox to `matching.matches` until cancelled."""
    bootstrap = env.require("kafka_bootstrap")
    pool = await open_store(env)
    try:
        await ensure_topic(bootstrap, MATCHES_TOPIC)
        producer = await start_producer(bootstrap)
        try:
            await run_relay(pool, producer, poll_s=relay_poll_s(env.variant))
        finally:
            await producer.stop()
    finally:
        await pool.close()


async def run_consumer_role(env: TargetEnv) -> None:
    """Announce every match event until cancelled."""
    bootstrap = env.require("kafka_bootstrap")
    async with PartnerClient(env.require("partner_url"), timeout_s=NOTIFY_TIMEOUT_S) as partner:

        async def handle(event: dict[str, Any]) -> None:
            await announce(partner, event)

        await ensure_topic(bootstrap, MATCHES_TOPIC)
        if env.variant == "at_most_once_consumer":
            await _commit_then_handle(bootstrap, handle)
        else:
            await run_consumer(bootstrap, MATCHES_TOPIC, GROUP, handle)


async def announce(partner: PartnerClient, event: dict[str, Any]) -> None:
    """Send one announcement; returns only once the partner answered 200."""
    match_id, users = event.get("match_id"), event.get("users")
    if not isinstance(match_id, str) or not isinstance(users, list):
        log.error("dropping malformed match event %r", event)
        return
    status, body = await partner.post(
        NOTIFY_PATH, {"match_id": match_id, "users": users},
        idempotency_key=f"match-{match_id}",
    )
    if status != 200:
        raise AnnouncementRefused(f"notify answered {status} for {match_id}: {body!r}")
    log.info("announced match %s", match_id)


async def _commit_then_handle(bootstrap: str, handle: Handle) -> None:
    """The at_most_once_consumer bug: commit each offset first, then try to announce once."""
    consumer = await start_consumer(bootstrap, MATCHES_TOPIC, GROUP)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=50)
            for partition, records in batches.items():
                for record in records:
                    async with asyncio.timeout(COMMIT_TIMEOUT_S):
                        await consumer.commit({partition: record.offset + 1})
                    try:
                        event = json.loads(record.value or b"null")
                        await handle(event if isinstance(event, dict) else {})
                    except Exception as exc:
                        log.warning("announcement at offset %d lost: %r", record.offset, exc)
    finally:
        await consumer.stop()
