"""A workload the harness never saw, end to end: the counter service of
docs/workloads.md, declared in the design's TOML only, run against a real
process -- setup, drawn operations with retries, classification, final reads
-- and the history and final state carry what a checker needs (here: the
counters' accounting, which exposes the ``double`` variant)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from harness.design import load_design
from harness.schedule.model import Schedule
from harness.schedule.runner import ExampleOutcome, ExampleRunner
from harness.schedule.strategies import schedules
from harness.setup import Binaries
from harness.testing import open_system
from harness.workload.keys import new_run_id
from invariants._common import answer, body

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "toy_counter.py"

DESIGN = f"""\
name = "counter"
workload = {{ file = "counter.toml" }}

[target]
command = ["{{python}}", "{TOY}"]
variants = ["correct", "double"]
start_timeout_s = 20
settle_timeout_s = 5

[[rows]]
id = "client-retry"
taxonomy = "client_retry_timeout"
failure_mode = "The client times out and resends the same increment"
can_happen = "Yes"
correct_behaviour = "The counter grows once"
mechanism = "increment_id remembered with its answer"
recovery = "Deduplicate by increment_id"
faults = ["retry", "client_timeout"]
invariants = ["consistent_reads"]
exercised_by = ["retries"]
"""


def counter_toml() -> str:
    docs = (ROOT / "docs" / "workloads.md").read_text()
    blocks = [b.split("```", 1)[0] for b in docs.split("```toml\n")[1:]]
    return next(b for b in blocks if b.startswith("# counter.toml"))


def play(tmp_path: Path, variant: str, examples: int) -> list[ExampleOutcome]:
    folder = tmp_path / "designs"
    folder.mkdir()
    (folder / "counter.toml").write_text(counter_toml())
    (folder / "counter.design.toml").write_text(DESIGN)
    design = load_design(folder / "counter.design.toml")
    row = design.rows[0]
    outcomes: list[ExampleOutcome] = []
    with (
        open_system(design, variant) as sut,
        ExampleRunner(
            sut.live,
            workload=design.workload,
            invariants=row.invariants,
            out_dir=tmp_path / "out",
            run_id=new_run_id(),
            settle_timeout_s=design.target.settle_timeout_s,
        ) as runner,
    ):

        @settings(max_examples=examples, database=None, phases=(Phase.generate,),
                  deadline=None, suppress_health_check=list(HealthCheck))
        @seed(20261121)
        @given(schedule=schedules(design.workload, row.families, row.shape))
        def example(schedule: Schedule) -> None:
            outcomes.append(runner.run(schedule))

        example()
    return outcomes


def accounting(outcome: ExampleOutcome) -> dict[str, tuple[int, int, int]]:
    """Per counter: (lowest, highest, final value), from the history alone:
    initial + the increments answered ok .. + those whose answers were lost."""
    ops = outcome.history.operations()
    initial = {body(op)["counter"]: body(op)["value"] for op in ops if op.f == "create"}
    by_id: dict[str, list[object]] = {}
    for op in ops:
        if op.f == "add":
            by_id.setdefault(body(op)["increment_id"], []).append(op)
    low, high = dict(initial), dict(initial)
    for attempts in by_id.values():
        first = body(attempts[0])  # type: ignore[arg-type]
        outcomes = {a.outcome for a in attempts}  # type: ignore[attr-defined]
        if "ok" in outcomes:
            low[first["counter"]] += first["by"]
            high[first["counter"]] += first["by"]
        elif "fail" not in outcomes:
            high[first["counter"]] += first["by"]
    final = outcome.final.of("counters")
    return {c: (low[c], high[c], final[c]["value"]) for c in initial if final.get(c)}


def test_a_workload_of_its_own_runs_end_to_end(tmp_path: Path, binaries: Binaries) -> None:
    outcomes = play(tmp_path, "correct", examples=4)
    assert len(outcomes) == 4
    for outcome in outcomes:
        assert not outcome.failed, [v.summary for v in outcome.verdicts]
        ops = outcome.history.operations()
        created = [op for op in ops if op.f == "create"]
        assert created and all(op.outcome == "ok" for op in created)
        assert all(op.outcome in ("ok", "fail", "info") for op in ops)
        for op in ops:
            if op.f == "add" and op.outcome == "ok":
                assert answer(op)["increment_id"] == body(op)["increment_id"]
        # Every created counter was read back, from the final phase.
        assert set(outcome.final.of("counters")) == {body(op)["counter"] for op in created}
        for counter, (low, high, value) in accounting(outcome).items():
            assert low <= value <= high, (counter, low, high, value)
    assert sum(o.coverage.get("retries", 0) for o in outcomes) > 0


def test_its_data_shows_the_double_variant(tmp_path: Path, binaries: Binaries) -> None:
    outcomes = play(tmp_path, "double", examples=6)
    over = [
        (counter, low, high, value)
        for outcome in outcomes
        for counter, (low, high, value) in accounting(outcome).items()
        if value > high
    ]
    assert over, "a resent increment counted twice shows in the final state"
