"""Waiting for a server: a probe that keeps failing says why when time runs out."""

from __future__ import annotations

import pytest

from harness.provision.readiness import ServiceStartError, wait_until_ready


def _broken() -> bool:
    raise RuntimeError("asyncio.run() cannot be called from a running event loop")


def test_a_probe_that_keeps_raising_names_its_last_error() -> None:
    with pytest.raises(ServiceStartError) as caught:
        wait_until_ready(
            _broken, name="kafka", what="a metadata request", timeout=0.2,
            alive=lambda: True, log_tail=lambda: "Kafka Server started",
        )
    text = str(caught.value)
    assert "kafka was not ready within 0.2s (waited for a metadata request" in text
    assert "the last probe said RuntimeError('asyncio.run() cannot be called" in text
    assert text.endswith("--- its last log lines ---\nKafka Server started")


def test_a_probe_that_only_said_no_adds_nothing() -> None:
    with pytest.raises(ServiceStartError) as caught:
        wait_until_ready(
            lambda: False, name="redis", what="PING", timeout=0.1,
            alive=lambda: True, log_tail=lambda: "",
        )
    assert "(waited for PING)" in str(caught.value)


def test_a_probe_that_succeeds_after_raising_is_ready() -> None:
    calls = iter([RuntimeError("not yet"), True])

    def probe() -> bool:
        got = next(calls)
        if isinstance(got, Exception):
            raise got
        return got

    assert wait_until_ready(
        probe, name="x", what="y", timeout=5, alive=lambda: True, log_tail=lambda: ""
    ) >= 0
