"""A target whose processes run as containers of one image (``[target] image`` or ``build``).

Each replica and each ``[target.extra]`` process is a container of the image,
on the host's network, with the contract's environment and nothing else from
the harness's (``PORT``, ``INSTANCE_ID``, ``DATABASE_URL``, ... all pointing at
Toxiproxy on loopback). ``command`` (or an extra's argv) overrides the image's
command. Crash, pause, resume and restart are ``docker kill``, ``pause``,
``unpause`` and ``start`` of that container, so the nemesis drives them
through the same ``Controllable`` as local processes.

A ``build`` target is built once per change: its tag is a hash of the
Dockerfile, the build context's files (less those ``.dockerignore`` leaves
out) and the build arguments. The build gets ``FAILMODEL_PYTHON_IMAGE``, the
locally built Python image with the harness's runtime dependencies, for
Dockerfiles that cannot pull a Python base image.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from harness.provision.backend import StackHandle
from harness.provision.containers import (
    ContainerProcess,
    MissingImage,
    prepare_run,
    require_engine,
)
from harness.provision.docker_api import DockerAPI
from harness.setup.binaries import find_binaries
from harness.setup.cache import cache_dir
from harness.setup.images import build_image, ensure_images
from harness.targetproc.processes import TargetProcesses
from harness.targetproc.spec import TargetSpec

PYTHON_IMAGE_ARG = "FAILMODEL_PYTHON_IMAGE"
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.M)


def _context_files(context: Path, dockerfile: Path) -> list[Path]:
    """The files ``docker build`` sends: the context less what ``.dockerignore`` excludes."""
    from docker.utils.build import exclude_paths

    ignore = context / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [
            line.strip() for line in ignore.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    relative = str(dockerfile.relative_to(context)) if dockerfile.is_relative_to(context) else None
    return sorted(context / p for p in exclude_paths(str(context), patterns, relative))


def _missing_bases(dockerfile_text: str, buildargs: dict[str, str], api: DockerAPI) -> list[str]:
    """Base images the Dockerfile names that are not in the engine (a build would pull them)."""
    args = {m.group(1): m.group(2) or "" for m in _ARG.finditer(dockerfile_text)}
    args.update(buildargs)
    stages: set[str] = set()
    missing = []
    for match in _FROM.finditer(dockerfile_text):
        image = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m[1], ""), match[1])
        if image and image != "scratch" and image not in stages and not api.image_exists(image):
            missing.append(image)
        if match.group(2):
            stages.add(match.group(2))
    return missing


def target_image(spec: TargetSpec) -> str:
    """The image the target's containers run: ``spec.image`` (which must exist), or the
    image built from ``spec.build`` (built only when its inputs changed)."""
    api = require_engine()
    if spec.image is not None:
        if not api.image_exists(spec.image):
            raise MissingImage(
                f"target {spec.name!r}: image {spec.image!r} is not in the Docker engine, and "
                f"failmodel never pulls: build it, 'docker pull' or 'docker load' it first"
            )
        return spec.image
    assert spec.build is not None
    context = spec.build
    dockerfile = spec.dockerfile or context / "Dockerfile"
    if not context.is_dir():
        raise FileNotFoundError(f"target {spec.name!r}: build context {context} is not a folder")
    if not dockerfile.is_file():
        raise FileNotFoundError(f"target {spec.name!r}: no Dockerfile at {dockerfile}")
    python_image = ensure_images(cache_dir(), find_binaries(), names=["python"])["python"]
    buildargs = {PYTHON_IMAGE_ARG: python_image}
    text = dockerfile.read_text()
    h = hashlib.sha256(text.encode())
    for key, value in sorted(buildargs.items()):
        h.update(f"\0{key}={value}".encode())
    for path in _context_files(context, dockerfile):
        if path.is_file():
            h.update(f"\0{path.relative_to(context)}\0".encode())
            h.update(path.read_bytes())
    tag = f"failmodel-target/{spec.name.lower()}:{h.hexdigest()[:16]}"
    if api.image_exists(tag):
        return tag
    missing = _missing_bases(text, buildargs, api)
    if missing:
        raise MissingImage(
            f"target {spec.name!r}: {dockerfile} starts FROM {', '.join(missing)}, which "
            "the Docker engine does not have, and failmodel never pulls; 'docker pull' it "
            f"first, or start FROM ${{{PYTHON_IMAGE_ARG}}} (a Debian Python image failmodel "
            "builds, passed as a build argument)"
        )
    build_image(
        context,
        tag,
        dockerfile=str(dockerfile.resolve()) if spec.dockerfile is not None else None,
        buildargs=buildargs,
    )
    return tag


class TargetContainers(TargetProcesses):
    """`TargetProcesses` with every process a container of the target's image."""

    def __init__(
        self,
        spec: TargetSpec,
        stack: StackHandle,
        *,
        partner_port: int | None = None,
        partner_callers: Mapping[str, int] | None = None,
    ) -> None:
        if not spec.in_container:
            raise ValueError(f"target {spec.name!r} gives no 'image' or 'build'")
        super().__init__(
            spec, stack, partner_port=partner_port, partner_callers=partner_callers
        )
        self.image: str | None = None
        self._labels: dict[str, str] = {}

    def start(self) -> None:
        if self.image is None:
            self.image = target_image(self.spec)
            self._labels = prepare_run()
        super().start()

    def _base_env(self) -> dict[str, str]:
        return self._contract_env()  # the harness's own environment stays out

    def _spawn(self, name: str, argv: tuple[str, ...], env: dict[str, str]) -> None:
        assert self.image is not None
        process = ContainerProcess(
            name, self.image, command=list(argv) or None, env=env,
            labels={**self._labels, "failmodel.target": self.spec.name},
        )
        self._processes[name] = self._stack.register(process)
        process.start()
