"""Debian packages: PostgreSQL, Redis, and the JDK and Maven that assemble Kafka."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from harness.setup.commands import SetupError, run

# Debian starts a package's system service on install; the harness runs its own
# instances, so these are stopped right after installing.
SYSTEM_SERVICES = {"postgresql": "postgresql", "redis-server": "redis-server"}


class Apt:
    """Installs Debian packages, running ``apt-get update`` at most once."""

    def __init__(self) -> None:
        self._updated = False

    def install(self, packages: list[str]) -> None:
        if os.geteuid() != 0:
            command = f"sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"
            raise SetupError(
                f"{', '.join(packages)} must be installed and failmodel is not root; "
                f"run: {command}   (then run 'failmodel setup' again)"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not self._updated:
            run(["apt-get", "update"], what="apt-get update", env=env)
            self._updated = True
        run(
            ["apt-get", "install", "-y", "--no-install-recommends", *packages],
            what=f"installing {', '.join(packages)}",
            env=env,
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
