"""The three partner endpoints of CONTRACTS.md section 2: paths, request
validation and the success answer each one gives for a new effect.

Validation is strict about the fields the contract names and lenient about
extra ones, so a target that sends more than it must still works; the whole
body (extras included) is what an idempotency key is compared against.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.history.outcomes import EffectKind

CONTROL_PREFIX = "/_failmodel"  # the harness's control API; not part of the contract
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_IDEMPOTENCY_KEY = 255


class InvalidRequest(ValueError):
    """A request body or header does not follow the contract; the message says why."""


def _require_object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"body must be a JSON object (got {type(body).__name__})")
    return body


def _require_id(body: Mapping[str, Any], name: str) -> None:
    value = body.get(name)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequest(
            f"{name!r} must be a string of 1..64 characters from [A-Za-z0-9_-] (got {value!r})"
        )


def _require_positive_int(body: Mapping[str, Any], name: str) -> None:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequest(f"{name!r} must be a positive integer (got {value!r})")


def _require_pair_of_ids(body: Mapping[str, Any], name: str) -> None:
    value = body.get(name)
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidRequest(f"{name!r} must be a list of exactly 2 user ids (got {value!r})")
    for user in value:
        if not isinstance(user, str) or not _ID.fullmatch(user):
            raise InvalidRequest(
                f"{name!r} must hold ids of 1..64 characters from [A-Za-z0-9_-] (got {user!r})"
            )


def _check_charge(body: Mapping[str, Any]) -> None:
    _require_id(body, "reference")
    _require_positive_int(body, "amount")


def _check_shipment(body: Mapping[str, Any]) -> None:
    _require_id(body, "order_id")
    _require_id(body, "sku")
    _require_positive_int(body, "qty")


def _check_message(body: Mapping[str, Any]) -> None:
    _require_id(body, "match_id")
    _require_pair_of_ids(body, "users")


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSpec:
    """Everything that differs between the partner endpoints."""

    name: str
    path: str
    kind: EffectKind
    id_field: str
    id_prefix: str
    check: Callable[[Mapping[str, Any]], None]
    success_extra: Mapping[str, str]
    declinable: bool = False

    def validate(self, body: Any) -> Mapping[str, Any]:
        """The body, if it is a JSON object with the contract's fields; else `InvalidRequest`."""
        obj = _require_object(body)
        self.check(obj)
        return obj

    def new_effect_id(self) -> str:
        """An id unique across partner restarts."""
        return f"{self.id_prefix}{uuid.uuid4().hex}"

    def success(self, effect_id: str) -> dict[str, Any]:
        """The 200 body answered for the effect *effect_id*."""
        return {self.id_field: effect_id, **self.success_extra}


PSP = EndpointSpec(
    name="psp",
    path="/psp/charges",
    kind="charge",
    id_field="charge_id",
    id_prefix="ch_",
    check=_check_charge,
    success_extra={"status": "succeeded"},
    declinable=True,
)
WAREHOUSE = EndpointSpec(
    name="warehouse",
    path="/warehouse/shipments",
    kind="shipment",
    id_field="shipment_id",
    id_prefix="shp_",
    check=_check_shipment,
    success_extra={},
)
NOTIFY = EndpointSpec(
    name="notify",
    path="/notify/messages",
    kind="message",
    id_field="message_id",
    id_prefix="msg_",
    check=_check_message,
    success_extra={},
)

SPECS: tuple[EndpointSpec, ...] = (PSP, WAREHOUSE, NOTIFY)
SPEC_BY_NAME: Mapping[str, EndpointSpec] = {spec.name: spec for spec in SPECS}
SPEC_BY_KIND: Mapping[str, EndpointSpec] = {spec.kind: spec for spec in SPECS}
ENDPOINT_NAMES: tuple[str, ...] = tuple(SPEC_BY_NAME)


def validate_idempotency_key(raw: str | None) -> str | None:
    """The header value, or ``None`` when absent; an empty or overlong key is invalid."""
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(
            f"'Idempotency-Key' must be 1..{MAX_IDEMPOTENCY_KEY} characters (got {len(raw)})"
        )
    return raw
