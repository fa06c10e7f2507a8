"""`PartnerService`: the partner as a managed local process.

Its ledger file lives in the work dir, so a crash keeps every effect and a
restart reloads them (and the idempotency keys they carry).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.child_env import child_env
from harness.partner.control import PartnerControl
from harness.partner.endpoints import CONTROL_PREFIX
from harness.provision.ports import LOOPBACK, free_port, require_free
from harness.provision.process import ManagedProcess, ProcessControls

LEDGER_FILE = "partner-ledger.jsonl"
READY_TIMEOUT = 10.0
PROBE_TIMEOUT = 1.0


def partner_arguments(port: int, ledger: str, caller_ports: Mapping[str, int]) -> list[str]:
    """``python -m harness.partner``'s arguments, wherever it runs (a process or a
    container): its port, its ledger and a port of its own per calling process."""
    return [
        "--host", LOOPBACK,
        "--port", str(port),
        "--ledger", ledger,
        *(f"--caller={name}={own}" for name, own in caller_ports.items()),
    ]


class PartnerService(ProcessControls):
    """``python -m harness.partner`` on a loopback port, with its ledger in *workdir*;
    one more port for each of ``callers``, the processes with a link of their own
    to it (the same ports after a restart)."""

    def __init__(
        self, *, workdir: Path, port: int | None = None, callers: Sequence[str] = ()
    ) -> None:
        self.workdir = workdir
        self.port = free_port() if port is None else require_free(port)
        self.caller_ports = {name: free_port() for name in callers}
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.ledger_path = workdir / LEDGER_FILE
        self.control = PartnerControl(self.url)
        self.ready_seconds: float | None = None
        """How long the last (re)start took to answer its health check."""
        self._process = ManagedProcess(
            "partner",
            [
                sys.executable, "-m", "harness.partner",
                *partner_arguments(self.port, str(self.ledger_path), self.caller_ports),
            ],
            env=child_env(),
            cwd=workdir,
            log_path=workdir / "partner.log",
        )
        self._probe = PartnerControl(self.url, timeout=PROBE_TIMEOUT)

    @property
    def process(self) -> ManagedProcess:
        return self._process

    def __repr__(self) -> str:
        return f"PartnerService(port={self.port}, workdir={str(self.workdir)!r})"

    def start(self) -> None:
        """Run the partner and wait until its control API answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        self.ready_seconds = self.process.wait_ready(
            self._probe.health,
            timeout=READY_TIMEOUT,
            what=f"GET {self.url}{CONTROL_PREFIX}/health",
        )

    def stop(self) -> None:
        self.process.stop()

