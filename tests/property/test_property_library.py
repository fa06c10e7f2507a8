"""The invariant library's types, by property: runs of correct targets are never
judged invalid (and, with no lost answer, always valid); each mutation of
library_models.py is judged invalid by the invariants it names, with
evidence naming the mutated key; and the built-ins declared in TOML
(docs/examples/builtins.toml) judge every run of the contract's workloads
exactly as the built-ins do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from draft import Run
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from library_models import LIBRARY_CHECKERS, LIBRARY_MUTATIONS, LIBRARY_RUNS, LibraryMutation
from models import RUNS, WORKLOADS
from wellformed import problems

from invariants import APPLIES_TO, CHECKERS, check
from invariants._inventory import check_acknowledged_orders
from invariants._matching import check_acknowledged_matches
from invariants._payments import check_acknowledged_payments
from invariants.library import load_invariants, sharing

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXAMPLES = 200
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
LIBRARY = tuple(LIBRARY_RUNS)


def _judge(run: Run) -> list[Any]:
    with sharing():
        return [
            c(run.history, run.final, run.ledgers) for c in LIBRARY_CHECKERS[run.workload].values()
        ]


@pytest.mark.parametrize("workload", LIBRARY)
def test_library_runs_are_well_formed(workload: str) -> None:
    @SETTINGS
    @given(LIBRARY_RUNS[workload]())
    def well_formed(run: Run) -> None:
        assert problems(run) == []

    well_formed()


@pytest.mark.parametrize("workload", LIBRARY)
def test_no_library_invariant_calls_a_correct_run_invalid(workload: str) -> None:
    @SETTINGS
    @given(LIBRARY_RUNS[workload]())
    def no_false_alarm(run: Run) -> None:
        assert [f"{v.invariant}: {v.summary}" for v in _judge(run) if v.status == "invalid"] == []

    no_false_alarm()


@pytest.mark.parametrize("workload", LIBRARY)
def test_without_lost_answers_every_library_invariant_is_valid(workload: str) -> None:
    @SETTINGS
    @given(LIBRARY_RUNS[workload](chaos=0))
    def all_valid(run: Run) -> None:
        assert [
            f"{v.invariant}: {v.status}: {v.summary}" for v in _judge(run) if v.status != "valid"
        ] == []

    all_valid()


def _mutate(mutation: LibraryMutation, run: Run, data: st.DataObject) -> tuple[Run, str] | None:
    draft = run.draft.copy()

    def pick(options: Sequence[Any]) -> Any:
        return data.draw(st.sampled_from(options), label=f"{mutation.name} target")

    key = mutation.apply(draft, run, pick)
    return None if key is None else (draft.freeze(), key)


@pytest.mark.parametrize("workload", LIBRARY)
def test_every_library_mutation_is_caught(workload: str) -> None:
    mutations = [m for m in LIBRARY_MUTATIONS if m.workload == workload]

    @SETTINGS
    @given(run=LIBRARY_RUNS[workload](), data=st.data())
    def caught(run: Run, data: st.DataObject) -> None:
        misses = []
        for mutation in mutations:
            result = _mutate(mutation, run, data)
            if result is None:
                continue
            mutated, key = result
            misses += [f"{mutation.name}: {p}" for p in problems(mutated)]
            checkers = LIBRARY_CHECKERS[workload]
            for name in mutation.expect:
                verdict = checkers[name](mutated.history, mutated.final, mutated.ledgers)
                named = any(key in e.keys for e in verdict.evidence)
                if verdict.status != "invalid" or not named:
                    misses.append(
                        f"{mutation.name}: {name} is {verdict.status}"
                        f"{'' if named else f' without evidence naming {key}'}: {verdict.summary}"
                    )
        assert misses == []

    caught()


@pytest.mark.parametrize("mutation", LIBRARY_MUTATIONS, ids=lambda m: m.name)
def test_each_library_mutation_finds_targets(mutation: LibraryMutation) -> None:
    def applies(run: Run) -> bool:
        draft = run.draft.copy()
        key = mutation.apply(draft, run, lambda options: options[0])
        if key is None:
            return False
        assert problems(draft.freeze()) == [], mutation.name
        return True

    find(
        LIBRARY_RUNS[mutation.workload](),
        applies,
        settings=settings(max_examples=500, deadline=None, database=None, phases=[Phase.generate]),
    )


TOML = load_invariants(Path(__file__).parents[2] / "docs" / "examples" / "builtins.toml")
PYTHON = {
    **CHECKERS,
    "acknowledged_orders": check_acknowledged_orders,
    "acknowledged_payments": check_acknowledged_payments,
    "acknowledged_matches": check_acknowledged_matches,
}
ACKNOWLEDGED = {
    "inventory": "acknowledged_orders",
    "payments": "acknowledged_payments",
    "matching": "acknowledged_matches",
}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_the_builtins_in_toml_judge_every_run_as_the_builtins(workload: str) -> None:
    names = [n for n in TOML if n in APPLIES_TO and workload in APPLIES_TO[n]] + [
        ACKNOWLEDGED[workload]
    ]

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(RUNS[workload]())
    def same(run: Run) -> None:
        for name in names:
            ours = TOML[name](run.history, run.final, run.ledgers)
            theirs = PYTHON[name](run.history, run.final, run.ledgers)
            assert replace(ours, invariant=theirs.invariant) == theirs, name

    same()


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_shared_index_judges_as_separate_ones(workload: str) -> None:
    """``check`` (one index for all) and each checker on its own agree."""
    names = [n for n in CHECKERS if workload in APPLIES_TO[n]]

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(RUNS[workload]())
    def same(run: Run) -> None:
        shared = check(names, run.history, run.final, run.ledgers)
        alone = [CHECKERS[n](run.history, run.final, run.ledgers) for n in names]
        assert list(shared) == alone

    same()
