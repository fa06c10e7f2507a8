"""One charge attempt at the partner's PSP, with the idempotency-key policy of each variant."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace

from targets.common.partner import PartnerClient, PartnerUnavailable
from targets.payments.store import Payment

CHARGES_PATH = "/psp/charges"
PSP_TIMEOUT_S = 2.0
"""Cap on one PSP call; a slower answer counts as unavailable (the payment stays pending)."""

INLINE_RETRIES = 3
INLINE_BACKOFF_S = 0.5
"""`inline_psp_retry`: retries of an unknown outcome inside the request, 0.5 s, 1 s, 1.5 s apart."""

log = logging.getLogger(__name__)


def idempotency_key(variant: str, payment_id: str) -> str | None:
    """The key the PSP dedups on: stable per payment only where the design says so."""
    if variant in ("psp_retry_without_key", "check_then_act"):
        return None
    if variant == "no_idempotency":
        return f"pay-{payment_id}-{uuid.uuid4().hex}"
    return f"pay-{payment_id}"


async def charge(variant: str, psp: PartnerClient, payment: Payment) -> Payment:
    """`payment` as the PSP decided it: captured, declined, or still pending if unknown.

    `psp_retry_without_key` retries an unknown outcome once, still without a key;
    `inline_psp_retry` retries it with backoff inside the request, with the same key
    (safe, but the answer waits: the latency budget is spent on the retries).
    """
    key = idempotency_key(variant, payment.payment_id)
    outcome = await _attempt(psp, payment, key)
    if variant == "psp_retry_without_key" and outcome.status == "pending":
        outcome = await _attempt(psp, payment, None)
    if variant == "inline_psp_retry":
        for attempt in range(1, INLINE_RETRIES + 1):
            if outcome.status != "pending":
                break
            await asyncio.sleep(INLINE_BACKOFF_S * attempt)
            outcome = await _attempt(psp, payment, key)
    return outcome


async def _attempt(psp: PartnerClient, payment: Payment, key: str | None) -> Payment:
    body = {"reference": payment.payment_id, "amount": payment.amount}
    try:
        status, answer = await psp.post(CHARGES_PATH, body, idempotency_key=key)
    except PartnerUnavailable as exc:
        log.info("PSP unavailable for %s: %s", payment.payment_id, exc)
        return replace(payment, status="pending", charge_id=None)
    charge_id = answer.get("charge_id") if isinstance(answer, dict) else None
    if status == 200 and isinstance(charge_id, str):
        return replace(payment, status="captured", charge_id=charge_id)
    if status == 402:
        return replace(payment, status="declined", charge_id=None)
    log.warning("PSP gave an undocumented answer for %s: %s %r", payment.payment_id, status,
                answer)
    return replace(payment, status="pending", charge_id=None)
