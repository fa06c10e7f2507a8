"""A child process the harness can start, probe, crash, pause and restart.

Each child runs in its own process group with stdout and stderr appended to a
log file, and its group is recorded with the reaper so it cannot outlive the
harness. Signals go to the group *and* to every descendant, because some
servers (PostgreSQL) move their children into groups of their own.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness.provision import procfs
from harness.provision.readiness import ServiceStartError, wait_until_ready
from harness.provision.reaper import current_run

__all__ = [
    "ManagedProcess",
    "ServiceStartError",
    "chown_to",
    "run_to_completion",
    "unprivileged_user",
]


def unprivileged_user() -> str | None:
    """``nobody`` when the harness runs as root (PostgreSQL refuses root), else None."""
    return "nobody" if os.geteuid() == 0 else None


def chown_to(user: str | None, *paths: Path) -> None:
    """Give *paths* to *user* so a child running as that user can write them."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


class ManagedProcess:
    """One long-running child: same argv, env and log every time it (re)starts."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path,
        user: str | None = None,
    ) -> None:
        if not argv:
            raise ValueError(f"'argv' of process {name!r} must not be empty")
        self.name = name
        self.argv = list(argv)
        self.env = None if env is None else dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.user = user
        self._popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, alive={self.alive})"

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"process {self.name!r} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        run = current_run()
        with open(self.log_path, "ab") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    env=self.env,
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    user=self.user,
                    group=None if self.user is None else pwd.getpwnam(self.user).pw_gid,
                    extra_groups=None if self.user is None else [],
                )
            except FileNotFoundError as exc:
                raise FileNotFoundError(
                    f"cannot start {self.name!r}: executable {self.argv[0]!r} not found; "
                    "run 'failmodel setup' to install the services' binaries"
                ) from exc
        started = procfs.start_ticks(self._popen.pid)
        run.add_group(self._popen.pid, 0 if started is None else started)

    def wait_ready(self, probe: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Poll *probe* until it returns True; return the seconds it took.

        A probe that raises counts as not ready. Fails fast when the process exits.
        """
        return wait_until_ready(
            probe,
            name=f"{self.name} (log {self.log_path})",
            what=what,
            timeout=timeout,
            alive=lambda: self.alive,
            log_tail=self.log_tail,
        )

    def wait(self, *, timeout: float) -> int:
        """Wait for a short-lived child to exit; kill it and raise if it takes too long."""
        if self._popen is None:
            raise RuntimeError(f"process {self.name!r} was never started")
        try:
            code = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.crash()
            raise ServiceStartError(
                f"{self.name} did not finish within {timeout:g}s and was killed"
                f"\n--- last lines of {self.log_path} ---\n{self.log_tail()}"
            ) from None
        self._forget()
        return code

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL whatever is left after *timeout* seconds."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._signal_tree(signal.SIGTERM)
            self._signal_tree(signal.SIGCONT)  # a paused process cannot act on SIGTERM
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout)
        self.crash()

    def crash(self) -> None:
        """SIGKILL the whole tree at once, like a machine losing power, and reap it."""
        if self._popen is None:
            return
        self._signal_tree(signal.SIGKILL)
        self._popen.wait()
        self._wait_tree_gone(timeout=5)
        self._forget()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        self._require_alive("pause")
        self._signal_tree(signal.SIGSTOP)
        # SIGSTOP lands asynchronously: return only once it has, so a fault
        # recorded as started really is in effect (bounded: 1 s).
        assert self.pid is not None
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            stat = procfs.read_stat(self.pid)
            if stat is None or stat.state in ("T", "t"):
                return
            time.sleep(0.002)

    def resume(self) -> None:
        self._require_alive("resume")
        self._signal_tree(signal.SIGCONT)

    def restart(self) -> None:
        """Stop if running, then start again with the same argv, env and log."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 64 * 1024))
                text = fh.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:])

    def _require_alive(self, action: str) -> None:
        if not self.alive:
            raise RuntimeError(f"cannot {action} {self.name!r}: it is not running")

    def _signal_tree(self, sig: signal.Signals) -> None:
        assert self._popen is not None
        pid = self._popen.pid
        if self._popen.returncode is None:
            # Not reaped yet, so the pid is still ours. Collect the descendants before
            # signalling: once the parent dies they lose their link to it.
            tree = [pid, *procfs.descendants(pid)]
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            for member in tree:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(member, sig)
        elif procfs.group_members(pid):
            # The leader is reaped but the group lives on, so its id cannot have been reused.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)

    def _wait_tree_gone(self, *, timeout: float) -> None:
        """Wait until no member of the group is left (ports and locks are then free)."""
        assert self._popen is not None
        deadline = time.monotonic() + timeout
        while procfs.group_members(self._popen.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _forget(self) -> None:
        assert self._popen is not None
        current_run().remove_group(self._popen.pid)


def run_to_completion(process: ManagedProcess, *, timeout: float) -> None:
    """Run a one-shot command (initdb, a storage format) and fail with its log if it fails."""
    process.start()
    code = process.wait(timeout=timeout)
    if code != 0:
        raise ServiceStartError(
            f"{process.name} failed with exit code {code}"
            f"\n--- last lines of {process.log_path} ---\n{process.log_tail()}"
        )


class ProcessControls:
    """The fault controls of anything that owns one ``ManagedProcess`` and can
    ``start()`` it until ready (a store, the partner): one place, not one per
    service. ``restart`` stops (if running) and starts again on the same port
    and data, so readiness is waited for like at the first start."""

    @property
    def process(self) -> ManagedProcess:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        return self.process.alive

    def crash(self) -> None:
        self.process.crash()

    def restart(self) -> None:
        self.process.stop()
        self.start()

    def pause(self) -> None:
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()
