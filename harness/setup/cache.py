"""Where failmodel keeps what outlives one run: binaries, build caches, run records."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def cache_dir() -> Path:
    """``$FAILMODEL_CACHE``, else ``$XDG_CACHE_HOME/failmodel``, else ``~/.cache/failmodel``."""
    explicit = os.environ.get("FAILMODEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "failmodel"


@contextmanager
def setup_lock(cache: Path) -> Iterator[None]:
    """One installer at a time per cache dir (two test sessions may start
    together); the engine's guard takes it too, so that a set-up never reuses
    an engine that is being stopped."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "setup.lock", "w") as lock, flocked(lock):
        yield


@contextmanager
def flocked(lock: IO[str]) -> Iterator[None]:
    """An exclusive ``flock`` on an open file for the block (released on exit)."""
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
