"""Design records: a target, its services and its failure-model rows, as loaded.

Every record is already validated by ``load_design``; holding one means the
row's families resolved against the topology and its invariants apply to the
workload, so the runner never meets a typo mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeAlias

from harness.schedule.families import Family, Topology
from harness.schedule.shape import Shape
from harness.targetproc.spec import TargetSpec
from harness.workload.api import Workload
from harness.workload.builtin import BUILTIN
from invariants.slo import Slo

RedisPersistence: TypeAlias = Literal["none", "aof"]
ReadConsistency: TypeAlias = Literal["eventual", "strong"]
READ_CONSISTENCY: tuple[str, ...] = ("eventual", "strong")

WORKLOADS: tuple[str, ...] = tuple(BUILTIN)
DEPENDENCY_ORDER: tuple[str, ...] = ("postgres", "redis", "kafka", "partner")
# Dependencies that run as processes the nemesis can crash (the partner is the harness's own).
SERVICE_PROCESSES: tuple[str, ...] = ("postgres", "redis", "kafka")
REDIS_PERSISTENCE: tuple[str, ...] = ("none", "aof")
TAXONOMY: tuple[str, ...] = (
    "client_retry_timeout",
    "duplicate_delivery",
    "partial_write",
    "out_of_order",
    "temporal_boundary",
    "infrastructure_failure",
)
# Coverage counters a run keeps per row; a PASS counts only if one named here is > 0.
COVERAGE_COUNTERS: tuple[str, ...] = (
    "faults_during_ops",
    "faults_during_effects",
    "retries",
    "indeterminate",
    "crashes_during_request",
    "kills_during_lag",
    "partner_failures",
    "replays",
)


class UnknownRow(KeyError):
    """A row id the design does not have; the message lists the ids it has."""

    def __str__(self) -> str:
        return str(self.args[0])  # a KeyError's str() would be the quoted repr


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetDecl:
    """How to start the target: argv per replica, extra processes, what it depends on."""

    command: tuple[str, ...]
    replicas: int
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    dependencies: frozenset[str] = frozenset()
    variants: tuple[str, ...] = ("correct",)
    start_timeout_s: float = 30.0
    prepare: tuple[str, ...] = ()
    """Run once before the first replica starts (a build), not charged to
    ``start_timeout_s``; empty: nothing to prepare."""
    prepare_timeout_s: float = 600.0
    cwd: Path | None = None
    settle_timeout_s: float = 30.0
    """How long after the last fault is healed the target may take to settle
    (asynchronous work done, replicas agreeing); what is still missing then is
    a liveness failure."""
    late_effects_s: float = 10.0
    """How long after a row's last example the partner is watched for late
    side effects, which are then judged against the example whose ids they carry."""
    reads: ReadConsistency = "eventual"
    """``strong``: every read reflects every write acknowledged before it was
    sent; ``eventual``: reads are judged only against the settled state."""
    image: str | None = None
    """Run every process as a container of this image (docs/containers.md)."""
    build: Path | None = None
    """... or of the image built from this context (with ``dockerfile``)."""
    dockerfile: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @property
    def replica_names(self) -> tuple[str, ...]:
        return tuple(f"target-{i}" for i in range(self.replicas))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicesDecl:
    """How the harness runs the stores: ``aof`` makes Redis survive a restart."""

    redis_persistence: RedisPersistence = "none"
    images: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The containers backend's images by service, replacing those it builds."""


ROW_TEXTS = ("failure_mode", "can_happen", "correct_behaviour", "mechanism", "recovery")
"""A row's answers in words: the failure-model table's columns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the Step 14 failure-model table plus what makes it executable."""

    id: str
    failure_mode: str
    can_happen: str
    correct_behaviour: str
    mechanism: str
    recovery: str
    taxonomy: str
    faults: tuple[str, ...]
    families: tuple[Family, ...]
    invariants: tuple[str, ...]
    exercised_by: tuple[str, ...]
    shape: Shape
    examples: int | None = None
    min_judged: int = 1
    """In how many examples each invariant (and each of its conditions) must have
    had something to check and held before the row may PASS."""
    slos: tuple[Slo, ...] = ()
    """Step 15's measurable promises, judged on all of the row's examples."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Design:
    """A loaded design file: one target, one workload (resolved: built-in,
    declared in TOML or a Python object), its failure-model rows."""

    path: Path
    name: str
    workload: Workload
    description: str
    target: TargetDecl
    services: ServicesDecl
    rows: tuple[Row, ...]
    topology: Topology

    def row(self, row_id: str) -> Row:
        for row in self.rows:
            if row.id == row_id:
                return row
        raise UnknownRow(
            f"{self.path}: no row {row_id!r}; known rows: {', '.join(r.id for r in self.rows)}"
        )

    def target_spec(self, variant: str = "correct") -> TargetSpec:
        """What harness.targetproc needs to start this design's target as ``variant``."""
        if variant not in self.target.variants:
            raise ValueError(
                f"{self.path}: 'variant' must be one of the design's variants "
                f"{', '.join(self.target.variants)} (got {variant!r})"
            )
        return TargetSpec(
            name=self.name,
            command=self.target.command,
            replicas=self.target.replicas,
            extra=self.target.extra,
            dependencies=self.target.dependencies,
            variant=variant,
            start_timeout_s=self.target.start_timeout_s,
            prepare=self.target.prepare,
            prepare_timeout_s=self.target.prepare_timeout_s,
            cwd=self.target.cwd,
            image=self.target.image,
            build=self.target.build,
            dockerfile=self.target.dockerfile,
            clocks=self.clock_processes,
        )

    @property
    def clock_processes(self) -> frozenset[str]:
        """The target processes some row's ``clock:`` family may skew: they run under
        libfaketime from their first start."""
        return frozenset(
            name for row in self.rows for f in row.families if f.kind == "clock" for name in f.names
        )
