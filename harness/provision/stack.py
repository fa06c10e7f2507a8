"""A set of services, each behind its own Toxiproxy proxy, started and stopped as one."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

from harness.lifecycle import Lifecycle, started
from harness.provision.kafka import KafkaService
from harness.provision.ports import LOOPBACK, free_port
from harness.provision.postgres import PostgresService
from harness.provision.reaper import current_run
from harness.provision.redis_service import RedisPersistence, RedisService
from harness.provision.service import LocalService
from harness.provision.together import Startable, start_together, stop_in_stages
from harness.provision.toxiproxy_server import ToxiproxyServer
from harness.setup.binaries import Binaries, find_binaries
from harness.toxiproxy import Proxy, ToxiproxyClient

if TYPE_CHECKING:
    from harness.partner.service import PartnerService

ServiceName = Literal["postgres", "redis", "kafka"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("postgres", "redis", "kafka")


class Stoppable(Protocol):
    def stop(self) -> None: ...


class StackService(Startable, Stoppable, Protocol):
    """A service a stack starts: one port, which its proxy fronts."""

    port: int

    def restart(self) -> None: ...


ServiceT = TypeVar("ServiceT", bound=StackService)
ServerT = TypeVar("ServerT", bound=StackService)
StoppableT = TypeVar("StoppableT", bound=Stoppable)


def _check_services(services: Iterable[str]) -> tuple[ServiceName, ...]:
    chosen = tuple(dict.fromkeys(services))
    unknown = [name for name in chosen if name not in SERVICE_NAMES]
    if unknown:
        raise ValueError(
            f"'services' must be a subset of {', '.join(SERVICE_NAMES)} (got unknown {unknown})"
        )
    return tuple(name for name in SERVICE_NAMES if name in chosen)


class StackBase(Lifecycle, Generic[ServiceT, ServerT]):
    """What both backends' stacks share: the chosen services, a work dir, Toxiproxy
    with a proxy per link, the processes registered to stop with the stack, and
    the order of stopping. A backend builds and starts the services."""

    def __init__(
        self,
        *,
        services: Iterable[str] = SERVICE_NAMES,
        redis_persistence: RedisPersistence = "none",
        binaries: Binaries | None = None,
    ) -> None:
        self.service_names = _check_services(services)
        self.redis_persistence = redis_persistence
        self._binaries = binaries
        self._workdir: Path | None = None
        self._server: ServerT | None = None
        self._client: ToxiproxyClient | None = None
        self._links: dict[str, tuple[str, str]] = {}
        """Every proxy made, by name: its listen and upstream addresses."""
        self._services: dict[str, ServiceT] = {}
        self._registered: list[Stoppable] = []
        self.start_seconds: dict[str, float] = {}
        """Seconds from launch to ready, per service (first start, incl. initdb/format)."""

    @property
    def workdir(self) -> Path:
        return started(self._workdir)

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        return started(self._client)

    @property
    def toxiproxy_server(self) -> ServerT:
        return started(self._server)

    def _make_workdir(self, prefix: str) -> Path:
        """The stack's temp dir, deleted at stop (and by the reaper if the harness dies)."""
        if self._workdir is not None:
            raise RuntimeError(f"this stack was already started; make a new {type(self).__name__}")
        self._workdir = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self._workdir, 0o755)  # services running as 'nobody' must reach their dirs
        current_run().add_tmpdir(self._workdir)
        return self._workdir

    def _start_services(self, services: dict[str, ServiceT]) -> None:
        """Start ``services`` side by side, then put a proxy in front of each (Kafka's
        exists already: the broker advertises it)."""
        self._services = services
        start_together(self._services, self._timed)
        self._after_services_start()
        for name, service in self._services.items():
            if name != "kafka":
                self.add_link(name, service.port)

    def _after_services_start(self) -> None:
        """What a backend does once its services are up, before they get proxies."""

    def _timed(self, name: str, start: Callable[[], None]) -> None:
        begin = time.monotonic()
        start()
        self.start_seconds[name] = time.monotonic() - begin

    def stop(self) -> None:
        """Stop the registered processes (the target's, the partner), then the services,
        then Toxiproxy, each stage side by side; always delete the work dir."""
        try:
            stop_in_stages(
                [
                    [p.stop for p in self._registered],
                    [s.stop for s in self._services.values()],
                    [self._client.close] if self._client is not None else [],
                    [self._server.stop] if self._server is not None else [],
                ]
            )
        finally:
            self._registered.clear()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                current_run().remove_tmpdir(self._workdir)

    def service(self, name: str) -> ServiceT:
        try:
            return self._services[name]
        except KeyError:
            raise KeyError(
                f"no service {name!r} in this stack (it has {', '.join(self._services) or 'none'})"
            ) from None

    def proxy(self, name: str) -> Proxy:
        return self.toxiproxy.get_proxy(name)

    def add_link(self, name: str, upstream_port: int) -> Proxy:
        """A new proxy *name* on a free loopback port in front of ``127.0.0.1:upstream_port``."""
        proxy = self.toxiproxy.create_proxy(
            name, listen=f"{LOOPBACK}:0", upstream=f"{LOOPBACK}:{upstream_port}"
        )
        self._links[name] = (proxy.listen, proxy.upstream)
        return proxy

    def remove_link(self, name: str) -> None:
        """Delete the proxy *name* (a target's link, when the target stops)."""
        self._links.pop(name, None)
        self.toxiproxy.delete_proxy(name)

    def restart_toxiproxy(self) -> None:
        """Kill Toxiproxy and start it again on its port with every proxy on its own
        listen address and no toxic: the heal of last resort when its API stops
        answering (every connection through it is cut)."""
        server = self.toxiproxy_server
        server.crash()  # a hung server may not stop when asked to
        server.restart()
        for name, (listen, upstream) in self._links.items():
            self.toxiproxy.create_proxy(name, listen=listen, upstream=upstream)

    def register(self, process: StoppableT) -> StoppableT:
        """Have *process* (a partner, a target replica: local or a container) stopped
        with the stack, before its services."""
        self._registered.append(process)
        return process

    def _database_url(self, port: int) -> str:
        """PostgreSQL's URL with ``port``, its proxy's."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The contract variables for the started services, all pointing at proxies."""
        ports = {name: proxy.listen_port for name, proxy in self.toxiproxy.proxies().items()}
        env: dict[str, str] = {}
        if "postgres" in self._services:
            env["DATABASE_URL"] = self._database_url(ports["postgres"])
        if "redis" in self._services:
            env["REDIS_URL"] = f"redis://{LOOPBACK}:{ports['redis']}/0"
        if "kafka" in self._services:
            env["KAFKA_BOOTSTRAP_SERVERS"] = f"{LOOPBACK}:{ports['kafka']}"
        return env


class Stack(StackBase[LocalService, ToxiproxyServer]):
    """Toxiproxy plus any of PostgreSQL, Redis and Kafka, in a temp work dir.

    Every link goes through a proxy named after it, and `env` hands out the
    proxies' addresses only. Use as a context manager: leaving it stops every
    process (registered ones first, then the services, Toxiproxy last) and
    deletes the work dir, whatever happened inside.
    """

    _partner: PartnerService | None = None

    def start(self) -> None:
        workdir = self._make_workdir("failmodel-")
        try:
            binaries = self._binaries or find_binaries()
            self._server = ToxiproxyServer(binaries=binaries, directory=workdir / "toxiproxy")
            self._timed("toxiproxy", self._server.start)
            self._client = ToxiproxyClient(self._server.url)
            self._start_services(self._build_services(binaries))
        except BaseException:
            self.stop()
            raise

    def _build_services(self, binaries: Binaries) -> dict[str, LocalService]:
        services: dict[str, LocalService] = {}
        for name in self.service_names:
            directory = self.workdir / name
            if name == "postgres":
                services[name] = PostgresService(binaries=binaries, directory=directory)
            elif name == "redis":
                services[name] = RedisService(
                    binaries=binaries, directory=directory, persistence=self.redis_persistence
                )
            else:
                broker_port = free_port()
                proxy = self.add_link("kafka", broker_port)
                services[name] = KafkaService(
                    binaries=binaries, directory=directory,
                    advertised=proxy.listen, port=broker_port,
                )
        return services

    def start_partner(self, callers: Sequence[str] = ()) -> PartnerService:
        """Start the partner service (``python -m harness.partner``), stopped with the
        stack, with a port of its own for each of ``callers`` (the target's processes)."""
        from harness.partner.service import PartnerService

        if self._partner is not None:
            raise RuntimeError("this stack's partner was already started")
        self._partner = PartnerService(workdir=self.workdir / "partner", callers=callers)
        self.register(self._partner.process)
        self._timed("partner", self._partner.start)
        return self._partner

    def _database_url(self, port: int) -> str:
        pg = self.service("postgres")
        assert isinstance(pg, PostgresService)
        return pg.url.replace(f":{pg.port}/", f":{port}/")
