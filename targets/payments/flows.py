"""`POST /payments` per variant: where the dedup gate sits relative to the charge.

Side by side: `correct` and `psp_retry_without_key` claim first (they differ only in the
PSP key policy, see psp.py); the other three charge before anything is stored.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from targets.common.partner import PartnerClient
from targets.payments import psp, store
from targets.payments.store import Payment

VARIANTS = (
    "correct",
    "psp_retry_without_key",
    "check_then_act",
    "no_idempotency",
    "dual_write",
    "inline_psp_retry",
)
_CLAIM_FIRST = ("correct", "psp_retry_without_key", "inline_psp_retry")


class PaymentIdReused(ValueError):
    """A payment_id was sent again with a different order_id or amount."""


async def pay(
    variant: str, pool: AsyncConnectionPool, partner: PartnerClient, request: Payment
) -> Payment:
    """Take the payment once and return what is stored for it (pending if unknown)."""
    if variant in _CLAIM_FIRST:
        stored = _same(await store.claim(pool, request), request)
        if stored.status != "pending":
            return stored
        outcome = await psp.charge(variant, partner, stored)
        return await store.settle(pool, stored.payment_id, outcome)
    if variant == "check_then_act":
        found = await store.find(pool, request.payment_id)
        if found is not None:
            return _same(found, request)
    outcome = await psp.charge(variant, partner, request)
    return await store.record(pool, outcome, overwrite=variant == "no_idempotency")


def _same(stored: Payment, request: Payment) -> Payment:
    if not stored.same_request(request):
        raise PaymentIdReused(
            f"payment_id {request.payment_id!r} was already used with order_id"
            f" {stored.order_id!r} and amount {stored.amount}"
        )
    return stored
