"""A row's search loop, judged alone with runners whose verdicts follow fixed rules:

- shrinking keeps only failures that repeat: a smaller schedule that fails once by
  luck and passes on its confirming run does not become the counterexample;
- a row that found nothing but judged too little searches again, a bounded number
  of times and with schedules it has not run, before it is INCONCLUSIVE.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.design import COVERAGE_COUNTERS, Row, load_design
from harness.history.events import history_of
from harness.history.outcomes import FinalState, Ledgers
from harness.schedule.decode import schedule_from_json
from harness.schedule.model import Schedule
from harness.schedule.runner import ExampleOutcome
from harness.verify import (
    EXTRA_ROUNDS,
    Profile,
    _inconclusive,
    _judged,
    _Search,
    _search,
    _search_until_judged,
    _shown_too_little,
)
from invariants.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]
DESIGN = load_design(ROOT / "designs" / "kv.toml")
PROFILE = Profile(name="unit", examples=10, shrink_s=60.0, replays=3)


class _Runner:
    """Judges each schedule by `verdict`, given the schedule and how often it ran;
    from example ``exercised_from`` on, every coverage counter is 1 (the row's
    failure happened)."""

    exercised_from = 1

    def __init__(self, out: Path, invariant: str) -> None:
        self.out = out
        self.invariant = invariant
        self.workload = DESIGN.workload
        self.runs: Counter[str] = Counter()

    def verdict(self, schedule: Schedule, runs: int) -> Verdict:
        raise NotImplementedError

    def run(self, schedule: Schedule) -> ExampleOutcome:
        key = schedule.dumps()
        self.runs[key] += 1
        number = self.runs.total()
        return ExampleOutcome(
            number=number,
            schedule=schedule,
            history_path=self.out / f"{number:05d}.jsonl",
            history=history_of([]),
            prefix=f"p{number}",
            t0=0.0,
            verdicts=(self.verdict(schedule, self.runs[key]),),
            coverage=dict.fromkeys(COVERAGE_COUNTERS, int(number >= self.exercised_from)),
            final=FinalState(workload="kv"),
            ledgers=Ledgers(),
            duration_s=0.0,
            settle_s=0.0,
        )

    def recheck(self, outcomes: list[ExampleOutcome]) -> list[ExampleOutcome]:
        return []


class _RaceRunner(_Runner):
    """Fails a schedule of two operations on its first run only, of three or more
    always (a race that needs three clients to line up; two win it by luck once)."""

    def verdict(self, schedule: Schedule, runs: int) -> Verdict:
        ops = len(schedule.client_ops())
        failed = ops >= 3 or (ops == 2 and runs == 1)
        status = "invalid" if failed else "valid"
        return Verdict(invariant=self.invariant, status=status, summary=status, checked=1)


class _RareRunner(_Runner):
    """Every example passes; only from example ``judged_from`` on is there anything
    to check (a situation the workload seldom draws)."""

    judged_from = 10**9

    def verdict(self, schedule: Schedule, runs: int) -> Verdict:
        checked = int(self.runs.total() >= self.judged_from)
        return Verdict(invariant=self.invariant, status="valid", summary="", checked=checked)


class _RareConditionRunner(_Runner):
    """Every example judges the rule (its ``prior`` is at stake), but its
    ``no_prior`` only from example ``judged_from`` on."""

    judged_from = 10**9

    def verdict(self, schedule: Schedule, runs: int) -> Verdict:
        rare = int(self.runs.total() >= self.judged_from)
        parts = (("prior open", 1), ("no_prior close", rare))
        return Verdict(invariant=self.invariant, status="valid", summary="", checked=1, parts=parts)


class _NoPartner:
    partner_control = None

    def log_tails(self) -> dict[str, str]:
        return {}


def _searcher(runner: _Runner, search: _Search, tmp_path: Path) -> Callable[[Row, int], None]:
    """`_search` of the kv design with ``runner`` and no partner, as verify_row calls it."""

    def search_with(row: Row, seed: int) -> None:
        system: Any = _NoPartner()
        _search(runner, search, DESIGN, row, "x", PROFILE, seed, tmp_path / "db", system)  # type: ignore[arg-type]

    return search_with


def _one_search(runner_type: type[_Runner], tmp_path: Path) -> _Search:
    row = DESIGN.rows[0]
    search = _Search(row=row, profile=PROFILE)
    _searcher(runner_type(tmp_path, row.invariants[0]), search, tmp_path)(row, 3)
    return search


def test_the_counterexample_is_the_smallest_schedule_that_fails_again(tmp_path: Path) -> None:
    search = _one_search(_RaceRunner, tmp_path)

    first = search.failures[0]
    assert len(first.schedule.client_ops()) >= 3, "the seed must start from a sure failure"
    ce = search.counterexample
    assert ce is not None and search.error is None
    best = search.best()
    assert best is not None
    # Two operations fail by luck on their first run; shrinking must not end there.
    assert len(best.schedule.client_ops()) == 3
    assert search.unconfirmed >= 1, "a two-operation schedule was tried and not kept"
    assert ce.reproduced == ce.attempts == PROFILE.replays
    assert ce.unconfirmed == search.unconfirmed


_ROUNDS_ROW = replace(DESIGN.rows[0], invariants=DESIGN.rows[0].invariants[:1], examples=5)


def _in_rounds(runner: _Runner, row: Row, tmp_path: Path) -> _Search:
    """The row's search with as many extra rounds as verify_row gives it (a round:
    the row's 5 examples, which a profile asking for more would raise)."""
    profile = replace(PROFILE, examples=1)
    search = _Search(row=row, profile=profile)
    _search_until_judged(
        search, row, profile, 1, _searcher(runner, search, tmp_path), rounds=1 + EXTRA_ROUNDS
    )
    return search


@pytest.mark.parametrize(("judged_from", "examples"), [(8, 10), (13, 15), (None, 15)])
def test_a_row_that_judged_nothing_searches_again_a_bounded_number_of_times(
    tmp_path: Path, judged_from: int | None, examples: int
) -> None:
    row = _ROUNDS_ROW
    runner = _RareRunner(tmp_path, row.invariants[0])
    if judged_from is not None:
        runner.judged_from = judged_from
    search = _in_rounds(runner, row, tmp_path)
    assert EXTRA_ROUNDS == 2
    assert len(search.outcomes) == examples
    # Each round starts from Hypothesis's simplest schedules, as the first did:
    # none is run again, or the round would judge nothing new.
    assert max(runner.runs.values()) == 1
    assert not search.failures and search.error is None
    lacking = _shown_too_little(search)
    name = row.invariants[0]
    assert lacking == (
        None
        if judged_from is not None
        else f"too little was judged ({name} had nothing to check in any of 15 examples)"
    )


@pytest.mark.parametrize(("judged_from", "examples"), [(3, 5), (13, 15), (None, 15)])
def test_a_condition_never_at_stake_makes_the_row_search_again_and_then_say_which(
    tmp_path: Path, judged_from: int | None, examples: int
) -> None:
    """The rule was judged on every example by its ``prior``; a PASS must not
    rest on that while its ``no_prior`` could fail nothing."""
    row = _ROUNDS_ROW
    runner = _RareConditionRunner(tmp_path, row.invariants[0])
    if judged_from is not None:
        runner.judged_from = judged_from
    search = _in_rounds(runner, row, tmp_path)
    assert len(search.outcomes) == examples
    judged = _judged(search.outcomes, row.invariants)[row.invariants[0]]
    assert judged.valid == examples
    reason = _inconclusive(search.outcomes, {row.invariants[0]: judged})
    if judged_from is None:
        assert reason == (
            f"{row.invariants[0]}'s condition no_prior close had nothing to check "
            f"in any of {examples} examples"
        )
        assert judged.least == (0, "no_prior close")
    else:
        assert reason is None
        rare = examples - judged_from + 1
        assert judged.parts == {"prior open": examples, "no_prior close": rare}


@pytest.mark.parametrize(
    ("min_judged", "judged_from", "examples"), [(1, 4, 5), (3, 4, 10), (3, 14, 15)]
)
def test_a_row_asking_for_more_judging_searches_again_until_it_has_it(
    tmp_path: Path, min_judged: int, judged_from: int, examples: int
) -> None:
    """``min_judged``: each invariant valid with something to check in that many
    examples, or the row searches again and then says how far it got."""
    row = replace(_ROUNDS_ROW, min_judged=min_judged)
    runner = _RareRunner(tmp_path, row.invariants[0])
    runner.judged_from = judged_from
    search = _in_rounds(runner, row, tmp_path)
    assert len(search.outcomes) == examples
    judged = _judged(search.outcomes, row.invariants)[row.invariants[0]]
    reason = _inconclusive(search.outcomes, {row.invariants[0]: judged}, min_judged)
    if examples < 15:
        assert reason is None and _shown_too_little(search) is None
    else:
        assert judged.valid == 2
        assert reason == (
            f"{row.invariants[0]} was judged in 2 of 15 examples (the row asks for 3)"
        )


@pytest.mark.parametrize(("exercised_from", "examples"), [(1, 5), (7, 10), (None, 15)])
def test_a_row_whose_failure_never_happened_searches_again_a_bounded_number_of_times(
    tmp_path: Path, exercised_from: int | None, examples: int
) -> None:
    row = _ROUNDS_ROW
    runner = _RareRunner(tmp_path, row.invariants[0])
    runner.judged_from = 1
    runner.exercised_from = 10**9 if exercised_from is None else exercised_from
    search = _in_rounds(runner, row, tmp_path)
    assert len(search.outcomes) == examples
    lacking = _shown_too_little(search)
    if exercised_from is None:
        assert lacking is not None and "has not happened yet" in lacking
        assert all(name in lacking for name in row.exercised_by)
    else:
        assert lacking is None


class _WearingOffRunner(_Runner):
    """Three operations or more always fail; two fail on their first three runs
    only (enough to pass shrinking's confirmation, not the replays after it)."""

    def verdict(self, schedule: Schedule, runs: int) -> Verdict:
        ops = len(schedule.client_ops())
        failed = ops >= 3 or (ops == 2 and runs <= 3)
        status = "invalid" if failed else "valid"
        return Verdict(invariant=self.invariant, status=status, summary=status, checked=1)


def test_a_minimal_schedule_that_never_replays_gives_way_to_a_larger_one_that_does(
    tmp_path: Path,
) -> None:
    search = _one_search(_WearingOffRunner, tmp_path)

    kept = sorted(len(o.schedule.client_ops()) for o in search.shown)
    assert kept[0] == 2, f"shrinking must have kept a two-operation schedule: {kept}"
    ce = search.counterexample
    assert ce is not None and search.error is None
    assert ce.unreplayable >= 1
    assert ce.reproduced == ce.attempts == PROFILE.replays
    saved = json.loads(ce.schedule_path.read_text(encoding="utf-8"))
    assert len(schedule_from_json(saved, DESIGN.workload).client_ops()) >= 3
    assert "did not fail in any replay" in ce.timing_note


class _EqualsAny:
    """A schedule every drawn one equals: a row whose every schedule has run."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


def test_a_later_round_with_nothing_new_to_run_ends_quietly(tmp_path: Path) -> None:
    """Hypothesis raises Unsatisfiable when every test case was refused; a later
    round that finds only schedules the row has run ends with no new example and
    no error (not an ERROR row)."""
    row = _ROUNDS_ROW
    runner = _RareRunner(tmp_path, row.invariants[0])
    search = _Search(row=row, profile=PROFILE)
    ran = replace(runner.run(Schedule(workload="kv")), schedule=_EqualsAny())
    search.add(ran)
    _searcher(runner, search, tmp_path)(row, 5)
    assert search.outcomes == [ran] and search.error is None
