"""Where the services' binaries are, found without installing anything."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.setup.cache import cache_dir

TOXIPROXY_VERSION = "2.12.0"
KAFKA_VERSION = "4.1.1"
POSTGRES_ROOT = Path("/usr/lib/postgresql")


class MissingBinary(FileNotFoundError):
    """A service binary is not installed; the message names it and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Binaries:
    postgres_bin: Path
    """Directory holding ``postgres`` and ``initdb``."""
    redis_server: Path
    toxiproxy_server: Path
    kafka_libs: Path
    """Directory of the broker's jars (the Java class path is ``<dir>/*``)."""
    kafka_log_config: Path
    """log4j2 configuration that sends the broker's log to stdout."""
    java: Path


def toxiproxy_dir(cache: Path) -> Path:
    return cache / f"toxiproxy-{TOXIPROXY_VERSION}"


def kafka_dir(cache: Path) -> Path:
    return cache / f"kafka-{KAFKA_VERSION}"


def find_postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding both initdb and postgres."""
    candidates = []
    for bin_dir in POSTGRES_ROOT.glob("*/bin"):
        major = bin_dir.parent.name
        if major.isdigit() and (bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file():
            candidates.append((int(major), bin_dir))
    return max(candidates)[1] if candidates else None


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return None if found is None else Path(found)


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def find_binaries(cache: Path | None = None) -> Binaries:
    """Locate every binary; raise `MissingBinary` listing what is missing and the fix."""
    cache = cache_dir() if cache is None else cache
    found = {
        "postgres_bin": find_postgres_bin(),
        "redis_server": _which("redis-server"),
        "toxiproxy_server": _existing(toxiproxy_dir(cache) / "server"),
        "kafka_libs": _existing(kafka_dir(cache) / "libs"),
        "kafka_log_config": _existing(kafka_dir(cache) / "log4j2.xml"),
        "java": _which("java"),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MissingBinary(
            f"missing {', '.join(missing)} (looked in {POSTGRES_ROOT}/*/bin, on PATH and in "
            f"{cache}); run 'failmodel setup' to install them"
        )
    return Binaries(**{name: path for name, path in found.items() if path is not None})
