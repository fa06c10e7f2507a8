"""Stops the Docker engine failmodel started for commands, once they are all gone.

``python -m harness.setup.engine_guard <cache dir> <engine pid> <engine start>``

The README's commands start ``dockerd`` when no engine answers, and a command
must leave no process behind: not on a clean exit, not when it is killed. So
the set-up that starts the engine for a command registers that command as an
owner (``<cache>/docker/owners/<pid>-<start>``) and starts this guard, in a
session of its own (a Ctrl-C or a SIGKILL of the command does not reach it).
A later command that reuses the engine registers too. The guard polls: once
no owner and no failmodel run (``<cache>/run``) is alive, it takes the engine
lock (``engine_lock``: machine-wide, beside the socket), looks once more,
sends the engine SIGTERM, waits for it to stop its containers and exit, and
kills what is left of its process group. Holding
the lock while it stops, it never races a set-up: that one either registers
before the last look, or finds no engine and starts a new one. It returns at
once when someone else stops the engine. An engine failmodel started without
a guard (its guard killed, or an older failmodel) gets one when a command
reuses it, unless ``failmodel setup`` started it on purpose (``kept``).
Processes are known by pid *and* start time, so a reused pid fools nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from harness.child_env import child_env
from harness.provision import procfs
from harness.provision.docker_api import docker_socket
from harness.provision.reaper import harness_alive
from harness.setup.cache import flocked

POLL_S = 0.5
STOP_TIMEOUT_S = 30.0
"""SIGTERM gives dockerd time to stop its containers (10 s each by default, in
parallel); after this it and its group are killed."""


@dataclass(frozen=True, slots=True)
class Process:
    """A process known by pid and start time (clock ticks since boot)."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> Process | None:
        start = procfs.start_ticks(pid)
        return None if start is None else cls(pid, start)

    def running(self) -> bool:
        return procfs.is_running(self.pid, self.start)


@contextlib.contextmanager
def engine_lock() -> Iterator[None]:
    """Whoever decides to start, reuse or stop the engine on the socket holds
    this, machine-wide: a file beside the socket, not in a cache dir, since two
    commands with other caches (``FAILMODEL_CACHE``) share the one engine. Held
    apart, both started a dockerd on one socket, and the first to stop took
    the socket from under the other's containers. Without write access beside
    the socket (not root) there is nothing to start or stop: no lock."""
    try:
        held = open(f"{docker_socket()}.failmodel-lock", "a")  # noqa: SIM115
    except OSError:
        yield
        return
    with held, flocked(held):
        yield


def owners_dir(cache: Path) -> Path:
    return cache / "docker" / "owners"


def register_owner(cache: Path, pid: int) -> bool:
    """Record ``pid`` as a command that needs the engine; False when it is gone."""
    owner = Process.of(pid)
    if owner is None:
        return False
    owners_alive(cache)  # prunes the dead first: the directory stays small
    directory = owners_dir(cache)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{owner.pid}-{owner.start}").touch()
    return True


def owners_alive(cache: Path) -> bool:
    """True while any registered owner runs; the records of dead ones are removed."""
    alive = False
    directory = owners_dir(cache)
    for record in directory.iterdir() if directory.is_dir() else ():
        pid, _, start = record.name.partition("-")
        if pid.isdigit() and start.isdigit() and procfs.is_running(int(pid), int(start)):
            alive = True
        else:
            with contextlib.suppress(OSError):
                record.unlink()
    return alive


def runs_alive(runs: Path) -> bool:
    """True while any failmodel run recorded under ``runs`` has a live harness."""
    return runs.is_dir() and any(harness_alive(record) for record in runs.glob("*.json"))


def guard(
    engine: Process,
    in_use: Callable[[], bool],
    lock: Callable[[], AbstractContextManager[object]],
    *,
    poll_s: float = POLL_S,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> str:
    """Wait until nothing is ``in_use``, then, holding ``lock``, stop ``engine``;
    return what happened, in words (the guard's log)."""
    while engine.running():
        if not in_use():
            with lock():
                if not in_use():
                    return stop(engine, stop_timeout_s, poll_s)
        time.sleep(poll_s)
    return f"engine pid {engine.pid} already stopped"


def stop(engine: Process, timeout_s: float, poll_s: float) -> str:
    """SIGTERM, then after ``timeout_s`` SIGKILL to the engine's process group."""
    try:
        os.kill(engine.pid, signal.SIGTERM)
    except ProcessLookupError:
        return f"engine pid {engine.pid} already stopped"
    deadline = time.monotonic() + timeout_s
    while engine.running() and time.monotonic() < deadline:
        time.sleep(min(poll_s, 0.1))
    left = procfs.group_members(engine.pid, started_since=engine.start)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        return f"engine pid {engine.pid} did not stop in {timeout_s:g}s: killed {left}"
    return f"engine pid {engine.pid} stopped"


def keep(cache: Path, engine_pid: int) -> None:
    """Mark the engine as set up on purpose: no guard is ever started for it."""
    (cache / "docker").mkdir(parents=True, exist_ok=True)
    (cache / "docker" / "kept").write_text(f"{engine_pid}\n")


def kept(cache: Path, engine_pid: int) -> bool:
    try:
        return (cache / "docker" / "kept").read_text().strip() == str(engine_pid)
    except OSError:
        return False


def guard_alive(cache: Path) -> bool:
    """Whether the guard ``start_guard`` last started still runs."""
    try:
        pid, start = (cache / "docker" / "guard.pid").read_text().split()
        return procfs.is_running(int(pid), int(start))
    except (OSError, ValueError):
        return False


def start_guard(cache: Path, engine_pid: int) -> int | None:
    """Start the guard of ``engine_pid``; its pid, or None when the engine is gone."""
    import subprocess

    engine = Process.of(engine_pid)
    if engine is None:
        return None
    argv = [sys.executable, "-m", "harness.setup.engine_guard"]
    argv += [str(cache), str(engine.pid), str(engine.start)]
    (cache / "docker").mkdir(parents=True, exist_ok=True)
    with open(cache / "docker" / "guard.log", "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,  # no signal meant for an owner reaches it
        )
    started = Process.of(process.pid)
    if started is not None:
        (cache / "docker" / "guard.pid").write_text(f"{started.pid} {started.start}\n")
    return process.pid


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not (argv[1].isdigit() and argv[2].isdigit()):
        print(
            "usage: python -m harness.setup.engine_guard <cache dir> <engine pid> <engine start>",
            file=sys.stderr,
        )
        return 2
    cache, engine = Path(argv[0]), Process(int(argv[1]), int(argv[2]))
    said = guard(
        engine,
        lambda: owners_alive(cache) or runs_alive(cache / "run"),
        engine_lock,
    )
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} no owner left: {said}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
