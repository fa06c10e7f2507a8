"""Verify a design: every failure-model row becomes a Hypothesis search.

For each row, Hypothesis draws schedules from the faults the row allows and
the runner plays them against one live system; a violated invariant is a
failing example, which Hypothesis shrinks. Real systems are nondeterministic,
so a failure that does not reproduce is not an error here: the first
failing example is kept as evidence, the smallest failing schedule is
replayed several times, and the report gives the reproduction rate.

A PASS means judged and held: a row whose invariants were not judged valid
on enough of its examples (a final state that could not be read, checkers
with nothing to examine) is INCONCLUSIVE, never PASS. Side effects that land
after their example was judged are judged too, at the end of the row.
"""

from __future__ import annotations

import math
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from hypothesis import HealthCheck, Phase, reject, seed, settings, target
from hypothesis import given as hypothesis_given
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Flaky, Unsatisfiable

from harness.budget import EXAMPLE_CAP, MAX_ROUNDS, MIN_SHRINK_S, RunBudget
from harness.design import Design, Row
from harness.host_load import saturated, share
from harness.interrupt import rearm, signal_name
from harness.phases import add_phases
from harness.progress import VerifyEvent, VerifyEventKind, VerifyProgress, no_verify_progress
from harness.report import (
    Counterexample,
    DesignReport,
    Judged,
    RowResult,
    RowStatus,
    write_report,
)
from harness.schedule import STRATEGIES
from harness.schedule.answers import add_answers
from harness.schedule.baseline import random_schedules
from harness.schedule.coverage import add_coverage
from harness.schedule.hypothesis_engine import harness_draws
from harness.schedule.model import Schedule
from harness.schedule.runner import ExampleOutcome, ExampleRunner
from harness.schedule.signals import signals
from harness.schedule.strategies import schedules
from harness.setup.cache import cache_dir
from harness.system import LiveSystem
from harness.workload.api import Workload
from harness.workload.keys import new_run_id
from invariants.slo import SloResult, judge

_ROUND_SEED = 7919
"""A row's next round of a budgeted run searches from seed + round * this."""
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
"""The guided search's Hypothesis phases: no target phase. Below 1000 examples
Hypothesis runs one ``target()`` hill-climb from half the budget on, with no
limit, and in a 20-example search examples 10 to 19 were near copies of the
best-scoring one. Paired benches (docs/search-power.md) found more bugs
without it and none fewer. The signals still keep the example database's
Pareto front, which a warm run replays first."""
FALLBACKS = 3
"""When no replay of the minimal schedule fails, how many of the larger failing
schedules found on the way (while shrinking) are replayed in its place."""
EXTRA_ROUNDS = 2
"""A row that found nothing but judged too little to PASS (its invariants had
nothing to examine: no auction got a bid in time, no pair swiped each other),
or whose failure never happened (no crash met a request in flight), searches
its examples again, up to this many more times, before it is INCONCLUSIVE or
NOT EXERCISED. A budgeted run's rows get more rounds from the budget instead."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A search budget: examples per row, time allowed to shrink, replays."""

    name: str
    examples: int
    shrink_s: float
    replays: int

    def examples_for(self, row: Row) -> int:
        """A row's examples: as many as it asks for, never fewer than the profile's.
        A design asks for more on a row whose failure needs a rare timing; a larger
        profile (nightly) must not then search that row least."""
        return max(row.examples or 0, self.examples)


PROFILES = {
    "dev": Profile(name="dev", examples=6, shrink_s=40.0, replays=2),
    "ci": Profile(name="ci", examples=12, shrink_s=90.0, replays=3),
    "nightly": Profile(name="nightly", examples=100, shrink_s=600.0, replays=5),
}


class _TimeUp(BaseException):
    """Raised inside the Hypothesis test when a budgeted row's search or shrink time
    is spent: not an Exception, so Hypothesis stops at once instead of taking it for
    a failure (the failures found are kept in `_Search`)."""


class RowViolation(AssertionError):
    """Raised inside the Hypothesis test when an example violates an invariant."""

    def __init__(self, outcome: ExampleOutcome) -> None:
        names = ", ".join(v.invariant for v in outcome.violated())
        super().__init__(f"example {outcome.number} violated {names}")
        self.outcome = outcome


def smallest_first(outcome: ExampleOutcome) -> tuple[int, int]:
    """The order counterexamples are preferred in: smaller schedules, then earlier."""
    return outcome.schedule.size(), outcome.number


@dataclass(slots=True)
class _Search:
    """What one row's search saw: every outcome, the failures, the time budget."""

    row: Row
    profile: Profile
    outcomes: list[ExampleOutcome] = field(default_factory=list)
    failures: list[ExampleOutcome] = field(default_factory=list)
    first_failure_at: float | None = None
    first_failure_example: int | None = None
    last_example_at: float = field(default_factory=time.monotonic)
    error: str | None = None
    """What broke the search itself (a harness or target error), if anything."""
    counterexample: Counterexample | None = None
    reported_error: str | None = None
    """The error the row reports, with the target's log tails."""
    tell: _Teller | None = None
    until: float | None = None
    """A budgeted row's end of search (monotonic clock); None: run its examples."""
    deadline: float | None = None
    """A budgeted run's end: shrinking stops in time for the replays and late checks."""
    tail_s: float = 0.0
    """Seconds after the search that the row still needs (the late-effects watch)."""
    longest_s: float = 0.0
    """The longest example so far, to keep time back for the replays."""
    examples_s: float = 0.0
    """Seconds of every example timed so far (their mean predicts the next one)."""
    timed: int = 0
    mark: float = field(default_factory=time.monotonic)
    """Where the next example's time starts: the last example's end, or this
    round's start (the time between two rounds of a budgeted run is other rows')."""
    spent_s: float = 0.0
    """Seconds of the earlier rounds of a budgeted row (its search went on)."""
    given_s: float = 0.0
    """Seconds a budgeted row was given, all rounds together."""
    round_from: int = 0
    """The first outcome of this round (the earlier ones had their late check)."""

    shown: list[ExampleOutcome] = field(default_factory=list)
    """The failures Hypothesis was told of: the first one, and each smaller schedule
    that failed again on its confirming run (`_Search.confirmed`)."""
    unconfirmed: int = 0
    """Smaller schedules that failed once and passed on their confirming run."""

    def best(self) -> ExampleOutcome | None:
        return min(self.told(), key=smallest_first, default=None)

    def told(self) -> list[ExampleOutcome]:
        """The failures Hypothesis was shown (all of them if interrupted in between)."""
        return self.shown or self.failures

    def out_of_time(self) -> bool:
        """Shrinking ends after the profile's shrink time; in a budgeted run also
        with the row's share (but not before ``MIN_SHRINK_S``), and in time for
        the replays and the late check before the run's end."""
        if self.first_failure_at is None:
            return False
        end = self.first_failure_at + self.profile.shrink_s
        after = self.profile.replays * self.longest_s + self.tail_s  # replays, late check
        if self.until is not None:
            end = min(end, max(self.until - after, self.first_failure_at + MIN_SHRINK_S))
        if self.deadline is not None:
            end = min(end, self.deadline - after)
        return time.monotonic() > end

    def time_up(self) -> bool:
        """A row that found nothing has run the examples it asks for, or (budgeted)
        would end nearer its share's end without another example than with
        one of the mean length so far (every turn of a row runs one example
        at least, even when the budget is gone): shares end on time on
        average, neither half an example late nor half an example early.
        Hypothesis alone does not hold the count: its target phase, when the
        search still ran it, took a 60-example row past 390 examples (a CI
        test that never ended)."""
        if self.failures or not self.outcomes:
            return False
        if len(self.outcomes) >= self.profile.examples_for(self.row):
            return True
        if self.until is None or len(self.outcomes) == self.round_from:
            return False
        return time.monotonic() + self.mean_s() / 2 > self.until - self.tail_s

    def mean_s(self) -> float:
        """The mean seconds of the examples timed so far (0 before the first)."""
        return self.examples_s / self.timed if self.timed else 0.0

    def new_round(self, until: float | None) -> None:
        """Another turn of the row (or its first): its end, and its examples' clock."""
        self.until = until
        self.mark = time.monotonic()
        self.round_from = len(self.outcomes)

    def add(self, outcome: ExampleOutcome) -> None:
        now = time.monotonic()
        took = now - self.mark
        self.longest_s = max(self.longest_s, took)
        self.examples_s += took
        self.timed += 1
        self.outcomes.append(outcome)
        self.last_example_at = self.mark = now
        if outcome.failed:
            self.failures.append(outcome)
            if self.first_failure_at is None:
                self.first_failure_at = self.last_example_at
                self.first_failure_example = len(self.outcomes)


@dataclass(slots=True, kw_only=True)
class _Teller:
    """Turns what one row's search does into `VerifyEvent`s for a progress callback."""

    progress: VerifyProgress
    design: str
    variant: str
    row: str
    row_index: int
    rows: int
    budget: int
    seed: int
    started: float = field(default_factory=time.monotonic)
    example: int = 0
    failures: int = 0
    active: list[str] = field(default_factory=list)

    def __call__(
        self,
        kind: VerifyEventKind,
        *,
        failed: bool = False,
        message: str = "",
        result: RowResult | None = None,
    ) -> None:
        event = VerifyEvent(
            kind=kind,
            design=self.design,
            variant=self.variant,
            row=self.row,
            row_index=self.row_index,
            rows=self.rows,
            example=self.example,
            budget=self.budget,
            failures=self.failures,
            faults=tuple(self.active),
            elapsed_s=time.monotonic() - self.started,
            failed=failed,
            message=message,
            seed=self.seed,
            result=result,
        )
        try:
            self.progress(event)
        except Exception:  # a broken display must never break a verification
            self.progress = no_verify_progress

    def fault(self, what: str, description: str) -> None:
        if what == "start":
            self.active.append(description)
        else:
            self.active.clear()
        self("faults")


def replay_command(
    design: Design,
    row: Row,
    variant: str,
    profile: str,
    seed_: int,
    backend: str = "local",
    strategy: str = "guided",
    database: Path | None = None,
) -> str:
    """The one line that runs the row's search again: the same seed, and the
    example database holding its failures (given only when not the default)."""
    backend_args = [] if backend == "local" else ["--backend", backend]
    strategy_args = [] if strategy == "guided" else ["--strategy", strategy]
    database_args = [] if database is None else ["--database", str(database)]
    return shlex.join(
        [
            "failmodel",
            "verify",
            str(design.path),
            "--row",
            row.id,
            "--variant",
            variant,
            "--profile",
            profile,
            "--seed",
            str(seed_),
            *strategy_args,
            *backend_args,
            *database_args,
        ]
    )


def verify_design(
    design: Design,
    *,
    variant: str = "correct",
    profile: Profile = PROFILES["dev"],
    rows: Sequence[str] | None = None,
    seed_: int | None = None,
    out_dir: Path,
    database: Path | None = None,
    log: bool = True,
    progress: VerifyProgress | None = None,
    examples: int | None = None,
    backend: str | None = None,
    budget_s: float | None = None,
    strategy: str = "guided",
) -> DesignReport:
    """Run every (selected) row of ``design`` against ``variant``. The report is
    rewritten after every row, so an interrupted run keeps what it found; an
    interrupt (SIGINT, SIGTERM) ends the run early with ``interrupted`` set, and a
    caller that runs more (another seed, design or test) should stop then (a later
    signal interrupts the later run the same way).
    ``database`` is the Hypothesis example database (default: in the cache).
    ``progress`` is told what happens (default: plain lines on stdout when
    ``log``); ``examples`` overrides every row's example budget.
    ``backend`` runs the services as ``local`` processes or in ``containers``
    (default: ``$FAILMODEL_BACKEND``, else local). ``budget_s`` replaces the
    example counts by a time budget for the whole run (`harness.budget`).
    ``strategy`` is one of ``STRATEGIES``."""
    _check_strategy(strategy)
    if variant not in design.target.variants:
        raise ValueError(
            f"{design.path}: unknown variant {variant!r}; "
            f"variants: {', '.join(design.target.variants)}"
        )
    chosen = [design.row(r) for r in rows] if rows else list(design.rows)
    plan = (
        None
        if budget_s is None
        else RunBudget(budget_s, [profile.examples_for(r) for r in chosen])
    )
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_id = new_run_id()
    base_seed = seed_ if seed_ is not None else int.from_bytes(bytes.fromhex(run_id)[:4], "big")
    results: list[RowResult] = []
    interrupted: str | None = None
    if progress is None:
        from harness.console import PlainVerifyProgress

        progress = PlainVerifyProgress() if log else no_verify_progress

    def report() -> DesignReport:
        return DesignReport(
            design_name=design.name,
            design_path=design.path,
            variant=variant,
            profile=profile.name,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            rows=tuple(results),
            interrupted=interrupted,
            strategy=strategy,
        )

    try:
        with LiveSystem(
            design.target_spec(variant),
            redis_persistence=design.services.redis_persistence,
            backend=backend,
            images=design.services.images,
        ) as system:
            searches: dict[str, _Search] = {}

            def turn(i: int, round_: int) -> bool:
                """Row ``i``'s search (round ``round_`` > 0: its search goes on); False
                when the run was interrupted."""
                nonlocal interrupted
                row = chosen[i]
                result = verify_row(
                    system,
                    design,
                    row,
                    variant=variant,
                    profile=profile,
                    seed_=(base_seed + i if seed_ is None else seed_) + round_ * _ROUND_SEED,
                    out_dir=out_dir / row.id / (f"round-{round_ + 1}" if round_ else ""),
                    run_id=f"{run_id}{i}" + (f"r{round_}" if round_ else ""),
                    database=database,
                    progress=progress,
                    row_index=i,
                    rows=len(chosen),
                    examples=examples,
                    time_s=None if plan is None else plan.start(i),
                    deadline=None if plan is None else plan.deadline,
                    resume=searches,
                    strategy=strategy,
                )
                if plan is not None:
                    plan.finish(i, found=result.status in ("FAIL", "ERROR"))
                results[i : i + 1] = [result]  # round 0 appends, later rounds replace
                interrupted = result.interrupted
                write_report(report(), out_dir)
                return interrupted is None

            all(turn(i, 0) for i in range(len(chosen)))
            for round_ in range(1, MAX_ROUNDS if plan is not None and not interrupted else 0):
                longest = max((s.longest_s for s in searches.values()), default=0.0)
                again = plan.next_round(longest) if plan is not None else []
                if not again or not all(turn(i, round_) for i in again):
                    break
    except KeyboardInterrupt as exc:  # while starting or stopping the system
        interrupted = signal_name(exc)
    except Exception as exc:  # the system would not start (or stop): no verdict per row
        broke = f"{type(exc).__name__}: {exc}"
        done = {r.row_id for r in results}
        results += [
            broken_row(
                design,
                row,
                variant,
                f"the design's system could not be started, so the row never ran: {broke}",
                profile=profile.name,
                seed_=base_seed + i if seed_ is None else seed_,
                strategy=strategy,
            )
            for i, row in enumerate(chosen)
            if row.id not in done
        ]
        if not [r for r in chosen if r.id not in done]:
            print(f"failmodel: {design.name}: stopping the system failed: {broke}", flush=True)
    final = report()
    write_report(final, out_dir)
    if interrupted is not None:
        rearm()
    return final


def _table_columns(row: Row) -> dict[str, Any]:
    """The design's own words for a row, carried into its result as written."""
    return {
        "row_id": row.id,
        "failure_mode": row.failure_mode,
        "can_happen": row.can_happen,
        "correct_behaviour": row.correct_behaviour,
        "mechanism": row.mechanism,
        "recovery": row.recovery,
        "taxonomy": row.taxonomy,
        "faults": row.faults,
    }


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"'strategy' must be one of {', '.join(STRATEGIES)} (got {strategy!r})")


def broken_row(
    design: Design,
    row: Row,
    variant: str,
    error: str,
    *,
    profile: str = "dev",
    seed_: int = 0,
    strategy: str = "guided",
) -> RowResult:
    """An ERROR row for a row that never ran (its system or its job broke)."""
    return RowResult(
        **_table_columns(row),
        status="ERROR",
        invariants=row.invariants,
        examples=0,
        duration_s=0.0,
        seed=seed_,
        replay_command=replay_command(design, row, variant, profile, seed_, strategy=strategy),
        error=error,
    )


def verify_row(
    system: LiveSystem,
    design: Design,
    row: Row,
    *,
    variant: str,
    profile: Profile,
    seed_: int,
    out_dir: Path,
    run_id: str,
    database: Path | None = None,
    progress: VerifyProgress | None = None,
    row_index: int = 0,
    rows: int = 1,
    examples: int | None = None,
    time_s: float | None = None,
    deadline: float | None = None,
    resume: dict[str, _Search] | None = None,
    strategy: str = "guided",
) -> RowResult:
    """One row's search, its counterexample and replays, and the late-effects
    check; an interrupt ends it early with what was found. ``progress`` is
    told each example and phase; ``examples`` overrides the row's budget;
    ``time_s`` replaces it by seconds of search, the shrink and replays ending
    by the run's ``deadline``. A row in ``resume`` goes on with that search (its
    examples, failures and time; another round of a budgeted run); the row's
    search is put there. ``strategy`` (one of ``STRATEGIES``) says how
    schedules are drawn."""
    _check_strategy(strategy)
    earlier = None if resume is None else resume.get(row.id)
    started = time.monotonic() - (0.0 if earlier is None else earlier.spent_s)
    if time_s is not None:
        examples = EXAMPLE_CAP
    if examples is not None:
        profile = replace(profile, examples=examples)
        row = replace(row, examples=examples)
    tell = _Teller(
        progress=progress or no_verify_progress,
        design=design.name,
        variant=variant,
        row=row.id,
        row_index=row_index,
        rows=rows,
        budget=0 if time_s is not None else profile.examples_for(row),
        seed=seed_,
    )
    search = earlier or _Search(
        row=row,
        profile=profile,
        deadline=deadline,
        tail_s=design.target.late_effects_s if system.partner_control is not None else 0.0,
    )
    search.tell = tell
    search.new_round(None if time_s is None else time.monotonic() + time_s)
    search.given_s += time_s or 0.0
    if resume is not None:
        resume[row.id] = search
    interrupted: str | None = None
    more = "" if earlier is None else " more"
    tell("row_started", message="" if time_s is None else f"for {time_s:.0f} s{more}")
    try:
        with ExampleRunner(
            system,
            workload=design.workload,
            invariants=row.invariants,
            out_dir=out_dir,
            run_id=run_id,
            settle_timeout_s=design.target.settle_timeout_s,
            reads=design.target.reads,
            slos=row.slos,
        ) as runner:
            runner.fault_listener = tell.fault
            _search_until_judged(
                search,
                row,
                profile,
                seed_,
                lambda row_, seed_round: _search(
                    runner,
                    search,
                    design,
                    row_,
                    variant,
                    profile,
                    seed_round,
                    database,
                    system,
                    strategy,
                ),
                rounds=1 + (EXTRA_ROUNDS if time_s is None else 0),
            )
    except KeyboardInterrupt as exc:
        interrupted = signal_name(exc)
        if search.counterexample is None and search.failures:
            search.counterexample = _unreplayed(search, design.workload)
    counterexample, error = search.counterexample, search.reported_error

    coverage = add_coverage(o.coverage for o in search.outcomes)
    exercised = _exercised(coverage, row)
    judged = _judged(search.outcomes, row.invariants)
    reason: str | None = None
    status: RowStatus
    if counterexample is not None and (error is None or search.error is not None):
        status = "FAIL"
    elif error is not None:
        status = "ERROR"
    elif interrupted is not None:
        status = "INTERRUPTED"
    elif (reason := _inconclusive(search.outcomes, judged, row.min_judged)) is not None:
        status = "INCONCLUSIVE"
    elif not exercised:
        status = "NOT EXERCISED"
    else:
        status = "PASS"
    stalls = [o.stall for o in search.outcomes if o.stall is not None]
    slos = _judge_slos(row, search.outcomes, saturated(stalls))
    status, reason = with_slos(status, reason, slos)
    if interrupted is not None:
        found = f"; {len(search.outcomes)} examples judged before it" if search.outcomes else ""
        reason = f"the row's search was interrupted by {interrupted}{found}"
        if status != "INTERRUPTED":
            reason = f"{status} before the run was interrupted by {interrupted}"
    result = RowResult(
        **_table_columns(row),
        status=status,
        invariants=row.invariants,
        examples=len(search.outcomes),
        duration_s=time.monotonic() - started,
        coverage=coverage,
        counterexample=counterexample,
        seed=seed_,
        replay_command=replay_command(
            design,
            row,
            variant,
            profile.name,
            seed_,
            getattr(system, "backend", "local"),
            strategy,
            database,
        ),
        error=error,
        first_failure_s=(
            None if search.first_failure_at is None else search.first_failure_at - started
        ),
        first_failure_example=search.first_failure_example,
        judged=judged,
        reason=reason,
        unsettled=sum(not o.settled for o in search.outcomes),
        interrupted=interrupted,
        histories=tuple(o.history_path for o in search.outcomes),
        slos=slos,
        phases=add_phases(o.phases for o in search.outcomes),
        budget_s=None if time_s is None else search.given_s,
        cpu_stalled=share(stalls),
        answers=add_answers(o.answers for o in search.outcomes),
    )
    search.spent_s = result.duration_s
    tell("row_finished", result=result)
    return result


def _search(
    runner: ExampleRunner,
    search: _Search,
    design: Design,
    row: Row,
    variant: str,
    profile: Profile,
    seed_: int,
    database: Path | None,
    system: LiveSystem,
    strategy: str = "guided",
) -> None:
    """The search, its counterexample and the late-effects check, recorded in
    ``search`` as they happen (an interrupt keeps what was found so far)."""
    guided = strategy != "random"
    # What the row's earlier rounds ran. A later round starts, as every search
    # does, from Hypothesis's simplest schedules and the example database, which
    # the first round ran already: run again, they would judge nothing new.
    earlier = [o.schedule for o in search.outcomes]

    def fail(outcome: ExampleOutcome) -> NoReturn:
        """Tell Hypothesis of a failure, always from this line: the place an
        exception is raised is its bug's identity, and two identities would keep
        two "best" failures in the example database, the next search replaying
        whichever is smaller by Hypothesis's order."""
        raise RowViolation(outcome)

    def example(schedule: Schedule) -> None:
        if search.error is not None:
            return  # the harness broke: stop searching, report it below
        if search.time_up():
            raise _TimeUp
        if search.out_of_time() and search.until is not None:
            raise _TimeUp  # budgeted: Hypothesis would try many more (no-op) shrinks
        if search.out_of_time():
            # Shrinking budget spent: only the best failure still fails, so
            # Hypothesis ends on it without running anything more.
            best = search.best()
            if best is not None and schedule == best.schedule:
                fail(best)
            return
        if guided and not search.failures and schedule in earlier:
            reject()  # costs no example: the round's budget goes to new schedules
        shrinking = bool(search.shown)
        outcome = run(schedule, "shrinking" if search.failures else "")
        if guided:
            # Inside the Hypothesis test: the scores keep the example
            # database's Pareto front (the best example for each signal),
            # which the next run with that database replays first.
            scores = signals(
                outcome.history,
                outcome.ledgers if design.topology.has_partner else None,
                t0=outcome.t0,
                deadlines=tuple(outcome.deadlines.values()),
            )
            for label, value in scores.items():
                target(float(value), label=label)
        if outcome.failed and shrinking and not confirmed(schedule):
            search.unconfirmed += 1
            return  # kept as evidence; shrinking goes on from schedules that fail again
        if outcome.failed:
            search.shown.append(outcome)
            _save(outcome)  # each failure Hypothesis keeps, beside its history
            fail(outcome)

    def confirmed(schedule: Schedule) -> bool:
        """Whether a smaller failing schedule fails again when run once more. On a
        real system a schedule can fail by luck (a race won by a millisecond), and
        shrinking, which moves delays and latencies towards zero, would end on such
        a schedule, whose replays then seldom fail. So while shrinking, only a
        schedule that fails again (twice more once one did not) replaces the best."""
        if any(schedule == o.schedule for o in search.shown):
            return True
        # Once a failure did not repeat, the bug depends on timing: ask for two
        # more failures, so a schedule that fails one time in three seldom passes.
        runs = 2 if search.unconfirmed else 1
        return all(run(schedule, "confirming a smaller failure").failed for _ in range(runs))

    def run(schedule: Schedule, message: str) -> ExampleOutcome:
        tell = search.tell
        if tell is not None:
            tell.example = len(search.outcomes) + 1
            tell.active.clear()
            tell("example_started", message=message)
        try:
            outcome = runner.run(schedule)
        except Exception as exc:
            # Not a verdict: the harness or the target's start-up broke.
            # Every later example passes at once, so Hypothesis ends
            # (as Flaky) instead of shrinking a harness error.
            search.error = f"{type(exc).__name__}: {exc}"
            raise
        search.add(outcome)
        if tell is not None:
            tell.failures = len(search.failures)
            tell("example_finished", failed=outcome.failed)
        return outcome

    test = (
        _hypothesis_test(example, design, row, variant, profile, seed_, database, strategy)
        if guided
        else _random_test(example, design, row, profile, seed_)
    )
    try:
        test()
    except (RowViolation, Flaky, _TimeUp):
        pass  # the failures are in `search`; Flaky = did not reproduce
    except Unsatisfiable:
        pass  # every schedule drawn had run already: a later round has nothing new
    except Exception as exc:  # the harness or target broke: not a verdict
        search.error = search.error or f"{type(exc).__name__}: {exc}"
    if search.error is not None:
        search.reported_error = _with_log_tails(search.error, system)
        return
    if search.failures:
        if search.tell is not None:
            search.tell(
                "phase", message=f"replaying the minimal failing schedule {profile.replays} times"
            )
        search.counterexample, search.reported_error = _counterexample(
            runner, search, profile, system
        )
    late = _late_failures(runner, search, design, system)
    if late and search.counterexample is None:
        search.counterexample, search.reported_error = _late_counterexample(
            runner, late, profile, design, system
        )


def with_slos(
    status: RowStatus, reason: str | None, slos: Sequence[SloResult]
) -> tuple[RowStatus, str | None]:
    """The row's status and reason once its SLOs are judged: a promise missed fails
    a row that found no bug; one measured but not judged (the host was saturated)
    leaves a PASS INCONCLUSIVE, which would otherwise vouch for it."""
    missed = [r for r in slos if r.met is False]
    unjudged = [r for r in slos if r.verdict == "not judged"]
    if missed and status in ("PASS", "NOT EXERCISED", "INCONCLUSIVE"):
        return "FAIL", "SLO not met: " + "; ".join(r.line() for r in missed)
    if unjudged and status == "PASS":
        return "INCONCLUSIVE", "SLO " + "; ".join(f"{r.line()}: {r.note}" for r in unjudged)
    return status, reason


def _judge_slos(
    row: Row, outcomes: Sequence[ExampleOutcome], busy: str | None
) -> tuple[SloResult, ...]:
    """Each of the row's SLOs judged once, on every example's samples; a promise
    missed while the host was saturated (``busy`` says how) is not judged."""
    return tuple(
        judge(slo, [o.slo_samples[i] for o in outcomes if len(o.slo_samples) > i], saturated=busy)
        for i, slo in enumerate(row.slos)
    )


def _with_log_tails(error: str, system: LiveSystem) -> str:
    tails = system.log_tails()
    if tails:
        error += "\n" + "\n".join(f"--- {n} ---\n{t}" for n, t in tails.items())
    return error


def _judged(outcomes: Sequence[ExampleOutcome], invariants: Sequence[str]) -> dict[str, Judged]:
    """Per listed invariant: on how many examples it was judged, and how."""
    counts: dict[str, dict[str, int]] = {n: {} for n in invariants}
    parts: dict[str, dict[str, int]] = {n: {} for n in invariants}
    why: dict[str, str] = {}
    for outcome in outcomes:
        for verdict in outcome.verdicts:
            if verdict.invariant not in counts:
                continue
            kind = "vacuous" if verdict.vacuous else verdict.status
            tally = counts[verdict.invariant]
            tally[kind] = tally.get(kind, 0) + 1
            if verdict.status == "unknown":
                why.setdefault(verdict.invariant, verdict.summary)
            staked = parts[verdict.invariant]
            for label, n in verdict.parts:
                staked[label] = staked.get(label, 0) + (n > 0)
    return {
        name: Judged(
            valid=c.get("valid", 0),
            vacuous=c.get("vacuous", 0),
            unknown=c.get("unknown", 0),
            invalid=c.get("invalid", 0),
            why_unknown=why.get(name, ""),
            parts=parts[name],
        )
        for name, c in counts.items()
    }


def _inconclusive(
    outcomes: Sequence[ExampleOutcome], judged: dict[str, Judged], least: int = 1
) -> str | None:
    """Why the row's PASS would rest on too little, or None when it would not:
    each invariant must hold on at least half of the examples and have had
    something to examine in at least ``least`` (the row's ``min_judged``), and
    so must each of its conditions."""
    n = len(outcomes)
    if n == 0:
        return "no example was judged"
    need = math.ceil(n / 2)
    problems = []
    for name, j in judged.items():
        held = j.valid + j.vacuous
        if j.valid == 0 and j.unknown == 0:
            problems.append(f"{name} had nothing to check in any of {n} examples")
        elif held < need or j.valid == 0:
            because = f" (unknown: {j.why_unknown})" if j.why_unknown else ""
            problems.append(f"{name} was judged valid in {j.valid} of {n} examples{because}")
        elif j.unjudged_parts:
            problems += [
                f"{name}'s condition {label} had nothing to check in any of {n} examples"
                for label in j.unjudged_parts
            ]
        elif j.least[0] < least:
            times, label = j.least
            what = f"{name}'s condition {label}" if label else name
            problems.append(
                f"{what} was judged in {times} of {n} examples (the row asks for {least})"
            )
    if not problems:
        return None
    unreadable = [o for o in outcomes if o.unread]
    if unreadable:
        how = "; ".join(unreadable[0].unread.values())
        problems.insert(0, f"final state unreadable in {len(unreadable)} of {n} examples: {how}")
    return "; ".join(problems)


def _search_until_judged(
    search: _Search,
    row: Row,
    profile: Profile,
    seed_: int,
    search_with: Callable[[Row, int], None],
    *,
    rounds: int,
) -> None:
    """``search_with(row, seed)`` (`_search` on one runner), and again with another
    seed while the row's PASS would rest on too little (`EXTRA_ROUNDS`), up to
    ``rounds`` searches of the row's examples each."""
    each = profile.examples_for(row)
    for round_ in range(rounds):
        if round_:
            lacking = _shown_too_little(search)
            if lacking is None:
                return
            if search.tell is not None:
                search.tell.budget = len(search.outcomes) + each
                search.tell("phase", message=f"{each} more examples: {lacking}")
            search.row = replace(row, examples=len(search.outcomes) + each)
            search.round_from = len(search.outcomes)
        search_with(replace(row, examples=each), seed_ + round_ * _ROUND_SEED)


def _shown_too_little(search: _Search) -> str | None:
    """Why the row's PASS would rest on too little, though nothing failed or broke:
    its invariants were judged too seldom, or its failure never happened; None when
    neither (or when something failed: then there is nothing more to search for)."""
    if search.failures or search.error is not None:
        return None
    judged = _judged(search.outcomes, search.row.invariants)
    thin = _inconclusive(search.outcomes, judged, search.row.min_judged)
    if thin is not None:
        return f"too little was judged ({thin})"
    coverage = add_coverage(o.coverage for o in search.outcomes)
    if not _exercised(coverage, search.row):
        return f"the row's failure has not happened yet ({', '.join(search.row.exercised_by)})"
    return None


def _exercised(coverage: Mapping[str, int], row: Row) -> bool:
    """Whether the row's failure happened at least once (a counter it names is > 0)."""
    return any(coverage.get(name, 0) > 0 for name in row.exercised_by)


def _hypothesis_test(
    example: Callable[[Schedule], None],
    design: Design,
    row: Row,
    variant: str,
    profile: Profile,
    seed_: int,
    database: Path | None,
    strategy_name: str = "guided",
) -> Callable[[], None]:
    strategy = schedules(
        design.workload,
        row.families,
        row.shape,
        partner=design.topology.has_partner,
        swarm=strategy_name == "swarm",
    )
    db = DirectoryBasedExampleDatabase(str(database or cache_dir() / "hypothesis-db"))
    configured = settings(
        max_examples=profile.examples_for(row),
        deadline=None,
        database=db,
        derandomize=False,
        print_blob=False,
        report_multiple_bugs=False,
        phases=PHASES,
        suppress_health_check=list(HealthCheck),
    )
    # settings outermost: @seed replaces the settings' database with None.
    search: Callable[[], None] = configured(
        seed(seed_)(hypothesis_given(schedule=strategy)(example))
    )
    # One example-database entry per (design, row, variant): failures found in
    # one run are tried first in the next. Swarm draws differently, so its
    # entries are its own.
    swarm = ":swarm" if strategy_name == "swarm" else ""
    search.hypothesis.inner_test._hypothesis_internal_add_digest = (  # type: ignore[attr-defined]
        f"{design.name}:{row.id}:{variant}{swarm}".encode()
    )

    def test() -> None:
        with harness_draws():
            search()

    return test


def _random_test(
    example: Callable[[Schedule], None], design: Design, row: Row, profile: Profile, seed_: int
) -> Callable[[], None]:
    """The baseline's run: the seed's random schedules in turn, up to the
    budget, ending at the first failure (which is reported as found: nothing
    shrinks it)."""

    def run() -> None:
        for schedule in random_schedules(
            seed_,
            design.workload,
            row.families,
            row.shape,
            partner=design.topology.has_partner,
            count=profile.examples_for(row),
        ):
            example(schedule)

    return run


def _save(outcome: ExampleOutcome) -> Path:
    path = outcome.history_path.with_suffix(".schedule.json")
    path.write_text(outcome.schedule.dumps(), encoding="utf-8")
    return path


def _unreplayed(search: _Search, workload: Workload) -> Counterexample:
    """The best failure so far, saved but not replayed (the run was interrupted)."""
    best = search.best()
    assert best is not None
    return Counterexample(
        schedule_lines=tuple(best.schedule.describe(workload)),
        schedule_path=_save(best),
        history_path=best.history_path,
        verdicts=best.violated(),
        reproduced=0,
        attempts=0,
    )


def _replays(
    runner: ExampleRunner,
    outcome: ExampleOutcome,
    profile: Profile,
    system: LiveSystem,
    until: float | None = None,
) -> tuple[list[ExampleOutcome], str | None]:
    """Replay a failing schedule; a harness error stops the replays (and is returned),
    and so does a budgeted row's time (``until``) after the first replay."""
    done: list[ExampleOutcome] = []
    for _ in range(profile.replays):
        if done and until is not None and time.monotonic() > until:
            break
        try:
            done.append(runner.run(outcome.schedule))
        except Exception as exc:
            error = f"replaying the counterexample broke: {type(exc).__name__}: {exc}"
            return done, _with_log_tails(error, system)
    return done, None


def _counterexample(
    runner: ExampleRunner, search: _Search, profile: Profile, system: LiveSystem
) -> tuple[Counterexample, str | None]:
    """The smallest failure Hypothesis was shown, replayed; if no replay fails, the
    next larger ones (up to `FALLBACKS`) in turn, and the first of them that fails
    again in its replays is the counterexample: a schedule that can be replayed
    is worth more than a smaller one that cannot."""
    ladder = sorted(search.told(), key=smallest_first)
    first = search.failures[0]
    first_schedule = _save(first)
    best = ladder[0]
    replays, error = _replays(runner, best, profile, system, search.until)
    skipped = 0
    if error is None and replays and not any(r.failed for r in replays):
        for i, larger in enumerate(ladder[1 : 1 + FALLBACKS], start=1):
            if search.until is not None and time.monotonic() > search.until:
                break
            again, error = _replays(runner, larger, profile, system, search.until)
            if error is not None:
                break
            if any(r.failed for r in again):
                best, replays, skipped = larger, again, i
                break
    return (
        Counterexample(
            schedule_lines=tuple(best.schedule.describe(runner.workload)),
            schedule_path=_save(best),
            history_path=best.history_path,
            verdicts=best.violated(),
            reproduced=sum(r.failed for r in replays),
            attempts=len(replays),
            unconfirmed=search.unconfirmed,
            unreplayable=skipped,
            original_schedule_path=first_schedule if first is not best else None,
            original_history_path=first.history_path if first is not best else None,
        ),
        error,
    )


def _late_failures(
    runner: ExampleRunner, search: _Search, design: Design, system: LiveSystem
) -> list[ExampleOutcome]:
    """Watch the partner for ``late_effects_s`` after the last example, then
    settle and judge again every example that got new side effects."""
    if system.partner_control is None or not search.outcomes:
        return []
    if search.tell is not None:
        search.tell(
            "phase",
            message=f"watching the partner {design.target.late_effects_s:g} s "
            "for late side effects",
        )
    _linger(search.last_example_at, design.target.late_effects_s)
    return runner.recheck(search.outcomes[search.round_from :])


def _linger(since: float, window_s: float) -> None:
    remaining = window_s - (time.monotonic() - since)
    if remaining > 0:
        time.sleep(remaining)


def _late_counterexample(
    runner: ExampleRunner,
    late: list[ExampleOutcome],
    profile: Profile,
    design: Design,
    system: LiveSystem,
) -> tuple[Counterexample, str | None]:
    """A failure only late side effects revealed: the example, not shrunk
    (Hypothesis had judged it passing), replayed with the same late watch."""
    best = min(late, key=smallest_first)
    replays, error = _replays(runner, best, profile, system)
    reproduced = sum(r.failed for r in replays)
    if error is None and replays:
        _linger(time.monotonic(), design.target.late_effects_s)
        caught = {o.number for o in runner.recheck([r for r in replays if not r.failed])}
        reproduced += len(caught)
    return (
        Counterexample(
            schedule_lines=tuple(best.schedule.describe(runner.workload)),
            schedule_path=_save(best),
            history_path=best.history_path,
            verdicts=tuple(v for v in best.verdicts if v.status == "invalid"),
            reproduced=reproduced,
            attempts=len(replays),
            late=True,
        ),
        error,
    )
