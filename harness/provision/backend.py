"""Where a stack's services run: local processes (default) or Docker containers."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from harness.provision.process import ManagedProcess
from harness.provision.redis_service import RedisPersistence
from harness.provision.stack import SERVICE_NAMES, Stack
from harness.toxiproxy import Proxy, ToxiproxyClient


class StackHandle(Protocol):
    """What the engine needs from a started stack, whatever runs it."""

    @property
    def toxiproxy(self) -> ToxiproxyClient: ...

    def env(self) -> dict[str, str]: ...

    def proxy(self, name: str) -> Proxy: ...

    def add_link(self, name: str, upstream_port: int) -> Proxy: ...

    def register(self, process: ManagedProcess) -> ManagedProcess: ...


class Backend(Protocol):
    name: str

    def stack(
        self, *, services: Iterable[str], redis_persistence: RedisPersistence
    ) -> AbstractContextManager[StackHandle]: ...


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


BACKENDS = ("local", "containers")


def backend_named(name: str) -> Backend:
    """``local`` or ``containers``; the containers backend is imported only when chosen."""
    if name == "local":
        return LocalBackend()
    if name == "containers":
        from harness.provision.containers import ContainersBackend

        return ContainersBackend()
    raise ValueError(f"'backend' must be one of {', '.join(BACKENDS)} (got {name!r})")
