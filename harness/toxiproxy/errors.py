"""Errors from talking to a Toxiproxy server.

Each also subclasses the builtin it means, so callers that know nothing of
Toxiproxy can still catch ``OSError`` for a busy port or ``LookupError`` for
a missing proxy.
"""

from __future__ import annotations


class ToxiproxyError(RuntimeError):
    """The server refused a request; ``status`` and ``server_message`` say why."""

    def __init__(self, message: str, *, status: int | None = None, server_message: str = ""):
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class ToxiproxyUnavailable(ToxiproxyError, ConnectionError):
    """The server did not answer at all (not running, wrong URL, or hung)."""


class ToxiproxyNotFound(ToxiproxyError, LookupError):
    """The named proxy or toxic does not exist (HTTP 404)."""


class ProxyPortInUse(ToxiproxyError, OSError):
    """The proxy's listen port is taken by another socket."""

    def __init__(self, message: str, *, port: int, status: int | None, server_message: str):
        super().__init__(message, status=status, server_message=server_message)
        self.port = port
