"""Bad input and failed starts give errors that say what is wrong and how to fix it."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.provision import (
    ManagedProcess,
    PortInUse,
    PostgresService,
    RedisService,
    ServiceStartError,
    Stack,
    free_port,
)
from harness.setup import Binaries, MissingBinary, find_binaries

pytestmark = pytest.mark.integration


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_port_in_use_is_named(binaries: Binaries, listening_port: int, tmp_path: Path) -> None:
    with pytest.raises(PortInUse, match=f"port {listening_port} .* already in use") as info:
        RedisService(binaries=binaries, directory=tmp_path, port=listening_port)
    assert isinstance(info.value, OSError)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))


def test_missing_binaries_are_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingBinary, match=r"toxiproxy_server.*run 'failmodel setup'") as info:
        find_binaries(tmp_path / "empty-cache")
    assert "kafka_libs" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_a_missing_executable_is_named(tmp_path: Path) -> None:
    process = ManagedProcess("ghost", [str(tmp_path / "no-such-server")], log_path=tmp_path / "l")
    with pytest.raises(FileNotFoundError, match=r"no-such-server.*'failmodel setup'"):
        process.start()


def test_a_process_that_exits_fails_fast_with_its_log_tail(tmp_path: Path) -> None:
    script = "import sys; print('fatal: no config file', flush=True); sys.exit(3)"
    process = ManagedProcess("crasher", [sys.executable, "-c", script], log_path=tmp_path / "l")
    process.start()
    try:
        with pytest.raises(ServiceStartError, match=r"(?s)crasher .*exited.*fatal: no config"):
            process.wait_ready(lambda: False, timeout=30, what="never")
    finally:
        process.stop()


def test_a_process_that_never_gets_ready_times_out_with_its_log_tail(tmp_path: Path) -> None:
    script = "import time; print('still warming up', flush=True); time.sleep(60)"
    process = ManagedProcess("sloth", [sys.executable, "-c", script], log_path=tmp_path / "l")
    process.start()
    try:
        with pytest.raises(ServiceStartError, match=r"(?s)not ready within 0.5s.*warming up"):
            process.wait_ready(lambda: False, timeout=0.5, what="a miracle")
    finally:
        process.stop()
    assert not process.alive


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A temp dir that PostgreSQL, running as 'nobody' under a root harness, can reach."""
    path = Path(tempfile.mkdtemp(prefix="failmodel-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_postgres_that_cannot_bind_shows_its_own_log(binaries: Binaries, shared_dir: Path) -> None:
    service = PostgresService(binaries=binaries, directory=shared_dir / "pg")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", service.port))
        squatter.listen()
        try:
            with pytest.raises(ServiceStartError, match=r"(?s)postgres .*exited.*could not"):
                service.start()
        finally:
            service.stop()


def test_unknown_services_and_modes_are_rejected(binaries: Binaries, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'services' must be a subset of postgres, redis, kafka"):
        Stack(services=["postgres", "mysql"])
    with pytest.raises(ValueError, match="'persistence' must be one of none, aof"):
        RedisService(binaries=binaries, directory=tmp_path, persistence="rdb")  # type: ignore[arg-type]
