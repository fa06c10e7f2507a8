"""What a design says about starting its target: commands, replicas, dependencies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.limits import is_finite_number

DEPENDENCIES: frozenset[str] = frozenset({"postgres", "redis", "kafka", "partner"})
_REPLICA_NAME = re.compile(r"target-\d+")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _command(owner: str, value: object) -> tuple[str, ...]:
    if (
        isinstance(value, str)
        or not isinstance(value, tuple | list)
        or not value
        or not all(isinstance(arg, str) and arg for arg in value)
    ):
        raise ValueError(
            f"TargetSpec: {owner} must be a non-empty sequence of non-empty strings "
            f"(an argv, not a shell line; got {value!r})"
        )
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSpec:
    """How to run one target (CONTRACTS.md section 1).

    ``command`` is the argv of one replica; ``extra`` names further processes
    (an outbox relay, a consumer) that get the same environment, so the
    nemesis can crash or pause each one alone.

    With ``image`` (a tag in the Docker engine) or ``build`` (a build context,
    with ``dockerfile`` in it unless given), every process runs as a container
    of that image instead (docs/containers.md); ``command`` then overrides the
    image's command and may be empty.
    """

    name: str
    command: tuple[str, ...]
    replicas: int = 1
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dependencies: frozenset[str] = frozenset()
    variant: str = "correct"
    start_timeout_s: float = 30.0
    prepare: tuple[str, ...] = ()
    """A one-shot command (a build) run before the first replica starts, once per
    harness process, so a cold build is not charged to ``start_timeout_s``."""
    prepare_timeout_s: float = 600.0
    cwd: Path | None = None
    image: str | None = None
    build: Path | None = None
    dockerfile: Path | None = None
    clocks: frozenset[str] = frozenset()
    """Processes whose wall clock the harness controls (``clock:`` faults): they run
    under libfaketime from their first start (harness/provision/clock.py)."""

    @property
    def in_container(self) -> bool:
        return self.image is not None or self.build is not None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                f"TargetSpec: 'name' must be 1..64 characters [A-Za-z0-9_.-] (got {self.name!r})"
            )
        if self.image is not None and self.build is not None:
            raise ValueError("TargetSpec: give 'image' or 'build', not both")
        if self.image is not None and (not isinstance(self.image, str) or not self.image):
            raise ValueError(f"TargetSpec: 'image' must be a non-empty string (got {self.image!r})")
        if self.dockerfile is not None and self.build is None:
            raise ValueError("TargetSpec: 'dockerfile' needs 'build' (the build context)")
        if self.in_container and not self.command:
            object.__setattr__(self, "command", ())
        else:
            object.__setattr__(self, "command", _command("'command'", self.command))
        if self.prepare:
            if self.in_container:
                raise ValueError(
                    "TargetSpec: 'prepare' runs on this machine; with 'image' or 'build' "
                    "the image is the build"
                )
            object.__setattr__(self, "prepare", _command("'prepare'", self.prepare))
        else:
            object.__setattr__(self, "prepare", ())
        replicas = self.replicas
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"TargetSpec: 'replicas' must be an int >= 1 (got {replicas!r})")
        extra: dict[str, tuple[str, ...]] = {}
        for name, argv in dict(self.extra).items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(
                    f"TargetSpec: 'extra' names must be 1..64 characters [A-Za-z0-9_.-] "
                    f"(got {name!r})"
                )
            if _REPLICA_NAME.fullmatch(name):
                raise ValueError(
                    f"TargetSpec: 'extra' name {name!r} clashes with the replica names "
                    "target-0, target-1, ...; pick another name"
                )
            extra[name] = _command(f"'extra[{name!r}]'", argv)
        object.__setattr__(self, "extra", MappingProxyType(extra))
        deps = frozenset(self.dependencies)
        if not deps <= DEPENDENCIES:
            raise ValueError(
                f"TargetSpec: 'dependencies' must be a subset of {sorted(DEPENDENCIES)} "
                f"(got unknown {sorted(deps - DEPENDENCIES)})"
            )
        object.__setattr__(self, "dependencies", deps)
        clocks = frozenset(self.clocks)
        known = {*self.replica_names, *extra}
        if not clocks <= known:
            raise ValueError(
                f"TargetSpec: 'clocks' must name target processes {sorted(known)} "
                f"(got unknown {sorted(clocks - known)})"
            )
        if clocks and self.in_container:
            raise ValueError(
                "TargetSpec: clock faults ('clocks') need the target as local processes, "
                "not containers (libfaketime is preloaded into the process)"
            )
        object.__setattr__(self, "clocks", clocks)
        if not isinstance(self.variant, str) or not self.variant:
            raise ValueError(f"TargetSpec: 'variant' must be a non-empty string "
                             f"(got {self.variant!r})")
        for key in ("start_timeout_s", "prepare_timeout_s"):
            timeout = getattr(self, key)
            if not is_finite_number(timeout) or timeout <= 0:
                raise ValueError(
                    f"TargetSpec: {key!r} must be a finite number > 0 (got {timeout!r})"
                )

    @property
    def replica_names(self) -> tuple[str, ...]:
        return tuple(f"target-{i}" for i in range(self.replicas))
