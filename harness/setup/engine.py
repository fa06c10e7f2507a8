"""The Docker engine the containers backend talks to: found, or installed and started.

``ensure_engine`` reuses any engine that answers on the socket
(``$DOCKER_HOST`` when it is ``unix://...``, else ``/var/run/docker.sock``).
Otherwise it installs Debian's ``docker.io`` when ``dockerd`` is missing and
starts ``dockerd --bridge=none --iptables=false`` in a session of its own, with
its data under the cache dir (images survive, and so a second set-up builds
nothing). Containers use the host's network, so the engine needs no bridge and
no firewall rules. An engine started for a command (``owner``) is stopped by
``engine_guard`` once that command and every later one that reused it are
gone; one started by ``failmodel setup`` itself stays up, as machine
infrastructure asked for. The *containers* of a run never outlive the run
(see the reaper).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.provision.docker_api import DockerAPI, DockerUnavailable, docker_socket
from harness.setup.commands import SetupError
from harness.setup.debian import Apt
from harness.setup.engine_guard import (
    STOP_TIMEOUT_S,
    Process,
    engine_lock,
    guard_alive,
    keep,
    kept,
    register_owner,
    start_guard,
    stop,
)

START_TIMEOUT_S = 60.0
DOCKERD_FLAGS = ("--bridge=none", "--iptables=false", "--ip6tables=false")


def engine_dir(cache: Path) -> Path:
    return cache / "docker"


def _describe(api: DockerAPI) -> str:
    try:
        info = api.version()
    except DockerUnavailable as exc:
        return str(exc)
    return f"Docker engine {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"


def _started_by_us(cache: Path) -> int | None:
    pidfile = engine_dir(cache) / "dockerd.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def engine_pointer(api: DockerAPI) -> Path:
    """Beside the engine's socket: the cache dir of the failmodel that started
    that engine. Two commands with other caches (``FAILMODEL_CACHE``) share the
    one engine of the machine; the second must wait on the first one's guard,
    or that guard stops the engine under it."""
    return Path(f"{api.socket_path}.failmodel-cache")


def engine_cache(cache: Path, pointer: Path) -> Path | None:
    """The cache dir whose failmodel started the running engine: ``cache``, or
    the one ``pointer`` names; None when failmodel did not start it."""
    if _started_by_us(cache) is not None:
        return cache
    try:
        named = Path(pointer.read_text().strip())
    except OSError:
        return None
    return named if named.is_absolute() and _started_by_us(named) is not None else None


def _join(cache: Path, api: DockerAPI, owner: int) -> bool:
    """Make the guard of the engine that answers wait for ``owner`` too (the
    caller holds ``engine_lock``, which a guard takes to stop it); False when
    failmodel's engine is gone after all (start another)."""
    owning = engine_cache(cache, engine_pointer(api))
    if owning is None:
        return True  # not failmodel's: nobody stops it
    pid = _started_by_us(owning)
    if pid is None:
        return False
    if not kept(owning, pid):
        register_owner(owning, owner)  # its guard now waits for this command too
        if not guard_alive(owning):  # its guard was killed, or an older failmodel left it
            start_guard(owning, pid)
    return True


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """What ``failmodel doctor`` says about the engine: does one answer, and if
    not, the command that makes one."""

    available: bool
    detail: str
    fix: str = ""


def engine_status(cache: Path | None = None) -> EngineStatus:
    """Does an engine answer, where, and did failmodel start it."""
    from harness.setup.cache import cache_dir

    cache = cache_dir() if cache is None else cache
    api = DockerAPI()
    if not api.ping():
        fix = "failmodel setup --backend containers"
        installed = "dockerd is installed; " if shutil.which("dockerd") is not None else ""
        detail = f"no Docker engine answers on {api.socket_path}; {installed}'{fix}' starts one"
        return EngineStatus(False, detail, fix)
    ours = _started_by_us(cache)
    who = f"started by failmodel, pid {ours}" if ours is not None else "not started by failmodel"
    return EngineStatus(True, f"{_describe(api)} answers on {api.socket_path} ({who})")


def ensure_engine(
    cache: Path, *, apt: Apt, say: Callable[[str], None], owner: int | None = None
) -> str:
    """Reuse the engine that answers, or install and start one; say what was done.

    An engine started here for an ``owner`` (the pid of the command that needs
    it) is stopped by a guard once that command is gone (``engine_guard``);
    without one it stays up, as set up on purpose."""
    with engine_lock():
        return _ensure_engine(cache, apt=apt, say=say, owner=owner)


def _ensure_engine(
    cache: Path, *, apt: Apt, say: Callable[[str], None], owner: int | None
) -> str:
    api = DockerAPI()
    if api.ping() and (owner is None or _join(cache, api, owner)):
        return f"{_describe(api)} answers on {api.socket_path}: reused"
    if shutil.which("dockerd") is None:
        say("installing Debian's docker.io (no Docker engine answers, and dockerd is missing) ...")
        apt.install(["docker.io"])
        # The package may start the system's engine itself; then there is nothing to start.
        if api.ping():
            return f"{_describe(api)} answers on {api.socket_path}: started by the package"
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise SetupError("docker.io is installed but 'dockerd' is not on PATH")
    if os.geteuid() != 0:
        raise SetupError(
            "no Docker engine answers and starting dockerd needs root; start your engine "
            f"(or run 'sudo {dockerd} {' '.join(DOCKERD_FLAGS)}') and run the set-up again"
        )
    home = engine_dir(cache)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "dockerd.log"
    argv = [
        dockerd,
        *DOCKERD_FLAGS,
        f"--data-root={home / 'data'}",
        f"--pidfile={home / 'dockerd.pid'}",
        f"--host=unix://{api.socket_path}",
    ]
    with open(log_path, "ab") as log:
        engine = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: no harness signal reaches it
        )
    begin = time.monotonic()
    while not api.ping():
        if engine.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise SetupError(
                f"dockerd exited with code {engine.returncode} before answering "
                f"({' '.join(argv)}):\n{tail}"
            )
        if time.monotonic() - begin > START_TIMEOUT_S:
            raise SetupError(
                f"dockerd (pid {engine.pid}) did not answer on {api.socket_path} within "
                f"{START_TIMEOUT_S:g}s; its log: {log_path}"
            )
        time.sleep(0.2)
    started = (
        f"{_describe(api)} started (dockerd pid {engine.pid}, {' '.join(DOCKERD_FLAGS)}, "
        f"data {home / 'data'}, log {log_path}) in {time.monotonic() - begin:.1f}s"
    )
    with contextlib.suppress(OSError):  # a command of another cache joins this one's guard
        engine_pointer(api).write_text(str(cache))
    if owner is None:
        keep(cache, engine.pid)
        return f"{started}; it stays up"
    if not register_owner(cache, owner):  # the command is gone already: nobody needs it
        ours = Process.of(engine.pid)
        if ours is not None:
            stop(ours, STOP_TIMEOUT_S, 0.1)
        return f"{started}; stopped again, pid {owner} being gone"
    guard = start_guard(cache, engine.pid)
    return f"{started}; stopped once pid {owner} is gone (guard pid {guard})"

__all__ = ["EngineStatus", "docker_socket", "engine_status", "ensure_engine"]
