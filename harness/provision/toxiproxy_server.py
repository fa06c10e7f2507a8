"""The Toxiproxy server that every link of a stack runs through."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from harness.provision.ports import LOOPBACK
from harness.provision.service import LocalService
from harness.setup.binaries import Binaries


class ToxiproxyServer(LocalService):
    name = "toxiproxy"
    ready_timeout = 15.0

    def __init__(self, *, binaries: Binaries, directory: Path, port: int | None = None) -> None:
        super().__init__(directory=directory, port=port)
        self._server = binaries.toxiproxy_server

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def _readiness(self) -> str:
        return f"GET {self.url}/version"

    def _argv(self) -> list[str]:
        return [str(self._server), "-host", LOOPBACK, "-port", str(self.port)]

    def _probe(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/version", timeout=1) as response:
            body = json.loads(response.read() or b"null")
        return response.status == 200 and body is not None
