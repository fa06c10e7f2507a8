"""Where a stack's services run: local processes (default) or containers.

``backend_named("local" | "containers")`` gives a backend whose ``stack(...)``
is a `Stack` or a `ContainerStack`; both satisfy `StackHandle`, which is all
that `LiveSystem` and the target starters use. ``FAILMODEL_BACKEND`` names the
default backend (``local`` when unset).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.provision.redis_service import RedisPersistence
from harness.provision.stack import SERVICE_NAMES, Stack
from harness.toxiproxy import Proxy, ToxiproxyClient

BACKENDS = ("local", "containers")
BACKEND_VARIABLE = "FAILMODEL_BACKEND"


class StackHandle(Protocol):
    """What the engine needs from a started stack, whatever runs it."""

    @property
    def service_names(self) -> tuple[str, ...]: ...

    @property
    def start_seconds(self) -> dict[str, float]: ...

    @property
    def workdir(self) -> Path: ...

    @property
    def toxiproxy(self) -> ToxiproxyClient: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def env(self) -> dict[str, str]: ...

    def proxy(self, name: str) -> Proxy: ...

    def add_link(self, name: str, upstream_port: int) -> Proxy: ...

    def remove_link(self, name: str) -> None: ...

    def restart_toxiproxy(self) -> None: ...

    def register(self, process: Any) -> Any: ...

    def service(self, name: str) -> Any: ...

    def start_partner(self, callers: Sequence[str] = ...) -> Any: ...


class Backend(Protocol):
    name: str

    def stack(
        self, *, services: Iterable[str], redis_persistence: RedisPersistence
    ) -> StackHandle: ...


class LocalBackend:
    """Services as local processes, from the binaries `failmodel setup` installs."""

    name = "local"

    def stack(
        self,
        *,
        services: Iterable[str] = SERVICE_NAMES,
        redis_persistence: RedisPersistence = "none",
    ) -> Stack:
        return Stack(services=services, redis_persistence=redis_persistence)


def default_backend() -> str:
    """``$FAILMODEL_BACKEND`` or ``local``."""
    name = os.environ.get(BACKEND_VARIABLE, "").strip() or "local"
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_VARIABLE} must be one of {', '.join(BACKENDS)} (got {name!r})")
    return name


def backend_named(name: str | None = None, *, images: Mapping[str, str] | None = None) -> Backend:
    """``local`` or ``containers`` (None: the default); the containers backend is
    imported only when chosen. *images* replaces the containers backend's own images."""
    name = default_backend() if name is None else name
    if name == "local":
        return LocalBackend()
    if name == "containers":
        from harness.provision.containers import ContainersBackend

        return ContainersBackend(images=images)
    raise ValueError(f"'backend' must be one of {', '.join(BACKENDS)} (got {name!r})")
