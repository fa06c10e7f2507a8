"""Running a test module on both backends: ``backend_name = both_backends()`` in it.

The containers backend's tests are chosen to fit CI's budget (docs/containers.md):
every service through its proxy, crash / restart / pause with their data
outcomes, a killed harness's containers, the reference designs' correct
variants and one buggy variant per design, and the example container target.
"""

from __future__ import annotations

from typing import Any

import pytest

BOTH_BACKENDS = ("local", "containers")


def both_backends() -> Any:
    """A module-level ``backend_name`` fixture that runs the module's stack tests on
    local processes and on containers (the containers' set-up is cached)."""

    @pytest.fixture(scope="session", params=BOTH_BACKENDS)
    def backend_name(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    return backend_name
