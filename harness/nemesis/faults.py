"""Faults as data: each value says *what* goes wrong; the nemesis says *how*.

A fault is a frozen record with a start and a heal. Schedules (drawn by
Hypothesis) hold these values, histories record them as nemesis events, and
one component -- ``harness.nemesis.nemesis.Nemesis`` -- executes and heals
them. Client-side faults (retries, short timeouts) are attributes of the
operations themselves, not nemesis faults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING as MISSING_FIELD
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast

from harness.plain import MISSING, At
from harness.toxiproxy.toxics import (
    STREAMS,
    TOXIC_TYPES,
    InvalidToxic,
    Stream,
    toxic_from_dict,
)

PartnerEndpoint: TypeAlias = Literal["psp", "warehouse", "notify", "all"]
PartnerMode: TypeAlias = Literal["fail_before", "fail_after", "fail_after_drop", "slow"]
PARTNER_ENDPOINTS: tuple[str, ...] = ("psp", "warehouse", "notify", "all")
PARTNER_MODES: tuple[str, ...] = ("fail_before", "fail_after", "fail_after_drop", "slow")
PartitionMode: TypeAlias = Literal["refuse", "blackhole", "lost_answer"]
PARTITION_MODES: tuple[str, ...] = ("refuse", "blackhole", "lost_answer")
ClockMode: TypeAlias = Literal["skew", "jump", "drift"]
CLOCK_MODES: tuple[str, ...] = ("skew", "jump", "drift")
# Limits of a fault read from a file (docs/design-files.md, "Limits"): every
# millisecond figure, a redelivery's grace, how many partner calls fail.
MAX_FAULT_MS = 60_000
MAX_TOXIC_ATTRIBUTE = 60_000
MAX_GRACE_MS = 10_000
MAX_PARTNER_COUNT = 1000
MAX_CLOCK_OFFSET_MS = 3_600_000
MAX_DRIFT_MS_PER_S = 10_000


class InvalidFault(ValueError):
    """A fault description has an unknown kind, a missing field or a bad value."""


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
    ones cut); ``blackhole`` keeps connections open but drops all data;
    ``lost_answer`` lets requests through and drops every answer, then cuts
    the connections it dropped them on, the link already back: what was sent
    then was acted on (a commit committed) and its caller never hears of it.

    With ``duration_ms`` the cut is a flap: the link is back exactly that long
    after it was cut, healed or not (a heal that comes earlier waits for it),
    so a service that retries on its own meets the link back. With 0 it lasts
    until healed; a ``lost_answer`` always has a duration (its callers learn
    of the loss only when it ends)."""

    link: str
    mode: PartitionMode = "refuse"
    duration_ms: int = 0
    kind: Literal["partition"] = "partition"

    def __post_init__(self) -> None:
        if self.mode == "lost_answer" and self.duration_ms <= 0:
            raise InvalidFault(
                f"partition of link {self.link}: duration_ms must be >= 1 for mode "
                f"'lost_answer' (got {self.duration_ms})"
            )

    def describe(self) -> str:
        span = f" for {self.duration_ms} ms" if self.duration_ms else ""
        if self.mode == "lost_answer":
            return f"answers lost on link {self.link}{span}, then its connections cut"
        return f"partition ({self.mode}) of link {self.link}{span}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    """SIGKILL a process (a target replica, an extra process or a service);
    the heal restarts it on the same data and port.

    With ``in_call_ms`` the kill is aimed: the partner holds the next call made
    to it that long in flight, and the process is killed the moment one is held
    (or at the heal if no call came). The hold comes before the partner acts --
    the caller's own write done, the effect never comes: where at-most-once
    delivery loses work -- or, ``after_effect``, between the effect and its
    answer: the effect done, the caller's record of it never made."""

    process: str
    in_call_ms: int = 0
    after_effect: bool = False
    kind: Literal["crash"] = "crash"

    def describe(self) -> str:
        if self.in_call_ms:
            when = "after" if self.after_effect else "before"
            return (
                f"crash of {self.process} during a partner call, {when} its effect "
                f"(held {self.in_call_ms} ms)"
            )
        return f"crash of {self.process}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    """SIGSTOP a process (a long GC pause, a frozen VM); the heal resumes it.

    With ``duration_ms`` the pause lasts exactly that long: the process is resumed
    when it is over, and a heal that comes earlier waits for it (so a pause can be
    placed to outlast a lease). With 0 it lasts until healed."""

    process: str
    duration_ms: int = 0
    kind: Literal["pause"] = "pause"

    def describe(self) -> str:
        span = f" for {self.duration_ms} ms" if self.duration_ms else ""
        return f"pause of {self.process}{span}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockFault:
    """A process's wall clock goes wrong (its monotonic clock stays true):
    ``skew`` holds it ``offset_ms`` off the true time, ``jump`` steps it by
    ``offset_ms`` from where it is (forward or back), ``drift`` makes it gain
    ``offset_ms`` per second (lose, if negative). The heal puts it back on the
    true time. Applied through libfaketime without a restart (harness/provision/clock.py)."""

    process: str
    mode: ClockMode = "skew"
    offset_ms: int = 0
    kind: Literal["clock"] = "clock"

    def describe(self) -> str:
        if self.mode == "drift":
            return f"clock of {self.process} drifts {self.offset_ms:+d} ms/s"
        verb = "skewed" if self.mode == "skew" else "jumps"
        return f"clock of {self.process} {verb} {self.offset_ms:+d} ms"


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


Fault: TypeAlias = (
    LinkToxic | Partition | Crash | Pause | CacheLoss | Redelivery | PartnerFailure | ClockFault
)
FAULT_TYPES: Mapping[str, type[Any]] = MappingProxyType(
    {
        "toxic": LinkToxic,
        "partition": Partition,
        "crash": Crash,
        "pause": Pause,
        "cache_loss": CacheLoss,
        "redelivery": Redelivery,
        "partner": PartnerFailure,
        "clock": ClockFault,
    }
)


def fault_to_dict(fault: Fault) -> dict[str, Any]:
    """A JSON-ready dict; ``fault_from_dict`` reads it back."""
    out: dict[str, Any] = {}
    for name in fault.__dataclass_fields__:
        value = getattr(fault, name)
        out[name] = dict(value) if isinstance(value, Mapping) else value
    return out


def fault_from_dict(data: object, *, path: str = "fault") -> Fault:
    """Read back what ``fault_to_dict`` wrote, or raise ``InvalidFault`` naming
    the bad field (``steps[1].fault.grace_ms must be an int in 0..10000 (got -1)``).

    Fields with a default may be left out; every value is checked against the
    limits in docs/design-files.md, so a replayed fault cannot run for hours.
    """
    at = At(path, InvalidFault)
    if not isinstance(data, Mapping):
        raise at.fail("an object", data)
    kind = at.key("kind").choice(data.get("kind", MISSING), FAULT_TYPES)
    fields_ = {f.name: f for f in dataclass_fields(FAULT_TYPES[kind])}
    obj = at.obj(data, fields_)

    def get(name: str) -> tuple[At, Any]:
        default = fields_[name].default
        return at.key(name), obj.get(name, MISSING if default is MISSING_FIELD else default)

    fault: Fault = _READERS[kind](get)
    return fault


_Get: TypeAlias = Callable[[str], tuple[At, Any]]


def _read_toxic(get: _Get) -> LinkToxic:
    toxic_at, toxic = get("toxic")
    toxic = toxic_at.choice(toxic, TOXIC_TYPES)
    stream_at, stream = get("stream")
    attrs_at, attrs = get("attributes")
    names = [f.name for f in dataclass_fields(TOXIC_TYPES[toxic]) if f.name not in _TOXIC_BASE]
    attributes = {
        k: attrs_at.key(k).integer(v, 0, MAX_TOXIC_ATTRIBUTE)
        for k, v in attrs_at.obj(attrs, names).items()
    }
    link_at, link = get("link")
    fault = LinkToxic(
        link=link_at.link(link),
        toxic=toxic,
        attributes=attributes,
        stream=cast(Stream, stream_at.choice(stream, STREAMS)),
    )
    try:  # the toxic's own checks: required attributes, minimums, slicer sizes
        toxic_from_dict({"type": toxic, **attributes})
    except InvalidToxic as exc:
        raise InvalidFault(f"{attrs_at.path}: {exc}") from exc
    return fault


def _read_partition(get: _Get) -> Partition:
    (link_at, link), (mode_at, mode) = get("link"), get("mode")
    duration_at, duration_ms = get("duration_ms")
    mode = mode_at.choice(mode, PARTITION_MODES)
    lost = mode == "lost_answer"  # its callers learn of the loss when it ends: it must end
    what = f"an int in 1..{MAX_FAULT_MS} for mode 'lost_answer'" if lost else ""
    return Partition(
        link=link_at.link(link),
        mode=cast(PartitionMode, mode),
        duration_ms=duration_at.integer(duration_ms, int(lost), MAX_FAULT_MS, what=what),
    )


def _read_crash(get: _Get) -> Crash:
    (at, process), (in_call_at, in_call_ms) = get("process"), get("in_call_ms")
    after_at, after_effect = get("after_effect")
    return Crash(
        process=at.name(process),
        in_call_ms=in_call_at.integer(in_call_ms, 0, MAX_FAULT_MS),
        after_effect=after_at.boolean(after_effect),
    )


def _read_pause(get: _Get) -> Pause:
    (at, process), (duration_at, duration_ms) = get("process"), get("duration_ms")
    return Pause(
        process=at.name(process), duration_ms=duration_at.integer(duration_ms, 0, MAX_FAULT_MS)
    )


def _read_clock(get: _Get) -> ClockFault:
    (at, process), (mode_at, mode) = get("process"), get("mode")
    mode = mode_at.choice(mode, CLOCK_MODES)
    bound = MAX_DRIFT_MS_PER_S if mode == "drift" else MAX_CLOCK_OFFSET_MS
    offset_at, offset_ms = get("offset_ms")
    return ClockFault(
        process=at.name(process),
        mode=cast(ClockMode, mode),
        offset_ms=offset_at.integer(
            offset_ms, -bound, bound, what=f"an int in {-bound}..{bound} for mode {mode!r}"
        ),
    )


def _read_cache_loss(get: _Get) -> CacheLoss:
    at, process = get("process")
    return CacheLoss(process=at.choice(process, ("redis",)))


def _read_redelivery(get: _Get) -> Redelivery:
    (consumer_at, consumer), (link_at, link) = get("consumer"), get("link")
    grace_at, grace_ms = get("grace_ms")
    return Redelivery(
        consumer=consumer_at.name(consumer),
        link=link_at.choice(link, ("kafka",)),
        grace_ms=grace_at.integer(grace_ms, 0, MAX_GRACE_MS),
    )


def _read_partner(get: _Get) -> PartnerFailure:
    (endpoint_at, endpoint), (mode_at, mode) = get("endpoint"), get("mode")
    mode = mode_at.choice(mode, PARTNER_MODES)
    count_at, count = get("count")
    delay_at, delay_ms = get("delay_ms")
    # The partner refuses a delay except for 'slow', which needs one.
    low, high = (1, MAX_FAULT_MS) if mode == "slow" else (0, 0)
    if count is not None:
        what = f"null or an int in 1..{MAX_PARTNER_COUNT}"
        count = count_at.integer(count, 1, MAX_PARTNER_COUNT, what=what)
    return PartnerFailure(
        endpoint=cast(PartnerEndpoint, endpoint_at.choice(endpoint, PARTNER_ENDPOINTS)),
        mode=cast(PartnerMode, mode),
        count=count,
        delay_ms=delay_at.integer(
            delay_ms, low, high, what=f"an int in {low}..{high} for mode {mode!r}"
        ),
    )


# Fields every toxic record has; a fault sets only the toxic's own attributes.
_TOXIC_BASE = frozenset({"stream", "toxicity", "name"})
_READERS: Mapping[str, Callable[[_Get], Fault]] = MappingProxyType(
    {
        "toxic": _read_toxic,
        "partition": _read_partition,
        "crash": _read_crash,
        "pause": _read_pause,
        "cache_loss": _read_cache_loss,
        "redelivery": _read_redelivery,
        "partner": _read_partner,
        "clock": _read_clock,
    }
)
