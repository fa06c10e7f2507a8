"""Faults as data: each value says *what* goes wrong; the nemesis says *how*.

A fault is a frozen record with a start and a heal. Schedules (drawn by
Hypothesis) hold these values, histories record them as nemesis events, and
one component -- ``harness.nemesis.nemesis.Nemesis`` -- executes and heals
them. Client-side faults (retries, short timeouts) are attributes of the
operations themselves, not nemesis faults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from harness.toxiproxy.toxics import Stream

PartnerEndpoint: TypeAlias = Literal["psp", "warehouse", "notify", "all"]
PartnerMode: TypeAlias = Literal["fail_before", "fail_after", "fail_after_drop", "slow"]
PARTNER_ENDPOINTS: tuple[str, ...] = ("psp", "warehouse", "notify", "all")
PARTNER_MODES: tuple[str, ...] = ("fail_before", "fail_after", "fail_after_drop", "slow")


class InvalidFault(ValueError):
    """A fault description names an unknown kind, link, process or attribute."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkToxic:
    """A Toxiproxy toxic on one link: latency, bandwidth, reset_peer, timeout,
    limit_data, slow_close or slicer, in one direction, at toxicity 1.0 (all
    randomness lives in Hypothesis, which chose this fault)."""

    link: str
    toxic: str
    attributes: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    stream: Stream = "downstream"
    kind: Literal["toxic"] = "toxic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{self.toxic}({attrs}) {self.stream} on link {self.link}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """Cut a link: ``refuse`` disables the proxy (connections refused, open
    ones cut); ``blackhole`` keeps connections open but drops all data."""

    link: str
    mode: Literal["refuse", "blackhole"] = "refuse"
    kind: Literal["partition"] = "partition"

    def describe(self) -> str:
        return f"partition ({self.mode}) of link {self.link}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    """SIGKILL a process (a target replica, an extra process or a service);
    the heal restarts it on the same data and port."""

    process: str
    kind: Literal["crash"] = "crash"

    def describe(self) -> str:
        return f"crash of {self.process}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    """SIGSTOP a process (a long GC pause, a frozen VM); the heal resumes it."""

    process: str
    kind: Literal["pause"] = "pause"

    def describe(self) -> str:
        return f"pause of {self.process}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheLoss:
    """Redis loses its data: crash and restart it without persistence."""

    process: str = "redis"
    kind: Literal["cache_loss"] = "cache_loss"

    def describe(self) -> str:
        return f"data loss of {self.process} (crash + restart without persistence)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Redelivery:
    """Make the broker redeliver: cut the consumer's broker link so its offset
    commit cannot land, kill the consumer after ``grace_ms``, then heal both;
    the restarted consumer gets the uncommitted messages again."""

    consumer: str = "consumer"
    link: str = "kafka"
    grace_ms: int = 300
    kind: Literal["redelivery"] = "redelivery"

    def describe(self) -> str:
        return f"redelivery to {self.consumer} (cut {self.link}, crash after {self.grace_ms} ms)"


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerFailure:
    """The partner fails before the effect, after it (503 or a dropped
    connection), or answers slowly -- for the next ``count`` calls or all."""

    endpoint: PartnerEndpoint
    mode: PartnerMode
    count: int | None = None
    delay_ms: int = 0
    kind: Literal["partner"] = "partner"

    def describe(self) -> str:
        n = "all calls" if self.count is None else f"next {self.count} calls"
        slow = f" by {self.delay_ms} ms" if self.mode == "slow" else ""
        return f"partner {self.endpoint} {self.mode}{slow} ({n})"


Fault: TypeAlias = LinkToxic | Partition | Crash | Pause | CacheLoss | Redelivery | PartnerFailure
FAULT_TYPES: Mapping[str, type[Any]] = MappingProxyType(
    {
        "toxic": LinkToxic,
        "partition": Partition,
        "crash": Crash,
        "pause": Pause,
        "cache_loss": CacheLoss,
        "redelivery": Redelivery,
        "partner": PartnerFailure,
    }
)


def fault_to_dict(fault: Fault) -> dict[str, Any]:
    """A JSON-ready dict; ``fault_from_dict`` reads it back."""
    out: dict[str, Any] = {}
    for name in fault.__dataclass_fields__:
        value = getattr(fault, name)
        out[name] = dict(value) if isinstance(value, Mapping) else value
    return out


def fault_from_dict(data: Mapping[str, Any]) -> Fault:
    kind = data.get("kind")
    cls = FAULT_TYPES.get(str(kind))
    if cls is None:
        raise InvalidFault(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_TYPES)}")
    accepted = set(cls.__dataclass_fields__)
    unknown = set(data) - accepted
    if unknown:
        raise InvalidFault(
            f"fault {kind!r} has unknown field(s) {sorted(unknown)}; accepted: {sorted(accepted)}"
        )
    fault: Fault = cls(**dict(data))
    return fault
