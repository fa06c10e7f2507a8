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
from harness.workload.keys import KeySpace
from harness.workload.ops import NO_RETRY, OpSpec, RetryPolicy

if TYPE_CHECKING:
    from harness.schedule.families import Topology

# The client operations a schedule may hold, per workload: writes first, then
# the contract's reads (sent during the main phase, judged by consistent_reads).
WRITE_OPS: Mapping[str, str] = MappingProxyType(
    {"inventory": "order", "payments": "pay", "matching": "swipe"}
)
READ_OPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "inventory": ("read_order", "read_stock"),
        "payments": ("read_payment",),
        "matching": ("read_matches",),
    }
)
WORKLOADS: tuple[str, ...] = tuple(WRITE_OPS)
OpName: TypeAlias = Literal[
    "order", "pay", "swipe", "read_order", "read_stock", "read_payment", "read_matches"
]

# Limits of a schedule read from a file (docs/design-files.md, "Limits"). A
# drawn schedule stays inside them for every shape a design may set
# (harness.schedule.strategies.SHAPE_LIMITS); indices are at most
# harness.workload.keys.MAX_INDEX.
MAX_STEPS = 100
MAX_BATCH = 50
MAX_CLIENTS = 16
MAX_NODES = 16
MAX_SKUS = 100
MAX_STOCK = 1_000_000
MAX_QTY = 1000
MAX_AMOUNT = 1_000_000_000
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
    """One logical operation by one client. For a write, ``key`` indexes the
    op's own id (order, payment or swipe) and ``args`` holds the other fields
    as indices or values; for a read, ``key`` indexes what is read (order,
    sku, payment or user) and ``args`` is empty. ``delay_ms`` offsets it
    inside its batch (the interleaving)."""

    f: OpName
    key: int
    args: Mapping[str, Any]
    client: int = 0
    node: int = 0
    delay_ms: int = 0
    timeout_ms: int = 2000
    retry: RetryPolicy = NO_RETRY

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Operations sent concurrently; ``fault`` (if any) starts ``fault_delay_ms``
    after the batch starts, so it can hit requests in flight."""

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


Step: TypeAlias = Batch | StartFault | Heal | Wait


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """Before any fault: initial stock per SKU index (inventory) and the
    payment indices the PSP declines (payments)."""

    stock: tuple[int, ...] = ()
    declined: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    workload: str
    setup: Setup = field(default_factory=Setup)
    steps: tuple[Step, ...] = ()

    def client_ops(self) -> tuple[ClientOp, ...]:
        return tuple(op for s in self.steps if isinstance(s, Batch) for op in s.ops)

    def writes(self) -> tuple[ClientOp, ...]:
        return tuple(op for op in self.client_ops() if not op.f.startswith("read_"))

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

    def describe(self) -> list[str]:
        """One human line per step, for reports."""
        lines = []
        if self.setup.stock:
            lines.append(f"setup: stock {list(self.setup.stock)}")
        if self.setup.declined:
            lines.append(f"setup: PSP declines payments {list(self.setup.declined)}")
        for i, s in enumerate(self.steps):
            if isinstance(s, Batch):
                ops = "; ".join(_describe_op(op) for op in s.ops)
                extra = f" + at {s.fault_delay_ms} ms: {s.fault.describe()}" if s.fault else ""
                lines.append(f"{i}: batch [{ops}]{extra}")
            elif isinstance(s, StartFault):
                lines.append(f"{i}: start {s.fault.describe()}")
            elif isinstance(s, Heal):
                lines.append(f"{i}: heal all")
            else:
                lines.append(f"{i}: wait {s.ms} ms")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "setup": {"stock": list(self.setup.stock), "declined": list(self.setup.declined)},
            "steps": [_step_to_json(s) for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: object) -> Schedule:
        """Read what ``to_json`` wrote, checking every value against the limits
        above; a bad value raises ``InvalidSchedule`` with its JSON path."""
        from harness.schedule.decode import schedule_from_json  # decode imports this module

        return schedule_from_json(data)

    def check_playable(self, *, workload: str, topology: Topology) -> None:
        """Raise ``InvalidSchedule`` unless this schedule can run on a design with
        ``workload`` and ``topology``: every fault's link and process exists there."""
        if self.workload != workload:
            raise InvalidSchedule(
                f"workload must be {workload!r}, the design's workload (got {self.workload!r})"
            )
        if self.setup.declined and not topology.has_partner:
            raise InvalidSchedule(
                "setup.declined must be empty: the design has no partner dependency "
                f"(got {list(self.setup.declined)})"
            )
        for i, step in enumerate(self.steps):
            fault = step.fault if isinstance(step, StartFault | Batch) else None
            problem = topology.problem(fault) if fault is not None else None
            if problem:
                raise InvalidSchedule(f"steps[{i}].fault.{problem}")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)


def _describe_op(op: ClientOp) -> str:
    args = ",".join(f"{k}={v}" for k, v in op.args.items())
    retry = f" retry={op.retry.mode}x{op.retry.count}" if op.retry.count else ""
    delay = f" +{op.delay_ms}ms" if op.delay_ms else ""
    return f"c{op.client}->n{op.node} {op.f}#{op.key}({args}) t={op.timeout_ms}ms{retry}{delay}"


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
    return {"step": "heal"}


def materialize(op: ClientOp, keys: KeySpace, *, replicas: int) -> OpSpec:
    """Turn an abstract op into a concrete request with this execution's ids."""
    a = op.args
    body: dict[str, Any]
    if op.f == "read_order":
        body = {"order_id": keys.order_id(op.key)}
    elif op.f == "read_stock":
        body = {"sku": keys.sku(op.key)}
    elif op.f == "read_payment":
        body = {"payment_id": keys.payment_id(op.key)}
    elif op.f == "read_matches":
        body = {"user": keys.user(op.key)}
    elif op.f == "order":
        body = {"order_id": keys.order_id(op.key), "sku": keys.sku(int(a["sku"])), "qty": a["qty"]}
    elif op.f == "pay":
        body = {
            "payment_id": keys.payment_id(op.key),
            "order_id": keys.order_id(op.key),
            "amount": a["amount"],
        }
    else:
        body = {
            "swipe_id": keys.swipe_id(op.key),
            "swiper": keys.user(int(a["swiper"])),
            "swipee": keys.user(int(a["swipee"])),
            "direction": a["direction"],
        }
    return OpSpec(
        f=op.f,
        body=body,
        process=op.client,
        node=op.node % replicas,
        timeout_s=op.timeout_ms / 1000,
        retry=op.retry,
    )
