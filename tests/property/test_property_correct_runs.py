"""No false alarms: every checker that applies to a workload judges every run
of a correct target ``valid`` or ``unknown``, never ``invalid``."""

from __future__ import annotations

import pytest
from draft import Run
from hypothesis import HealthCheck, assume, given, settings
from models import RUNS, WORKLOADS
from wellformed import problems

from invariants import APPLIES_TO, CHECKERS, check

# A run's repr is its whole history (draft.describe): long, and wanted in failures.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXAMPLES = 300
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def applicable(workload: str) -> list[str]:
    """Every registered checker for ``workload`` (new ones join by registering)."""
    return [name for name in CHECKERS if workload in APPLIES_TO[name]]


def _invalid(run: Run) -> list[str]:
    return [
        f"{v.invariant}: {v.summary}"
        for v in check(applicable(run.workload), run.history, run.final, run.ledgers)
        if v.status == "invalid"
    ]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_generated_runs_are_well_formed(workload: str) -> None:
    @SETTINGS
    @given(RUNS[workload]())
    def runs_are_well_formed(run: Run) -> None:
        assert problems(run) == []

    runs_are_well_formed()


@pytest.mark.parametrize("workload", WORKLOADS)
def test_no_checker_calls_a_correct_run_invalid(workload: str) -> None:
    @SETTINGS
    @given(RUNS[workload]())
    def no_false_alarm(run: Run) -> None:
        assert _invalid(run) == []

    no_false_alarm()


@pytest.mark.parametrize("workload", WORKLOADS)
def test_without_lost_answers_every_checker_is_valid(workload: str) -> None:
    """With every answer and every final read determinate (faults may still run, and
    late effects, retries and replicas are all there), no checker may even be unsure."""

    @SETTINGS
    @given(RUNS[workload](chaos=0))
    def all_valid(run: Run) -> None:
        # A 404 for a user's matches is no documented answer (the contract lists
        # only 200): the key stays unknown, rightly, so such runs do not count.
        assume(
            not any(
                op.f == "read_matches"
                and op.invoke.phase == "final"
                and op.response.get("status") == 404
                for op in run.history.operations()
            )
        )
        verdicts = check(applicable(workload), run.history, run.final, run.ledgers)
        assert [
            f"{v.invariant}: {v.status}: {v.summary}" for v in verdicts if v.status != "valid"
        ] == []

    all_valid()
