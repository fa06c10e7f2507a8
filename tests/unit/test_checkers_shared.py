"""``invariants.check`` shares one index of the history among its checkers;
each checker must still answer exactly what it answers alone.

The histories are random (tests/unit/random_histories.py): every outcome,
stale and phantom reads, several settle snapshots and replicas, ledgers with
missing, duplicated and altered effects; most are invalid somewhere.
"""

from __future__ import annotations

import pytest

from harness.history import FinalState
from invariants import APPLIES_TO, CHECKERS, ReadConsistency, Verdict, check, run_checker
from invariants._reads import make_consistent_reads
from tests.unit.random_histories import WORKLOADS, Example

SEEDS = range(60)


def _names(workload: str) -> list[str]:
    return [name for name, workloads in APPLIES_TO.items() if workload in workloads]


def _alone(
    names: list[str], example: Example, reads: ReadConsistency = "eventual"
) -> tuple[Verdict, ...]:
    checkers = {**CHECKERS, "consistent_reads": make_consistent_reads(reads)}
    return tuple(run_checker(name, checkers[name], *example) for name in names)


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_shared_index_gives_each_checkers_own_verdict(workload: str) -> None:
    names = _names(workload)
    statuses: set[str] = set()
    for seed in SEEDS:
        example = WORKLOADS[workload](seed)
        alone = _alone(names, example)
        assert check(names, *example) == alone, f"seed {seed}"
        strong = _alone(names, example, "strong")
        assert check(names, *example, reads="strong") == strong, f"seed {seed} (strong reads)"
        statuses.update(v.status for v in alone)
        assert not any("crashed" in v.summary for v in alone), f"seed {seed}"
    # The comparison means something only if the histories exercise every answer.
    assert statuses == {"valid", "invalid", "unknown"}


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_one_history_judged_against_successive_final_states(workload: str) -> None:
    """The runner judges a history again and again (a snapshot, a recheck):
    nothing one ``check`` call builds may leak into the next one's verdicts."""
    names = _names(workload)
    for seed in range(0, 60, 3):
        history, final, ledgers = WORKLOADS[workload](seed)
        _, other_final, other_ledgers = WORKLOADS[workload](seed + 1)
        emptied = FinalState(workload=workload, values={})
        for judged in ((final, ledgers), (other_final, other_ledgers), (emptied, ledgers)):
            example = (history, *judged)
            assert check(names, *example) == _alone(names, example), f"seed {seed}"
