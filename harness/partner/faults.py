"""Fault modes the harness sets on partner endpoints through the control API.

Each endpoint has at most one active fault; setting a new one replaces it.
A fault with a ``count`` fires on that many well-formed requests, then clears
itself; without one it stays until cleared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeAlias, get_args

from harness.partner.endpoints import ENDPOINT_NAMES

FaultMode: TypeAlias = Literal["fail_before", "fail_after", "fail_after_drop", "slow"]
FAULT_MODES: tuple[str, ...] = get_args(FaultMode)
ALL_ENDPOINTS = "all"
FAULT_TARGETS: tuple[str, ...] = (*ENDPOINT_NAMES, ALL_ENDPOINTS)
MAX_DELAY_MS = 600_000


class InvalidFault(ValueError):
    """A fault request names an unknown endpoint or mode, or a bad count or delay."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One active fault; ``remaining`` is ``None`` for "until cleared"."""

    mode: FaultMode
    remaining: int | None = None
    delay_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "remaining": self.remaining, "delay_ms": self.delay_ms}


def _optional_int(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFault(f"{name!r} must be an integer (got {value!r})")
    return value


def parse_fault(data: Any) -> tuple[str, Fault]:
    """Read ``{"endpoint", "mode", "count"?, "delay_ms"?}`` into (endpoint, fault)."""
    if not isinstance(data, dict):
        raise InvalidFault(f"fault must be a JSON object (got {type(data).__name__})")
    endpoint = data.get("endpoint")
    if endpoint not in FAULT_TARGETS:
        raise InvalidFault(f"'endpoint' must be one of {list(FAULT_TARGETS)} (got {endpoint!r})")
    mode = data.get("mode")
    if mode not in FAULT_MODES:
        raise InvalidFault(f"'mode' must be one of {list(FAULT_MODES)} (got {mode!r})")
    count = _optional_int(data, "count")
    if count is not None and count <= 0:
        raise InvalidFault(f"'count' must be a positive integer or null (got {count})")
    delay_ms = _optional_int(data, "delay_ms") or 0
    if mode == "slow" and not 0 < delay_ms <= MAX_DELAY_MS:
        raise InvalidFault(
            f"'delay_ms' must be in 1..{MAX_DELAY_MS} for mode 'slow' (got {delay_ms})"
        )
    if mode != "slow" and delay_ms != 0:
        raise InvalidFault(f"'delay_ms' only applies to mode 'slow' (got {delay_ms} for {mode!r})")
    return endpoint, Fault(mode=mode, remaining=count, delay_ms=delay_ms)


class FaultBoard:
    """The active fault of each endpoint."""

    def __init__(self) -> None:
        self._active: dict[str, Fault] = {}

    def set(self, endpoint: str, fault: Fault) -> None:
        """Put *fault* on *endpoint*, or on every endpoint for ``"all"``."""
        names = ENDPOINT_NAMES if endpoint == ALL_ENDPOINTS else (endpoint,)
        for name in names:
            self._active[name] = fault

    def clear(self) -> None:
        self._active.clear()

    def take(self, endpoint: str) -> Fault | None:
        """The fault that applies to the request arriving now, spending one of its count."""
        fault = self._active.get(endpoint)
        if fault is None or fault.remaining is None:
            return fault
        if fault.remaining == 1:
            del self._active[endpoint]
        else:
            self._active[endpoint] = replace(fault, remaining=fault.remaining - 1)
        return fault

    def to_json(self) -> dict[str, Any]:
        return {name: fault.to_json() for name, fault in self._active.items()}
