"""No blind spots: each mutation of a correct run (mutations.py) is judged
``invalid`` by the invariants it breaks, with evidence naming the mutated key.

One property per workload draws a correct run and applies, each to its own
copy, every enforced mutation the run offers a target for; so every example
tests several mutations and generation is paid once. ``test_each_mutation_
finds_targets`` makes sure no mutation is dead (never applicable).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from draft import Run
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from models import RUNS, WORKLOADS
from mutations import MUTATIONS, Mutation
from wellformed import problems

from invariants import APPLIES_TO, CHECKERS, check

# A run's repr is its whole history (draft.describe): long, and wanted in failures.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXAMPLES = 300
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def mutate(mutation: Mutation, run: Run, data: st.DataObject) -> tuple[Run, str] | None:
    """``mutation`` applied to a copy of ``run``: the mutated run and the key, or None."""
    draft = run.draft.copy()

    def pick(options: Sequence[Any]) -> Any:
        return data.draw(st.sampled_from(options), label=f"{mutation.name} target")

    key = mutation.apply(draft, run, pick)
    return None if key is None else (draft.freeze(), key)


def caught(mutation: Mutation, mutated: Run, key: str) -> list[str]:
    """Why ``mutated`` is not caught as ``mutation`` expects ([] when it is)."""
    out = []
    for verdict in check(
        mutation.expect,
        mutated.history,
        mutated.final,
        mutated.ledgers,
        reads=mutation.reads,  # type: ignore[arg-type]
    ):
        named = any(key in e.keys for e in verdict.evidence)
        if verdict.status != "invalid" or not named:
            out.append(
                f"{mutation.name}: {verdict.invariant} is {verdict.status}"
                f"{'' if named else f' without evidence naming {key}'}: {verdict.summary}"
            )
    return out


def _enforced(workload: str) -> list[Mutation]:
    return [m for m in MUTATIONS if m.workload == workload and m.enforced]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_mutation_is_caught(workload: str) -> None:
    @SETTINGS
    @given(run=RUNS[workload](), data=st.data())
    def mutations_are_caught(run: Run, data: st.DataObject) -> None:
        misses = []
        for mutation in _enforced(workload):
            result = mutate(mutation, run, data)
            if result is not None:
                misses += [f"{mutation.name}: {p}" for p in problems(result[0])]
                misses += caught(mutation, *result)
        assert misses == []

    mutations_are_caught()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_finds_targets_and_stays_well_formed(mutation: Mutation) -> None:
    """Every mutation, pending ones too, applies to some run, and what it makes is
    still a history the harness could have recorded."""

    def applies(run: Run) -> bool:
        draft = run.draft.copy()
        key = mutation.apply(draft, run, lambda options: options[0])
        if key is None:
            return False
        assert problems(draft.freeze()) == [], mutation.name
        return True

    find(
        RUNS[mutation.workload](),
        applies,
        settings=settings(max_examples=500, deadline=None, database=None, phases=[Phase.generate]),
    )


def test_the_table_names_real_invariants() -> None:
    for m in MUTATIONS:
        for name in m.expect:
            if name in CHECKERS:
                assert m.workload in APPLIES_TO[name], m.name
            else:
                assert m.pending, f"{m.name} expects unknown invariant {name}"


def _expand(pattern: str) -> list[str]:
    """``stale_{order,payment}_read`` -> ``stale_order_read``, ``stale_payment_read``."""
    braced = re.fullmatch(r"([a-z_]*)\{([a-z,]+)\}([a-z_]*)", pattern)
    if braced is None:
        return [pattern]
    head, parts, tail = braced.groups()
    return [head + part + tail for part in parts.split(",")]


def test_the_readme_table_lists_every_mutation_with_its_status() -> None:
    """README.md's mutation table and ``MUTATIONS`` say the same (names and status)."""
    readme = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_{},]+)`.*\| ([a-z ]+) \|$", readme, flags=re.MULTILINE)
    listed = {name: state for pattern, state in rows for name in _expand(pattern)}
    status = {m.name: "enforced" if m.enforced else "pending" for m in MUTATIONS}
    assert listed == status
