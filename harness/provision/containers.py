"""Containers backend: Toxiproxy, PostgreSQL, Redis, Kafka and the partner in containers.

Containers are started through testcontainers, with its Ryuk reaper disabled
(``TESTCONTAINERS_RYUK_DISABLED``): Ryuk is an image pulled from a registry,
and failmodel has its own reaper. Every container carries the labels of
`harness.provision.docker_api` (the run id, the harness's pid and start
time); the run's watchdog removes them when the harness dies, even by
SIGKILL, and the next harness start removes whatever a dead harness left.

Every container uses the host's network: a service listens on a free
loopback port exactly as the local backend's process does, Toxiproxy (itself
a container) reaches it on 127.0.0.1, and targets reach it only through
Toxiproxy. Readiness is a real request on that port (``SELECT 1``, ``PING``,
a Kafka metadata request, ``GET /version``), never a port-mapping wait.
Crash, pause, resume and restart are ``docker kill`` (SIGKILL), ``docker
pause`` / ``unpause`` (the cgroup freezer) and ``docker start``; a container
keeps its file system across a kill, so a killed PostgreSQL keeps its
committed rows and a Redis without persistence comes back empty.

Images are failmodel's own, built locally (`harness.setup.images`) and never
pulled; a design (``[services] images``) or ``FAILMODEL_IMAGES`` may name
others, which must already be in the engine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.partner.control import PartnerControl
from harness.partner.endpoints import CONTROL_PREFIX
from harness.partner.service import partner_arguments
from harness.provision.docker_api import (
    LABEL,
    LABEL_PID,
    LABEL_RUN,
    LABEL_START,
    DockerAPI,
    docker_socket,
)
from harness.provision.kafka import metadata_lists_broker, new_cluster_id
from harness.provision.ports import LOOPBACK, free_port
from harness.provision.postgres import DATABASE, USER, answers_select_one, create_database
from harness.provision.readiness import ServiceStartError, wait_until_ready
from harness.provision.reaper import current_run, reap_containers
from harness.provision.redis_service import RedisPersistence, answers_ping
from harness.provision.stack import SERVICE_NAMES, StackBase
from harness.setup.binaries import Binaries, find_binaries
from harness.setup.cache import cache_dir
from harness.setup.images import SERVICE_IMAGES, ensure_images, image_tags
from harness.toxiproxy import ToxiproxyClient

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

INSTALL_HINT = "pip install 'failmodel[containers]'"
STOP_TIMEOUT_S = 10
IMAGES_VARIABLE = "FAILMODEL_IMAGES"


class MissingImage(LookupError):
    """An image named by a design or FAILMODEL_IMAGES is not in the engine (never pulled)."""


def _docker_container_class() -> Any:
    try:
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer
    except ImportError as exc:
        raise ImportError(f"the containers backend needs testcontainers: {INSTALL_HINT}") from exc
    testcontainers_config.ryuk_disabled = True
    return DockerContainer


def require_engine() -> DockerAPI:
    api = DockerAPI()
    if not api.ping():
        raise ConnectionError(
            f"the containers backend needs a Docker engine and none answers on "
            f"{api.socket_path}; run 'failmodel setup --backend containers'"
        )
    return api


_reaped = False
_reap_lock = threading.Lock()


def prepare_run() -> dict[str, str]:
    """Once per harness process: note in the run record that it starts containers,
    remove dead runs' containers; return the labels every container gets."""
    global _reaped
    run = current_run()
    socket_path = docker_socket()
    with _reap_lock:
        run.use_docker(socket_path)
        if not _reaped:
            reap_containers(socket_path)
            _reaped = True
    return {
        LABEL: "1",
        LABEL_RUN: run.run_id,
        LABEL_PID: str(run.harness_pid),
        LABEL_START: str(run.harness_start),
    }


def images_from_env() -> dict[str, str]:
    """``FAILMODEL_IMAGES="postgres=postgres:16,redis=redis:7"``: images by service."""
    text = os.environ.get(IMAGES_VARIABLE, "").strip()
    if not text:
        return {}
    images: dict[str, str] = {}
    for item in text.split(","):
        service, sep, image = item.strip().partition("=")
        if not sep or service not in SERVICE_IMAGES or not image:
            raise ValueError(
                f"{IMAGES_VARIABLE} must be 'service=image,...' with services from "
                f"{', '.join(SERVICE_IMAGES)} (got {item.strip()!r})"
            )
        images[service] = image
    return images


def resolve_images(
    binaries: Binaries, named: Mapping[str, str], services: Iterable[str]
) -> dict[str, str]:
    """The image of each of *services*: named (design, then FAILMODEL_IMAGES wins) or ours.

    Ours are built when missing; a named one that is missing is a `MissingImage`.
    """
    chosen = {**dict(named), **images_from_env()}
    services = tuple(services)
    ours = [s for s in services if s not in chosen]
    tags = ensure_images(cache_dir(), binaries, names=ours) if ours else image_tags(binaries)
    api = DockerAPI()
    for service in services:
        if service in chosen and not api.image_exists(chosen[service]):
            raise MissingImage(
                f"image {chosen[service]!r} (for {service}) is not in the Docker engine, and "
                f"failmodel never pulls: 'docker pull {chosen[service]}' (or 'docker load') "
                f"first, or drop it from [services] images / {IMAGES_VARIABLE} to use the "
                "image failmodel builds"
            )
    return {service: chosen.get(service, tags[service]) for service in services}


_names = itertools.count()


class ContainerProcess:
    """One container with a process's controls: started, killed, paused, restarted.

    It is created on the first `start` and keeps its file system until `stop`
    removes it. ``alive`` is true while it runs or is paused.
    """

    def __init__(
        self,
        name: str,
        image: str,
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str],
    ) -> None:
        self.name = name
        self.image = image
        self.argv = list(command or [])
        self.env = dict(env or {})
        self.labels = {**labels, "failmodel.process": name}
        self._container: Any = None
        self.log_path = f"docker logs of container {name}"

    def __repr__(self) -> str:
        return f"ContainerProcess({self.name!r}, image={self.image!r}, alive={self.alive})"

    @property
    def container_id(self) -> str | None:
        return None if self._container is None else str(self._docker().id)

    def _docker(self) -> Any:
        return self._container.get_wrapped_container()

    def _state(self) -> dict[str, Any]:
        if self._container is None:
            return {}
        try:
            self._docker().reload()
        except Exception:
            return {}
        state: dict[str, Any] = self._docker().attrs.get("State", {})
        return state

    @property
    def alive(self) -> bool:
        return self._state().get("Status") in ("running", "paused", "restarting")

    @property
    def returncode(self) -> int | None:
        state = self._state()
        if not state or state.get("Status") in ("running", "paused", "restarting", "created"):
            return None
        return int(state.get("ExitCode", -1))

    def start(self) -> None:
        if self._container is None:
            container_class = _docker_container_class()
            container = (
                container_class(self.image)
                .with_name(f"failmodel-{self.labels[LABEL_RUN]}-{self.name}-{next(_names)}")
                .with_kwargs(network_mode="host", labels=dict(self.labels))
            )
            for key, value in self.env.items():
                container = container.with_env(key, value)
            if self.argv:
                container = container.with_command(list(self.argv))
            self._container = container
            container.start()
        elif not self.alive:
            self._docker().start()
        else:
            raise RuntimeError(f"container {self.name!r} is already running")

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float, what: str) -> float:
        return wait_until_ready(
            probe,
            name=f"{self.name} (container of {self.image})",
            what=what,
            timeout=timeout,
            alive=lambda: self.alive,
            log_tail=self.log_tail,
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop (SIGTERM, then SIGKILL after *timeout*) and remove the container."""
        if self._container is None:
            return
        with contextlib.suppress(Exception):
            if self._state().get("Status") == "paused":
                self._docker().unpause()
            self._docker().stop(timeout=int(timeout))
        self._container.stop(force=True)
        self._container = None

    def crash(self) -> None:
        """``docker kill``: SIGKILL the whole container at once; return once it is down."""
        if self._container is None:
            return
        if self.alive:
            with contextlib.suppress(Exception):
                self._docker().kill()
        deadline = time.monotonic() + 10
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.02)

    def pause(self) -> None:
        """``docker pause``: every process frozen (cgroup freezer) with its sockets open.
        Pausing a paused container does nothing, as a second SIGSTOP does."""
        status = self._state().get("Status")
        if status not in ("running", "paused", "restarting"):
            raise RuntimeError(f"cannot pause {self.name!r}: it is not running")
        if status != "paused":
            self._docker().pause()

    def resume(self) -> None:
        if not self.alive:
            raise RuntimeError(f"cannot resume {self.name!r}: it is not running")
        if self._state().get("Status") == "paused":
            self._docker().unpause()

    def restart(self) -> None:
        """Stop if running (the container and its files stay), then start again."""
        if self._container is not None and self.alive:
            if self._state().get("Status") == "paused":
                self._docker().unpause()
            self._docker().stop(timeout=STOP_TIMEOUT_S)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        if self._container is None:
            return "(never started)"
        try:
            raw: bytes = self._docker().logs(tail=lines)
        except Exception as exc:
            return f"(no log: {exc})"
        return raw.decode("utf-8", errors="replace").rstrip()


class ContainerService:
    """A service container with a fixed port and a readiness probe: the local
    `LocalService`'s controls (start waits until ready, restart keeps the data)."""

    def __init__(
        self,
        name: str,
        process: ContainerProcess,
        *,
        port: int,
        probe: Callable[[], bool],
        readiness: str,
        ready_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.process = process
        self.port = port
        self._probe = probe
        self._readiness = readiness
        self.ready_timeout = ready_timeout
        self.ready_seconds: float | None = None

    def __repr__(self) -> str:
        return f"ContainerService({self.name!r}, port={self.port}, image={self.process.image!r})"

    @property
    def image(self) -> str:
        return self.process.image

    @property
    def alive(self) -> bool:
        return self.process.alive

    def start(self) -> None:
        self.process.start()
        self.ready_seconds = self.process.wait_ready(
            self._probe, timeout=self.ready_timeout, what=self._readiness
        )

    def stop(self) -> None:
        self.process.stop()

    def crash(self) -> None:
        self.process.crash()

    def restart(self) -> None:
        self.process.restart()
        self.ready_seconds = self.process.wait_ready(
            self._probe, timeout=self.ready_timeout, what=self._readiness
        )

    def pause(self) -> None:
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()


class ContainerPartner(ContainerService):
    """The partner service (``python -m harness.partner``) in its container."""

    def __init__(
        self, image: str, *, labels: Mapping[str, str], callers: Sequence[str] = ()
    ) -> None:
        port = free_port()
        self.caller_ports = {name: free_port() for name in callers}
        self.url = f"http://{LOOPBACK}:{port}"
        self.control = PartnerControl(self.url)
        probe = PartnerControl(self.url, timeout=1.0)
        process = ContainerProcess(
            "partner",
            image,
            command=partner_arguments(port, "/data/partner-ledger.jsonl", self.caller_ports),
            labels=labels,
        )
        super().__init__(
            "partner", process, port=port, probe=probe.health,
            readiness=f"GET {self.url}{CONTROL_PREFIX}/health", ready_timeout=30.0,
        )


def _toxiproxy_version(url: str) -> bool:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/version", timeout=1) as response:
        return response.status == 200 and json.loads(response.read() or b"null") is not None


class ContainerStack(StackBase[ContainerService, ContainerService]):
    """Like `Stack`, with Toxiproxy, the services and the partner in containers."""

    _partner: ContainerPartner | None = None

    def __init__(
        self,
        *,
        services: Iterable[str] = SERVICE_NAMES,
        redis_persistence: RedisPersistence = "none",
        binaries: Binaries | None = None,
        images: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            services=services, redis_persistence=redis_persistence, binaries=binaries
        )
        self._named_images = dict(images or {})
        self.images: dict[str, str] = {}
        self._labels: dict[str, str] = {}

    @property
    def labels(self) -> dict[str, str]:
        """The labels of this run's containers (a target's containers get them too)."""
        return dict(self._labels)

    def containers(self) -> list[ContainerProcess]:
        """Every container of this stack that exists now."""
        units = [self._server, *self._services.values(), self._partner]
        return [u.process for u in units if u is not None and u.process.container_id]

    def start(self) -> None:
        self._make_workdir("failmodel-containers-")
        try:
            _docker_container_class()  # fail early without testcontainers
            require_engine()
            self._labels = prepare_run()
            binaries = self._binaries or find_binaries()
            wanted = ("toxiproxy", *self.service_names)
            if "partner" in self._named_images:
                wanted += ("partner",)
            self.images = resolve_images(binaries, self._named_images, wanted)
            port = free_port()
            self._server = ContainerService(
                "toxiproxy",
                ContainerProcess(
                    "toxiproxy", self.images["toxiproxy"],
                    command=["-host", LOOPBACK, "-port", str(port)], labels=self._labels,
                ),
                port=port,
                probe=lambda: _toxiproxy_version(f"http://{LOOPBACK}:{port}"),
                readiness=f"GET http://{LOOPBACK}:{port}/version",
                ready_timeout=30.0,
            )
            self._timed("toxiproxy", self._server.start)
            self._client = ToxiproxyClient(f"http://{LOOPBACK}:{port}")
            self._start_services({name: self._build(name) for name in self.service_names})
        except BaseException:
            self.stop()
            raise

    def _after_services_start(self) -> None:
        if "postgres" in self._services:
            create_database(self._services["postgres"].port)

    def _build(self, name: str) -> ContainerService:
        port = free_port()
        image = self.images[name]
        if name == "postgres":
            command = ["postgres", "-p", str(port)]
            for key, value in {
                "listen_addresses": LOOPBACK,
                "fsync": "off",
                "full_page_writes": "off",
                "max_connections": "300",
                "shared_buffers": "64MB",
            }.items():
                command += ["-c", f"{key}={value}"]
            process = ContainerProcess(
                name, image, command=command, labels=self._labels,
                env={"POSTGRES_USER": USER, "POSTGRES_DB": DATABASE,
                     "POSTGRES_HOST_AUTH_METHOD": "trust"},
            )
            return ContainerService(
                name, process, port=port, probe=lambda: answers_select_one(port),
                readiness=f"'SELECT 1' on {LOOPBACK}:{port}",
            )
        if name == "redis":
            aof = "yes" if self.redis_persistence == "aof" else "no"
            command = [
                "redis-server", "--port", str(port), "--bind", LOOPBACK, "--dir", "/data",
                "--save", "", "--appendonly", aof, "--appendfsync", "always",
                "--protected-mode", "no",
            ]
            process = ContainerProcess(name, image, command=command, labels=self._labels)
            return ContainerService(
                name, process, port=port, probe=lambda: answers_ping(port),
                readiness=f"PING on {LOOPBACK}:{port}",
            )
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
            "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
            "KAFKA_NUM_PARTITIONS": "1",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
            "KAFKA_BROKER_SESSION_TIMEOUT_MS": "3000",
            "KAFKA_BROKER_HEARTBEAT_INTERVAL_MS": "500",
            "KAFKA_HEAP_OPTS": "-Xms512m -Xmx512m",
            "CLUSTER_ID": new_cluster_id(),
        }
        process = ContainerProcess(name, image, env=settings, labels=self._labels)
        return ContainerService(
            name, process, port=port,
            probe=lambda: metadata_lists_broker(proxy.listen, broker_port=port),
            readiness=f"a metadata request to {proxy.listen} listing the broker",
            ready_timeout=90.0,
        )

    def start_partner(self, callers: Sequence[str] = ()) -> ContainerPartner:
        """Start the partner service in its container (stopped with the stack), with a
        port of its own for each of ``callers`` (the target's processes)."""
        if self._partner is not None:
            raise RuntimeError("this stack's partner was already started")
        binaries = self._binaries or find_binaries()
        image = resolve_images(binaries, self._named_images, ["partner"])["partner"]
        self.images["partner"] = image
        self._partner = self.register(
            ContainerPartner(image, labels=self._labels, callers=callers)
        )
        self._timed("partner", self._partner.start)
        return self._partner

    def _database_url(self, port: int) -> str:
        return f"postgresql://{USER}@{LOOPBACK}:{port}/{DATABASE}"


class ContainersBackend:
    name = "containers"

    def __init__(self, images: Mapping[str, str] | None = None) -> None:
        self.images = dict(images or {})

    def stack(
        self,
        *,
        services: Iterable[str] = SERVICE_NAMES,
        redis_persistence: RedisPersistence = "none",
    ) -> ContainerStack:
        return ContainerStack(
            services=services, redis_persistence=redis_persistence, images=self.images
        )


__all__ = [
    "ContainerPartner",
    "ContainerProcess",
    "ContainerService",
    "ContainerStack",
    "ContainersBackend",
    "MissingImage",
    "ServiceStartError",
    "prepare_run",
    "require_engine",
    "resolve_images",
]
