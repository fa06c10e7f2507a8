"""`PartnerControl`: the harness's client for the partner's control API.

Synchronous and stdlib-only on purpose: the nemesis calls it from threads, and
it talks to the partner's real port, never through Toxiproxy.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from harness.history.outcomes import Effect, Ledgers
from harness.partner.endpoints import CONTROL_PREFIX

MAX_WAIT_MS = 4_000
"""The longest wait for a held call in one request: well within ``timeout``."""


class PartnerUnavailable(ConnectionError):
    """The partner's control API did not answer, or answered something unexpected."""


def _error_text(exc: urllib.error.HTTPError) -> str:
    """The partner's ``{"error": ...}`` message, or the raw body if it is not one."""
    raw = exc.read().decode(errors="replace")
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw


class PartnerControl:
    """Sets faults and declines on a running partner and reads its ledger and stats."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        if not url.startswith("http://"):
            raise ValueError(f"'url' must start with http:// (got {url!r})")
        if timeout <= 0:
            raise ValueError(f"'timeout' must be > 0 seconds (got {timeout})")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        """One control request; a 400 becomes `ValueError` with the partner's reason."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}{CONTROL_PREFIX}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            reason = _error_text(exc)
            if exc.code == 400:
                raise ValueError(reason) from exc
            raise PartnerUnavailable(
                f"partner {method} {path} answered {exc.code}: {reason}"
            ) from exc
        except (OSError, ValueError) as exc:
            failure = f"partner {method} {path} at {self.url} failed: {exc}"
            raise PartnerUnavailable(failure) from exc

    def health(self) -> bool:
        """True when the partner answers its health check."""
        try:
            return bool(self._call("GET", "/health").get("status") == "ok")
        except PartnerUnavailable:
            return False

    def set_fault(
        self, endpoint: str, mode: str, *, count: int | None = None, delay_ms: int = 0
    ) -> None:
        """Put a fault on ``psp``, ``warehouse``, ``notify`` or ``all``; see `harness.partner`."""
        self._call(
            "POST",
            "/faults",
            {"endpoint": endpoint, "mode": mode, "count": count, "delay_ms": delay_ms},
        )

    def arm_hold(
        self,
        endpoint: str,
        delay_ms: int,
        *,
        after_effect: bool = False,
        caller: str | None = None,
        count: int = 1,
    ) -> None:
        """Hold the next ``count`` calls to ``endpoint`` (or ``all``) ``delay_ms`` in
        flight: before the partner acts (one whose caller dies meanwhile is dropped
        unseen) or, ``after_effect``, between its effect and its answer; with
        ``caller``, only calls through that process's own link (`harness.partner.holds`)."""
        self._call(
            "POST",
            "/holds",
            {"endpoint": endpoint, "delay_ms": delay_ms, "after_effect": after_effect,
             "caller": caller, "count": count},
        )

    def wait_holding(self, timeout_s: float) -> int:
        """How many calls are held, as soon as one is or after ``timeout_s`` (then 0)."""
        ms = max(0, min(int(timeout_s * 1000), MAX_WAIT_MS))
        return int(self._call("GET", f"/holds/wait?timeout_ms={ms}")["holding"])

    def clear_holds(self) -> None:
        self._call("DELETE", "/holds")

    def faults(self) -> dict[str, Any]:
        """The active fault per endpoint, with how many requests each has left."""
        return dict(self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def decline(self, references: Iterable[str]) -> None:
        """Make every future charge with one of *references* answer 402 declined."""
        self._call("POST", "/declines", {"references": list(references)})

    def ledgers(self, *, since: int = 0) -> Ledgers:
        """Effects with a sequence number above *since* (all by default), in order."""
        return self.ledger_since(since)[1]

    def ledger_since(self, since: int) -> tuple[int, Ledgers]:
        """Where the ledger ends now, and the effects after *since*: for reading it
        incrementally without missing or repeating an effect."""
        data = self._call("GET", f"/ledger?since={int(since)}")
        effects = tuple(Effect.from_json(entry) for entry in data["effects"])
        return int(data["last_seq"]), Ledgers(effects)

    def last_seq(self) -> int:
        """The sequence number of the latest effect: pass it to `ledgers` later."""
        return int(self._call("GET", "/ledger/last_seq")["last_seq"])

    def stats(self) -> dict[str, Any]:
        """Per endpoint: requests, invalid, effects, replays, conflicts, declines, injected."""
        return dict(self._call("GET", "/stats"))
