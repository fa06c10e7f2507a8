"""``failmodel setup``: install what the local backend runs, each step skipped when done."""

from __future__ import annotations

import fcntl
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.setup.binaries import (
    KAFKA_VERSION,
    TOXIPROXY_VERSION,
    Binaries,
    find_binaries,
    find_postgres_bin,
    kafka_dir,
    toxiproxy_dir,
)
from harness.setup.cache import cache_dir
from harness.setup.debian import Apt
from harness.setup.kafka_jars import install_kafka
from harness.setup.staging import is_complete
from harness.setup.toxiproxy_build import install_toxiproxy


@contextmanager
def _setup_lock(cache: Path) -> Iterator[None]:
    """One installer at a time per cache dir (two test sessions may start together)."""
    with open(cache / "setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _which_path(name: str) -> Path | None:
    found = shutil.which(name)
    return None if found is None else Path(found)


BACKENDS = ("local", "containers")


def setup(*, quiet: bool = False, cache: Path | None = None, backend: str = "local") -> Binaries:
    """Install PostgreSQL, Redis, the Toxiproxy server and a Kafka broker; return their paths.

    ``backend="containers"`` also makes a Docker engine answer (reused, or Debian's
    docker.io installed and started) and builds the images of the containers backend
    (docs/containers.md) from those binaries; every step is skipped when done.
    """
    if backend not in BACKENDS:
        raise ValueError(f"'backend' must be one of {', '.join(BACKENDS)} (got {backend!r})")
    cache = cache_dir() if cache is None else cache
    cache.mkdir(parents=True, exist_ok=True)
    say: Callable[[str], None] = (lambda line: None) if quiet else (
        lambda line: print(f"failmodel setup: {line}", file=sys.stderr)
    )
    apt = Apt()
    with _setup_lock(cache):
        missing = [
            package
            for package, present in (
                ("postgresql", find_postgres_bin() is not None),
                ("redis-server", shutil.which("redis-server") is not None),
                ("default-jre-headless", shutil.which("java") is not None),
                ("maven", shutil.which("mvn") is not None or is_complete(kafka_dir(cache))),
            )
            if not present
        ]
        if missing:
            say(f"installing Debian packages {', '.join(missing)} ...")
            apt.install(missing)
        say(f"PostgreSQL, Redis, Java: ok ({find_postgres_bin()}, {shutil.which('redis-server')})")

        if not is_complete(toxiproxy_dir(cache)):
            say(f"building the Toxiproxy server {TOXIPROXY_VERSION} with go install ...")
            install_toxiproxy(cache)
        say(f"Toxiproxy server {TOXIPROXY_VERSION}: ok ({toxiproxy_dir(cache) / 'server'})")

        if not is_complete(kafka_dir(cache)):
            say(f"assembling the Kafka {KAFKA_VERSION} broker with Maven ...")
            mvn = _which_path("mvn")
            assert mvn is not None  # installed above when missing
            install_kafka(cache, mvn=mvn)
        say(f"Kafka broker {KAFKA_VERSION}: ok ({kafka_dir(cache) / 'libs'})")
        binaries = find_binaries(cache)
        if backend == "containers":
            _setup_containers(cache, binaries, apt, say)
    return binaries


def _setup_containers(
    cache: Path, binaries: Binaries, apt: Apt, say: Callable[[str], None]
) -> None:
    from harness.setup.engine import ensure_engine
    from harness.setup.images import ensure_images

    say(f"Docker engine: {ensure_engine(cache, apt=apt, say=say)}")
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        say("installing Debian's debootstrap (for the base image) ...")
        apt.install(["debootstrap"])
    ensure_images(cache, binaries, say=say)
