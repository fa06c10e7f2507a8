"""A throwaway PostgreSQL server on loopback."""

from __future__ import annotations

import pwd
import stat
from pathlib import Path

import psycopg

from harness.provision.ports import LOOPBACK
from harness.provision.process import (
    ManagedProcess,
    chown_to,
    run_to_completion,
    unprivileged_user,
)
from harness.provision.service import LocalService
from harness.setup.binaries import Binaries

USER = "failmodel"
DATABASE = "failmodel"


def _connect(port: int, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=LOOPBACK, port=port, user=USER, dbname=dbname, connect_timeout=2, autocommit=True
    )


def answers_select_one(port: int) -> bool:
    """Readiness: a real query, not just an open port (recovery refuses queries)."""
    with _connect(port, "postgres") as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def create_database(port: int) -> None:
    """Create the ``failmodel`` database unless it exists."""
    with _connect(port, "postgres") as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _require_reachable(user: str | None, directory: Path) -> None:
    """Fail early and clearly when *user* cannot traverse the parents of *directory*."""
    if user is None:
        return
    uid = pwd.getpwnam(user).pw_uid
    for parent in directory.parents:
        info = parent.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            raise PermissionError(
                f"PostgreSQL runs as {user!r} (it refuses root) and cannot reach {directory}: "
                f"{parent} is not searchable by others; use a directory such as one made by "
                f"tempfile.mkdtemp() and chmod 0o755, or 'chmod o+x {parent}'"
            )


class PostgresService(LocalService):
    """PostgreSQL with trust auth, listening on 127.0.0.1 and its own socket dir only.

    ``fsync=off`` is safe here: the harness crashes *processes*, never the OS, so
    whatever PostgreSQL wrote reaches the disk through the page cache anyway; a
    committed row survives a SIGKILL. ``synchronous_commit`` stays on for that
    reason. Runs as ``nobody`` when the harness is root, because PostgreSQL refuses root.
    """

    name = "postgres"

    def __init__(self, *, binaries: Binaries, directory: Path, port: int | None = None) -> None:
        super().__init__(directory=directory, port=port, user=unprivileged_user())
        self._bin = binaries.postgres_bin
        self.data_dir = directory / "data"
        self.socket_dir = directory / "socket"

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@{LOOPBACK}:{self.port}/{DATABASE}"

    @property
    def _readiness(self) -> str:
        return f"'SELECT 1' on {LOOPBACK}:{self.port}"

    def _prepare(self) -> None:
        _require_reachable(self.user, self.directory)
        self.socket_dir.mkdir(exist_ok=True)
        chown_to(self.user, self.directory, self.socket_dir)
        initdb = ManagedProcess(
            "initdb",
            [
                str(self._bin / "initdb"),
                "--pgdata", str(self.data_dir),
                "--username", USER,
                "--auth", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
            ],
            cwd=self.directory,
            log_path=self.directory / "initdb.log",
            user=self.user,
        )
        run_to_completion(initdb, timeout=60)

    def _argv(self) -> list[str]:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "64MB",
            "logging_collector": "off",
        }
        argv = [str(self._bin / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _probe(self) -> bool:
        return answers_select_one(self.port)

    def _after_first_ready(self) -> None:
        create_database(self.port)
