"""A throwaway PostgreSQL server on loopback."""

from __future__ import annotations

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

    def _connect(self, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=LOOPBACK, port=self.port, user=USER, dbname=dbname,
            connect_timeout=2, autocommit=True,
        )

    def _probe(self) -> bool:
        with self._connect("postgres") as conn:
            row = conn.execute("SELECT 1").fetchone()
        return row == (1,)

    def _after_first_ready(self) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
