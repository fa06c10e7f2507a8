"""How the detection tests judge a design: every row passes, or a fresh search catches a bug.

Shared by the reference designs' matrix and the third-party targets, so that
"caught" and "passes" mean the same everywhere: each search starts from an
empty example database (a fresh find, not a stored counterexample found
again), and a catch counts once its counterexample reproduces at least once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.design import Design, Row
from harness.report import DesignReport, RowResult
from harness.verify import Profile, verify_design
from harness.workload.keys import example_prefix

DETECT = Profile(name="detect", examples=20, shrink_s=20.0, replays=3)
PASS_ALL = Profile(name="ci", examples=8, shrink_s=20.0, replays=2)
SEARCHES = 4


def verified(design: Design, **options: Any) -> DesignReport:
    """``verify_design``, but a run stopped by Ctrl-C or SIGTERM stops the test session
    too. The library heals, writes the partial report and returns it with
    ``interrupted`` set; a test that went on would start the next seed of its hunt,
    or the next test, as if nobody had asked it to stop."""
    report = verify_design(design, **options)
    if report.interrupted is not None:
        raise KeyboardInterrupt(f"{design.name}: interrupted by {report.interrupted}")
    return report


def describe(row: RowResult) -> str:
    """A row's outcome, enough to debug a failed expectation from CI's log alone."""
    lines = [f"{row.row_id}: {row.status} after {row.examples} examples; coverage {row.coverage}"]
    if row.reason:
        lines.append(row.reason)
    if row.error:
        lines.append(row.error[-3000:])
    if row.counterexample:
        lines += [v.summary for v in row.counterexample.verdicts]
        lines += row.counterexample.schedule_lines
    return "\n".join(lines)


def assert_every_row_passes(
    design: Design,
    out_dir: Path,
    *,
    profile: Profile = PASS_ALL,
    seed: int = 20261121,
    rows: Iterable[str] | None = None,
    backend: str = "local",
) -> DesignReport:
    """Verify the correct variant; fail with every non-PASS row described. A row that
    asks for more examples than the profile (to meet a rare timing) gets them."""
    report = verified(
        design,
        variant="correct",
        profile=profile,
        rows=None if rows is None else list(rows),
        seed_=seed,
        out_dir=out_dir,
        database=out_dir / "examples-db",
        log=False,
        backend=backend,
    )
    bad = [r for r in report.rows if r.status != "PASS"]
    assert not bad, "\n\n".join(describe(r) for r in bad)
    return report


def hunt(
    design: Design,
    variant: str,
    row_id: str,
    out_dir: Path,
    *,
    profile: Profile = DETECT,
    searches: int = SEARCHES,
    first_seed: int = 7,
    backend: str = "local",
    strategy: str = "guided",
) -> tuple[DesignReport, RowResult]:
    """Up to ``searches`` fresh searches of one row, each with its own seed and empty
    example database, until one finds a failure that reproduces: on a real system a
    search can be unlucky, or find a failure its replays do not show again. The
    caught row is returned; its report and minimal schedule must be on disk."""
    report, tries = search_until(
        lambda r: r.counterexample is not None and r.counterexample.reproduced >= 1,
        design,
        variant,
        row_id,
        out_dir,
        seeds=range(first_seed, first_seed + searches),
        profile=profile,
        backend=backend,
        strategy=strategy,
    )
    row, seed = tries[-1], first_seed + len(tries) - 1
    assert row.status == "FAIL", "\n\n".join(describe(r) for r in tries)
    assert row.counterexample is not None
    assert row.counterexample.reproduced >= 1, "a caught bug must reproduce at least once"
    assert report.exit_code == 1
    assert (out_dir / f"seed-{seed}" / "report.md").exists(), "a failing run writes its report"
    assert row.counterexample.schedule_path.exists()
    return report, row


def search_until(
    done: Callable[[RowResult], bool],
    design: Design,
    variant: str,
    row_id: str,
    out_dir: Path,
    *,
    seeds: Iterable[int],
    profile: Profile,
    backend: str = "local",
    strategy: str = "guided",
) -> tuple[DesignReport, list[RowResult]]:
    """Fresh searches of one row, a seed and an empty example database each, until
    one is ``done``: the last report, and every search's row in order."""
    tries: list[RowResult] = []
    for seed in seeds:
        report = verified(
            design,
            variant=variant,
            profile=profile,
            rows=[row_id],
            seed_=seed,
            out_dir=out_dir / f"seed-{seed}",
            database=out_dir / f"examples-db-{seed}",
            log=False,
            backend=backend,
            strategy=strategy,
        )
        (row,) = report.rows
        tries.append(row)
        if done(row):
            break
    return report, tries


def violated(row: RowResult) -> set[str]:
    """The invariants a caught row's minimal counterexample breaks."""
    assert row.counterexample is not None
    return {v.invariant for v in row.counterexample.verdicts}


def shard_rows(design: Design, shards: int) -> list[list[str]]:
    """The design's rows in ``shards`` groups of about equal examples (table order
    within each); every row in exactly one."""
    groups: list[list[Row]] = [[] for _ in range(shards)]
    load = [0] * shards
    for row in sorted(design.rows, key=lambda r: -PASS_ALL.examples_for(r)):
        k = load.index(min(load))
        groups[k].append(row)
        load[k] += PASS_ALL.examples_for(row)
    order = {row.id: n for n, row in enumerate(design.rows)}
    return [sorted((r.id for r in g), key=order.__getitem__) for g in groups if g]


def without_example_prefix(value: Any) -> Any:
    """``value`` with the example prefix cut from every contract id in it, nested
    dicts and lists included (``<run>-<n>-order-3`` -> ``order-3``): what two
    examples' requests have in common when one replays the other."""
    if isinstance(value, str):
        prefix = example_prefix(value)
        return value if prefix is None else value[len(prefix) + 1 :]
    if isinstance(value, dict):
        return {k: without_example_prefix(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_example_prefix(v) for v in value]
    return value
