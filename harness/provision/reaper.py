"""No orphan survives the harness.

Every process group and temp dir a harness process creates is written to a run
record, ``<cache>/run/<run_id>.json``, together with the harness's pid and start
time. Two layers clean up after a harness that died without doing so itself:

* a watchdog subprocess per run (like testcontainers' Ryuk) that notices the
  harness is gone and kills what the record names;
* `reap_orphans`, run when the next harness starts, for records whose harness is
  dead (pid *and* start time, so a reused pid does not fool it) — e.g. when the
  watchdog was killed too.

Containers (the containers backend, container targets) are the same story by
label instead of process group: each carries its run id and its harness's pid
and start time (`harness.provision.docker_api`). A run that started one says
so in its record, and cleaning the record up removes the run's containers;
`reap_containers` removes any container whose harness is dead, record or not.

A clean exit, an exception, Ctrl-C and SIGTERM (turned into `Interrupted`) all
unwind through the owners' ``finally`` blocks; an ``atexit`` hook kills whatever
is still recorded as a last resort.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from harness.child_env import child_env
from harness.interrupt import SIGNALS, InterruptingHandler
from harness.provision import procfs
from harness.provision.docker_api import (
    LABEL,
    LABEL_PID,
    LABEL_START,
    DockerAPI,
    DockerUnavailable,
    remove_run_containers,
)
from harness.setup.cache import cache_dir

RECORD_FRESH_S = 5.0
"""How long a record that does not parse counts as being written (its harness alive)."""


def runs_dir() -> Path:
    return cache_dir() / "run"


class RunRecord:
    """The on-disk record of one harness process's groups and temp dirs."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        started = procfs.start_ticks(pid)
        if started is None:
            raise RuntimeError(f"cannot read /proc/{pid}/stat; failmodel needs Linux /proc")
        self.run_id = f"{pid}-{uuid.uuid4().hex[:8]}"
        self.path = directory / f"{self.run_id}.json"
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {
            "harness_pid": pid,
            "harness_start": started,
            "groups": {},
            "tmpdirs": [],
            "watchdog_pid": None,
            "docker": None,
        }
        self._write()

    @property
    def harness_pid(self) -> int:
        return int(self._data["harness_pid"])

    @property
    def harness_start(self) -> int:
        return int(self._data["harness_start"])

    def use_docker(self, socket_path: Path) -> None:
        """Note that this run starts containers on *socket_path*'s engine, so that
        cleaning the record up (watchdog, reaper, exit) removes them."""
        with self._lock:
            if self._data["docker"] != str(socket_path):
                self._data["docker"] = str(socket_path)
                self._write()

    def add_group(self, pgid: int, started: int) -> None:
        with self._lock:
            self._data["groups"][str(pgid)] = started
            self._write()

    def remove_group(self, pgid: int) -> None:
        with self._lock:
            if self._data["groups"].pop(str(pgid), None) is not None:
                self._write()

    def add_tmpdir(self, path: Path) -> None:
        with self._lock:
            self._data["tmpdirs"].append(str(path))
            self._write()

    def remove_tmpdir(self, path: Path) -> None:
        with self._lock:
            if str(path) in self._data["tmpdirs"]:
                self._data["tmpdirs"].remove(str(path))
                self._write()

    def set_watchdog(self, pid: int) -> None:
        with self._lock:
            self._data["watchdog_pid"] = pid
            self._write()

    def close(self) -> None:
        """Kill what is still recorded, remove the temp dirs and the record itself."""
        with self._lock:
            clean_up(self.path)

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data))
        tmp.replace(self.path)


def _still_ours(pgid: int, started: int) -> bool:
    """Is group *pgid* still the one recorded? Its leader is, or it has lost its leader
    but kept members (the kernel never reuses a pid that is still a live group's id)."""
    leader = procfs.start_ticks(pgid)
    if leader is not None:
        return leader == started
    return bool(procfs.group_members(pgid, started_since=started))


def kill_recorded_groups(groups: dict[str, int]) -> None:
    """SIGKILL each recorded group that is still the one recorded."""
    for pgid_text, started in groups.items():
        pgid = int(pgid_text)
        if _still_ours(pgid, started):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


def clean_up(record_path: Path) -> None:
    """Kill the groups of one run record, delete its temp dirs, then the record."""
    try:
        data = json.loads(record_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    kill_recorded_groups(data.get("groups", {}))
    if data.get("docker"):
        with contextlib.suppress(DockerUnavailable):
            remove_run_containers(record_path.stem, Path(data["docker"]))
    for tmpdir in data.get("tmpdirs", []):
        shutil.rmtree(tmpdir, ignore_errors=True)
    record_path.with_suffix(".watchdog.log").unlink(missing_ok=True)
    record_path.unlink(missing_ok=True)


def harness_alive(record_path: Path) -> bool:
    """Whether the harness of a run record is alive (known by pid and start time).

    Records are replaced whole, so one that does not parse (or lacks the
    harness's pid) is alive only while fresh: a corrupt leftover must neither
    keep an engine up nor stop every later run's reaping."""
    try:
        data = json.loads(record_path.read_text())
        return procfs.is_running(int(data["harness_pid"]), int(data["harness_start"]))
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError):
        try:
            return time.time() - record_path.stat().st_mtime < RECORD_FRESH_S
        except OSError:
            return False


def reap_orphans(directory: Path | None = None) -> list[str]:
    """Clean up the records of runs whose harness is dead; return their run ids."""
    directory = runs_dir() if directory is None else directory
    if not directory.is_dir():
        return []
    reaped = []
    for record_path in sorted(directory.glob("*.json")):
        if not harness_alive(record_path):
            clean_up(record_path)
            reaped.append(record_path.stem)
    for log in directory.glob("*.watchdog.log"):
        # A record is written before its watchdog's log, so a log alone is of a finished run.
        if not log.with_name(log.name.replace(".watchdog.log", ".json")).exists():
            log.unlink(missing_ok=True)
    return reaped


def reap_containers(socket_path: Path | None = None) -> list[str]:
    """Remove every failmodel container whose harness is dead; return their names.

    The harness is known by the pid and start time in the container's labels, so
    this needs no run record: it also catches what a run killed with its
    watchdog (and its record lost) left behind. No engine, nothing to do.
    """
    api = DockerAPI(socket_path)
    removed: list[str] = []
    try:
        for container in api.containers(LABEL):
            labels = container.get("Labels") or {}
            try:
                pid, started = int(labels[LABEL_PID]), int(labels[LABEL_START])
            except (KeyError, ValueError):
                continue  # not one of ours after all
            if not procfs.is_running(pid, started):
                api.remove(container["Id"])
                removed.extend(name.lstrip("/") for name in container.get("Names", []))
    except DockerUnavailable:
        return removed
    return removed


def _start_watchdog(record: RunRecord) -> None:
    with open(record.path.with_suffix(".watchdog.log"), "ab") as log:
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "harness.provision.watchdog", str(record.path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,
        )
    record.set_watchdog(watchdog.pid)
    # The watchdog exits by itself when the record is gone; reap it then.
    threading.Thread(target=watchdog.wait, name="failmodel-watchdog-reaper", daemon=True).start()


_current: RunRecord | None = None
_current_lock = threading.Lock()


def current_run() -> RunRecord:
    """This process's run record; the first call reaps old orphans and starts the watchdog."""
    global _current
    with _current_lock:
        if _current is None:
            reap_orphans()
            record = RunRecord(runs_dir())
            _start_watchdog(record)
            atexit.register(record.close)
            if (
                threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
            ):
                # A program using the harness as a library (the pytest plugin, a
                # bench) stops like the CLI: `Interrupted` is a KeyboardInterrupt,
                # so a search heals and reports (Hypothesis would shrink a SystemExit).
                signal.signal(signal.SIGTERM, InterruptingHandler())
                # A parent may have started us with it blocked (the mask is
                # inherited), and a blocked SIGTERM would wait for ever.
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            _current = record
        return _current
