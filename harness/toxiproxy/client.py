"""A small typed client for the Toxiproxy 2.x HTTP API.

Why not ``toxiproxy-python``: it dates from 2019, keeps host and port in
process-global state (one server per process), sets no HTTP timeouts (a hung
server hangs the harness), cannot update a toxic, and ``add_toxic`` returns
nothing. This client is stdlib only (``http.client``), keeps one keep-alive
connection per client, puts a timeout on every request, and turns each
server error into a typed exception carrying the HTTP status and
Toxiproxy's own error text.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from typing import Any
from urllib.parse import quote, urlsplit

from harness.toxiproxy.errors import (
    ProxyPortInUse,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyUnavailable,
)
from harness.toxiproxy.toxics import ActiveToxic, Toxic, toxic_from_api

_PORT_IN_USE = re.compile(r"listen tcp .*:(\d+): bind: address already in use")
# Failures that mean a kept-alive connection went stale between requests.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


class ToxiproxyClient:
    """One Toxiproxy server, at ``url`` such as ``http://127.0.0.1:8474``.

    Thread-safe: requests share one connection under a lock. Use as a
    context manager, or call ``close()``, to drop the connection.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"'url' must look like 'http://127.0.0.1:8474' (got {url!r})")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"'timeout' must be a number of seconds > 0 (got {timeout!r})")
        self.url = f"http://{parts.netloc}"
        self.timeout = float(timeout)
        self._host = parts.hostname
        self._port = parts.port or 8474
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.url!r}, timeout={self.timeout})"

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the kept-alive connection; the next request opens a new one."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and return the decoded JSON answer (None if empty).

        Retries once, on a fresh connection, only when a reused keep-alive
        connection turns out to have been closed by the server.
        """
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(
                        self._host, self._port, timeout=self.timeout
                    )
                try:
                    self._conn.request(method, path, body=data, headers=headers)
                    response = self._conn.getresponse()
                    raw = response.read()
                except _STALE as exc:
                    self._drop()
                    if reused and attempt == 1:
                        continue
                    raise self._unavailable(exc) from exc
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    raise self._unavailable(exc) from exc
                if response.will_close:
                    self._drop()
                break
        return self._decode(method, path, response.status, raw)

    def _unavailable(self, exc: BaseException) -> ToxiproxyUnavailable:
        what = (
            f"did not answer within {self.timeout:g} s"
            if isinstance(exc, TimeoutError)
            else f"could not be reached ({type(exc).__name__}: {exc})"
        )
        return ToxiproxyUnavailable(
            f"Toxiproxy at {self.url} {what}; the server does not seem to be running. "
            f"Start it (toxiproxy-server -host {self._host} -port {self._port}) "
            f"or fix the URL."
        )

    @staticmethod
    def _decode(method: str, path: str, status: int, raw: bytes) -> Any:
        text = raw.decode("utf-8", "replace").strip()
        if status < 400:
            return json.loads(text) if text else None
        try:
            message = str(json.loads(text)["error"])
        except (ValueError, KeyError, TypeError):
            message = text
        summary = f"Toxiproxy {method} {path} failed with HTTP {status}: {message}"
        if (match := _PORT_IN_USE.search(message)) is not None:
            port = int(match.group(1))
            raise ProxyPortInUse(
                f"port {port} is already in use, so the proxy cannot listen on it; "
                f"pick a free port (or port 0 to let the server choose). ({summary})",
                port=port,
                status=status,
                server_message=message,
            )
        if status == 404:
            raise ToxiproxyNotFound(summary, status=status, server_message=message)
        raise ToxiproxyError(summary, status=status, server_message=message)

    def version(self) -> str:
        """The server's version string (``git`` for an untagged build)."""
        answer = self.request("GET", "/version")
        return str(answer["version"]) if isinstance(answer, dict) else str(answer)

    def create_proxy(self, name: str, *, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        """Create a proxy; ``listen`` may use port 0 and ``listen_port`` tells the real one."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return Proxy(self, self.request("POST", "/proxies", body))

    def get_proxy(self, name: str) -> Proxy:
        return Proxy(self, self.request("GET", f"/proxies/{quote(name, safe='')}"))

    def proxies(self) -> dict[str, Proxy]:
        answer: dict[str, Any] = self.request("GET", "/proxies")
        return {name: Proxy(self, data) for name, data in answer.items()}

    def delete_proxy(self, name: str) -> None:
        self.request("DELETE", f"/proxies/{quote(name, safe='')}")

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic: heal everything at once."""
        self.request("POST", "/reset")


class Proxy:
    """A snapshot of one proxy, with the calls that change it.

    ``enabled`` follows this object's own ``enable``/``disable`` calls; call
    ``ToxiproxyClient.get_proxy`` for the server's current view.
    """

    __slots__ = ("_client", "_enabled", "_listen", "_name", "_upstream")

    def __init__(self, client: ToxiproxyClient, data: dict[str, Any]) -> None:
        self._client = client
        self._name = str(data["name"])
        self._listen = str(data["listen"])
        self._upstream = str(data["upstream"])
        self._enabled = bool(data["enabled"])

    def __repr__(self) -> str:
        return (
            f"Proxy(name={self._name!r}, listen={self._listen!r}, "
            f"upstream={self._upstream!r}, enabled={self._enabled})"
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def listen(self) -> str:
        return self._listen

    @property
    def upstream(self) -> str:
        return self._upstream

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def listen_port(self) -> int:
        return _port_of(self._listen)

    @property
    def _path(self) -> str:
        return f"/proxies/{quote(self._name, safe='')}"

    def enable(self) -> None:
        """Listen again (ends a partition made by ``disable``)."""
        self._set_enabled(True)

    def disable(self) -> None:
        """Refuse new connections and cut existing ones: a full partition of this link."""
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        answer = self._client.request("POST", self._path, {"enabled": enabled})
        self._enabled = bool(answer["enabled"])

    def add_toxic(self, toxic: Toxic) -> ActiveToxic:
        answer = self._client.request("POST", f"{self._path}/toxics", toxic.to_api())
        return ActiveToxic(proxy=self._name, toxic=toxic_from_api(answer))

    def update_toxic(self, toxic: Toxic) -> ActiveToxic:
        """Change the attributes and toxicity of the toxic named ``toxic.effective_name``.

        Toxiproxy cannot change a toxic's type or stream in place, so a
        mismatch is refused before anything changes.
        """
        path = f"{self._path}/toxics/{quote(toxic.effective_name, safe='')}"
        current = toxic_from_api(self._client.request("GET", path))
        if (current.TYPE, current.stream) != (toxic.TYPE, toxic.stream):
            raise ToxiproxyError(
                f"toxic {toxic.effective_name!r} on proxy {self._name!r} is a "
                f"{current.stream} {current.TYPE!r} toxic, not a {toxic.stream} "
                f"{toxic.TYPE!r}; remove it and add the new one instead"
            )
        api = toxic.to_api()
        body = {"attributes": api["attributes"], "toxicity": api["toxicity"]}
        answer = self._client.request("POST", path, body)
        return ActiveToxic(proxy=self._name, toxic=toxic_from_api(answer))

    def remove_toxic(self, name: str) -> None:
        self._client.request("DELETE", f"{self._path}/toxics/{quote(name, safe='')}")

    def toxics(self) -> list[ActiveToxic]:
        answer: list[dict[str, Any]] = self._client.request("GET", f"{self._path}/toxics")
        return [ActiveToxic(proxy=self._name, toxic=toxic_from_api(t)) for t in answer]
