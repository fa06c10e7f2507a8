"""``invariants.check`` shares one index of the history among its checkers;
each checker must still answer exactly what it answers alone.

The histories are random (tests/unit/random_histories.py): every outcome,
stale and phantom reads, several settle snapshots and replicas, ledgers with
missing, duplicated and altered effects; most are invalid somewhere.
"""

from __future__ import annotations

import gc

import pytest

from harness.history import FinalState, History, Ledgers
from invariants import APPLIES_TO, CHECKERS, ReadConsistency, Verdict, check, run_checker
from invariants._reads import make_consistent_reads
from invariants.library import Index, index_of, sharing, standalone
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


def test_a_checker_called_alone_pauses_the_collector_in_a_block_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outside ``check`` each checker opens its own ``sharing()`` block: its index
    is built with the cyclic collector paused (twice as fast on long
    histories), and the collector runs again once it has answered."""
    builds: list[bool] = []
    build = Index.__init__

    def watched(self: Index, history: History) -> None:
        builds.append(gc.isenabled())
        build(self, history)

    monkeypatch.setattr(Index, "__init__", watched)
    assert gc.isenabled()
    for workload in sorted(WORKLOADS):
        example = WORKLOADS[workload](7)
        for name in _names(workload):
            CHECKERS[name](*example)
            assert gc.isenabled(), name
    assert len(builds) >= 10  # one per checker that reads the history's index
    assert not any(builds)


def test_a_checker_called_inside_a_block_joins_its_index() -> None:
    history, final, ledgers = WORKLOADS["payments"](3)
    seen: list[Index] = []

    @standalone
    def probe(h: History, f: FinalState, ledgers: Ledgers) -> Verdict:
        seen.append(index_of(h))
        return Verdict(invariant="probe", status="valid", summary="")

    with sharing():
        probe(history, final, ledgers)
        probe(history, final, ledgers)
    probe(history, final, ledgers)
    assert seen[0] is seen[1]
    assert seen[2] is not seen[0]
    assert probe.__name__ == "probe"
