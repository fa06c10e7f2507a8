"""requirements.lock pins every dependency pyproject.toml declares, inside its range.

The lock is what ``scripts/failmodel`` installs (``pip install --require-hashes``),
so a dependency added to pyproject.toml without regenerating the lock would be
missing from every laptop's and CI's environment. Regenerate it with:

    uv pip compile pyproject.toml --extra dev --extra containers --universal \\
        --python-version 3.11 --generate-hashes --no-header -o requirements.lock
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    names = project["dependencies"] + extras.get("dev", []) + extras.get("containers", [])
    return [Requirement(r) for r in names]


def locked() -> dict[str, list[Version]]:
    pins: dict[str, list[Version]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return pins


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    pins = locked()
    problems = []
    for req in declared():
        versions = pins.get(canonicalize_name(req.name))
        if not versions:
            problems.append(f"{req} is not in requirements.lock")
            continue
        problems += [
            f"{req}: locked {v} is outside the range" for v in versions if v not in req.specifier
        ]
        for extra in req.extras:  # psycopg[binary] -> psycopg-binary
            if canonicalize_name(f"{req.name}-{extra}") not in pins:
                problems.append(f"{req}: the extra's package {req.name}-{extra} is not locked")
    assert not problems, "regenerate requirements.lock (see this test's docstring):\n" + "\n".join(
        problems
    )


def test_every_pin_has_hashes() -> None:
    text = (ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    pinned = [b for b in blocks if _PIN.match(b)]
    assert pinned and all("--hash=sha256:" in b for b in pinned)
