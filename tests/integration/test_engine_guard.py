"""An engine started for a command does not outlive it (harness.setup.engine_guard).

The guard knows the engine only as a process (pid and start time), so these
tests give it a real process of its own session to stop in dockerd's place,
and real owners to kill; ``scripts/failmodel`` wires it to dockerd.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.provision import procfs
from harness.setup.engine import engine_cache
from harness.setup.engine_guard import (
    Process,
    engine_lock,
    guard_alive,
    keep,
    kept,
    owners_alive,
    register_owner,
    runs_alive,
    start_guard,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started ``sleep`` processes, killed at the end whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _sleeper(spawn: list[subprocess.Popen[bytes]], *, session: bool) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=session)
    spawn.append(proc)
    return proc


def _gone_within(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.05)
    return False


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()  # SIGKILL: an owner killed runs no clean-up of its own
    proc.wait()


def test_a_killed_owner_takes_its_engine_down(
    spawn: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    owner, engine = _sleeper(spawn, session=False), _sleeper(spawn, session=True)
    assert register_owner(tmp_path, owner.pid)
    assert not guard_alive(tmp_path)
    guard = start_guard(tmp_path, engine.pid)
    assert guard is not None and guard_alive(tmp_path)
    time.sleep(1.5)
    assert engine.poll() is None, "the engine was stopped while its owner lived"
    _kill(owner)
    assert _gone_within(engine, 10.0), "the engine outlived its owner"
    assert engine.returncode == -signal.SIGTERM  # asked to stop, not killed
    deadline = time.monotonic() + 5.0
    while procfs.start_ticks(guard) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procfs.start_ticks(guard) is None, "the guard outlived its work"
    assert not guard_alive(tmp_path)
    log = (tmp_path / "docker" / "guard.log").read_text()
    assert f"no owner left: engine pid {engine.pid} stopped" in log


def test_the_engine_waits_for_every_owner_and_every_live_run(
    spawn: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    first, second, run = (_sleeper(spawn, session=False) for _ in range(3))
    engine = _sleeper(spawn, session=True)
    assert register_owner(tmp_path, first.pid)
    assert start_guard(tmp_path, engine.pid) is not None
    assert register_owner(tmp_path, second.pid)  # a later command reused the engine
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "r.json").write_text(
        json.dumps({"harness_pid": run.pid, "harness_start": procfs.start_ticks(run.pid)})
    )
    _kill(first)
    assert not _gone_within(engine, 1.5), "stopped under a command that reused it"
    _kill(second)
    assert not _gone_within(engine, 1.5), "stopped under a run that still uses it"
    _kill(run)
    assert _gone_within(engine, 10.0), "the engine outlived the last run using it"
    assert not owners_alive(tmp_path) and not list((tmp_path / "docker" / "owners").iterdir())


def test_a_set_up_in_progress_holds_the_engine(
    spawn: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # A set-up holds the engine lock while it decides to reuse the engine; the
    # guard must not stop it under that set-up, which registers before letting go.
    owner, engine, newcomer = (_sleeper(spawn, session=s) for s in (False, True, False))
    assert register_owner(tmp_path, owner.pid)
    assert start_guard(tmp_path, engine.pid) is not None
    with engine_lock():
        _kill(owner)
        assert not _gone_within(engine, 1.5), "stopped while a set-up held the lock"
        assert register_owner(tmp_path, newcomer.pid)
    assert not _gone_within(engine, 1.5), "stopped under the command that just reused it"
    _kill(newcomer)
    assert _gone_within(engine, 10.0), "the engine outlived the command that reused it"


def test_runs_alive_reads_pid_and_start_time(tmp_path: Path) -> None:
    runs = tmp_path / "run"
    assert not runs_alive(runs)
    runs.mkdir()
    record = runs / "live.json"
    record.write_text(
        json.dumps({"harness_pid": os.getpid(), "harness_start": procfs.start_ticks(os.getpid())})
    )
    assert runs_alive(runs)
    record.write_text(json.dumps({"harness_pid": os.getpid(), "harness_start": 1}))  # reused pid
    assert not runs_alive(runs)
    record.write_text("{half-written")
    assert runs_alive(runs), "a record being written counts as alive while fresh"
    old = time.time() - 60
    os.utime(record, (old, old))
    assert not runs_alive(runs), "a corrupt leftover must not keep the engine up"


def test_nothing_is_guarded_for_a_process_already_gone(tmp_path: Path) -> None:
    done = subprocess.Popen(["true"])
    done.wait()
    assert Process.of(done.pid) is None
    assert not register_owner(tmp_path, done.pid)
    assert start_guard(tmp_path, done.pid) is None


def test_an_engine_set_up_on_purpose_is_kept_by_pid(tmp_path: Path) -> None:
    assert not kept(tmp_path, 1234)
    keep(tmp_path, 1234)
    assert kept(tmp_path, 1234)
    assert not kept(tmp_path, 1235), "a later engine (another pid) was not set up on purpose"


def test_a_command_of_another_cache_finds_the_cache_that_started_the_engine(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    """Two commands with their own FAILMODEL_CACHE share the machine's one
    engine: the second finds, by the pointer beside the socket, the cache whose
    guard stops it, to register with that guard (else it stops the engine under
    the second command: a run's containers then lose their engine)."""
    first, second = tmp_path / "first", tmp_path / "second"
    engine = _sleeper(spawn, session=True)  # dockerd's stand-in, as above
    (first / "docker").mkdir(parents=True)
    (first / "docker" / "dockerd.pid").write_text(f"{engine.pid}\n")
    pointer = tmp_path / "docker.sock.failmodel-cache"
    assert engine_cache(second, pointer) is None  # no pointer: not failmodel's engine
    pointer.write_text(str(first))
    assert engine_cache(second, pointer) == first
    assert engine_cache(first, pointer) == first
    engine.kill()
    engine.wait()
    assert engine_cache(second, pointer) is None  # the engine it names is gone
