"""Just enough of the Docker Engine API, over its unix socket, with the standard library.

The reaper, the watchdog and ``engine_status`` use it: they must work without
the optional ``containers`` dependencies (testcontainers, the docker SDK) and
start fast. Everything else goes through testcontainers.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

DEFAULT_SOCKET = Path("/var/run/docker.sock")
TIMEOUT_S = 10.0
LABEL = "failmodel"
"""Every container failmodel starts carries ``failmodel=1`` ..."""
LABEL_RUN = "failmodel.run"
"""... the id of the run record of the harness that started it ..."""
LABEL_PID = "failmodel.harness_pid"
LABEL_START = "failmodel.harness_start"
"""... and that harness's pid and start time, so a dead harness is recognised
even when its run record is gone."""


class DockerUnavailable(ConnectionError):
    """No Docker engine answers on the socket; the message names the socket."""


def docker_socket() -> Path:
    """The engine's socket: ``$DOCKER_HOST`` when it is ``unix://...``, else the default."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return Path(host.removeprefix("unix://"))
    return DEFAULT_SOCKET


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


class DockerAPI:
    """``DockerAPI().ping()``, ``.version()``, ``.containers(label=...)``, ``.remove(id)``."""

    def __init__(self, socket_path: Path | None = None, *, timeout: float = TIMEOUT_S) -> None:
        self.socket_path = docker_socket() if socket_path is None else socket_path
        self.timeout = timeout

    def _call(self, method: str, path: str) -> tuple[int, bytes]:
        connection = _UnixConnection(self.socket_path, self.timeout)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise DockerUnavailable(
                f"no Docker engine answers on {self.socket_path} ({exc})"
            ) from exc
        finally:
            connection.close()

    def ping(self) -> bool:
        try:
            status, body = self._call("GET", "/_ping")
        except DockerUnavailable:
            return False
        return status == 200 and body.strip() == b"OK"

    def version(self) -> dict[str, Any]:
        status, body = self._call("GET", "/version")
        if status != 200:
            raise DockerUnavailable(f"GET /version on {self.socket_path} answered {status}")
        result: dict[str, Any] = json.loads(body)
        return result

    def image_exists(self, reference: str) -> bool:
        status, _ = self._call("GET", f"/images/{urllib.parse.quote(reference, safe='')}/json")
        return status == 200

    def containers(self, *labels: str) -> list[dict[str, Any]]:
        """All containers (running or not) carrying every label (``key`` or ``key=value``)."""
        filters = urllib.parse.quote(json.dumps({"label": list(labels)}))
        status, body = self._call("GET", f"/containers/json?all=1&filters={filters}")
        if status != 200:
            raise DockerUnavailable(f"listing containers answered {status}: {body[:200]!r}")
        found: list[dict[str, Any]] = json.loads(body)
        return found

    def remove(self, container_id: str) -> None:
        """Kill and remove a container (and its anonymous volumes); gone already is fine."""
        status, body = self._call("DELETE", f"/containers/{container_id}?force=1&v=1")
        if status not in (204, 404, 409):  # 409: removal already in progress
            raise DockerUnavailable(f"removing {container_id} answered {status}: {body[:200]!r}")


def remove_run_containers(run_id: str, socket_path: Path | None = None) -> list[str]:
    """Remove every container labelled with *run_id*; return their names."""
    api = DockerAPI(socket_path)
    removed: list[str] = []
    for container in api.containers(f"{LABEL_RUN}={run_id}"):
        api.remove(container["Id"])
        removed.extend(name.lstrip("/") for name in container.get("Names", []))
    return removed
