"""The containers backend's images, built locally and never pulled.

* ``base``: Debian bookworm (``debootstrap --variant=minbase``, from the mirror
  the host's apt uses) imported with ``docker import``.
* ``postgres``, ``redis``: Debian's packages installed on the base by
  ``apt-get`` inside ``docker build --network host`` (the build shares the
  host's network, so apt reaches the mirror exactly as the host does).
* ``kafka``: a JRE from Debian plus the broker jars the set-up already caches.
* ``toxiproxy``: the server binary the set-up already builds.
* ``python``: Debian's Python with a venv of the harness's runtime dependencies
  (pinned to the versions the harness runs), the base for the partner and for
  targets built from a Dockerfile (build argument ``FAILMODEL_PYTHON_IMAGE``).
* ``partner``: ``python`` plus the repo's ``harness`` package.

Each image is tagged ``failmodel/<name>:<hash>`` where the hash covers
everything it is built from (its Dockerfile, its files, its parent's tag), so
a second set-up finds every tag and builds nothing, and a changed input gets
a new tag. The images follow the interface of the official images of the same
services (the subset failmodel uses: environment, command, entrypoint), so a
user with a registry can name those instead (docs/containers.md).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness.provision.docker_api import DockerAPI
from harness.setup.binaries import Binaries
from harness.setup.commands import SetupError, run

SUITE = "bookworm"
RECIPE_VERSION = "1"
"""Bump to rebuild every image (the tags change)."""
IMAGE_NAMES = ("base", "postgres", "redis", "kafka", "toxiproxy", "python", "partner")
SERVICE_IMAGES = ("postgres", "redis", "kafka", "toxiproxy", "partner")
"""The images a stack runs, which a design or FAILMODEL_IMAGES may replace."""
PYTHON_PACKAGES = ("aiohttp", "aiokafka", "psycopg", "psycopg-binary", "psycopg-pool", "redis")
BUILD_TIMEOUT_S = 1800

APT_INSTALL = (
    "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
    "--no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*"
)

POSTGRES_ENTRYPOINT = """#!/bin/sh
# The official image's interface, the part failmodel uses: POSTGRES_USER and
# POSTGRES_HOST_AUTH_METHOD for a fresh data dir, then the command (postgres ...).
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --pgdata="$PGDATA" --username="${POSTGRES_USER:-postgres}" \\
    --auth="${POSTGRES_HOST_AUTH_METHOD:-trust}" --encoding=UTF8 --locale=C --no-sync >&2
fi
exec "$@"
"""

KAFKA_ENTRYPOINT = """#!/bin/sh
# The official apache/kafka image's interface, the part failmodel uses: every
# KAFKA_X_Y variable becomes the broker setting x.y ('__' -> '_', '___' -> '-'),
# CLUSTER_ID formats the storage once, KAFKA_HEAP_OPTS sizes the JVM.
set -e
conf=/var/lib/kafka/server.properties
mkdir -p /var/lib/kafka
: > "$conf.new"
env | grep '^KAFKA_' | while IFS='=' read -r name value; do
  case "$name" in KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS) continue ;; esac
  key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' \\
    | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  printf '%s=%s\\n' "$key" "$value" >> "$conf.new"
done
grep -q '^log.dirs=' "$conf.new" || echo 'log.dirs=/var/lib/kafka/data' >> "$conf.new"
mv "$conf.new" "$conf"
jvm="${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
jvm="$jvm -Dlog4j2.configurationFile=/opt/kafka/log4j2.xml $KAFKA_OPTS"
# shellcheck disable=SC2086
java $jvm -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format --ignore-formatted \\
  -t "${CLUSTER_ID:?CLUSTER_ID must be set}" -c "$conf" >&2
# shellcheck disable=SC2086
exec java $jvm -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
"""


@dataclass(frozen=True, slots=True)
class Recipe:
    """One image: its Dockerfile (``{parent}`` is the parent's tag) and build context."""

    name: str
    parent: str | None
    dockerfile: str
    files: Mapping[str, Path | str] = field(default_factory=dict)
    """Context entries: a file or folder to copy, or a text to write."""


def _recipes(binaries: Binaries) -> dict[str, Recipe]:
    harness_dir = Path(harness.__file__).resolve().parent
    pins = " ".join(f"{name}=={importlib.metadata.version(name)}" for name in PYTHON_PACKAGES)
    return {
        "postgres": Recipe(
            "postgres",
            "base",
            "FROM {parent}\n"
            "RUN mkdir -p /etc/postgresql-common"
            " && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf"
            f" && {APT_INSTALL.format(packages='postgresql')}\n"
            "RUN major=$(ls /usr/lib/postgresql) && ln -s /usr/lib/postgresql/$major/bin/* "
            "/usr/local/bin/ && mkdir -p /var/lib/postgresql/data /var/run/postgresql"
            " && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql"
            " && chmod 700 /var/lib/postgresql/data\n"
            "COPY docker-entrypoint.sh /usr/local/bin/\n"
            "RUN chmod 755 /usr/local/bin/docker-entrypoint.sh\n"
            "ENV PGDATA=/var/lib/postgresql/data\n"
            "USER postgres\n"
            'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]\n'
            'CMD ["postgres"]\n',
            {"docker-entrypoint.sh": POSTGRES_ENTRYPOINT},
        ),
        "redis": Recipe(
            "redis",
            "base",
            "FROM {parent}\n"
            f"RUN {APT_INSTALL.format(packages='redis-server')} && mkdir -p /data\n"
            "WORKDIR /data\n"
            'CMD ["redis-server"]\n',
        ),
        "kafka": Recipe(
            "kafka",
            "base",
            "FROM {parent}\n"
            f"RUN {APT_INSTALL.format(packages='openjdk-17-jre-headless')}\n"
            "COPY libs /opt/kafka/libs\n"
            "COPY log4j2.xml /opt/kafka/log4j2.xml\n"
            "COPY kafka-run /usr/local/bin/kafka-run\n"
            "RUN chmod 755 /usr/local/bin/kafka-run\n"
            'ENTRYPOINT ["/usr/local/bin/kafka-run"]\n',
            {
                "libs": binaries.kafka_libs,
                "log4j2.xml": binaries.kafka_log_config,
                "kafka-run": KAFKA_ENTRYPOINT,
            },
        ),
        "toxiproxy": Recipe(
            "toxiproxy",
            "base",
            "FROM {parent}\n"
            "COPY toxiproxy /toxiproxy\n"
            'ENTRYPOINT ["/toxiproxy"]\n'
            'CMD ["-host=0.0.0.0"]\n',
            {"toxiproxy": binaries.toxiproxy_server},
        ),
        "python": Recipe(
            "python",
            "base",
            "FROM {parent}\n"
            f"RUN {APT_INSTALL.format(packages='python3 python3-venv ca-certificates')}\n"
            "ARG PIP_INDEX_URL\nARG PIP_EXTRA_INDEX_URL\nARG PIP_TRUSTED_HOST\n"
            "COPY host-ca.crt /tmp/host-ca.crt\n"
            "RUN python3 -m venv /opt/venv && PIP_CERT=/tmp/host-ca.crt /opt/venv/bin/pip "
            f"install -q --no-cache-dir --disable-pip-version-check {pins}"
            " && rm /tmp/host-ca.crt\n"
            "ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n"
            'CMD ["python"]\n',
            {"host-ca.crt": _host_ca_bundle()},
        ),
        "partner": Recipe(
            "partner",
            "python",
            "FROM {parent}\n"
            "COPY harness /opt/failmodel/harness\n"
            "ENV PYTHONPATH=/opt/failmodel\n"
            "WORKDIR /data\n"
            'ENTRYPOINT ["python", "-m", "harness.partner"]\n',
            {"harness": harness_dir},
        ),
    }


# Files that only help the build reach the registries, not part of what is built.
_UNHASHED = frozenset({"host-ca.crt"})


def _host_ca_bundle() -> str:
    """The CA bundle pip uses on the host, so pip in the build trusts what the host does."""
    for candidate in (os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    return ""


def _skip(path: Path) -> bool:
    return path.name == "__pycache__" or path.suffix == ".pyc"


def _walk(source: Path) -> Iterable[Path]:
    if source.is_file():
        yield source
        return
    for path in sorted(source.rglob("*")):
        if path.is_file() and not any(_skip(p) for p in (path, *path.parents)):
            yield path


def _digest(recipe: Recipe, parent_tag: str | None) -> str:
    h = hashlib.sha256()
    h.update(f"{RECIPE_VERSION}\0{parent_tag}\0{recipe.dockerfile}\0".encode())
    for name in sorted(recipe.files):
        if name in _UNHASHED:
            continue
        source = recipe.files[name]
        h.update(f"{name}\0".encode())
        if isinstance(source, str):
            h.update(source.encode())
            continue
        for path in _walk(source):
            h.update(f"{path.relative_to(source) if path != source else '.'}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def base_tag() -> str:
    h = hashlib.sha256(f"{RECIPE_VERSION}\0debootstrap minbase {SUITE}".encode())
    return f"failmodel/base:{h.hexdigest()[:16]}"


_tags_cache: dict[tuple[str, ...], dict[str, str]] = {}


def image_tags(binaries: Binaries) -> dict[str, str]:
    """The tag of every image, computed from its inputs (nothing is built)."""
    key = (str(binaries.kafka_libs), str(binaries.toxiproxy_server))
    if key in _tags_cache:
        return dict(_tags_cache[key])
    tags = {"base": base_tag()}
    for name, recipe in _recipes(binaries).items():
        parent = tags[recipe.parent] if recipe.parent else None
        tags[name] = f"failmodel/{name}:{_digest(recipe, parent)}"
    _tags_cache[key] = tags
    return dict(tags)


def host_mirror() -> str:
    """The Debian mirror the host's apt uses for the main archive (never hard-coded)."""
    sources = Path("/etc/apt/sources.list.d")
    texts = [p.read_text() for p in sorted(sources.glob("*.sources"))]
    for text in texts:
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris[1]:
                return uris.group(1)
    lists = [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1]
    raise SetupError(
        f"cannot tell which Debian mirror the host uses for {SUITE} (looked in "
        "/etc/apt/sources.list and /etc/apt/sources.list.d); the base image is built with "
        "debootstrap from that mirror"
    )


def _docker_client() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise SetupError(
            "building images needs the 'containers' extra: pip install 'failmodel[containers]'"
        ) from exc
    return docker.from_env(timeout=BUILD_TIMEOUT_S)


def _build_base(cache: Path, tag: str, say: Callable[[str], None]) -> None:
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")
    if debootstrap is None:
        raise SetupError("debootstrap is missing; run 'failmodel setup --backend containers'")
    work = cache / "containers"
    work.mkdir(parents=True, exist_ok=True)
    rootfs = work / "rootfs.partial"
    debs = work / "debootstrap-debs"  # downloaded packages, kept: a rebuild downloads nothing
    debs.mkdir(exist_ok=True)
    shutil.rmtree(rootfs, ignore_errors=True)
    tarball = work / "base.tar"
    try:
        mirror = host_mirror()
        say(f"debootstrap --variant=minbase {SUITE} from the host's mirror ...")
        run(
            [debootstrap, "--variant=minbase", f"--cache-dir={debs}", SUITE, str(rootfs), mirror],
            what=f"debootstrap {SUITE}",
            timeout=BUILD_TIMEOUT_S,
        )
        # No service starts inside an image build (a package's postinst would start it
        # on the host's network); the same policy Debian's own base images carry.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        for cache_dir in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for leftover in (rootfs / cache_dir).glob("*"):
                if leftover.is_file():
                    leftover.unlink()
        run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], what="packing the base image")
        repository, _, version = tag.partition(":")
        client = _docker_client()
        try:
            client.api.import_image_from_file(
                str(tarball), repository=repository, tag=version, changes=['CMD ["/bin/bash"]']
            )
        finally:
            client.close()
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        tarball.unlink(missing_ok=True)


def _stage(recipe: Recipe, context: Path) -> None:
    for name, source in recipe.files.items():
        target = context / name
        if isinstance(source, str):
            target.write_text(source)
        elif source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)


def build_image(dockerfile_dir: Path, tag: str, *, dockerfile: str | None = None,
                buildargs: Mapping[str, str] | None = None) -> None:
    """``docker build --network host`` of a context; the error shows the build's log tail."""
    import docker.errors

    client = _docker_client()
    try:
        client.images.build(
            path=str(dockerfile_dir),
            dockerfile=dockerfile,
            tag=tag,
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            buildargs=dict(buildargs or {}),
        )
    except docker.errors.BuildError as exc:
        lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip() for chunk in
                 exc.build_log]
        tail = "\n".join(line for line in lines if line)[-4000:]
        raise SetupError(f"building {tag} failed: {exc.msg}\n{tail}") from None
    finally:
        client.close()


def _pip_buildargs() -> dict[str, str]:
    names = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST")
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def ensure_images(
    cache: Path,
    binaries: Binaries,
    *,
    names: Iterable[str] = IMAGE_NAMES,
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, str]:
    """Build each missing image of *names* (and its parents); return every tag.

    Says one line per image: its tag and whether it was cached or how long it took.
    """
    tags = image_tags(binaries)
    recipes = _recipes(binaries)
    api = DockerAPI()
    wanted: list[str] = []

    def want(name: str) -> None:
        parent = recipes[name].parent if name in recipes else None
        if parent is not None:
            want(parent)
        if name not in wanted:
            wanted.append(name)

    for name in names:
        want(name)
    for name in wanted:
        tag = tags[name]
        if api.image_exists(tag):
            say(f"image {tag}: cached")
            continue
        begin = time.monotonic()
        if name == "base":
            _build_base(cache, tag, say)
        else:
            recipe = recipes[name]
            assert recipe.parent is not None
            with tempfile.TemporaryDirectory(prefix=f"failmodel-image-{name}-") as context:
                _stage(recipe, Path(context))
                Path(context, "Dockerfile").write_text(
                    recipe.dockerfile.format(parent=tags[recipe.parent])
                )
                build_image(Path(context), tag, buildargs=_pip_buildargs())
        say(f"image {tag}: built in {time.monotonic() - begin:.1f}s")
    return tags
