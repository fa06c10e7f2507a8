"""Final reads: after quiescence, read back every key an example touched.

The keys come from the recorded history itself, so nothing else has to keep
a list in step with what the workload really sent. A read that stays
indeterminate after a few bounded retries leaves its key absent from the
`FinalState`: checkers treat absent as unknown, never as missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.history import Event, FinalState, History
from harness.workload.client import WorkloadClient
from harness.workload.ops import OpSpec

READ_ATTEMPTS = 3
READ_BACKOFF_S = 0.05
READ_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Read:
    """A final read: ``f`` with ``field`` = each id found under ``sources``,
    stored in the `FinalState` attribute ``slot``."""

    f: str
    field: str
    sources: tuple[str, ...]
    slot: str
    not_found_known: bool  # a 404 means "does not exist" (None), not unknown


_READS: Mapping[str, tuple[_Read, ...]] = {
    "inventory": (
        _Read(f="read_stock", field="sku", sources=("sku",), slot="stock",
              not_found_known=False),
        _Read(f="read_order", field="order_id", sources=("order_id",), slot="orders",
              not_found_known=True),
    ),
    "payments": (
        _Read(f="read_payment", field="payment_id", sources=("payment_id",), slot="payments",
              not_found_known=True),
    ),
    "matching": (
        _Read(f="read_matches", field="user", sources=("swiper", "swipee", "user"),
              slot="matches", not_found_known=False),
    ),
}


def touched_keys(workload: str, history: History) -> dict[str, list[str]]:
    """Per read ``f``, the ids the client operations of ``history`` named, sorted."""
    if workload not in _READS:
        raise ValueError(f"'workload' must be one of {sorted(_READS)} (got {workload!r})")
    keys: dict[str, set[str]] = {read.f: set() for read in _READS[workload]}
    for event in history:
        body = event.value.get("body") if event.type == "invoke" else None
        if not isinstance(body, Mapping):
            continue
        for read in _READS[workload]:
            keys[read.f].update(
                body[s] for s in read.sources if isinstance(body.get(s), str)
            )
    return {f: sorted(ids) for f, ids in keys.items()}


async def _settled_read(
    client: WorkloadClient, spec: OpSpec, *, attempts: int, backoff_s: float
) -> Event | None:
    """The first ``ok`` answer within ``attempts`` reads, or None."""
    for n in range(attempts):
        if n:
            await asyncio.sleep(backoff_s * 2 ** (n - 1))
        (completion,) = await client.execute(spec)
        if completion.type == "ok":
            return completion
    return None


async def final_state(
    client: WorkloadClient,
    *,
    process: int = 0,
    node: int = 0,
    timeout_s: float = READ_TIMEOUT_S,
    attempts: int = READ_ATTEMPTS,
    backoff_s: float = READ_BACKOFF_S,
) -> FinalState:
    """Read every key the recorder's history touched (phase ``final``) into a `FinalState`."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"'attempts' must be an int >= 1 (got {attempts!r})")
    keys = touched_keys(client.workload, client.recorder.history())
    client.recorder.set_phase("final")
    plan = [
        (read, key, OpSpec(f=read.f, body={read.field: key}, process=process, node=node,
                           timeout_s=timeout_s))
        for read in _READS[client.workload]
        for key in keys[read.f]
    ]
    answers = await asyncio.gather(
        *(_settled_read(client, spec, attempts=attempts, backoff_s=backoff_s)
          for _, _, spec in plan)
    )
    slots: dict[str, dict[str, Any]] = {read.slot: {} for read in _READS[client.workload]}
    for (read, key, _), answer in zip(plan, answers, strict=True):
        if answer is None:
            continue
        if answer.value["status"] == 200:
            body = answer.value["body"]
            slots[read.slot][key] = tuple(body["matches"]) if read.slot == "matches" else body
        elif read.not_found_known:
            slots[read.slot][key] = None
    return FinalState(workload=client.workload, **slots)
