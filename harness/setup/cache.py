"""Where failmodel keeps what outlives one run: binaries, build caches, run records."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$FAILMODEL_CACHE``, else ``$XDG_CACHE_HOME/failmodel``, else ``~/.cache/failmodel``."""
    explicit = os.environ.get("FAILMODEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "failmodel"
