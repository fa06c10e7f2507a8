"""What every locally run service shares: one data dir, one port, one managed process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from harness.provision.ports import free_port, require_free
from harness.provision.process import ManagedProcess, ProcessControls


class LocalService(ProcessControls, ABC):
    """A server with a fixed port and data dir that survive crashes and restarts.

    Subclasses say how to prepare the data dir once, how to run the server, and
    how to tell that it really answers.
    """

    name: str
    ready_timeout: float = 30.0

    def __init__(
        self, *, directory: Path, port: int | None = None, user: str | None = None
    ) -> None:
        self.directory = directory
        self.port = free_port() if port is None else require_free(port)
        self.user = user
        self.ready_seconds: float | None = None
        """How long the last (re)start took to become ready."""
        self._process: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self.port}, directory={str(self.directory)!r})"

    @property
    def process(self) -> ManagedProcess:
        if self._process is None:
            raise RuntimeError(f"{self.name} has not been started; call start() first")
        return self._process

    def start(self) -> None:
        """Prepare the data dir on first start, run the server and wait until it answers."""
        if self._process is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._prepare()
            self._process = ManagedProcess(
                self.name,
                self._argv(),
                cwd=self.directory,
                log_path=self.directory / f"{self.name}.log",
                user=self.user,
            )
            self._process.start()
            self._wait_ready()
            self._after_first_ready()
        else:
            self._process.start()
            self._wait_ready()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def _wait_ready(self) -> None:
        self.ready_seconds = self.process.wait_ready(
            self._probe, timeout=self.ready_timeout, what=self._readiness
        )

    @property
    @abstractmethod
    def _readiness(self) -> str:
        """What the probe checks, for error messages."""

    @abstractmethod
    def _argv(self) -> list[str]: ...

    @abstractmethod
    def _probe(self) -> bool: ...

    def _prepare(self) -> None:
        """One-time set-up of the data dir before the first start."""

    def _after_first_ready(self) -> None:
        """One-time work that needs the server up (e.g. creating a database)."""

