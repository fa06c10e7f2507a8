"""Docker backend: PostgreSQL, Redis and Kafka in containers, for users without the Debian
packages. Needs ``pip install 'failmodel[containers]'`` and a running Docker engine.

Containers use the host network so that Toxiproxy (still the local binary) and the
host's targets reach them on 127.0.0.1 exactly as with the local backend.
Crash, pause and restart map to ``docker kill``, ``docker pause`` and ``docker start``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.provision.kafka import metadata_lists_broker
from harness.provision.ports import LOOPBACK, free_port
from harness.provision.postgres import DATABASE, USER, answers_select_one, create_database
from harness.provision.process import ManagedProcess
from harness.provision.readiness import wait_until_ready
from harness.provision.reaper import current_run
from harness.provision.redis_service import RedisPersistence, answers_ping
from harness.provision.stack import SERVICE_NAMES
from harness.provision.toxiproxy_server import ToxiproxyServer
from harness.setup.binaries import KAFKA_VERSION, find_binaries
from harness.toxiproxy import Proxy, ToxiproxyClient

INSTALL_HINT = "pip install 'failmodel[containers]'"


def _docker_container_class() -> Any:
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.docker_client import DockerClient
    except ImportError as exc:
        raise ImportError(f"the containers backend needs testcontainers: {INSTALL_HINT}") from exc
    try:
        DockerClient().client.ping()
    except Exception as exc:
        raise ConnectionError(
            f"the containers backend needs a running Docker engine and none answers ({exc}); "
            "start Docker, or use the local backend ('failmodel setup')"
        ) from exc
    return DockerContainer


class ContainerService:
    """One service container with the same fault controls as a local service."""

    def __init__(
        self, name: str, container: Any, port: int, probe: Callable[[], bool], *, timeout: float
    ) -> None:
        self.name = name
        self.port = port
        self.container = container
        self._probe = probe
        self._timeout = timeout

    def _docker(self) -> Any:
        return self.container.get_wrapped_container()

    def start(self) -> None:
        if self.container.get_wrapped_container() is None:
            self.container.start()
        else:
            self._docker().start()
        wait_until_ready(
            self._probe,
            name=self.name,
            what=f"{self.name} on {LOOPBACK}:{self.port}",
            timeout=self._timeout,
            alive=lambda: self._docker().reload() is None and self._docker().status == "running",
            log_tail=lambda: self._docker().logs(tail=40).decode("utf-8", "replace"),
        )

    def stop(self) -> None:
        self.container.stop()

    def crash(self) -> None:
        self._docker().kill()

    def restart(self) -> None:
        self._docker().stop(timeout=10)
        self.start()

    def pause(self) -> None:
        self._docker().pause()

    def resume(self) -> None:
        self._docker().unpause()


class ContainerStack:
    """Like `Stack`, with the services in containers and Toxiproxy as a local process."""

    def __init__(
        self,
        *,
        services: Iterable[str] = SERVICE_NAMES,
        redis_persistence: RedisPersistence = "none",
    ) -> None:
        self.service_names = tuple(services)
        self.redis_persistence = redis_persistence
        self.workdir: Path | None = None
        self._services: dict[str, ContainerService] = {}
        self._registered: list[ManagedProcess] = []
        self._server: ToxiproxyServer | None = None
        self._client: ToxiproxyClient | None = None

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        assert self._client is not None, "start the stack first"
        return self._client

    def __enter__(self) -> ContainerStack:
        container_class = _docker_container_class()
        workdir = self.workdir = Path(tempfile.mkdtemp(prefix="failmodel-containers-"))
        current_run().add_tmpdir(workdir)
        try:
            binaries = find_binaries()
            self._server = ToxiproxyServer(binaries=binaries, directory=workdir / "toxiproxy")
            self._server.start()
            self._client = ToxiproxyClient(self._server.url)
            for name in self.service_names:
                service = self._build(container_class, name)
                self._services[name] = service
                service.start()
                if name == "postgres":
                    create_database(service.port)
                if name != "kafka":
                    self.add_link(name, service.port)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self, container_class: Any, name: str) -> ContainerService:
        port = free_port()
        if name == "postgres":
            container = container_class("postgres:15").with_env(
                "POSTGRES_HOST_AUTH_METHOD", "trust"
            ).with_env("POSTGRES_USER", USER).with_env("POSTGRES_DB", DATABASE).with_command(
                f"postgres -p {port} -c listen_addresses={LOOPBACK} -c fsync=off "
                "-c max_connections=300"
            )
            probe: Callable[[], bool] = lambda: answers_select_one(port)  # noqa: E731
        elif name == "redis":
            aof = "yes" if self.redis_persistence == "aof" else "no"
            container = container_class("redis:7.0").with_command(
                f"redis-server --port {port} --bind {LOOPBACK} --save '' "
                f"--appendonly {aof} --appendfsync always --protected-mode no"
            )
            probe = lambda: answers_ping(port)  # noqa: E731
        else:
            controller = free_port()
            proxy = self.add_link("kafka", port)
            settings = {
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@{LOOPBACK}:{controller}",
                "KAFKA_LISTENERS": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller}",
                "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{proxy.listen}",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
                "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
                "KAFKA_HEAP_OPTS": "-Xms512m -Xmx512m",
            }
            container = container_class(f"apache/kafka:{KAFKA_VERSION}")
            for key, value in settings.items():
                container = container.with_env(key, value)
            probe = lambda: metadata_lists_broker(proxy.listen, broker_port=port)  # noqa: E731
        container = container.with_kwargs(network_mode="host")
        return ContainerService(name, container, port, probe, timeout=90)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process in reversed(self._registered):
            process.stop()
        for service in reversed(self._services.values()):
            service.stop()
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            current_run().remove_tmpdir(self.workdir)

    def service(self, name: str) -> ContainerService:
        return self._services[name]

    def proxy(self, name: str) -> Proxy:
        return self.toxiproxy.get_proxy(name)

    def add_link(self, name: str, upstream_port: int) -> Proxy:
        return self.toxiproxy.create_proxy(
            name, listen=f"{LOOPBACK}:0", upstream=f"{LOOPBACK}:{upstream_port}"
        )

    def register(self, process: ManagedProcess) -> ManagedProcess:
        self._registered.append(process)
        return process

    def env(self) -> dict[str, str]:
        ports = {name: proxy.listen_port for name, proxy in self.toxiproxy.proxies().items()}
        env = {}
        if "postgres" in self._services:
            env["DATABASE_URL"] = f"postgresql://{USER}@{LOOPBACK}:{ports['postgres']}/{DATABASE}"
        if "redis" in self._services:
            env["REDIS_URL"] = f"redis://{LOOPBACK}:{ports['redis']}/0"
        if "kafka" in self._services:
            env["KAFKA_BOOTSTRAP_SERVERS"] = f"{LOOPBACK}:{ports['kafka']}"
        return env


class ContainersBackend:
    name = "containers"

    def stack(
        self,
        *,
        services: Iterable[str] = SERVICE_NAMES,
        redis_persistence: RedisPersistence = "none",
    ) -> ContainerStack:
        return ContainerStack(services=services, redis_persistence=redis_persistence)
