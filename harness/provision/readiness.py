"""Waiting for a server to answer, failing fast when it died and showing its log when not."""

from __future__ import annotations

import time
from collections.abc import Callable

PROBE_INTERVAL = 0.05


class ServiceStartError(RuntimeError):
    """A server exited or did not become ready in time; the message shows its log tail."""


def wait_until_ready(
    probe: Callable[[], bool],
    *,
    name: str,
    what: str,
    timeout: float,
    alive: Callable[[], bool],
    log_tail: Callable[[], str],
) -> float:
    """Poll *probe* (raising counts as not ready) until True; return the seconds it took."""
    begin = time.monotonic()
    deadline = begin + timeout
    last: Exception | None = None
    while True:
        try:
            if probe():
                return time.monotonic() - begin
        except Exception as exc:  # not ready yet; said if it never becomes ready
            last = exc
        if not alive():
            raise ServiceStartError(
                f"{name} exited while waiting for {what}\n--- its last log lines ---\n{log_tail()}"
            )
        if time.monotonic() >= deadline:
            # The probe's own last error: a broken probe must not pass for a slow server.
            said = "" if last is None else f"; the last probe said {last!r}"
            raise ServiceStartError(
                f"{name} was not ready within {timeout:g}s (waited for {what}{said})"
                f"\n--- its last log lines ---\n{log_tail()}"
            )
        time.sleep(PROBE_INTERVAL)
