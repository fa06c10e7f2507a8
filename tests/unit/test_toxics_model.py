"""Toxic records: validation, names, and the API and dict forms (pure, no server)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.toxiproxy import (
    STREAMS,
    TOXIC_TYPES,
    Bandwidth,
    InvalidToxic,
    Latency,
    LimitData,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
    Toxic,
    ToxiproxyClient,
    toxic_from_api,
    toxic_from_dict,
)

ALL: list[Toxic] = [
    Latency(200, jitter_ms=20),
    Bandwidth(rate_kb=64),
    SlowClose(delay_ms=300),
    Timeout(timeout_ms=0),
    ResetPeer(),
    Slicer(average_size=64, size_variation=8, delay_us=100),
    LimitData(bytes=1024),
]


def test_every_toxiproxy_type_has_a_record() -> None:
    assert set(TOXIC_TYPES) == {
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
    }
    assert {type(t).TYPE for t in ALL} == set(TOXIC_TYPES)


@pytest.mark.parametrize(
    ("toxic", "attributes"),
    [
        (Latency(200, jitter_ms=20), {"latency": 200, "jitter": 20}),
        (Bandwidth(rate_kb=64), {"rate": 64}),
        (SlowClose(delay_ms=300), {"delay": 300}),
        (Timeout(timeout_ms=0), {"timeout": 0}),
        (ResetPeer(), {"timeout": 0}),
        (
            Slicer(average_size=64, size_variation=8, delay_us=100),
            {"average_size": 64, "size_variation": 8, "delay": 100},
        ),
        (LimitData(bytes=1024), {"bytes": 1024}),
    ],
)
def test_to_api_uses_toxiproxy_names(toxic: Toxic, attributes: dict[str, int]) -> None:
    api = toxic.to_api()
    assert api == {
        "name": f"{toxic.TYPE}_downstream",
        "type": toxic.TYPE,
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": attributes,
    }
    assert toxic_from_api(api) == toxic


def test_effective_name_defaults_to_type_and_stream() -> None:
    assert Latency(1, stream="upstream").effective_name == "latency_upstream"
    assert Latency(1, name="db-slow").effective_name == "db-slow"
    assert toxic_from_api(Latency(1, name="db-slow").to_api()).name == "db-slow"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Latency(-5), "Latency: 'latency_ms' must be >= 0 (got -5)"),
        (lambda: Latency(10, jitter_ms=-1), "'jitter_ms' must be >= 0 (got -1)"),
        (lambda: Latency(True), "'latency_ms' must be an int (got True of type bool)"),
        (
            lambda: Latency(1.5),  # type: ignore[arg-type]
            "'latency_ms' must be an int (got 1.5 of type float)",
        ),
        (lambda: Bandwidth(rate_kb=0), "'rate_kb' must be >= 1 (got 0)"),
        (lambda: SlowClose(delay_ms=-1), "'delay_ms' must be >= 0"),
        (lambda: Timeout(timeout_ms=-1), "'timeout_ms' must be >= 0"),
        (lambda: ResetPeer(timeout_ms=-1), "'timeout_ms' must be >= 0"),
        (lambda: Slicer(average_size=0), "'average_size' must be >= 1 (got 0)"),
        (
            lambda: Slicer(average_size=10, size_variation=10),
            "'size_variation' must be < 'average_size' (10) (got 10)",
        ),
        (lambda: LimitData(bytes=-1), "'bytes' must be >= 0"),
        (lambda: Latency(1, toxicity=1.5), "'toxicity' must be a number in [0, 1]"),
        (lambda: Latency(1, toxicity=float("nan")), "'toxicity' must be a number in [0, 1]"),
        (
            lambda: Latency(1, stream="up"),  # type: ignore[arg-type]
            "'stream' must be 'upstream' or 'downstream'",
        ),
        (lambda: Latency(1, name=""), "'name' must be a non-empty string without '/'"),
        (lambda: Latency(1, name="a/b"), "'name' must be a non-empty string without '/'"),
    ],
)
def test_bad_fields_are_named(build: Any, message: str) -> None:
    with pytest.raises(InvalidToxic) as info:
        build()
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_from_dict_rejects_unknown_type_listing_known_ones() -> None:
    with pytest.raises(InvalidToxic) as info:
        toxic_from_dict({"type": "latncy", "latency_ms": 5})
    assert "unknown toxic type 'latncy'" in str(info.value)
    assert "bandwidth, latency, limit_data, reset_peer, slicer, slow_close, timeout" in str(
        info.value
    )


def test_from_dict_rejects_unknown_attribute_naming_accepted_ones() -> None:
    with pytest.raises(InvalidToxic) as info:
        toxic_from_dict({"type": "latency", "latency": 5})
    assert "unknown attribute 'latency' for toxic type 'latency'" in str(info.value)
    assert "latency_ms, jitter_ms" in str(info.value)


def test_from_dict_needs_type_and_required_attributes() -> None:
    with pytest.raises(InvalidToxic, match="no 'type' key"):
        toxic_from_dict({"latency_ms": 5})
    with pytest.raises(InvalidToxic, match="needs attribute\\(s\\) 'latency_ms'"):
        toxic_from_dict({"type": "latency", "jitter_ms": 5})
    with pytest.raises(InvalidToxic, match="'latency_ms' must be >= 0"):
        toxic_from_dict({"type": "latency", "latency_ms": -5})
    assert toxic_from_dict({"type": "reset_peer"}) == ResetPeer()


_common = {
    "stream": st.sampled_from(STREAMS),
    "toxicity": st.floats(0.0, 1.0),
    "name": st.none() | st.text("abc-_0", min_size=1, max_size=8),
}
_ms = st.integers(0, 10_000)
toxics: st.SearchStrategy[Toxic] = st.one_of(
    st.builds(Latency, _ms, _ms, **_common),
    st.builds(Bandwidth, st.integers(1, 10_000), **_common),
    st.builds(SlowClose, _ms, **_common),
    st.builds(Timeout, _ms, **_common),
    st.builds(ResetPeer, _ms, **_common),
    st.integers(1, 1000).flatmap(
        lambda avg: st.builds(Slicer, st.just(avg), st.integers(0, avg - 1), _ms, **_common)
    ),
    st.builds(LimitData, st.integers(0, 10**9), **_common),
)


@given(toxics)
def test_dict_and_api_forms_round_trip(toxic: Toxic) -> None:
    assert toxic_from_dict(toxic.to_dict()) == toxic
    assert toxic_from_api(toxic.to_api()) == toxic


@pytest.mark.parametrize("url", ["127.0.0.1:8474", "https://127.0.0.1:8474", "http://h/x"])
def test_client_rejects_malformed_url(url: str) -> None:
    with pytest.raises(ValueError, match=re.escape("'url' must look like 'http://127.0.0.1:8474'")):
        ToxiproxyClient(url)


def test_client_rejects_bad_timeout() -> None:
    with pytest.raises(ValueError, match=r"'timeout' must be a number of seconds > 0 \(got 0\)"):
        ToxiproxyClient("http://127.0.0.1:8474", timeout=0)


def test_default_name_spelled_out_equals_default() -> None:
    assert Latency(1, name="latency_downstream") == Latency(1)
    assert Latency(1, name="latency_upstream") != Latency(1)
