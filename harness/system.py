"""One live system under test: services, partner and target, every link proxied.

``LiveSystem`` is what a verification run provisions once and reuses for
every example (examples never share keys, so no reset is needed). It is
also the nemesis's view of the world: proxies by link, processes by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from harness.lifecycle import Lifecycle
from harness.links import STORES, links_acted_on
from harness.nemesis.nemesis import Clock, Controllable, PartnerFaults
from harness.partner.control import PartnerControl
from harness.provision.backend import StackHandle, backend_named
from harness.provision.kafka import consumer_lag
from harness.targetproc.processes import TargetProcess, TargetProcesses
from harness.targetproc.spec import TargetSpec
from harness.toxiproxy.client import Proxy


@dataclass(frozen=True, slots=True)
class _Process:
    """A target process (local or a container) whose restart goes through its
    owner (which waits for readiness), seen by the nemesis as a ``Controllable``."""

    process: TargetProcess
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


class LiveSystem(Lifecycle):
    """``with LiveSystem(spec, redis_persistence=...) as system:`` starts the
    stores the target depends on, the partner (if it does), and the target.

    ``backend`` is where the stores, Toxiproxy and the partner run: ``local``
    processes or ``containers`` (default: ``$FAILMODEL_BACKEND``, else local);
    ``images`` replaces the containers backend's images by service. The target
    runs as containers when its spec gives an image or a build, else as local
    processes, whatever the backend.
    """

    def __init__(
        self,
        spec: TargetSpec,
        *,
        redis_persistence: Literal["none", "aof"] = "none",
        backend: str | None = None,
        images: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self._stores = tuple(s for s in STORES if s in spec.dependencies)
        chosen = backend_named(backend, images=images)
        self.backend = chosen.name
        self.stack: StackHandle = chosen.stack(
            services=self._stores, redis_persistence=redis_persistence
        )
        self.partner_service: Any = None
        self.target: TargetProcesses | None = None
        self._controllables: dict[str, Controllable] = {}

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.stack.start()
        partner_port: int | None = None
        callers: dict[str, int] = {}
        if "partner" in self.spec.dependencies:
            self.partner_service = self.stack.start_partner(
                callers=(*self.spec.replica_names, *self.spec.extra)
            )
            partner_port = self.partner_service.port
            callers = self.partner_service.caller_ports
        if self.spec.in_container:
            from harness.targetproc.containers import TargetContainers

            self.target = TargetContainers(
                self.spec, self.stack, partner_port=partner_port, partner_callers=callers
            )
        else:
            self.target = TargetProcesses(
                self.spec, self.stack, partner_port=partner_port, partner_callers=callers
            )
        self.target.start()
        target = self.target
        # Stores first: the nemesis's final sweep restarts dead processes in
        # this order, and a target needs its stores up to start. A store (local
        # service or container) is itself a Controllable: its restart waits until ready.
        for store in self._stores:
            self._controllables[store] = self.stack.service(store)
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
        if self.partner_service is None:
            return None
        control: PartnerControl = self.partner_service.control
        return control

    # -- FaultTargets: the nemesis's view ------------------------------------

    def proxy(self, link: str) -> Proxy:
        return self.stack.proxy(link)

    def proxies(self, link: str) -> tuple[Proxy, ...]:
        """The proxies a fault on *link* acts on: a store's plain link (``postgres``)
        stands for every link to it, the harness's and each target process's."""
        existing = self.stack.toxiproxy.proxies()
        return tuple(existing[name] for name in links_acted_on(link, tuple(existing)))

    def links(self) -> tuple[str, ...]:
        return tuple(self.stack.toxiproxy.proxies())

    def controllable(self, name: str) -> Controllable:
        return self._controllables[name]

    def controllables(self) -> Mapping[str, Controllable]:
        return MappingProxyType(self._controllables)

    def clocks(self) -> Mapping[str, Clock]:
        """The target processes whose wall clock the nemesis can move."""
        if self.target is None:
            return MappingProxyType({})
        return MappingProxyType(dict(self.target.clocks()))

    def reset_proxies(self) -> None:
        self.stack.toxiproxy.reset()

    def restart_toxiproxy(self) -> None:
        self.stack.restart_toxiproxy()

    @property
    def partner(self) -> PartnerFaults | None:
        return self.partner_control

    def ports(self) -> dict[str, int]:
        """Every port this system listens on, by owner: Toxiproxy's API, each
        store, the partner, each replica, and each link (``link:<name>``)."""
        ports = {"toxiproxy": urlsplit(self.stack.toxiproxy.url).port or 8474}
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
        """The pid of every process this system runs (each leads its own group);
        in containers, the processes the harness itself runs."""
        processes: dict[str, Any] = {}
        toxiproxy = getattr(self.stack, "toxiproxy_server", None)
        if toxiproxy is not None:
            processes["toxiproxy"] = toxiproxy.process
        for store in self._stores:
            processes[store] = self.stack.service(store).process
        if self.partner_service is not None:
            processes["partner"] = self.partner_service.process
        if self.target is not None:
            processes.update(self.target.processes())
        pids = {name: getattr(p, "pid", None) for name, p in processes.items() if p.alive}
        return {name: pid for name, pid in pids.items() if isinstance(pid, int)}

    def exited(self, spare: Collection[str] = ()) -> dict[str, int | None]:
        """The target's processes (replicas and extras) that are not running, with
        their exit codes, leaving out ``spare`` (those a fault holds down)."""
        if self.target is None:
            return {}
        return {
            name: proc.returncode
            for name, proc in self.target.processes().items()
            if name not in spare and not proc.alive
        }

    def stores_down(self, spare: Collection[str] = ()) -> tuple[str, ...]:
        """The stores (PostgreSQL, Redis, Kafka) that are not running, leaving out
        ``spare`` (those a fault holds down)."""
        return tuple(
            s
            for s in self._stores
            if s not in spare and s in self._controllables and not self._controllables[s].alive
        )

    def consumer_lag(self) -> int | None:
        """Messages Kafka's consumer groups have not committed (None without Kafka,
        or when the broker does not answer): what a consumer stopped now gets again."""
        if "kafka" not in self._stores:
            return None
        return consumer_lag(self.stack.env()["KAFKA_BOOTSTRAP_SERVERS"])

    def log_tails(self, names: Iterable[str] | None = None, lines: int = 30) -> dict[str, str]:
        """The last log lines of target processes, for error reports."""
        if self.target is None:
            return {}
        procs = self.target.processes()
        wanted = procs if names is None else [n for n in names if n in procs]
        return {n: procs[n].log_tail(lines) for n in wanted}


def _bind(fn: Callable[[str], None], name: str) -> Callable[[], None]:
    return lambda: fn(name)
