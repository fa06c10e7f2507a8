"""Fuzzing the harness's readers: a mutated design file loads or is refused
with one line naming the file; a mutated schedule is read or refused with
``InvalidSchedule``; a command line starts or is refused in one line. Never
a traceback, a hang, or nonsense accepted.

The CI budget runs a few thousand inputs in seconds; set
``FAILMODEL_FUZZ_EXAMPLES`` (per test) for a larger run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from fuzz_inputs import (
    classify_design,
    classify_schedule,
    counter_workload,
    design_texts,
    json_values,
    mutated_schedule_json,
    schedule_problems,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import harness.system
import harness.verify
from harness.cli import main
from harness.schedule.decode import schedule_from_json
from harness.schedule.families import ALL_FAMILIES, CLIENT_FAMILIES, Topology, parse_families
from harness.schedule.model import Schedule
from harness.schedule.shape import Shape
from harness.schedule.strategies import SHAPE_KEYS_LIMIT, SHAPE_LIMITS, schedules
from harness.workload.builtin import BUILTIN

EXAMPLES = int(os.environ.get("FAILMODEL_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> settings:
    """``examples`` inputs (or ``FAILMODEL_FUZZ_EXAMPLES``). Hangs are caught by
    fuzz_inputs.deadline (SIGALRM), not by Hypothesis's timing, which a loaded
    two-core machine would make flaky."""
    return settings(
        max_examples=EXAMPLES or examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


TOPOLOGY = Topology(
    links=("postgres", "redis", "kafka", "partner", "target-0", "target-1"),
    processes=("target-0", "target-1", "consumer", "postgres", "redis", "kafka"),
    has_partner=True,
    consumers=("consumer",),
)
_NAMED = {"redelivery": "consumer"}
FAMILIES = parse_families(
    [
        k if k in (*CLIENT_FAMILIES, "cache_loss", "partner") else f"{k}:{_NAMED.get(k, '*')}"
        for k in ALL_FAMILIES
    ],
    TOPOLOGY,
)
LARGEST = Shape(
    **{k: high for k, (_, high) in SHAPE_LIMITS.items()},
    keys={kind: SHAPE_KEYS_LIMIT[1] for w in BUILTIN.values() for kind in w.keys},
)


def valid_schedules(shape: Shape) -> st.SearchStrategy[Schedule]:
    """What the strategies draw for ``shape``, every workload, every family."""
    return st.sampled_from(("inventory", "payments", "matching")).flatmap(
        lambda workload: schedules(workload, FAMILIES, shape)
    )


@pytest.fixture(scope="module")
def design_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "designs"
    folder.mkdir()
    return folder / "fuzzed.toml"


def test_fuzzed_design_files_load_or_fail_with_one_line(design_path: Path) -> None:
    @fuzz(2000)
    @given(text=design_texts())
    def check(text: bytes) -> None:
        design_path.write_bytes(text)
        assert classify_design(design_path) in ("ok", "refused")

    check()


@fuzz(1000)
@given(data=json_values())
def test_any_json_value_is_a_schedule_or_invalid_schedule(data: object) -> None:
    assert classify_schedule(data, schedule_problems) in ("ok", "refused")


@fuzz(400)
@given(data=mutated_schedule_json(valid_schedules(Shape())))
def test_mutated_schedules_are_read_or_refused(data: object) -> None:
    assert classify_schedule(data, schedule_problems) in ("ok", "refused")


COUNTER = counter_workload()


def counter_problems(schedule: Schedule) -> list[str]:
    """An accepted counter schedule reads back as itself."""
    data = schedule.to_json()
    return [] if schedule_from_json(data, COUNTER) == schedule else ["another schedule"]


@fuzz(300)
@given(data=mutated_schedule_json(schedules(COUNTER, FAMILIES, Shape())))
def test_mutated_schedules_of_a_workload_of_ones_own_are_read_or_refused(data: object) -> None:
    assert classify_schedule(data, counter_problems, COUNTER) in ("ok", "refused")


@fuzz(20)
@given(schedule=valid_schedules(LARGEST))
def test_schedules_of_the_largest_shape_read_back(schedule: Schedule) -> None:
    """The schedule limits leave room for what the largest allowed shape draws."""
    assert classify_schedule(schedule.to_json(), schedule_problems) == "ok"
    assert schedule_from_json(schedule.to_json()) == schedule


class Started(BaseException):
    """The command line got as far as starting the system (BaseException: verify
    reports an Exception from a failed start and goes on)."""


def start(*args: object, **kwargs: object) -> None:
    raise Started


def test_fuzzed_command_lines_are_refused_in_one_line_or_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for module in (harness.system, harness.verify):
        monkeypatch.setattr(module, "LiveSystem", start)
    monkeypatch.setattr(harness.verify, "verify_design", start)
    schedule = tmp_path / "s.json"
    schedule.write_text(json.dumps({"workload": "inventory", "setup": {"stock": [1]}}))
    design = str(Path(__file__).resolve().parents[2] / "designs" / "checkout.toml")
    tokens = [
        "verify", "replay", design, str(schedule), str(schedule / "x"), str(tmp_path),
        "--design", "--row", "client-retry", "nope", "--variant", "correct", "dual_write",
        "../x", "--times", "0", "1", "1001", "--seed", "-1", str(2**64), "--profile", "ci",
        "fast", "--out", str(tmp_path / "out"), "x\0y", "", "--times=5", "--row=", "x" * 5000,
    ]

    @fuzz(300)
    @given(argv=st.lists(st.sampled_from(tokens), max_size=8))
    def check(argv: list[str]) -> None:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except Started:
            return
        assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()

    check()
