"""Schedules: the data Hypothesis draws and shrinks, and the runner plays.

A schedule is a setup plus a sequence of steps -- a concurrent batch of
client operations (optionally with a fault starting mid-batch), a fault
start, a heal, a wait. Operations name their keys by *index*, not by id:
the runner maps indices to fresh ids for every execution, so replaying a
schedule (while shrinking, or later from a report) never meets the state of
an earlier execution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from harness.nemesis.faults import Fault, fault_to_dict
from harness.workload.api import (
    Const,
    FromAnswer,
    FromKey,
    Ints,
    Key,
    OneOf,
    Operation,
    SetupStep,
    Source,
    Workload,
    answer_leaders,
    setup_key_field,
    setup_sources,
)
from harness.workload.keys import KeySpace
from harness.workload.ops import NO_RETRY, OpSpec, RetryPolicy

if TYPE_CHECKING:
    from harness.schedule.families import Topology

# The version of the JSON a schedule is written as; version 1 (no "version"
# key) is the shape before workloads were declared, still read for the
# built-in workloads (harness.schedule.decode).
SCHEDULE_VERSION = 2

# Limits of a schedule read from a file (docs/design-files.md, "Limits"). A
# drawn schedule stays inside them for every shape a design may set
# (harness.schedule.strategies.SHAPE_LIMITS); indices are at most
# harness.workload.keys.MAX_INDEX.
MAX_STEPS = 100
MAX_BATCH = 50
MAX_CLIENTS = 16
MAX_NODES = 16
MAX_SET_UP = 1000
MAX_DECLINED = 1000
MAX_DELAY_MS = 10_000
MAX_TIMEOUT_MS = 60_000
MAX_WAIT_MS = 60_000
MAX_RETRIES = 10
MAX_RETRY_DELAY_S = 10.0


class InvalidSchedule(ValueError):
    """A schedule (JSON) is malformed, out of bounds or not playable on a design;
    the message starts with the JSON path of the bad value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOp:
    """One logical operation by one client: the workload's operation ``f``,
    ``key`` the index of its ``id`` field (None when it has none), ``args``
    its other drawn fields (key indices for `Key` fields, values for `Ints`
    and `OneOf`; derived fields are not kept). ``delay_ms`` offsets it inside
    its batch (the interleaving): from the batch's start, or with ``after``
    (the index of an earlier operation of its batch) from the moment that one
    is answered, as a client that acts on an answer does."""

    f: str
    key: int | None
    args: Mapping[str, Any]
    client: int = 0
    node: int = 0
    delay_ms: int = 0
    timeout_ms: int = 2000
    retry: RetryPolicy = NO_RETRY
    after: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))

    def values(self, op: Operation) -> dict[str, Any]:
        """The drawn values of ``op`` this names: ``args`` and the id's index."""
        out = dict(self.args)
        if op.id is not None and self.key is not None:
            out[op.id] = self.key
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Operations sent concurrently; ``fault`` (if any) starts ``fault_delay_ms``
    after the batch starts, so it can hit requests in flight. At 0 ms it is in place
    before the first request is sent: were the two to race, one schedule would mean
    "during" on a quiet machine and "after" on a busy one, and a failure found on one
    would not replay on the other."""

    ops: tuple[ClientOp, ...]
    fault: Fault | None = None
    fault_delay_ms: int = 0
    step: Literal["batch"] = "batch"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartFault:
    fault: Fault
    step: Literal["start"] = "start"


@dataclass(frozen=True, slots=True, kw_only=True)
class Heal:
    """Heal every active fault (and wait for processes to be back)."""

    step: Literal["heal"] = "heal"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    ms: int
    step: Literal["wait"] = "wait"


@dataclass(frozen=True, slots=True, kw_only=True)
class Until:
    """Wait until ``offset_ms`` from the deadline of key ``key`` of ``kind`` (a
    setup step's ``deadline``; at once if that moment has passed): a batch after
    it meets the deadline as closely as the search wants, on both sides."""

    kind: str
    key: int
    offset_ms: int
    step: Literal["until"] = "until"


Step: TypeAlias = Batch | StartFault | Heal | Wait | Until


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """Before any fault, what the workload's setup drew: per setup step (by its
    operation) the drawn values of each request -- one per key of its ``each``
    kind, so for a set-up kind this many keys exist -- and per partner-declined
    kind the key indices the PSP declines."""

    values: Mapping[str, tuple[Mapping[str, Any], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    declined: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        # Nothing set up and nothing declined are left out, so equal setups are equal.
        object.__setattr__(
            self,
            "values",
            MappingProxyType(
                {
                    op: tuple(MappingProxyType(dict(v)) for v in vs)
                    for op, vs in self.values.items()
                    if vs
                }
            ),
        )
        object.__setattr__(
            self,
            "declined",
            MappingProxyType({k: tuple(v) for k, v in self.declined.items() if v}),
        )

    def counts(self, workload: Workload) -> dict[str, int]:
        """How many keys of each kind the example has: a kind a setup step makes
        has as many as were set up, any other ``workload.keys[kind]``."""
        counts = dict(workload.keys)
        for kind, step in workload.set_up_kinds().items():
            counts[kind] = len(self.values.get(step.op, ()))
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "values": {op: [dict(v) for v in vs] for op, vs in self.values.items()},
            "declined": {kind: list(ids) for kind, ids in self.declined.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    workload: str
    setup: Setup = field(default_factory=Setup)
    steps: tuple[Step, ...] = ()

    def client_ops(self) -> tuple[ClientOp, ...]:
        return tuple(op for s in self.steps if isinstance(s, Batch) for op in s.ops)

    def faults(self) -> tuple[Fault, ...]:
        out: list[Fault] = []
        for s in self.steps:
            fault = s.fault if isinstance(s, StartFault | Batch) else None
            if fault is not None:
                out.append(fault)
        return tuple(out)

    def size(self) -> int:
        """What shrinking minimises, roughly: operations, attempts and faults."""
        attempts = sum(1 + op.retry.count for op in self.client_ops())
        return attempts + 2 * len(self.faults()) + len(self.steps)

    def describe(self, workload: Workload | None = None) -> list[str]:
        """One human line per step, for reports (with the ``workload``, a value
        taken from an answer says so: ``token=answer``, ``token=answer-1``)."""
        lines = []
        for op, values in self.setup.values.items():
            shown = [",".join(f"{k}={v}" for k, v in drawn.items()) or "-" for drawn in values]
            lines.append(f"setup: {op} x{len(values)} [{'; '.join(shown)}]")
        for kind, ids in self.setup.declined.items():
            if ids:
                lines.append(f"setup: PSP declines {kind} {list(ids)}")
        for i, s in enumerate(self.steps):
            if isinstance(s, Batch):
                ops = "; ".join(_describe_op(op, workload) for op in s.ops)
                extra = f" + at {s.fault_delay_ms} ms: {s.fault.describe()}" if s.fault else ""
                lines.append(f"{i}: batch [{ops}]{extra}")
            elif isinstance(s, StartFault):
                lines.append(f"{i}: start {s.fault.describe()}")
            elif isinstance(s, Heal):
                lines.append(f"{i}: heal all")
            elif isinstance(s, Until):
                lines.append(f"{i}: until deadline of {s.kind}#{s.key} {s.offset_ms:+d} ms")
            else:
                lines.append(f"{i}: wait {s.ms} ms")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SCHEDULE_VERSION,
            "workload": self.workload,
            "setup": self.setup.to_json(),
            "steps": [_step_to_json(s) for s in self.steps],
        }

    def check_playable(self, *, workload: Workload | str, topology: Topology) -> None:
        """Raise ``InvalidSchedule`` unless this schedule can run on a design with
        ``workload`` and ``topology``: every fault's link and process exists there."""
        name = workload if isinstance(workload, str) else workload.name
        if self.workload != name:
            raise InvalidSchedule(
                f"workload must be {name!r}, the design's workload (got {self.workload!r})"
            )
        declined = {k: list(v) for k, v in self.setup.declined.items() if v}
        if declined and not topology.has_partner:
            raise InvalidSchedule(
                f"setup.declined must be empty: the design has no partner dependency "
                f"(got {declined})"
            )
        for i, step in enumerate(self.steps):
            fault = step.fault if isinstance(step, StartFault | Batch) else None
            problem = topology.problem(fault) if fault is not None else None
            if problem:
                raise InvalidSchedule(f"steps[{i}].fault.{problem}")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def _describe_op(op: ClientOp, workload: Workload | None) -> str:
    fields = workload.operation(op.f).fields if workload is not None else {}
    args = ",".join(
        f"{k}=answer{-v or ''}" if isinstance(fields.get(k), FromAnswer) else f"{k}={v}"
        for k, v in op.args.items()
    )
    retry = f" retry={op.retry.mode}x{op.retry.count}" if op.retry.count else ""
    delay = f" +{op.delay_ms}ms" if op.delay_ms else ""
    after = "" if op.after is None else f" once op {op.after} answered"
    key = "" if op.key is None else f"#{op.key}"
    return f"c{op.client}->n{op.node} {op.f}{key}({args}) t={op.timeout_ms}ms{retry}{after}{delay}"


def _op_to_json(op: ClientOp) -> dict[str, Any]:
    return {
        "f": op.f,
        "key": op.key,
        "args": dict(op.args),
        "client": op.client,
        "node": op.node,
        "delay_ms": op.delay_ms,
        "timeout_ms": op.timeout_ms,
        "retry": {"mode": op.retry.mode, "count": op.retry.count, "delay_s": op.retry.delay_s},
        "after": op.after,
    }


def _step_to_json(s: Step) -> dict[str, Any]:
    if isinstance(s, Batch):
        return {
            "step": "batch",
            "ops": [_op_to_json(op) for op in s.ops],
            "fault": fault_to_dict(s.fault) if s.fault is not None else None,
            "fault_delay_ms": s.fault_delay_ms,
        }
    if isinstance(s, StartFault):
        return {"step": "start", "fault": fault_to_dict(s.fault)}
    if isinstance(s, Wait):
        return {"step": "wait", "ms": s.ms}
    if isinstance(s, Until):
        return {"step": "until", "kind": s.kind, "key": s.key, "offset_ms": s.offset_ms}
    return {"step": "heal"}


def body_of(
    op: Operation, values: Mapping[str, Any], keys: KeySpace, sources: Mapping[str, Source]
) -> dict[str, Any]:
    """The request body: every field of ``op`` from ``sources``, with the drawn
    ``values`` (key indices for `Key` fields) and this execution's ids."""
    body: dict[str, Any] = {}
    for name in op.fields:
        source = sources[name]
        if isinstance(source, Key):
            index = values[source.same_as if source.same_as is not None else name]
            body[name] = keys.id(source.kind, int(index))
        elif isinstance(source, Const):
            body[name] = source.value
        elif isinstance(source, FromKey):
            of = source.of if source.of is not None else op.id
            assert of is not None  # Operation checks it
            body[name] = source.value(int(values[of]))
        elif isinstance(source, FromAnswer):
            body[name] = source.default  # until the client takes the answer
        else:
            assert isinstance(source, Ints | OneOf)
            body[name] = values[name]
    return body


def answered_of(
    values: Mapping[str, Any], sources: Mapping[str, Source]
) -> dict[str, tuple[FromAnswer, int]]:
    """The fields taken from earlier answers at sending, with how far back
    each looks (drawn; the newest in setup, which draws none): fields taken
    from one answer together share their leader's choice."""
    leaders = answer_leaders(sources)
    return {
        name: (source, int(values.get(leaders[name], 0)))
        for name, source in sources.items()
        if isinstance(source, FromAnswer)
    }


def materialize(op: ClientOp, keys: KeySpace, workload: Workload, *, replicas: int) -> OpSpec:
    """Turn an abstract op into a concrete request with this execution's ids."""
    declared = workload.operation(op.f)
    if set(op.args) != set(declared.args()) or (op.key is None) != (declared.id is None):
        raise InvalidSchedule(
            f"ClientOp {op.f!r} must have key={'None' if declared.id is None else 'an index'} "
            f"and args {sorted(declared.args())} (drawn fields; derived ones are computed) "
            f"(got key={op.key!r}, args {sorted(op.args)})"
        )
    values = op.values(declared)
    return OpSpec(
        f=op.f,
        body=body_of(declared, values, keys, declared.fields),
        answered=answered_of(values, declared.fields),
        process=op.client,
        node=op.node % replicas,
        timeout_s=op.timeout_ms / 1000,
        retry=op.retry,
    )


def setup_specs(workload: Workload, setup: Setup, keys: KeySpace) -> list[list[OpSpec]]:
    """The requests of each setup step, in order (client 0, node 0)."""
    out = []
    for step in workload.setup_steps():
        op = workload.operation(step.op)
        sources = setup_sources(step, op)
        key = setup_key_field(step, op)
        specs = []
        for index, drawn in enumerate(setup.values.get(step.op, ())):
            values = {**drawn, **({key: index} if key is not None else {})}
            fields = {**op.fields, **sources}
            specs.append(OpSpec(f=op.name, body=body_of(op, values, keys, fields),
                                answered=answered_of(values, fields), process=0))
        out.append(specs)
    return out


def setup_drawn(step: SetupStep, op: Operation) -> tuple[str, ...]:
    """The fields a setup step draws per request: `Ints` and `OneOf` values, and
    the indices of `Key` fields besides the step's own key (a grant's member)."""
    return tuple(
        n
        for n, s in setup_sources(step, op).items()
        if isinstance(s, Ints | OneOf) or (isinstance(s, Key) and s.same_as is None)
    )

