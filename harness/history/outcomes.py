"""What a checker reads besides the history: the target's final state and the
partner's ledgers of side effects (the ground truth for the outside world)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
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


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalState:
    """The target's state as read after quiescence through the workload's final
    reads (`harness.workload.api.FinalRead`), slot by slot.

    ``values[slot]`` maps each key read to the response body, or ``None`` when
    the target answered 404 and the read says that means "does not exist". A
    key whose read was indeterminate (timeout, 5xx) is absent: checkers must
    treat absent keys as unknown, never as missing. The built-in workloads'
    slots: ``stock`` (sku -> {"sku", "available"}) and ``orders`` (order_id ->
    {"order_id", "sku", "qty", "status"} | None); ``payments`` (payment_id ->
    {"payment_id", "status", "charge_id"?} | None); ``matches`` (user ->
    {"matches": [{"match_id", "users": [a, b]}, ...]}).
    """

    workload: str
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _freeze(self.values))

    def of(self, slot: str) -> Mapping[str, Any]:
        """The settled reads of one final-read slot (``stock``, ``orders``, ...):
        key -> answer body, or None when the target said the key does not
        exist. A slot the workload does not read (or nothing was read into) is empty."""
        value: Mapping[str, Any] = self.values.get(slot, _EMPTY)
        return value

    def to_json(self) -> dict[str, Any]:
        return {"workload": self.workload, "values": thaw(self.values)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FinalState:
        return cls(workload=str(data["workload"]), values=data.get("values") or {})
