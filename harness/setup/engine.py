"""The Docker engine the containers backend talks to: found, or installed and started.

``ensure_engine`` reuses any engine that answers on the socket
(``$DOCKER_HOST`` when it is ``unix://...``, else ``/var/run/docker.sock``).
Otherwise it installs Debian's ``docker.io`` when ``dockerd`` is missing and
starts ``dockerd --bridge=none --iptables=false`` in a session of its own, with
its data under the cache dir (images survive, and so a second set-up builds
nothing). Containers use the host's network, so the engine needs no bridge and
no firewall rules. The engine is machine infrastructure, like an installed
database server: it outlives the run that started it and is reused by the
next; the *containers* of a run never outlive it (see the reaper).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness.provision.docker_api import DockerAPI, DockerUnavailable, docker_socket
from harness.setup.commands import SetupError
from harness.setup.debian import Apt

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


def engine_status(cache: Path | None = None) -> str:
    """One line for ``failmodel doctor``: does an engine answer, where, who started it."""
    from harness.setup.cache import cache_dir

    cache = cache_dir() if cache is None else cache
    api = DockerAPI()
    if not api.ping():
        hint = "run 'failmodel setup --backend containers' to install and start one"
        if shutil.which("dockerd") is not None:
            hint = "dockerd is installed; " + hint.replace("install and ", "")
        return f"no Docker engine answers on {api.socket_path}; {hint}"
    ours = _started_by_us(cache)
    who = f"started by failmodel, pid {ours}" if ours is not None else "not started by failmodel"
    return f"{_describe(api)} answers on {api.socket_path} ({who})"


def ensure_engine(cache: Path, *, apt: Apt, say: Callable[[str], None]) -> str:
    """Reuse the engine that answers, or install and start one; say what was done."""
    api = DockerAPI()
    if api.ping():
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
    return (
        f"{_describe(api)} started (dockerd pid {engine.pid}, {' '.join(DOCKERD_FLAGS)}, "
        f"data {home / 'data'}, log {log_path}) in {time.monotonic() - begin:.1f}s"
    )


__all__ = ["docker_socket", "engine_status", "ensure_engine"]
