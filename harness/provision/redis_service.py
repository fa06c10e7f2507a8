"""A throwaway Redis server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import redis

from harness.provision.ports import LOOPBACK
from harness.provision.service import LocalService
from harness.setup.binaries import Binaries

RedisPersistence = Literal["none", "aof"]
PERSISTENCE_MODES: tuple[RedisPersistence, ...] = ("none", "aof")


def answers_ping(port: int) -> bool:
    client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


class RedisService(LocalService):
    """Redis with ``persistence="none"`` (a crash loses everything) or ``"aof"``
    (append-only file, fsync on every write: a crash loses nothing acknowledged)."""

    name = "redis"

    def __init__(
        self,
        *,
        binaries: Binaries,
        directory: Path,
        port: int | None = None,
        persistence: RedisPersistence = "none",
    ) -> None:
        if persistence not in PERSISTENCE_MODES:
            raise ValueError(
                f"'persistence' must be one of {', '.join(PERSISTENCE_MODES)} (got {persistence!r})"
            )
        super().__init__(directory=directory, port=port)
        self._server = binaries.redis_server
        self.persistence = persistence

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def _readiness(self) -> str:
        return f"PING on {LOOPBACK}:{self.port}"

    def _argv(self) -> list[str]:
        aof = self.persistence == "aof"
        return [
            str(self._server),
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if aof else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
            "--daemonize", "no",
        ]

    def _probe(self) -> bool:
        return answers_ping(self.port)
