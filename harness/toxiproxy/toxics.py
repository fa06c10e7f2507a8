"""Toxiproxy 2.x toxics as data: one frozen dataclass per toxic type.

Faults are data (Jepsen): a schedule draws these records, the nemesis hands
them to a proxy. Each record validates itself on construction, so a bad
fault fails when it is drawn, with the field's name, not later as an HTTP 400
from the server. Field names carry their unit (``latency_ms``, ``delay_us``)
because Toxiproxy's own attribute names (``latency``, ``delay``) do not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Literal, TypeAlias

Stream: TypeAlias = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")


class InvalidToxic(ValueError):
    """A toxic record or toxic description is malformed."""


def _check_int(owner: str, field: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidToxic(
            f"{owner}: {field!r} must be an int (got {value!r} of type {type(value).__name__})"
        )
    if value < minimum:
        raise InvalidToxic(f"{owner}: {field!r} must be >= {minimum} (got {value})")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Toxic:
    """Fields every toxic shares; each subclass adds its attributes."""

    TYPE: ClassVar[str]
    # Python field -> (Toxiproxy attribute name, smallest accepted value).
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]]

    stream: Stream = "downstream"
    toxicity: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for field, (_, minimum) in self._ATTRS.items():
            _check_int(owner, field, getattr(self, field), minimum)
        if self.stream not in STREAMS:
            raise InvalidToxic(
                f"{owner}: 'stream' must be 'upstream' or 'downstream' (got {self.stream!r})"
            )
        tox = self.toxicity
        if (
            isinstance(tox, bool)
            or not isinstance(tox, int | float)
            or math.isnan(tox)
            or not 0.0 <= tox <= 1.0
        ):
            raise InvalidToxic(
                f"{owner}: 'toxicity' must be a number in [0, 1], the fraction of "
                f"connections affected (got {tox!r})"
            )
        if self.name is not None and (
            not isinstance(self.name, str) or not self.name or "/" in self.name
        ):
            raise InvalidToxic(
                f"{owner}: 'name' must be a non-empty string without '/' or None "
                f"(got {self.name!r})"
            )
        if self.name == f"{self.TYPE}_{self.stream}":
            # The default spelled out is the default: keep equal records equal.
            object.__setattr__(self, "name", None)

    @property
    def effective_name(self) -> str:
        """The name Toxiproxy knows this toxic by: ``name`` or ``<type>_<stream>``."""
        return self.name if self.name is not None else f"{self.TYPE}_{self.stream}"

    def attributes(self) -> dict[str, int]:
        """The toxic's attributes under Toxiproxy's names."""
        return {api: getattr(self, field) for field, (api, _) in self._ATTRS.items()}

    def to_api(self) -> dict[str, Any]:
        """The JSON body for ``POST /proxies/{proxy}/toxics``."""
        return {
            "name": self.effective_name,
            "type": self.TYPE,
            "stream": self.stream,
            "toxicity": float(self.toxicity),
            "attributes": self.attributes(),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data that ``toxic_from_dict`` turns back into an equal record."""
        out: dict[str, Any] = {"type": self.TYPE}
        out.update({f.name: getattr(self, f.name) for f in fields(self)})
        return out


@dataclass(frozen=True, slots=True)
class Latency(_Toxic):
    """Delay all data by ``latency_ms`` plus a uniform ``±jitter_ms``."""

    TYPE: ClassVar[str] = "latency"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {
        "latency_ms": ("latency", 0),
        "jitter_ms": ("jitter", 0),
    }

    latency_ms: int
    jitter_ms: int = 0


@dataclass(frozen=True, slots=True)
class Bandwidth(_Toxic):
    """Limit throughput to ``rate_kb`` KB/s (0 would mean no limit: remove the toxic)."""

    TYPE: ClassVar[str] = "bandwidth"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {"rate_kb": ("rate", 1)}

    rate_kb: int


@dataclass(frozen=True, slots=True)
class SlowClose(_Toxic):
    """Delay closing the connection by ``delay_ms`` after the peer closes it."""

    TYPE: ClassVar[str] = "slow_close"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {"delay_ms": ("delay", 0)}

    delay_ms: int


@dataclass(frozen=True, slots=True)
class Timeout(_Toxic):
    """Blackhole all data; close the connection after ``timeout_ms`` (0: never)."""

    TYPE: ClassVar[str] = "timeout"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {"timeout_ms": ("timeout", 0)}

    timeout_ms: int


@dataclass(frozen=True, slots=True)
class ResetPeer(_Toxic):
    """Reset the connection (TCP RST) after ``timeout_ms`` (0: at once)."""

    TYPE: ClassVar[str] = "reset_peer"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {"timeout_ms": ("timeout", 0)}

    timeout_ms: int = 0


@dataclass(frozen=True, slots=True)
class Slicer(_Toxic):
    """Cut data into ~``average_size``-byte chunks, ``delay_us`` apart."""

    TYPE: ClassVar[str] = "slicer"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {
        "average_size": ("average_size", 1),
        "size_variation": ("size_variation", 0),
        "delay_us": ("delay", 0),
    }

    average_size: int
    size_variation: int = 0
    delay_us: int = 0

    def __post_init__(self) -> None:
        _Toxic.__post_init__(self)
        if self.size_variation >= self.average_size:
            raise InvalidToxic(
                f"Slicer: 'size_variation' must be < 'average_size' ({self.average_size}) "
                f"(got {self.size_variation})"
            )


@dataclass(frozen=True, slots=True)
class LimitData(_Toxic):
    """Close the connection once ``bytes`` bytes have passed."""

    TYPE: ClassVar[str] = "limit_data"
    _ATTRS: ClassVar[Mapping[str, tuple[str, int]]] = {"bytes": ("bytes", 0)}

    bytes: int


Toxic: TypeAlias = Latency | Bandwidth | SlowClose | Timeout | ResetPeer | Slicer | LimitData

TOXIC_TYPES: Mapping[str, type[Toxic]] = {
    cls.TYPE: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
}


def _toxic_class(kind: object) -> type[Toxic]:
    if not isinstance(kind, str) or kind not in TOXIC_TYPES:
        raise InvalidToxic(
            f"unknown toxic type {kind!r}; known types: {', '.join(sorted(TOXIC_TYPES))}"
        )
    return TOXIC_TYPES[kind]


def toxic_from_dict(data: Mapping[str, Any]) -> Toxic:
    """Build a toxic from plain data such as ``{"type": "latency", "latency_ms": 200}``.

    Keys are ``type`` plus the record's field names (as ``to_dict`` writes them).
    """
    if "type" not in data:
        raise InvalidToxic(
            f"toxic description has no 'type' key (got keys {sorted(data)}); "
            f"add one of: {', '.join(sorted(TOXIC_TYPES))}"
        )
    cls = _toxic_class(data["type"])
    accepted = [f.name for f in fields(cls)]
    args = {k: v for k, v in data.items() if k != "type"}
    for key in args:
        if key not in accepted:
            raise InvalidToxic(
                f"unknown attribute {key!r} for toxic type {cls.TYPE!r}; "
                f"accepted: {', '.join(accepted)}"
            )
    missing = [
        f.name
        for f in fields(cls)
        if f.name in cls._ATTRS and f.name not in args and f.default is MISSING
    ]
    if missing:
        raise InvalidToxic(
            f"toxic type {cls.TYPE!r} needs attribute(s) {', '.join(map(repr, missing))}"
        )
    return cls(**args)


def toxic_from_api(data: Mapping[str, Any]) -> Toxic:
    """Build a toxic from Toxiproxy's JSON (``{"type", "attributes": {...}, ...}``)."""
    cls = _toxic_class(data.get("type"))
    by_api = {api: field for field, (api, _) in cls._ATTRS.items()}
    attrs = data.get("attributes") or {}
    args: dict[str, Any] = {by_api[k]: v for k, v in attrs.items() if k in by_api}
    toxicity = data.get("toxicity", 1.0)
    return cls(
        **args,
        stream=data.get("stream", "downstream"),
        toxicity=float(toxicity) if isinstance(toxicity, int | float) else toxicity,
        name=data.get("name"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveToxic:
    """A toxic as the server reports it, installed on ``proxy``."""

    proxy: str
    toxic: Toxic

    @property
    def name(self) -> str:
        return self.toxic.effective_name

    @property
    def type(self) -> str:
        return self.toxic.TYPE

    @property
    def stream(self) -> Stream:
        return self.toxic.stream

    @property
    def toxicity(self) -> float:
        return self.toxic.toxicity
