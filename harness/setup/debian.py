"""Debian packages: PostgreSQL, Redis, and the JDK and Maven that assemble Kafka."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from harness.progress import SetupEvent, SetupProgress, no_setup_progress
from harness.setup.commands import SetupError, run

# Debian starts a package's system service on install; the harness runs its own
# instances, so these are stopped right after installing.
SYSTEM_SERVICES = {"postgresql": "postgresql", "redis-server": "redis-server"}


class Apt:
    """Installs Debian packages, running ``apt-get update`` at most once."""

    def __init__(self, *, progress: SetupProgress = no_setup_progress) -> None:
        self._updated = False
        self._progress = progress

    def _timed(self, step: str, message: str, argv: list[str], env: dict[str, str]) -> None:
        started = time.monotonic()
        self._progress(SetupEvent(step=step, state="started", message=message))
        run(argv, what=message, env=env)
        self._progress(
            SetupEvent(
                step=step,
                state="finished",
                message=f"{message}: done",
                elapsed_s=time.monotonic() - started,
            )
        )

    def install(self, packages: list[str]) -> None:
        if os.geteuid() != 0:
            command = f"sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"
            raise SetupError(
                f"{', '.join(packages)} must be installed and failmodel is not root; "
                f"run: {command}   (then run 'failmodel setup' again)"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not self._updated:
            self._timed("apt-get update", "apt-get update", ["apt-get", "update"], env)
            self._updated = True
        for package in packages:  # one at a time, so progress names what takes long
            self._timed(
                f"apt-get install {package}",
                f"apt-get install {package}",
                ["apt-get", "install", "-y", "--no-install-recommends", package],
                env,
            )
        for package in packages:
            if package in SYSTEM_SERVICES:
                stop_system_service(SYSTEM_SERVICES[package])


def stop_system_service(service: str) -> None:
    """Stop a service the package manager may have started; fine if it never ran."""
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        argv = ["systemctl", "stop", service]
    elif shutil.which("service"):
        argv = ["service", service, "stop"]
    else:
        return
    with contextlib.suppress(SetupError):  # not running, or no init system: nothing to stop
        run(argv, what=f"stopping the system's {service}", timeout=60)
