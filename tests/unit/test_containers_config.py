"""The containers backend's configuration: design keys, FAILMODEL_IMAGES, Dockerfile bases."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.design import InvalidDesign, load_design
from harness.targetproc.spec import TargetSpec

ROOT = Path(__file__).resolve().parents[2]

DESIGN = """
name = "boxed"
workload = "inventory"

[target]
{target}
variants = ["correct"]
dependencies = ["postgres"]

[target.extra]
relay = ["python", "-m", "shop", "relay"]

[services]
{services}

[[rows]]
id = "crash"
failure_mode = "A replica crashes"
can_happen = "Yes"
correct_behaviour = "Acknowledged orders survive"
mechanism = "Durable commit"
recovery = "Restart"
taxonomy = "infrastructure_failure"
faults = ["crash:target-*", "pause:relay"]
invariants = ["acknowledged_writes_survive"]
"""


def load(tmp_path: Path, target: str, services: str = "") -> object:
    path = tmp_path / "designs" / "boxed.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(DESIGN.format(target=target, services=services))
    return load_design(path)


def test_an_image_target_needs_no_command(tmp_path: Path) -> None:
    design = load(tmp_path, 'image = "shop:1"')
    spec = design.target_spec()  # type: ignore[attr-defined]
    assert spec.image == "shop:1" and spec.command == () and spec.in_container
    assert spec.extra["relay"] == ("python", "-m", "shop", "relay")


def test_a_build_target_resolves_its_context_and_dockerfile(tmp_path: Path) -> None:
    design = load(tmp_path, 'build = "ctx"\ndockerfile = "df/Dockerfile"\ncommand = ["serve"]')
    spec = design.target_spec()  # type: ignore[attr-defined]
    assert spec.build == (tmp_path / "ctx").resolve()
    assert spec.dockerfile == (tmp_path / "df" / "Dockerfile").resolve()
    assert spec.command == ("serve",)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ('image = "a:1"\nbuild = "ctx"', "give 'image' or 'build', not both"),
        ('command = ["x"]\ndockerfile = "Dockerfile"', "'dockerfile' needs 'build'"),
        ('image = "a:1"\ncommand = ["{python}", "-m", "x"]', "without placeholders"),
        ('variants_typo = 1\ncommand = ["x"]', "unknown key"),
        ('build = "ctx"\nprepare = ["make"]', "the image is the build: drop 'prepare'"),
    ],
)
def test_bad_container_targets_are_explained(tmp_path: Path, target: str, message: str) -> None:
    with pytest.raises(InvalidDesign, match=message):
        load(tmp_path, target)


def test_services_images_are_checked(tmp_path: Path) -> None:
    design = load(tmp_path, 'command = ["x"]', 'images = { postgres = "postgres:16" }')
    assert dict(design.services.images) == {"postgres": "postgres:16"}  # type: ignore[attr-defined]
    with pytest.raises(InvalidDesign, match="a table of service = image"):
        load(tmp_path, 'command = ["x"]', 'images = { mysql = "mysql:8" }')


def test_the_example_container_design_loads() -> None:
    design = load_design(ROOT / "examples" / "checkout-container.toml")
    spec = design.target_spec("read_then_write")
    assert spec.build == ROOT / "targets"
    assert spec.dockerfile == ROOT / "examples" / "checkout-container" / "Dockerfile"
    assert set(spec.extra) == {"relay", "consumer"}
    assert [r.id for r in design.rows] == [r.id for r in load_design(
        ROOT / "designs" / "checkout.toml").rows]


def test_a_target_spec_without_command_or_image_is_refused() -> None:
    with pytest.raises(ValueError, match="'command' must be a non-empty sequence"):
        TargetSpec(name="t", command=())


def test_failmodel_images_parses_and_refuses_unknown_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("testcontainers")
    from harness.provision.containers import images_from_env

    monkeypatch.setenv("FAILMODEL_IMAGES", "postgres=postgres:16, redis=redis:7")
    assert images_from_env() == {"postgres": "postgres:16", "redis": "redis:7"}
    monkeypatch.setenv("FAILMODEL_IMAGES", "mysql=mysql:8")
    with pytest.raises(ValueError, match="FAILMODEL_IMAGES must be"):
        images_from_env()


def test_dockerfile_bases_are_found_with_their_arguments() -> None:
    pytest.importorskip("testcontainers")
    from harness.targetproc.containers import _missing_bases

    class Engine:
        def image_exists(self, reference: str) -> bool:
            return reference == "failmodel/python:abc"

    text = (
        "ARG FAILMODEL_PYTHON_IMAGE\nFROM ${FAILMODEL_PYTHON_IMAGE} AS build\n"
        "FROM build\nFROM python:3.11-slim\nFROM scratch\n"
    )
    args = {"FAILMODEL_PYTHON_IMAGE": "failmodel/python:abc"}
    assert _missing_bases(text, args, Engine()) == ["python:3.11-slim"]  # type: ignore[arg-type]
