"""The pytest plugin through ``pytester``: options, collection, and how verdicts become outcomes.

Design files are real files loaded by the real loader. Verification itself
needs the whole stack (covered by the integration tests), so the run tests
replace only the two outside-world boundaries, ``LiveSystem`` and
``verify_row``, with recorders; everything between them is the plugin's own.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import harness.system
import harness.verify
from harness.design import Design, Row
from harness.pytest_plugin import failure_message
from harness.report import Counterexample, RowResult, RowStatus
from harness.targetproc.spec import TargetSpec
from invariants import Evidence, Verdict

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "harness.pytest_plugin")


def row_toml(row_id: str) -> str:
    return f"""
[[rows]]
id = "{row_id}"
taxonomy = "client_retry_timeout"
failure_mode = "Client resends order {row_id}"
can_happen = "Yes"
correct_behaviour = "Same outcome as the first attempt"
mechanism = "Idempotency check on order_id"
recovery = "Refund the duplicate"
faults = ["retry", "client_timeout"]
invariants = ["idempotent_retry"]
"""


def design_toml(name: str, *row_ids: str) -> str:
    head = f"""
name = "{name}"
workload = "inventory"

[target]
command = ["{{python}}", "-m", "targets.{name}", "serve"]
variants = ["correct", "oversell"]
"""
    return head + "".join(row_toml(r) for r in row_ids)


@pytest.fixture(autouse=True)
def plugin_only_by_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs load the plugin by ``-p`` alone, installed or not (never twice)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


# -- options -------------------------------------------------------------------


def test_bad_profile_is_a_usage_error_naming_the_profiles(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", checkout=design_toml("checkout", "client-retry"))
    result = pytester.runpytest(*PLUGIN, "--failmodel-profile", "fast", "checkout.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--failmodel-profile must be one of dev, ci, nightly (got 'fast')*"]
    )


def test_bad_strategy_is_a_usage_error_naming_the_strategies(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", checkout=design_toml("checkout", "client-retry"))
    result = pytester.runpytest(*PLUGIN, "--failmodel-strategy", "chaos", "checkout.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--failmodel-strategy*invalid choice*'chaos'*guided*"])


def test_bad_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", checkout=design_toml("checkout", "client-retry"))
    result = pytester.runpytest(*PLUGIN, "--failmodel-seed", "0x1f", "checkout.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--failmodel-seed must be an integer*(got '0x1f')*"])


def test_options_are_in_one_group_and_the_marker_is_registered(
    pytester: pytest.Pytester,
) -> None:
    helped = pytester.runpytest(*PLUGIN, "--help")
    helped.stdout.fnmatch_lines(["failure-model verification of design files*"])
    for option in ("variant", "profile", "seed", "strategy", "report", "out", "allow-unexercised"):
        helped.stdout.fnmatch_lines([f"*--failmodel-{option}*"])
    pytester.runpytest(*PLUGIN, "--markers").stdout.fnmatch_lines(["@pytest.mark.failmodel_row*"])


# -- collection ------------------------------------------------------------------


def test_each_row_is_an_item_named_by_its_id(pytester: pytest.Pytester) -> None:
    path = pytester.makefile(
        ".toml", checkout=design_toml("checkout", "client-retry", "orders-interleave")
    )
    items, _ = pytester.inline_genitems(*PLUGIN, str(path))
    assert [i.name for i in items] == ["client-retry", "orders-interleave"]
    assert [i.nodeid for i in items] == [
        "checkout.toml::client-retry", "checkout.toml::orders-interleave"
    ]
    marks = [i.get_closest_marker("failmodel_row") for i in items]
    assert [m.args if m else None for m in marks] == [("client-retry",), ("orders-interleave",)]


def test_collect_only_provisions_nothing_and_markers_select_rows(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_provisioning(*args: object, **kwargs: object) -> None:
        raise AssertionError("collection must not provision")

    monkeypatch.setattr(harness.system, "LiveSystem", no_provisioning)
    pytester.makefile(".toml", checkout=design_toml("checkout", "client-retry", "node-crash"))
    result = pytester.runpytest(
        *PLUGIN, "--strict-markers", "--collect-only", "-q", "-m", "failmodel_row", "-k", "crash"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["checkout.toml::node-crash", "*1/2 tests collected*"])


def test_toml_files_that_are_not_designs_are_not_collected(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", checkout=design_toml("checkout", "client-retry"))
    pytester.makefile(".toml", pyproject='[project]\nname = "x"\n[tool.ruff]\nline-length = 100\n')
    pytester.makefile(".toml", broken="this is = = not toml\n")
    result = pytester.runpytest(*PLUGIN, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["checkout.toml::client-retry", "1 test collected*"])
    alone = pytester.runpytest(*PLUGIN, "--collect-only", "-q", "pyproject.toml")
    assert alone.ret == pytest.ExitCode.USAGE_ERROR  # pytest's answer to a path that holds no test
    alone.stderr.fnmatch_lines(["ERROR: not found: *pyproject.toml"])


def test_invalid_design_is_a_collection_error_naming_file_and_field(
    pytester: pytest.Pytester,
) -> None:
    text = design_toml("checkout", "client-retry").replace(
        'invariants = ["idempotent_retry"]', 'invariants = ["no_such_invariant"]'
    )
    pytester.makefile(".toml", checkout=text)
    result = pytester.runpytest(*PLUGIN, "--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting checkout.toml*",
        "*checkout.toml: rows?0? (id 'client-retry'): 'invariants' must be*no_such_invariant*",
    ])


def test_broken_toml_named_on_the_command_line_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", checkout='name = "checkout"\nworkload = = 1\n')
    result = pytester.runpytest(*PLUGIN, "--collect-only", "checkout.toml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*checkout.toml: line 2, column *: invalid TOML*"])
    walked = pytester.runpytest(*PLUGIN, "--collect-only", ".")
    assert walked.ret == pytest.ExitCode.NO_TESTS_COLLECTED, "met while walking: not ours"



def test_unknown_variant_is_a_collection_error_listing_the_variants(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".toml", checkout=design_toml("checkout", "client-retry"))
    result = pytester.runpytest(*PLUGIN, "--collect-only", "--failmodel-variant", "nope")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*checkout.toml: --failmodel-variant must be one of the design's target.variants "
        "correct, oversell (got 'nope')*"
    ])


# -- running (LiveSystem and verify_row recorded, not real) ---------------------------

STATUS_BY_ROW: dict[str, RowStatus] = {
    "passes": "PASS", "fails": "FAIL", "idle": "NOT EXERCISED", "breaks": "ERROR",
}


def make_counterexample(tmp: Path) -> Counterexample:
    verdict = Verdict(
        invariant="idempotent_retry",
        status="invalid",
        summary="1 of 3 retried orders had a different outcome",
        evidence=tuple(
            Evidence(message=f"order o-{i} accepted twice", keys=(f"o-{i}",), op_ids=(i,))
            for i in range(5)
        ),
    )
    return Counterexample(
        schedule_lines=("t=0.0 client_timeout 0.2s", "t=0.1 retry order o-1"),
        schedule_path=tmp / "min.schedule.json",
        history_path=tmp / "min.jsonl",
        verdicts=(Verdict(invariant="no_oversell", status="valid", summary="ok"), verdict),
        reproduced=2,
        attempts=3,
    )


def make_result(row: Row, status: RowStatus, seed: int, tmp: Path) -> RowResult:
    return RowResult(
        row_id=row.id, failure_mode=row.failure_mode, correct_behaviour=row.correct_behaviour,
        mechanism=row.mechanism, status=status, invariants=row.invariants, examples=4,
        duration_s=1.5, coverage={"retries": 0 if status == "NOT EXERCISED" else 3},
        counterexample=make_counterexample(tmp) if status == "FAIL" else None, seed=seed,
        replay_command=f"failmodel verify x.toml --row {row.id} --seed {seed}",
        error="RuntimeError: target-0 exited with status 1" if status == "ERROR" else None,
    )


class Recorder:
    """Stands in for LiveSystem and verify_row, and logs what the plugin asked of them."""

    def __init__(self, tmp: Path, fail_start: bool = False) -> None:
        self.tmp = tmp
        self.fail_start = fail_start
        self.events: list[str] = []
        self.seeds: list[int] = []

    def live_system(self, spec: TargetSpec, **kwargs: Any) -> FakeSystem:
        return FakeSystem(self, spec)

    def verify_row(
        self, system: FakeSystem, design: Design, row: Row, *, seed_: int, **kwargs: Any
    ) -> RowResult:
        self.events.append(f"row {row.id} on {system.spec.name}/{system.spec.variant}")
        self.seeds.append(seed_)
        if row.id == "found-then-stopped":  # a bug found, then SIGTERM in the search
            return replace(make_result(row, "FAIL", seed_, self.tmp), interrupted="SIGTERM")
        return make_result(row, STATUS_BY_ROW.get(row.id, "PASS"), seed_, self.tmp)


class FakeSystem:
    def __init__(self, recorder: Recorder, spec: TargetSpec) -> None:
        self.recorder = recorder
        self.spec = spec

    def __enter__(self) -> FakeSystem:
        self.recorder.events.append(f"start {self.spec.name}")
        if self.recorder.fail_start:
            raise RuntimeError("postgres did not become ready")
        return self

    def __exit__(self, *exc: object) -> None:
        self.recorder.events.append(f"stop {self.spec.name}")

    def ports(self) -> dict[str, int]:
        return {"target-0": 1000 + len(self.recorder.events)}

    def pids(self) -> dict[str, int]:
        return {"target-0": 7}


@pytest.fixture
def recorder(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder(pytester.path)
    monkeypatch.setattr(harness.system, "LiveSystem", rec.live_system)
    monkeypatch.setattr(harness.verify, "verify_row", rec.verify_row)
    return rec


def test_rows_of_a_file_share_one_system_stopped_after_its_last_row(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    pytester.makefile(".toml", a=design_toml("alpha", "one", "two"), b=design_toml("beta", "three"))
    result = pytester.runpytest(*PLUGIN, "--failmodel-variant", "oversell")
    result.assert_outcomes(passed=3)
    assert recorder.events == [
        "start alpha", "row one on alpha/oversell", "row two on alpha/oversell", "stop alpha",
        "start beta", "row three on beta/oversell", "stop beta",
    ]


def test_deselected_files_are_never_provisioned(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    pytester.makefile(".toml", a=design_toml("alpha", "one"), b=design_toml("beta", "three"))
    pytester.runpytest(*PLUGIN, "-k", "three").assert_outcomes(passed=1)
    assert recorder.events == ["start beta", "row three on beta/correct", "stop beta"]


def test_a_failed_start_errors_every_row_once_without_retrying(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    recorder.fail_start = True
    pytester.makefile(".toml", a=design_toml("alpha", "one", "two"))
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*RuntimeError: postgres did not become ready*"])
    assert recorder.events == ["start alpha"]


def test_verdicts_become_outcomes_with_readable_messages(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    pytester.makefile(".toml", a=design_toml("alpha", "passes", "fails", "idle", "breaks"))
    result = pytester.runpytest(*PLUGIN, "--failmodel-seed", "77", "--failmodel-report", "out")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([
        "*_ alpha::fails _*",
        "row fails FAIL: Client resends order fails",
        "  idempotent_retry invalid: 1 of 3 retried orders had a different outcome",
        "    - order o-0 accepted twice",
        "*2 more in the report",
        "minimal schedule:",
        "  t=0.0 client_timeout 0.2s",
        "reproduced 2/3 replays of the minimal schedule",
        "*seed 77; replay: failmodel verify x.toml --row fails --seed 77",
    ])
    result.stdout.fnmatch_lines([
        "row idle NOT EXERCISED: *(retries) went above 0 in 4 examples*"
        "pass --failmodel-allow-unexercised to skip such rows instead of failing",
    ])
    result.stdout.fnmatch_lines(["row breaks ERROR*", "RuntimeError: target-0 exited*"])
    assert recorder.seeds == [77, 77, 77, 77]
    report = json.loads((pytester.path / "out" / "alpha-correct" / "report.json").read_text())
    assert [r["status"] for r in report["rows"]] == ["PASS", "FAIL", "NOT EXERCISED", "ERROR"]


def test_a_row_that_failed_before_a_stop_signal_is_reported_and_no_row_runs_after(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    pytester.makefile(".toml", a=design_toml("alpha", "found-then-stopped", "passes"))
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Interrupted: row found-then-stopped interrupted by SIGTERM*"])
    assert "row passes on alpha/correct" not in recorder.events


def test_allow_unexercised_skips_instead_of_failing(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    pytester.makefile(".toml", a=design_toml("alpha", "idle", "passes"))
    result = pytester.runpytest(*PLUGIN, "-rs", "--failmodel-allow-unexercised")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*NOT EXERCISED*allowed by --failmodel-allow-unexercised*"])


def test_row_line_is_attached_to_the_report_as_strings(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    pytester.makefile(".toml", a=design_toml("alpha", "passes", "idle"))
    reprec = pytester.inline_run(*PLUGIN)
    calls = [r for r in reprec.getreports("pytest_runtest_logreport") if r.when == "call"]
    first, second = recorder.seeds
    assert second == first + 1, "without --failmodel-seed each row gets base seed + its index"
    assert [[p for p in r.user_properties if p[0] == "failmodel"] for r in calls] == [
        [("failmodel", f"passes: PASS (4 examples, 1.5 s, seed {first})")],
        [("failmodel", f"idle: NOT EXERCISED (4 examples, 1.5 s, seed {second})")],
    ]
    systems = [dict(r.user_properties)["failmodel_system"] for r in calls]
    assert [s["worker"] for s in systems] == ["main", "main"]
    assert systems[0]["pids"] == {"target-0": 7}
    assert all(s["started"] <= s["ended"] for s in systems)
    assert systems[0]["run_dir"].endswith("alpha-correct")
    assert ("Captured failmodel call", f"passes: PASS (4 examples, 1.5 s, seed {first})") in (
        calls[0].sections
    )


def test_failure_message_reports_unknown_verdicts_after_invalid_ones(tmp_path: Path) -> None:
    design_file = tmp_path / "designs" / "x.toml"
    design_file.parent.mkdir()
    design_file.write_text(design_toml("x", "fails"))
    from harness.design import load_design

    row = load_design(design_file).row("fails")
    result = make_result(row, "FAIL", 5, tmp_path)
    assert result.counterexample is not None
    unknown = Verdict(invariant="stock_accounting", status="unknown", summary="no final read")
    cx = result.counterexample
    object.__setattr__(cx, "verdicts", (unknown, *cx.verdicts))
    text = failure_message(row, result)
    assert text.index("idempotent_retry invalid") < text.index("stock_accounting unknown")
    assert "no_oversell" not in text, "valid verdicts are not part of the explanation"


def test_profile_names_are_the_profiles_of_verify() -> None:
    """The plugin names the profiles without importing the heavy verify module at startup."""
    from harness.pytest_plugin import PROFILE_NAMES
    from harness.verify import PROFILES

    assert tuple(PROFILES) == PROFILE_NAMES


def test_junitxml_names_rows_as_failmodel_verify_junit_does(
    pytester: pytest.Pytester, recorder: Recorder
) -> None:
    """``pytest x.toml --junitxml=F`` and ``failmodel verify --junit F`` show CI the
    same testcases (classname = design, name = row) with the same outcomes."""
    import xml.etree.ElementTree as ET

    from harness.report import render_junit, report_from_json

    pytester.makefile(".toml", a=design_toml("alpha", "passes", "fails", "idle", "breaks"))
    result = pytester.runpytest(
        *PLUGIN, "--junitxml=pytest.xml", "--failmodel-out", "out", "--failmodel-allow-unexercised"
    )
    result.assert_outcomes(passed=1, failed=2, skipped=1)

    def outcomes(root: ET.Element) -> list[tuple[str | None, str | None, str]]:
        found = []
        for case in root.iter("testcase"):
            kind = next(
                (c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed"
            )
            found.append((case.get("classname"), case.get("name"), kind))
        return found

    ours = report_from_json(
        json.loads((pytester.path / "out" / "alpha-correct" / "report.json").read_text())
    )
    expected = [
        ("alpha", "passes", "passed"),
        ("alpha", "fails", "failure"),
        ("alpha", "idle", "skipped"),
        ("alpha", "breaks", "failure"),
    ]
    assert outcomes(ET.parse(pytester.path / "pytest.xml").getroot()) == expected
    assert outcomes(ET.fromstring(render_junit([ours]))) == expected
