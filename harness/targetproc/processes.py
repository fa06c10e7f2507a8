"""Start a target's replicas and extra processes with the contract environment.

Every replica listens on its own free port and is reached by clients only
through its Toxiproxy link ``target-<i>``; its dependencies are reached only
through the stack's proxies: PostgreSQL and Redis through a link of the
process's own (``target-0>postgres``, ``closer>redis``; harness/links.py),
Kafka through the one link its broker advertises. Readiness is probed on the
replica's own port, so a fault on the client link cannot make a healthy
replica look dead.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from harness.lifecycle import Lifecycle
from harness.links import PER_PROCESS, process_link
from harness.provision.backend import StackHandle
from harness.provision.clock import ClockControl
from harness.provision.ports import LOOPBACK, free_port
from harness.provision.process import ManagedProcess, ServiceStartError, run_to_completion
from harness.targetproc.spec import TargetSpec
from harness.toxiproxy import ToxiproxyError

# Which stack variable each store dependency is delivered as.
STORE_VARIABLES: Mapping[str, str] = {
    "postgres": "DATABASE_URL",
    "redis": "REDIS_URL",
    "kafka": "KAFKA_BOOTSTRAP_SERVERS",
}
CONTRACT_VARIABLES: frozenset[str] = frozenset(
    {"PORT", "INSTANCE_ID", "PARTNER_URL", "FAILMODEL_VARIANT", *STORE_VARIABLES.values()}
)
HEALTH_PROBE_TIMEOUT_S = 1.0
HTTP_CONFLICT = 409
LOG_TAIL_LINES = 40

# The prepare commands that succeeded in this harness process: each runs once,
# not once per stack (a row, an example's restart), and never two at a time.
_PREPARED: set[tuple[tuple[str, ...], str, str]] = set()
_PREPARING = threading.Lock()


class TargetProcess(Protocol):
    """One process of a target, a local ``ManagedProcess`` or a ``ContainerProcess``."""

    name: str
    argv: list[str]

    @property
    def alive(self) -> bool: ...
    @property
    def returncode(self) -> int | None: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...
    def crash(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def restart(self) -> None: ...
    def log_tail(self, lines: int = ...) -> str: ...
    def wait_ready(self, probe: Callable[[], bool], *, timeout: float, what: str) -> float: ...


class TargetStartError(RuntimeError):
    """A target process exited or did not become healthy; shows its command and log tail."""


def _healthy(port: int) -> bool:
    """``GET /health`` on the replica's own port answers 200 (no HTTP proxy in the way)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=HEALTH_PROBE_TIMEOUT_S)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    finally:
        connection.close()


def _host_env() -> dict[str, str]:
    """The harness's environment without the contract's variables, which the
    harness sets per process."""
    return {k: v for k, v in os.environ.items() if k not in CONTRACT_VARIABLES}


def _with_port(url: str, port: int) -> str:
    """*url* with its port replaced (``postgresql://u@127.0.0.1:5/db`` -> ``...:port/db``)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition(":")[0] if parts.port is not None else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


class TargetProcesses(Lifecycle):
    """A running target: ``with TargetProcesses(spec, stack, partner_port=p) as target:``.

    Processes are named ``target-0``, ``target-1``, ... and by their ``extra``
    names; each is registered with the stack, so it dies with the stack even
    if this object is never closed.
    """

    def __init__(
        self,
        spec: TargetSpec,
        stack: StackHandle,
        *,
        partner_port: int | None = None,
        partner_callers: Mapping[str, int] | None = None,
    ) -> None:
        """``partner_callers``: the partner's own port for each process that has one
        (``PartnerService.caller_ports``); that process reaches the partner through a
        link of its own, ``<process>>partner``, to it."""
        if "partner" in spec.dependencies and partner_port is None:
            raise ValueError(
                f"target {spec.name!r} depends on 'partner': pass 'partner_port', the "
                "partner service's real port"
            )
        self.spec = spec
        self._stack = stack
        self._partner_port = partner_port
        self._partner_callers = dict(partner_callers or {})
        self._processes: dict[str, Any] = {}
        self._ports: dict[str, int] = {}
        self._links: list[str] = []
        self._clocks: dict[str, ClockControl] = {}
        self.client_urls: tuple[str, ...] = ()

    def start(self) -> None:
        """Start every process and wait until each replica is healthy (or raise)."""
        if self._processes:
            raise RuntimeError(f"target {self.spec.name!r} was already started")
        self._prepare()
        try:
            self._make_clocks()
            base = self._base_env()
            urls = []
            for i, name in enumerate(self.spec.replica_names):
                port = free_port()
                self._ports[name] = port
                urls.append(f"http://{LOOPBACK}:{self._link(name, port)}")
                env = {**base, **self._own_links(name, base), "PORT": str(port),
                       "INSTANCE_ID": str(i)}
                self._spawn(name, self.spec.command, env)
            self.client_urls = tuple(urls)
            for name, argv in self.spec.extra.items():
                env = {**base, **self._own_links(name, base), "INSTANCE_ID": "0"}
                self._spawn(name, argv, env)
            deadline = time.monotonic() + self.spec.start_timeout_s
            for name in self.spec.replica_names:
                self._wait_healthy(name, max(0.0, deadline - time.monotonic()))
            for name in self.spec.extra:
                self._require_alive(name)
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> None:
        """Run the design's ``prepare`` command (a build) to completion, once per
        harness process, so the build's time is not charged to ``start_timeout_s``
        and its failure shows its own output, not a replica that never answered."""
        argv = self.spec.prepare
        if not argv:
            return
        key = (argv, str(self.spec.cwd), self.spec.variant)
        with _PREPARING:
            if key in _PREPARED:
                return
            process = ManagedProcess(
                "prepare",
                argv,
                env={**_host_env(), "FAILMODEL_VARIANT": self.spec.variant},
                cwd=self.spec.cwd,
                log_path=self._log_path("prepare"),
            )
            try:
                run_to_completion(process, timeout=self.spec.prepare_timeout_s)
            except FileNotFoundError:
                raise TargetStartError(
                    f"target {self.spec.name!r}: its prepare command {argv[0]!r} was not "
                    f"found (cwd {self.spec.cwd or os.getcwd()})"
                ) from None
            except ServiceStartError as exc:
                raise TargetStartError(
                    f"target {self.spec.name!r}: its prepare command failed\n"
                    f"command: {shlex.join(argv)}\n{exc}"
                ) from None
            _PREPARED.add(key)

    def _base_env(self) -> dict[str, str]:
        return {**_host_env(), **self._contract_env()}

    def _contract_env(self) -> dict[str, str]:
        """The contract's variables (section 1) other than PORT and INSTANCE_ID."""
        env: dict[str, str] = {}
        stack_env = self._stack.env()
        for dependency in sorted(self.spec.dependencies - {"partner"}):
            variable = STORE_VARIABLES[dependency]
            if variable not in stack_env:
                raise ValueError(
                    f"target {self.spec.name!r} depends on {dependency!r} but the stack does "
                    f"not run it (the stack runs {', '.join(self._stack.service_names) or 'none'})"
                )
            env[variable] = stack_env[variable]
        if self._partner_port is not None and "partner" in self.spec.dependencies:
            env["PARTNER_URL"] = f"http://{LOOPBACK}:{self._partner_link(self._partner_port)}"
        env["FAILMODEL_VARIANT"] = self.spec.variant
        return env

    def _own_links(self, process: str, base: Mapping[str, str]) -> dict[str, str]:
        """*process*'s store variables and ``PARTNER_URL`` pointing at links of its own
        (``<process>>postgres``, ``<process>>partner``), so a fault can slow or cut one
        process's path and not the others', and the partner knows who calls it."""
        env: dict[str, str] = {}
        for dependency in sorted(self.spec.dependencies & set(PER_PROCESS)):
            if dependency == "partner":
                if process in self._partner_callers and "PARTNER_URL" in base:
                    link = process_link(process, dependency)
                    own = self._link(link, self._partner_callers[process])
                    env["PARTNER_URL"] = f"http://{LOOPBACK}:{own}"
                continue
            variable = STORE_VARIABLES[dependency]
            upstream = self._stack.service(dependency).port
            own = self._link(process_link(process, dependency), upstream)
            env[variable] = _with_port(base[variable], own)
        return env

    def _partner_link(self, partner_port: int) -> int:
        """The listen port of the stack's ``partner`` proxy, made if it is not there."""
        proxy = self._stack.toxiproxy.proxies().get("partner")
        if proxy is None:
            return self._link("partner", partner_port)
        if not proxy.upstream.endswith(f":{partner_port}"):
            raise ValueError(
                f"the stack's 'partner' link leads to {proxy.upstream}, not to "
                f"'partner_port' {partner_port}"
            )
        return proxy.listen_port

    def _link(self, name: str, upstream_port: int) -> int:
        try:
            proxy = self._stack.add_link(name, upstream_port)
        except ToxiproxyError as exc:
            if exc.status != HTTP_CONFLICT:
                raise
            raise RuntimeError(
                f"the stack already has a link {name!r}: one target at a time per stack "
                "(stop the other target first)"
            ) from exc
        self._links.append(name)
        return proxy.listen_port

    def _make_clocks(self) -> None:
        """A control file per process with a controllable clock (``spec.clocks``)."""
        if not self.spec.clocks:
            return
        from harness.setup.cache import cache_dir
        from harness.setup.faketime import find_faketime

        faketime = find_faketime(cache_dir())
        if faketime is None:
            raise TargetStartError(
                f"target {self.spec.name!r}: clock faults on {', '.join(sorted(self.spec.clocks))} "
                "need libfaketime and its shim; run 'failmodel setup'"
            )
        folder = self._stack.workdir / "clock"
        folder.mkdir(parents=True, exist_ok=True)
        for name in sorted(self.spec.clocks):
            self._clocks[name] = ClockControl(name, folder / f"{name}.rc", faketime)

    def clocks(self) -> Mapping[str, ClockControl]:
        """The controllable clocks, by process name."""
        return MappingProxyType(dict(self._clocks))

    def _spawn(self, name: str, argv: tuple[str, ...], env: dict[str, str]) -> None:
        clock = self._clocks.get(name)
        if clock is not None:
            env = {**env, **clock.env()}
        process = ManagedProcess(
            name, argv, env=env, cwd=self.spec.cwd, log_path=self._log_path(name)
        )
        self._processes[name] = self._stack.register(process)
        process.start()

    def _log_path(self, name: str) -> Path:
        return self._stack.workdir / "target" / f"{self.spec.name}-{name}.log"

    def _error(self, name: str, reason: str) -> TargetStartError:
        process = self._processes[name]
        tail = process.log_tail(LOG_TAIL_LINES)
        if not tail.strip():
            # An empty tail looks like the harness lost the output: say it had none.
            tail = (
                "(it wrote nothing to stdout or stderr: it stopped before its first "
                "line of output; run the command by hand with the variables above)"
            )
        env = getattr(process, "env", None) or {}
        named = sorted(CONTRACT_VARIABLES & set(env))
        given = " ".join(f"{k}={shlex.quote(env[k])}" for k in named)
        built = (
            f"prepare: {shlex.join(self.spec.prepare)} succeeded before it\n"
            if self.spec.prepare
            else ""
        )
        return TargetStartError(
            f"target {self.spec.name!r} process {name!r} {reason}\n"
            f"command: {shlex.join(process.argv) or '(the image command)'}\n"
            + (f"variables: {given}\n" if given else "")
            + built
            + f"--- last lines of {process.log_path} ---\n{tail}"
        )

    def _wait_healthy(self, name: str, timeout: float) -> None:
        port = self._ports[name]
        process = self._processes[name]
        try:
            process.wait_ready(
                lambda: _healthy(port), timeout=timeout, what=f"GET /health on port {port}"
            )
        except ServiceStartError:
            if process.alive:
                raise self._error(
                    name, f"did not answer GET /health with 200 within {timeout:.3g}s"
                ) from None
            raise self._error(name, f"exited with code {process.returncode}") from None

    def _require_alive(self, name: str) -> None:
        process = self._processes[name]
        if not process.alive:
            raise self._error(name, f"exited with code {process.returncode}")

    def process(self, name: str) -> Any:
        try:
            return self._processes[name]
        except KeyError:
            raise KeyError(
                f"target {self.spec.name!r} has no process {name!r} "
                f"(it has {', '.join(self._processes) or 'none'})"
            ) from None

    def processes(self) -> Mapping[str, TargetProcess]:
        return MappingProxyType(dict(self._processes))

    def ports(self) -> Mapping[str, int]:
        """Each replica's own port (clients reach it through its link ``target-<i>``)."""
        return MappingProxyType(dict(self._ports))

    def restart(self, name: str) -> None:
        """Restart one process (crashed or not); a replica must be healthy again."""
        process = self.process(name)
        process.restart()
        if name in self._ports:
            self._wait_healthy(name, self.spec.start_timeout_s)

    def stop(self) -> None:
        """Stop extras, then replicas, then remove the links this target added."""
        errors: list[Exception] = []
        for process in reversed(list(self._processes.values())):
            try:
                process.stop()
            except Exception as exc:
                errors.append(exc)
        for clock in self._clocks.values():
            clock.reset()
        self._clocks.clear()
        for name in reversed(self._links):
            # The stack may be gone already; then its proxies went with it.
            with contextlib.suppress(ToxiproxyError):
                self._stack.remove_link(name)
        self._links.clear()
        self._processes.clear()
        self._ports.clear()
        self.client_urls = ()
        if errors:
            raise errors[0]
