"""Behaviour switches, chosen by the variant name (FAILMODEL_VARIANT / --variant)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    # how POST /orders takes stock: "statement" or "steps"
    reserve: str = "statement"
    # HTTP status answered when an order outlives ORDER_DEADLINE_S: 503 or 409
    deadline_status: int = 503
    # what the warehouse Idempotency-Key is derived from: "order" or "call"
    ship_key: str = "order"
    # where the first shipment call is made: "after_commit" or "in_transaction"
    ship_stage: str = "after_commit"


VARIANTS: dict[str, Options] = {
    "correct": Options(),
    "variant_a": Options(reserve="steps"),
    "variant_b": Options(deadline_status=409),
    "variant_c": Options(ship_key="call"),
    "variant_d": Options(ship_stage="in_transaction"),
}
