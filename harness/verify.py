"""Verify a design: every failure-model row becomes a Hypothesis search.

For each row, Hypothesis draws schedules from the faults the row allows and
the runner plays them against one live system; a violated invariant is a
failing example, which Hypothesis shrinks. Real systems are nondeterministic,
so a failure that does not reproduce is not an error here: the first
failing example is kept as evidence, the smallest failing schedule is
replayed several times, and the report gives the reproduction rate.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import given as hypothesis_given
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Flaky

from harness.design import Design, Row
from harness.report import Counterexample, DesignReport, RowResult, RowStatus, write_report
from harness.schedule.coverage import add_coverage
from harness.schedule.model import Schedule
from harness.schedule.runner import ExampleOutcome, ExampleRunner
from harness.schedule.strategies import schedules
from harness.setup.cache import cache_dir
from harness.system import LiveSystem
from harness.workload.keys import new_run_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A search budget: examples per row, time allowed to shrink, replays."""

    name: str
    examples: int
    shrink_s: float
    replays: int


PROFILES = {
    "dev": Profile(name="dev", examples=6, shrink_s=40.0, replays=2),
    "ci": Profile(name="ci", examples=12, shrink_s=90.0, replays=3),
    "nightly": Profile(name="nightly", examples=100, shrink_s=600.0, replays=5),
}


class RowViolation(AssertionError):
    """Raised inside the Hypothesis test when an example violates an invariant."""

    def __init__(self, outcome: ExampleOutcome) -> None:
        names = ", ".join(v.invariant for v in outcome.violated())
        super().__init__(f"example {outcome.number} violated {names}")
        self.outcome = outcome


@dataclass(slots=True)
class _Search:
    """What one row's search saw: every outcome, the failures, the time budget."""

    row: Row
    profile: Profile
    outcomes: list[ExampleOutcome] = field(default_factory=list)
    failures: list[ExampleOutcome] = field(default_factory=list)
    first_failure_at: float | None = None
    error: str | None = None

    def best(self) -> ExampleOutcome | None:
        return min(self.failures, key=lambda o: (o.schedule.size(), o.number), default=None)

    def out_of_time(self) -> bool:
        return (
            self.first_failure_at is not None
            and time.monotonic() - self.first_failure_at > self.profile.shrink_s
        )


def replay_command(design: Design, row: Row, variant: str, profile: str, seed_: int) -> str:
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
    log: bool = True,
) -> DesignReport:
    """Run every (selected) row of ``design`` against ``variant``. The report is
    rewritten after every row, so an interrupted run keeps what it found."""
    if variant not in design.target.variants:
        raise ValueError(
            f"{design.path}: unknown variant {variant!r}; "
            f"variants: {', '.join(design.target.variants)}"
        )
    chosen = [design.row(r) for r in rows] if rows else list(design.rows)
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_id = new_run_id()
    base_seed = seed_ if seed_ is not None else int.from_bytes(bytes.fromhex(run_id)[:4], "big")
    results: list[RowResult] = []

    def report() -> DesignReport:
        return DesignReport(
            design_name=design.name,
            design_path=design.path,
            variant=variant,
            profile=profile.name,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            rows=tuple(results),
        )

    with LiveSystem(
        design.target_spec(variant), redis_persistence=design.services.redis_persistence
    ) as system:
        for i, row in enumerate(chosen):
            row_seed = base_seed + i if seed_ is None else seed_
            if log:
                print(
                    f"[{design.name}/{variant}] row {row.id}: searching (seed {row_seed})",
                    flush=True,
                )
            result = verify_row(
                system,
                design,
                row,
                variant=variant,
                profile=profile,
                seed_=row_seed,
                out_dir=out_dir / row.id,
                run_id=f"{run_id}{i}",
            )
            results.append(result)
            write_report(report(), out_dir)
            if log:
                print(
                    f"[{design.name}/{variant}] row {row.id}: {result.status} "
                    f"({result.examples} examples, {result.duration_s:.1f} s)",
                    flush=True,
                )
                if result.status == "FAIL":
                    print(f"  seed {result.seed}; replay: {result.replay_command}", flush=True)
    final = report()
    write_report(final, out_dir)
    return final


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
) -> RowResult:
    started = time.monotonic()
    search = _Search(row=row, profile=profile)
    error: str | None = None
    with ExampleRunner(
        system,
        workload=design.workload,
        invariants=row.invariants,
        out_dir=out_dir,
        run_id=run_id,
    ) as runner:

        def example(schedule: Schedule) -> None:
            if search.error is not None:
                return  # the harness broke: stop searching, report it below
            if search.out_of_time():
                # Shrinking budget spent: only the best failure still fails, so
                # Hypothesis ends on it without running anything more.
                best = search.best()
                if best is not None and schedule == best.schedule:
                    raise RowViolation(best)
                return
            try:
                outcome = runner.run(schedule)
            except Exception as exc:
                # Not a verdict: the harness or the target's start-up broke.
                # Every later example passes at once, so Hypothesis ends
                # (as Flaky) instead of shrinking a harness error.
                search.error = f"{type(exc).__name__}: {exc}"
                raise
            search.outcomes.append(outcome)
            if outcome.failed:
                search.failures.append(outcome)
                if search.first_failure_at is None:
                    search.first_failure_at = time.monotonic()
                raise RowViolation(outcome)

        test = _hypothesis_test(example, design, row, variant, profile, seed_)
        try:
            test()
        except (RowViolation, Flaky):
            pass  # the failures are in `search`; Flaky = did not reproduce
        except Exception as exc:  # the harness or target broke: not a verdict
            search.error = search.error or f"{type(exc).__name__}: {exc}"
        if search.error is not None:
            error = search.error
            tails = system.log_tails()
            if tails:
                error += "\n" + "\n".join(f"--- {n} ---\n{t}" for n, t in tails.items())

        counterexample = _counterexample(runner, search, profile) if search.failures else None

    coverage = add_coverage(o.coverage for o in search.outcomes)
    exercised = any(coverage.get(name, 0) > 0 for name in row.exercised_by)
    status: RowStatus
    if counterexample is not None:
        status = "FAIL"
    elif error is not None:
        status = "ERROR"
    elif not exercised:
        status = "NOT EXERCISED"
    else:
        status = "PASS"
    return RowResult(
        row_id=row.id,
        failure_mode=row.failure_mode,
        correct_behaviour=row.correct_behaviour,
        mechanism=row.mechanism,
        status=status,
        invariants=row.invariants,
        examples=len(search.outcomes),
        duration_s=time.monotonic() - started,
        coverage=coverage,
        counterexample=counterexample,
        seed=seed_,
        replay_command=replay_command(design, row, variant, profile.name, seed_),
        error=error,
        first_failure_s=(
            None if search.first_failure_at is None else search.first_failure_at - started
        ),
    )


def _hypothesis_test(
    example: Callable[[Schedule], None],
    design: Design,
    row: Row,
    variant: str,
    profile: Profile,
    seed_: int,
) -> Callable[[], None]:
    strategy = schedules(design.workload, row.families, row.shape)
    db = DirectoryBasedExampleDatabase(str(cache_dir() / "hypothesis-db"))
    configured = settings(
        max_examples=row.examples or profile.examples,
        deadline=None,
        database=db,
        derandomize=False,
        print_blob=False,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    # settings outermost: @seed replaces the settings' database with None.
    test: Callable[[], None] = configured(seed(seed_)(hypothesis_given(schedule=strategy)(example)))
    # One example-database entry per (design, row, variant): failures found in
    # one run are tried first in the next.
    test.hypothesis.inner_test._hypothesis_internal_add_digest = (  # type: ignore[attr-defined]
        f"{design.name}:{row.id}:{variant}".encode()
    )
    return test


def _counterexample(runner: ExampleRunner, search: _Search, profile: Profile) -> Counterexample:
    best = search.best()
    assert best is not None
    first = search.failures[0]
    schedule_path = best.history_path.with_suffix(".schedule.json")
    schedule_path.write_text(best.schedule.dumps(), encoding="utf-8")
    first_schedule = first.history_path.with_suffix(".schedule.json")
    first_schedule.write_text(first.schedule.dumps(), encoding="utf-8")
    reproduced = sum(runner.run(best.schedule).failed for _ in range(profile.replays))
    return Counterexample(
        schedule_lines=tuple(best.schedule.describe()),
        schedule_path=schedule_path,
        history_path=best.history_path,
        verdicts=best.violated(),
        reproduced=reproduced,
        attempts=profile.replays,
        original_schedule_path=first_schedule if first is not best else None,
        original_history_path=first.history_path if first is not best else None,
    )
