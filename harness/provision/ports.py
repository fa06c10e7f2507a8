"""Loopback TCP ports for the processes the harness starts.

A port is free when the kernel hands it out, but only until someone binds it,
and a service may take seconds to do so. Harness processes running side by
side (pytest-xdist workers, two ``failmodel verify`` runs) would otherwise
race for the same port in that window, so each port handed out is also
claimed in ``<cache>/ports/<port>`` for as long as the claiming process lives.

Ports are drawn from outside the kernel's ephemeral range
(``net.ipv4.ip_local_port_range``): every outgoing connection on the machine
takes its source port from that range, so a port drawn from it can be taken
by a client's connection in the seconds before a service binds it ("bind:
address already in use", seen in CI for a Go target and for Kafka), and stay
taken while that connection lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import threading
from pathlib import Path

from harness.provision import procfs
from harness.setup.cache import cache_dir

LOOPBACK = "127.0.0.1"

_handed_out: set[int] = set()
_lock = threading.Lock()
_random = random.Random()
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
"""No port below this is handed out: the well-known and registered services'
(PostgreSQL's 5432, Redis's 6379, Kafka's 9092) stay clear."""


class PortInUse(OSError):
    """A port the caller asked for is already bound by another process."""


def free_port() -> int:
    """A loopback port nobody listens on, outside the ephemeral range, never the
    same one twice in this process, and never one another live harness process
    has claimed.

    Remembering the ones handed out avoids two services of one stack racing for
    the same port before either has bound it, and the claim in the cache does
    the same across processes.
    """
    ranges = unclaimable_ranges(ephemeral_range())
    with _lock:
        for _ in range(200):
            port = _candidate(ranges)
            if port not in _handed_out and _bindable(port) and claim_port(port):
                _handed_out.add(port)
                return port
    raise PortInUse("no free loopback port found after 200 tries")


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int] | None:
    """The kernel's range of source ports for outgoing connections (None if unknown)."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def unclaimable_ranges(ephemeral: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Port ranges (inclusive) no outgoing connection takes a source port from: below
    and above ``ephemeral``, from ``LOWEST`` up, those at least 1000 ports wide.
    Empty when the ephemeral range is unknown or leaves no such room."""
    if ephemeral is None:
        return []
    low, high = ephemeral
    ranges = [(LOWEST, low - 1), (max(high + 1, LOWEST), 65535)]
    return [(a, b) for a, b in ranges if b - a >= 999]


def _candidate(ranges: list[tuple[int, int]]) -> int:
    """A port from ``ranges`` (each as likely as any); without any, the kernel's pick."""
    if not ranges:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            return int(sock.getsockname()[1])
    (low, high), = _random.choices(ranges, weights=[b - a + 1 for a, b in ranges])
    return _random.randint(low, high)


def _bindable(port: int) -> bool:
    """Nothing listens on ``port`` right now (``require_free``, as a yes or no)."""
    try:
        require_free(port)
    except PortInUse:
        return False
    return True


def claims_dir() -> Path:
    return cache_dir() / "ports"


def _me() -> tuple[int, int]:
    pid = os.getpid()
    return pid, procfs.start_ticks(pid) or 0


def claim_port(port: int, directory: Path | None = None) -> bool:
    """Claim *port* for this process unless another live process holds it.

    A claim is the file ``<directory>/<port>`` naming its owner's pid and start
    time (a reused pid does not hold it); claims of dead processes are taken
    over. A lock file makes check-and-claim atomic across processes.
    """
    directory = claims_dir() if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    me = _me()
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / str(port)
        owner: tuple[int, int] | None = None
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid, started = path.read_text().split()
            owner = (int(pid), int(started))
        if owner is not None and owner != me and procfs.is_running(*owner):
            return False
        path.write_text(f"{me[0]} {me[1]}")
        return True


def require_free(port: int) -> int:
    """Return *port* if nothing listens on it, else raise `PortInUse` naming it."""
    if not 0 < port < 65536:
        raise ValueError(f"'port' must be in 1..65535 (got {port})")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            raise PortInUse(
                f"port {port} on {LOOPBACK} is already in use ({exc.strerror}); "
                "stop whatever listens there or leave the port unset to get a free one"
            ) from exc
    return port
