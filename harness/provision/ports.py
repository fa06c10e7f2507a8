"""Loopback TCP ports for the processes the harness starts."""

from __future__ import annotations

import socket
import threading

LOOPBACK = "127.0.0.1"

_handed_out: set[int] = set()
_lock = threading.Lock()


class PortInUse(OSError):
    """A port the caller asked for is already bound by another process."""


def free_port() -> int:
    """A loopback port nobody listens on, never the same one twice in this process.

    The kernel picks it; remembering the ones handed out avoids two services of
    one stack racing for the same port before either has bound it.
    """
    with _lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOOPBACK, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise PortInUse("no free loopback port found after 100 tries")


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
