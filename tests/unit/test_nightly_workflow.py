"""docs/examples/nightly.yml: a real GitHub Actions workflow whose failmodel
commands all exist (parsed with the CLI's own argparse parser)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "nightly.yml"
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
SCRIPT_ONLY = ("test", "env")  # handled by scripts/failmodel itself, not the CLI


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def resolve(text: str, workflow: dict[Any, Any]) -> str:
    """Replace ``${{ ... }}`` by what it stands for in a nightly run (a design name,
    the profile) or a placeholder word."""

    def value(match: re.Match[str]) -> str:
        expr = match[1]
        if expr == "matrix.design":
            return "checkout"
        if expr == "env.PROFILE":
            return "nightly" if "'nightly'" in workflow["env"]["PROFILE"] else "?"
        return "X"

    return _EXPRESSION.sub(value, text)


def failmodel_commands(workflow: dict[Any, Any]) -> list[list[str]]:
    found = []
    for step in steps(workflow):
        for line in str(step.get("run", "")).splitlines():
            line = resolve(line, workflow)
            match = re.search(r"(?:scripts/)?failmodel\s+\S.*", line)
            if match:
                found.append(shlex.split(match[0])[1:])
    return found


def test_every_failmodel_command_exists_in_the_cli(workflow: dict[Any, Any]) -> None:
    commands = failmodel_commands(workflow)
    assert {c[0] for c in commands} >= {"setup", "doctor", "list", "verify"}
    parser = cli._parser()
    for argv in commands:
        if argv[0] in SCRIPT_ONLY:
            continue
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"not a valid failmodel command: {shlex.join(argv)}")


def test_nightly_schedule_cache_matrix_profile_artifacts_junit_and_notification(
    workflow: dict[Any, Any],
) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers["schedule"][0]["cron"]
    (verify,) = [c for c in failmodel_commands(workflow) if c[0] == "verify"]
    args = cli._parser().parse_args(verify)
    assert args.profile == "nightly"
    assert args.designs == [Path("designs/checkout.toml")]
    assert args.out == Path("reports")
    chaos = workflow["jobs"]["chaos"]
    assert chaos["strategy"]["matrix"]["design"] == ["checkout", "payments", "matching"]
    assert chaos["strategy"]["fail-fast"] is False
    for design in chaos["strategy"]["matrix"]["design"]:
        assert (ROOT / "designs" / f"{design}.toml").is_file()

    uses = {s.get("uses", "").split("@")[0]: s for s in steps(workflow)}
    cache = uses["actions/cache"]["with"]
    assert cache["path"] == "${{ env.FAILMODEL_CACHE }}" and "FAILMODEL_CACHE" in workflow["env"]
    assert "requirements.lock" in cache["key"]
    upload = uses["actions/upload-artifact"]
    assert upload["with"]["path"] == "reports/" and upload["if"] == "always()"
    junit = uses["mikepenz/action-junit-report"]
    assert junit["if"] == "always()"
    assert resolve(junit["with"]["report_paths"], workflow) == str(args.junit)
    notify = workflow["jobs"]["notify"]
    assert notify["needs"] == "chaos" and notify["if"] == "failure()"
