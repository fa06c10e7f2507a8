"""The `reconciler` role: resolve payments left pending by a crash or an unknown PSP answer.

It charges again with the variant's key policy; with the stable key the PSP answers the
first outcome, so resolving never charges twice.
"""

from __future__ import annotations

import asyncio
import logging

from targets.common.config import TargetEnv
from targets.payments import psp, store
from targets.payments.deps import Deps

BATCH = 20
IDLE_S = 0.2
ERROR_BACKOFF_S = 1.0

log = logging.getLogger(__name__)


async def run_reconciler(env: TargetEnv) -> None:
    """Resolve due pending payments until cancelled; store errors are logged and retried."""
    deps = Deps(env)
    await deps.open()
    log.info("reconciler ready")
    try:
        while True:
            try:
                resolved = await reconcile_once(env.variant, deps)
            except Exception as exc:
                log.warning("reconcile round failed: %r", exc)
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            if resolved < BATCH:
                await asyncio.sleep(IDLE_S)
    finally:
        await deps.close()


async def reconcile_once(variant: str, deps: Deps) -> int:
    """One round over the due payments, charged concurrently; how many were due."""
    due = await store.take_due(deps.pool, limit=BATCH)

    async def resolve(payment: store.Payment) -> None:
        outcome = await psp.charge(variant, deps.partner, payment)
        settled = await store.settle(deps.pool, payment.payment_id, outcome)
        log.info("payment %s is %s", payment.payment_id, settled.status)

    await asyncio.gather(*(resolve(payment) for payment in due))
    return len(due)
