"""``failmodel setup``: install what the local backend runs, each step skipped when done."""

from __future__ import annotations

import shutil
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.progress import SetupEvent, SetupProgress, no_setup_progress
from harness.setup.binaries import (
    KAFKA_VERSION,
    TOXIPROXY_VERSION,
    Binaries,
    find_binaries,
    find_postgres_bin,
    kafka_dir,
    toxiproxy_dir,
)
from harness.setup.cache import cache_dir, setup_lock
from harness.setup.chromium import PACKAGE as CHROMIUM_PACKAGE
from harness.setup.chromium import find_chromium
from harness.setup.commands import SetupError
from harness.setup.debian import Apt
from harness.setup.faketime import PACKAGE as FAKETIME_PACKAGE
from harness.setup.faketime import build_shim, find_faketime, find_library, shim_dir
from harness.setup.kafka_jars import install_kafka
from harness.setup.staging import is_complete
from harness.setup.toxiproxy_build import install_toxiproxy


def _which_path(name: str) -> Path | None:
    found = shutil.which(name)
    return None if found is None else Path(found)


BACKENDS = ("local", "containers")
OPTIONAL_COMPONENTS = ("chromium",)
"""Installed only when asked (``failmodel setup --with chromium``): the tests'
headless browser for the HTML report."""


@contextmanager
def _step(progress: SetupProgress, step: str, message: str, done: str) -> Iterator[None]:
    """Tell ``progress`` a step started, then that it finished and how long it took."""
    started = time.monotonic()
    progress(SetupEvent(step=step, state="started", message=message))
    yield
    progress(
        SetupEvent(step=step, state="finished", message=done, elapsed_s=time.monotonic() - started)
    )


def setup(
    *,
    quiet: bool = False,
    cache: Path | None = None,
    progress: SetupProgress | None = None,
    components: Collection[str] = (),
    backend: str = "local",
    engine_for: int | None = None,
) -> Binaries:
    """Install PostgreSQL, Redis, the Toxiproxy server and a Kafka broker (and
    the optional ``components``, e.g. ``chromium``); return their paths.

    Each step tells ``progress`` when it starts and how long it took, or that
    it was ready already; without ``progress``, plain lines go to stderr
    unless ``quiet``. ``backend="containers"`` also makes a Docker engine
    answer (reused, or Debian's docker.io installed and started) and builds the
    images of the containers backend (docs/containers.md) from those binaries;
    an engine it starts is stopped once process ``engine_for`` is gone (when
    given), else it stays up."""
    if backend not in BACKENDS:
        raise ValueError(f"'backend' must be one of {', '.join(BACKENDS)} (got {backend!r})")
    unknown = sorted(set(components) - set(OPTIONAL_COMPONENTS))
    if unknown:
        raise SetupError(
            f"unknown optional component(s) {', '.join(unknown)}; "
            f"known: {', '.join(OPTIONAL_COMPONENTS)}"
        )
    if progress is None:
        from harness.console import PlainSetupProgress

        progress = no_setup_progress if quiet else PlainSetupProgress()
    cache = cache_dir() if cache is None else cache
    cache.mkdir(parents=True, exist_ok=True)
    apt = Apt(progress=progress)
    with setup_lock(cache):
        wanted = [
            ("postgresql", find_postgres_bin() is not None),
            ("redis-server", shutil.which("redis-server") is not None),
            ("default-jre-headless", shutil.which("java") is not None),
            ("maven", shutil.which("mvn") is not None or is_complete(kafka_dir(cache))),
            # libfaketime, for clock faults (harness/setup/faketime.py), and gcc for its shim
            (FAKETIME_PACKAGE, find_library() is not None),
            ("gcc", is_complete(shim_dir(cache)) or shutil.which("gcc") is not None),
            ("libc6-dev", is_complete(shim_dir(cache)) or Path("/usr/include/time.h").is_file()),
        ]
        if "chromium" in components:
            wanted.append((CHROMIUM_PACKAGE, find_chromium() is not None))
        missing = [package for package, present in wanted if not present]
        if missing:
            names = ", ".join(missing)
            with _step(
                progress,
                "debian",
                f"installing the Debian packages {names} (first time only)",
                f"Debian packages {names}: installed",
            ):
                apt.install(missing)
        progress(
            SetupEvent(
                step="debian",
                state="ready",
                message=f"PostgreSQL, Redis, Java: ok ({find_postgres_bin()}, "
                f"{shutil.which('redis-server')})",
            )
        )
        if "chromium" in components:
            progress(
                SetupEvent(
                    step="chromium", state="ready", message=f"Chromium: ok ({find_chromium()})"
                )
            )

        if find_faketime(cache) is None:
            with _step(
                progress,
                "faketime",
                "compiling the clock shim for libfaketime (first time only)",
                f"clock faults: libfaketime {find_library()} and shim {shim_dir(cache)}: ready",
            ):
                build_shim(cache)
        else:
            progress(
                SetupEvent(
                    step="faketime",
                    state="ready",
                    message=f"clock faults: ok (libfaketime {find_library()})",
                )
            )

        if not is_complete(toxiproxy_dir(cache)):
            with _step(
                progress,
                "toxiproxy",
                f"building the Toxiproxy server {TOXIPROXY_VERSION} with go install "
                "(first time only, about a minute)",
                f"Toxiproxy server {TOXIPROXY_VERSION}: built ({toxiproxy_dir(cache) / 'server'})",
            ):
                install_toxiproxy(cache)
        else:
            progress(
                SetupEvent(
                    step="toxiproxy",
                    state="ready",
                    message=f"Toxiproxy server {TOXIPROXY_VERSION}: ok "
                    f"({toxiproxy_dir(cache) / 'server'})",
                )
            )

        if not is_complete(kafka_dir(cache)):
            mvn = _which_path("mvn")
            assert mvn is not None  # installed above when missing
            with _step(
                progress,
                "kafka",
                f"assembling the Kafka {KAFKA_VERSION} broker from its jars with Maven "
                "(first time only, a minute or two)",
                f"Kafka broker {KAFKA_VERSION}: assembled ({kafka_dir(cache) / 'libs'})",
            ):
                install_kafka(cache, mvn=mvn)
        else:
            progress(
                SetupEvent(
                    step="kafka",
                    state="ready",
                    message=f"Kafka broker {KAFKA_VERSION}: ok ({kafka_dir(cache) / 'libs'})",
                )
            )
        binaries = find_binaries(cache)
        if backend == "containers":
            _setup_containers(cache, binaries, apt, progress, engine_for)
    return binaries


def _setup_containers(
    cache: Path, binaries: Binaries, apt: Apt, progress: SetupProgress, engine_for: int | None
) -> None:
    """The containers backend: an engine that answers, and its images built locally."""
    from harness.setup.engine import ensure_engine
    from harness.setup.images import ensure_images

    def say(line: str) -> None:
        progress(SetupEvent(step="containers", state="ready", message=line))

    say(f"Docker engine: {ensure_engine(cache, apt=apt, say=say, owner=engine_for)}")
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        with _step(
            progress,
            "debootstrap",
            "installing Debian's debootstrap (for the base image)",
            "debootstrap: installed",
        ):
            apt.install(["debootstrap"])
    ensure_images(cache, binaries, say=say)
