"""Typed Toxiproxy 2.x HTTP client and one frozen dataclass per toxic."""

from harness.toxiproxy.client import Proxy, ToxiproxyClient
from harness.toxiproxy.errors import (
    ProxyPortInUse,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyUnavailable,
)
from harness.toxiproxy.toxics import (
    STREAMS,
    TOXIC_TYPES,
    ActiveToxic,
    Bandwidth,
    InvalidToxic,
    Latency,
    LimitData,
    ResetPeer,
    Slicer,
    SlowClose,
    Stream,
    Timeout,
    Toxic,
    toxic_from_api,
    toxic_from_dict,
)

__all__ = [
    "STREAMS",
    "TOXIC_TYPES",
    "ActiveToxic",
    "Bandwidth",
    "InvalidToxic",
    "Latency",
    "LimitData",
    "Proxy",
    "ProxyPortInUse",
    "ResetPeer",
    "Slicer",
    "SlowClose",
    "Stream",
    "Timeout",
    "Toxic",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyNotFound",
    "ToxiproxyUnavailable",
    "toxic_from_api",
    "toxic_from_dict",
]
