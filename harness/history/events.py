"""Operation events: the immutable record a run produces and checkers read.

Jepsen's model: every client operation is an ``invoke`` followed by exactly one
completion -- ``ok``, ``fail`` (surely did not happen) or ``info`` (may have
happened). Faults are ``nemesis`` events in the same stream, so a report can
draw operations and fault windows on one timeline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

EventType: TypeAlias = Literal["invoke", "ok", "fail", "info", "nemesis"]
COMPLETIONS: frozenset[str] = frozenset({"ok", "fail", "info"})
EVENT_TYPES: frozenset[str] = frozenset({"invoke", "ok", "fail", "info", "nemesis"})
NEMESIS = "nemesis"
EXIT = "exit"
"""The ``f`` of a nemesis event saying a process was found down with no fault
holding it down: it exited on its own (docs/contracts.md forbids it of a target
process; a store's, marked ``store``, says the run met a fault nobody scheduled)."""
FIRE = "fire"
"""The nemesis event of an aimed crash's kill, between its start and its heal."""
LAG = "lag"
"""The nemesis event after a target process was killed, in a design with Kafka:
``messages`` its consumer groups had not committed then (docs/design-files.md,
``kills_during_lag``)."""

# Phases of a run; final reads happen after every fault is healed.
Phase: TypeAlias = Literal["setup", "main", "final"]


def _freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data so an event can never change after it is recorded."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def exit_text(value: Mapping[str, Any]) -> str:
    """``target-0 exited with code 1`` (``store postgres exited``): an ``exit``
    event's value, in words."""
    code = value.get("code")
    how = "exited" if code is None else f"exited with code {code}"
    if isinstance(code, int) and code < 0:
        how = f"was killed by signal {-code}"
    how = str(value.get("how") or how)
    who = f"store {value.get('process', '?')}" if value.get("store") else value.get("process", "?")
    return f"{who} {how}"


def thaw(value: Any) -> Any:
    """Turn frozen event data back into plain JSON-serialisable dicts and lists."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One line of a history.

    ``op_id`` ties an invoke to its completion. ``process`` is the client id
    (an int) or ``"nemesis"``. ``time`` is seconds since the run started, from
    a monotonic clock. ``value`` holds the request on invoke and the response
    on completion; for nemesis events it holds the fault and ``f`` is
    ``"start"`` or ``"heal"`` (``"fire"``: an aimed crash's kill in between,
    with ``held``, the partner calls held then) -- or, with ``f`` ``"exit"``,
    the process that exited on its own, its exit code and its last output.
    """

    index: int
    op_id: int
    type: EventType
    process: int | str
    f: str
    time: float
    value: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    error: str | None = None
    phase: Phase = "main"

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"'type' must be one of {sorted(EVENT_TYPES)} (got {self.type!r})")
        object.__setattr__(self, "value", _freeze(self.value))

    @property
    def is_nemesis(self) -> bool:
        return self.type == "nemesis"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "op_id": self.op_id,
            "type": self.type,
            "process": self.process,
            "f": self.f,
            "time": round(self.time, 6),
            "phase": self.phase,
            "value": thaw(self.value),
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            index=int(data["index"]),
            op_id=int(data["op_id"]),
            type=data["type"],
            process=data["process"],
            f=str(data["f"]),
            time=float(data["time"]),
            value=data.get("value") or {},
            error=data.get("error"),
            phase=data.get("phase", "main"),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """An invoke paired with its completion (``None`` if the run died first)."""

    invoke: Event
    completion: Event | None

    @property
    def f(self) -> str:
        return self.invoke.f

    @property
    def outcome(self) -> str:
        """``ok``, ``fail`` or ``info``; a missing completion is indeterminate."""
        return self.completion.type if self.completion is not None else "info"

    @property
    def request(self) -> Mapping[str, Any]:
        return self.invoke.value

    @property
    def response(self) -> Mapping[str, Any]:
        return self.completion.value if self.completion is not None else MappingProxyType({})

    @property
    def end_time(self) -> float:
        return self.completion.time if self.completion is not None else float("inf")


@dataclass(frozen=True, slots=True)
class History:
    """An immutable sequence of events, with derived views checkers need."""

    events: tuple[Event, ...]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def operations(self) -> tuple[Operation, ...]:
        """Client operations in invoke order, each paired with its completion."""
        completions: dict[int, Event] = {}
        for e in self.events:
            if e.type in COMPLETIONS:
                completions[e.op_id] = e
        return tuple(
            Operation(e, completions.get(e.op_id)) for e in self.events if e.type == "invoke"
        )

    def nemesis_events(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.is_nemesis)

    def select(self, *fs: str) -> tuple[Operation, ...]:
        wanted = set(fs)
        return tuple(op for op in self.operations() if op.f in wanted)


def history_of(events: Sequence[Event]) -> History:
    return History(tuple(events))
