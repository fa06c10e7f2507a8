"""Notifications: one message per completed transfer at the partner's
``POST /notify/messages``, sent by the relay from the outbox.

The partner's notify endpoint takes ``{"match_id", "users": [id, id]}`` (its
shape comes from the matching workload); a transfer's message fills them with
the transfer id and its two accounts, and adds ``transfer_id`` and ``amount``.
The relay sends each with ``Idempotency-Key: wallet-notify-<transfer_id>`` and
marks it sent only once the partner answered 200, so a lost answer, a crash
or a retry never sends a second message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from wallet import store

TIMEOUT = ClientTimeout(total=2.0)
POLL_S = 0.5
BACKOFF_MAX_S = 1.0
BATCH = 20

log = logging.getLogger("wallet.notify")


def message(transfer_id: str, from_id: str, to_id: str, amount: int) -> dict[str, Any]:
    return {
        "match_id": transfer_id,
        "users": [from_id, to_id],
        "transfer_id": transfer_id,
        "amount": amount,
    }


async def send(session: ClientSession, partner_url: str, body: dict[str, Any],
               key: str | None) -> bool:
    """POST the message; True once the partner answered 200."""
    headers = {"Idempotency-Key": key} if key else {}
    try:
        async with session.post(f"{partner_url}/notify/messages", json=body,
                                headers=headers) as answer:
            return answer.status == 200
    except (TimeoutError, ClientError) as exc:
        log.warning("notify %s: %r", body["transfer_id"], exc)
        return False


async def relay(database_url: str, partner_url: str) -> None:
    """Forever: send the unsent notifications, mark each sent after its 200;
    back off (bounded) while the partner or the database fails."""
    pool = await store.open_pool(database_url)
    await store.ensure_schema(pool)
    pause = POLL_S
    async with ClientSession(timeout=TIMEOUT) as session:
        while True:
            try:
                failed = False
                for row in await store.unsent(pool, BATCH):
                    body = message(row["transfer_id"], row["from_id"], row["to_id"],
                                   row["amount"])
                    if not await send(session, partner_url, body,
                                      f"wallet-notify-{row['transfer_id']}"):
                        failed = True
                        break
                    await store.mark_sent(pool, row["transfer_id"])
            except Exception as exc:  # the database may be away: try again later
                log.warning("relay round failed: %r", exc)
                failed = True
            pause = min(pause * 2, BACKOFF_MAX_S) if failed else POLL_S
            await asyncio.sleep(pause)


async def in_request(session: ClientSession, partner_url: str, row: store.Row,
                     amount: int, from_id: str, to_id: str) -> None:
    """notify_in_request's bug: after the commit, the request sends the message
    itself, without a key, retrying on errors: a lost answer sends it twice, a
    crash before it never."""
    body = message(row["transfer_id"], from_id, to_id, amount)
    for _ in range(3):
        if await send(session, partner_url, body, None):
            return
