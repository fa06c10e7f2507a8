"""``failmodel doctor``: what is installed, which versions, what is missing and
the exact command that fixes it.

Every check is read-only and bounded (each version probe has a timeout), so
doctor is safe to run anywhere, any time. The container engine is optional
(the local backend needs none): doctor shows what ``engine_status()`` says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal, TypeAlias

from harness.setup.binaries import (
    KAFKA_VERSION,
    TOXIPROXY_VERSION,
    find_postgres_bin,
    kafka_dir,
    toxiproxy_dir,
)
from harness.setup.cache import cache_dir
from harness.setup.chromium import find_chromium
from harness.setup.engine import EngineStatus, engine_status
from harness.setup.staging import is_complete
from harness.setup.toxiproxy_build import GO_FALLBACK_DIR

CheckState: TypeAlias = Literal["ok", "missing", "optional", "unknown"]
ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
_PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One line of the doctor's report. ``fix`` is a command to run when not ok."""

    name: str
    state: CheckState
    detail: str
    fix: str = ""

    @property
    def blocking(self) -> bool:
        return self.state == "missing"


def _version(argv: Sequence[str], *, stderr: bool = False) -> str:
    try:
        out = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(cannot run {argv[0]}: {exc})"
    text = (out.stderr if stderr else out.stdout) or out.stdout or out.stderr
    return text.strip().splitlines()[0] if text.strip() else "(no version printed)"


def check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(
        name="Python",
        state="ok" if ok else "missing",
        detail=f"{sys.version.split()[0]} ({sys.executable})",
        fix="" if ok else "install Python 3.11 or newer (apt-get install -y python3)",
    )


def _marker_applies(marker: str | None) -> bool:
    if not marker:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:  # pragma: no cover - packaging comes with pytest
        return True
    return Marker(marker).evaluate()


def check_packages(lock: Path = LOCK) -> Check:
    """Every package of requirements.lock that applies here, installed at its version."""
    if not lock.is_file():
        return Check(name="Python packages", state="unknown", detail=f"no lock file at {lock}")
    wrong: list[str] = []
    total = 0
    for line in lock.read_text().splitlines():
        match = _PIN.match(line)
        if match is None or not _marker_applies(match[3]):
            continue
        total += 1
        try:
            have = metadata.version(match[1])
        except metadata.PackageNotFoundError:
            wrong.append(f"{match[1]} missing")
            continue
        if have != match[2]:
            wrong.append(f"{match[1]} {have} (locked {match[2]})")
    if wrong:
        return Check(
            name="Python packages",
            state="missing",
            detail=f"{len(wrong)} of {total} not at the locked version: {', '.join(wrong[:6])}"
            + (" ..." if len(wrong) > 6 else ""),
            fix=f"{sys.executable} -m pip install --require-hashes -r {lock}   "
            "(or let scripts/failmodel build its environment)",
        )
    return Check(
        name="Python packages", state="ok", detail=f"{total} of {total} at the locked versions"
    )


def check_postgres() -> Check:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        return Check(
            name="PostgreSQL",
            state="missing",
            detail="no /usr/lib/postgresql/<major>/bin with initdb and postgres",
            fix="failmodel setup   (runs: apt-get install -y --no-install-recommends postgresql)",
        )
    return Check(
        name="PostgreSQL",
        state="ok",
        detail=f"{_version([str(bin_dir / 'postgres'), '--version'])} ({bin_dir})",
    )


def check_redis() -> Check:
    found = shutil.which("redis-server")
    if found is None:
        return Check(
            name="Redis",
            state="missing",
            detail="redis-server is not on PATH",
            fix="failmodel setup   (runs: apt-get install -y --no-install-recommends redis-server)",
        )
    return Check(name="Redis", state="ok", detail=f"{_version([found, '--version'])} ({found})")


def check_java() -> Check:
    found = shutil.which("java")
    if found is None:
        return Check(
            name="Java (runs Kafka)",
            state="missing",
            detail="java is not on PATH",
            fix="failmodel setup   (runs: apt-get install -y default-jre-headless)",
        )
    return Check(
        name="Java (runs Kafka)",
        state="ok",
        detail=f"{_version([found, '-version'], stderr=True)} ({found})",
    )


def check_toxiproxy(cache: Path) -> Check:
    server = toxiproxy_dir(cache) / "server"
    if is_complete(toxiproxy_dir(cache)) and server.is_file():
        return Check(
            name=f"Toxiproxy server {TOXIPROXY_VERSION}",
            state="ok",
            detail=f"{_version([str(server), '-version'])} ({server})",
        )
    go = shutil.which("go") or shutil.which("go", path=GO_FALLBACK_DIR)
    needs = "" if go else "; building it needs Go >= 1.23 (apt-get install -y golang-go)"
    return Check(
        name=f"Toxiproxy server {TOXIPROXY_VERSION}",
        state="missing",
        detail=f"not built in {toxiproxy_dir(cache)}{needs}",
        fix="failmodel setup   (builds it with go install, about a minute)",
    )


def check_kafka(cache: Path) -> Check:
    libs = kafka_dir(cache) / "libs"
    if is_complete(kafka_dir(cache)) and libs.is_dir():
        jars = len(list(libs.glob("*.jar")))
        return Check(
            name=f"Kafka broker {KAFKA_VERSION}",
            state="ok",
            detail=f"{jars} jars ({libs})",
        )
    mvn = shutil.which("mvn")
    needs = "" if mvn else "; assembling it needs Maven (failmodel setup installs it)"
    return Check(
        name=f"Kafka broker {KAFKA_VERSION}",
        state="missing",
        detail=f"not assembled in {kafka_dir(cache)}{needs}",
        fix="failmodel setup   (assembles it from its jars with Maven)",
    )


def check_chromium() -> Check:
    found = find_chromium()
    if found is None:
        return Check(
            name="Chromium (optional: tests of the HTML report)",
            state="optional",
            detail="not installed; the browser tests of report.html are skipped",
            fix="failmodel setup --with chromium   "
            "(runs: apt-get install -y --no-install-recommends chromium)",
        )
    return Check(
        name="Chromium (optional: tests of the HTML report)",
        state="ok",
        detail=f"{_version([str(found), '--version'])} ({found})",
    )


def check_faketime(cache: Path) -> Check:
    from harness.setup.faketime import find_faketime, find_library, shim_dir

    name = "libfaketime (clock faults)"
    found = find_faketime(cache)
    if found is not None:
        return Check(name=name, state="ok", detail=f"{found.library}, shim {found.shim}")
    what = "not installed" if find_library() is None else f"shim not built in {shim_dir(cache)}"
    return Check(
        name=name,
        state="missing",
        detail=what,
        fix="failmodel setup   (apt-get install faketime gcc, then compiles a small shim)",
    )


def check_cache(cache: Path) -> Check:
    writable = os.access(cache if cache.exists() else cache.parent, os.W_OK)
    return Check(
        name="cache directory",
        state="ok" if writable else "missing",
        detail=f"{cache} ($FAILMODEL_CACHE)" + ("" if writable else ": not writable"),
        fix="" if writable else f"export FAILMODEL_CACHE=<a writable directory> (now {cache})",
    )


def check_container_engine(
    status: Callable[[], EngineStatus] = engine_status,
) -> Check:
    """Optional: only the containers backend needs an engine."""
    name = "container engine (optional: the containers backend)"
    try:
        found = status()
    except Exception as exc:
        return Check(name=name, state="optional", detail=f"engine_status() failed: {exc}")
    return Check(
        name=name, state="ok" if found.available else "optional", detail=found.detail, fix=found.fix
    )


def checks(cache: Path | None = None) -> list[Check]:
    cache = cache_dir() if cache is None else cache
    return [
        check_python(),
        check_packages(),
        check_cache(cache),
        check_postgres(),
        check_redis(),
        check_java(),
        check_toxiproxy(cache),
        check_kafka(cache),
        check_faketime(cache),
        check_chromium(),
        check_container_engine(),
    ]


def render(found: Sequence[Check]) -> str:
    width = max(len(c.name) for c in found)
    lines = []
    for c in found:
        lines.append(f"{c.state:<8}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.state != "ok":
            lines.append(f"{'':<8}  {'':<{width}}  fix: {c.fix}")
    missing = [c.name for c in found if c.blocking]
    if missing:
        lines.append(
            f"missing: {', '.join(missing)}; run the fix commands above, then doctor again"
        )
    else:
        lines.append("everything failmodel needs is installed")
    return "\n".join(lines)
