"""One live system under test: services, partner and target, every link proxied.

``LiveSystem`` is what a verification run provisions once and reuses for
every example (examples never share keys, so no reset is needed). It is
also the nemesis's view of the world: proxies by link, processes by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from harness.nemesis.nemesis import Controllable, PartnerFaults
from harness.partner.control import PartnerControl
from harness.partner.service import PartnerService
from harness.provision.process import ManagedProcess
from harness.provision.stack import Stack
from harness.targetproc.processes import TargetProcesses
from harness.targetproc.spec import TargetSpec
from harness.toxiproxy.client import Proxy

STORES = ("postgres", "redis", "kafka")


@dataclass(frozen=True, slots=True)
class _Process:
    """A managed process whose restart goes through its owner (which waits
    for readiness), seen by the nemesis as a ``Controllable``."""

    process: ManagedProcess
    restart_fn: Callable[[], None]

    def crash(self) -> None:
        self.process.crash()

    def restart(self) -> None:
        self.restart_fn()

    def pause(self) -> None:
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()

    @property
    def alive(self) -> bool:
        return self.process.alive


class LiveSystem:
    """``with LiveSystem(spec, redis_persistence=...) as system:`` starts the
    stores the target depends on, the partner (if it does), and the target."""

    def __init__(
        self,
        spec: TargetSpec,
        *,
        redis_persistence: Literal["none", "aof"] = "none",
    ) -> None:
        self.spec = spec
        self._stores = tuple(s for s in STORES if s in spec.dependencies)
        self.stack = Stack(services=self._stores, redis_persistence=redis_persistence)
        self.partner_service: PartnerService | None = None
        self.target: TargetProcesses | None = None
        self._controllables: dict[str, Controllable] = {}

    def __enter__(self) -> LiveSystem:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.stack.start()
        partner_port: int | None = None
        if "partner" in self.spec.dependencies:
            self.partner_service = PartnerService(workdir=self.stack.workdir / "partner")
            self.partner_service.start()
            self.stack.register(self.partner_service.process)
            partner_port = self.partner_service.port
        self.target = TargetProcesses(self.spec, self.stack, partner_port=partner_port)
        self.target.start()
        target = self.target
        # Stores first: the nemesis's final sweep restarts dead processes in
        # this order, and a target needs its stores up to start.
        for store in self._stores:
            service = self.stack.service(store)
            self._controllables[store] = _Process(service.process, service.restart)
        for name, proc in target.processes().items():
            self._controllables[name] = _Process(proc, _bind(target.restart, name))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.target is not None:
                self.target.stop()
        self.stack.stop()

    # -- what clients and checkers need -----------------------------------

    @property
    def client_urls(self) -> tuple[str, ...]:
        assert self.target is not None, "LiveSystem not started"
        return self.target.client_urls

    @property
    def partner_control(self) -> PartnerControl | None:
        return self.partner_service.control if self.partner_service is not None else None

    # -- FaultTargets: the nemesis's view ------------------------------------

    def proxy(self, link: str) -> Proxy:
        return self.stack.proxy(link)

    def links(self) -> tuple[str, ...]:
        return tuple(self.stack.toxiproxy.proxies())

    def controllable(self, name: str) -> Controllable:
        return self._controllables[name]

    def controllables(self) -> Mapping[str, Controllable]:
        return MappingProxyType(self._controllables)

    def reset_proxies(self) -> None:
        self.stack.toxiproxy.reset()

    @property
    def partner(self) -> PartnerFaults | None:
        return self.partner_control

    def ports(self) -> dict[str, int]:
        """Every port this system listens on, by owner: Toxiproxy's API, each
        store, the partner, each replica, and each link (``link:<name>``)."""
        ports = {"toxiproxy": self.stack.toxiproxy_server.port}
        for store in self._stores:
            ports[store] = self.stack.service(store).port
        if self.partner_service is not None:
            ports["partner"] = self.partner_service.port
        if self.target is not None:
            ports.update(self.target.ports())
        for name, proxy in self.stack.toxiproxy.proxies().items():
            ports[f"link:{name}"] = proxy.listen_port
        return ports

    def pids(self) -> dict[str, int]:
        """The pid of every process this system runs (each leads its own group)."""
        processes = {"toxiproxy": self.stack.toxiproxy_server.process}
        for store in self._stores:
            processes[store] = self.stack.service(store).process
        if self.partner_service is not None:
            processes["partner"] = self.partner_service.process
        if self.target is not None:
            processes.update(self.target.processes())
        return {name: p.pid for name, p in processes.items() if p.pid is not None and p.alive}

    def log_tails(self, names: Iterable[str] | None = None, lines: int = 30) -> dict[str, str]:
        """The last log lines of target processes, for error reports."""
        if self.target is None:
            return {}
        procs = self.target.processes()
        wanted = procs if names is None else [n for n in names if n in procs]
        return {n: procs[n].log_tail(lines) for n in wanted}


def _bind(fn: Callable[[str], None], name: str) -> Callable[[], None]:
    return lambda: fn(name)
