"""Calls held in flight, so that the nemesis can kill their caller mid-call.

A hold is armed on an endpoint (or ``all``) for the next ``count`` calls. A held
call waits ``delay_ms`` before the partner looks at it; if its caller has hung
up by then (the nemesis killed it), the request is dropped unseen, as a request
still in transit is when its sender dies: no effect, no answer. Otherwise it is
handled as usual. With ``after_effect`` the partner acts first and holds the
answer instead: the caller dies knowing nothing of an effect that happened.
The nemesis learns that a call is being held by waiting on ``wait_holding``.
Those are the two windows of a call where a crash splits a write in two -- the
caller's own write done, the partner's effect not (an outbox row marked sent
before the call: at-most-once delivery), or the effect done and the caller's
record of it not (a charge before its payment row) -- and on loopback each is
far too short to hit by chance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.partner.endpoints import ENDPOINT_NAMES
from harness.partner.faults import ALL_ENDPOINTS, FAULT_TARGETS, MAX_DELAY_MS, InvalidFault

MAX_HOLD_COUNT = 1000


@dataclass(slots=True)
class _Armed:
    hold: Hold
    remaining: int


@dataclass(frozen=True, slots=True)
class Hold:
    """How one call is held: ``delay_ms`` long, before or after its effect; only a
    call of ``caller`` (a process with its own link), or of anyone."""

    delay_ms: int
    after_effect: bool = False
    caller: str | None = None


def parse_hold(data: Any) -> tuple[str, Hold, int]:
    """Read ``{"endpoint", "delay_ms", "after_effect"?, "caller"?, "count"?}`` into
    (endpoint, hold, count)."""
    if not isinstance(data, Mapping):
        raise InvalidFault(f"hold must be a JSON object (got {type(data).__name__})")
    endpoint = data.get("endpoint")
    if endpoint not in FAULT_TARGETS:
        raise InvalidFault(f"'endpoint' must be one of {list(FAULT_TARGETS)} (got {endpoint!r})")
    delay_ms, count = data.get("delay_ms"), data.get("count", 1)
    limits = (("delay_ms", delay_ms, MAX_DELAY_MS), ("count", count, MAX_HOLD_COUNT))
    for name, value, high in limits:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= high:
            raise InvalidFault(f"{name!r} must be an integer in 1..{high} (got {value!r})")
    after_effect = data.get("after_effect", False)
    if not isinstance(after_effect, bool):
        raise InvalidFault(f"'after_effect' must be true or false (got {after_effect!r})")
    caller = data.get("caller")
    if caller is not None and not isinstance(caller, str):
        raise InvalidFault(f"'caller' must be a process name or null (got {caller!r})")
    assert isinstance(delay_ms, int) and isinstance(count, int)
    return endpoint, Hold(delay_ms, after_effect, caller), count


class HoldBoard:
    """The armed holds per endpoint and how many calls are held right now.

    Lives on the partner's event loop; every method but ``wait_holding`` runs
    without an await point, so arming, taking and counting never interleave."""

    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}
        self._holding = 0
        self._changed = asyncio.Event()

    def arm(self, endpoint: str, hold: Hold, count: int) -> None:
        names = ENDPOINT_NAMES if endpoint == ALL_ENDPOINTS else (endpoint,)
        for name in names:
            self._armed[name] = _Armed(hold, count)

    def clear(self) -> None:
        self._armed.clear()

    def take(self, endpoint: str, caller: str | None) -> Hold | None:
        """The hold for the call of ``caller`` arriving now, spending one."""
        armed = self._armed.get(endpoint)
        if armed is None or armed.hold.caller not in (None, caller):
            return None
        armed.remaining -= 1
        if armed.remaining == 0:
            del self._armed[endpoint]
        return armed.hold

    async def hold(self, hold: Hold) -> None:
        """Hold a call ``hold.delay_ms``, counted as held meanwhile."""
        self._holding += 1
        self._changed.set()
        try:
            await asyncio.sleep(hold.delay_ms / 1000)
        finally:
            self._holding -= 1

    async def wait_holding(self, timeout_s: float) -> int:
        """How many calls are held, as soon as one is or after ``timeout_s`` (then 0)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._holding == 0 and (left := deadline - loop.time()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self._holding

    def to_json(self) -> dict[str, Any]:
        armed = {
            name: {
                "delay_ms": a.hold.delay_ms,
                "after_effect": a.hold.after_effect,
                "caller": a.hold.caller,
                "remaining": a.remaining,
            }
            for name, a in self._armed.items()
        }
        return {"armed": armed, "holding": self._holding}
