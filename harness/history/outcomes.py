"""What a checker reads besides the history: the target's final state and the
partner's ledgers of side effects (the ground truth for the outside world)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from harness.history.events import _freeze, thaw

EffectKind: TypeAlias = Literal["charge", "shipment", "message"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """One effective side effect recorded by the partner service.

    A repeated idempotency key with the same body is *not* a new effect, so
    the ledger holds exactly the effects the outside world saw.
    ``body`` is the request body (``reference``/``amount`` for a charge,
    ``order_id``/``sku``/``qty`` for a shipment, ``match_id``/``users`` for a
    message); ``effect_id`` is the id the partner answered with.
    """

    kind: EffectKind
    effect_id: str
    body: Mapping[str, Any]
    idempotency_key: str | None = None
    time: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", _freeze(self.body))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "effect_id": self.effect_id,
            "body": thaw(self.body),
            "idempotency_key": self.idempotency_key,
            "time": self.time,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Effect:
        return cls(
            kind=data["kind"],
            effect_id=str(data["effect_id"]),
            body=data.get("body") or {},
            idempotency_key=data.get("idempotency_key"),
            time=float(data.get("time", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Ledgers:
    """All effects the partner recorded during one example."""

    effects: tuple[Effect, ...] = ()

    def of(self, kind: EffectKind) -> tuple[Effect, ...]:
        return tuple(e for e in self.effects if e.kind == kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalState:
    """The target's state as read after quiescence through the contract's GETs.

    Keys map to the response body of the read, or ``None`` when the target
    answered 404. A key whose read was indeterminate (timeout, 5xx) is absent:
    checkers must treat absent keys as unknown, never as missing.

    - ``inventory``: ``stock`` sku -> {"sku", "available"};
      ``orders`` order_id -> {"order_id", "sku", "qty", "status"} | None
    - ``payments``: ``payments`` payment_id -> {"payment_id", "status", "charge_id"?} | None
    - ``matching``: ``matches`` user -> [{"match_id", "users": [a, b]}, ...]
    """

    workload: str
    stock: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    orders: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    payments: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    matches: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("stock", "orders", "payments", "matches"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))

    def of(self, slot: str) -> Mapping[str, Any]:
        """The settled reads of one final-read slot (``stock``, ``orders``, ...):
        key -> answer body, or None when the target said the key does not exist."""
        value: Mapping[str, Any] = getattr(self, slot)
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "stock": thaw(self.stock),
            "orders": thaw(self.orders),
            "payments": thaw(self.payments),
            "matches": thaw(self.matches),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FinalState:
        return cls(
            workload=str(data["workload"]),
            stock=data.get("stock") or {},
            orders=data.get("orders") or {},
            payments=data.get("payments") or {},
            matches=data.get("matches") or {},
        )
