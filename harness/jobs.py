"""Rows in parallel (``failmodel verify --jobs N``): N independent stacks.

Each job is a ``failmodel verify --row ...`` child process with its own
LiveSystem (own ports, run directory and data dirs, as any two harness
processes have), its own signal handling and its own Hypothesis. Processes,
not threads: a signal reaches only a main thread, and a job must be stopped
by one in the middle of an example to heal its faults. The parent splits the
rows, shows the jobs' lines, passes SIGINT / SIGTERM on to every job and waits
for them to heal and stop, then merges their reports in the table's row order.
Each job's group is recorded with the reaper, so none outlives the parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from harness.child_env import child_env
from harness.design import Design, Row
from harness.interrupt import signal_name
from harness.limits import MAX_BUDGET_S
from harness.merge import merge_reports, read_report
from harness.provision.process import ManagedProcess
from harness.report import DesignReport, write_report

POLL_S = 0.5
HEAL_TIMEOUT_S = 180.0
"""How long an interrupted job may take to heal its faults and stop its stack."""
MAX_RUN_S = MAX_BUDGET_S + 3600.0


def split_rows(rows: Sequence[Row], jobs: int, weight: Callable[[Row], int]) -> list[list[Row]]:
    """At most ``jobs`` groups of similar total weight (heaviest row first to the
    lightest group), each in the table's order; no group is empty."""
    groups: list[list[Row]] = [[] for _ in range(min(jobs, len(rows)))]
    totals = [0] * len(groups)
    for row in sorted(rows, key=weight, reverse=True):
        k = totals.index(min(totals))
        groups[k].append(row)
        totals[k] += weight(row)
    order = {row.id: i for i, row in enumerate(rows)}
    return [sorted(g, key=lambda r: order[r.id]) for g in groups]


@dataclass(slots=True)
class _Job:
    """One child ``failmodel verify`` and how far its log has been shown."""

    index: int
    rows: list[Row]
    process: ManagedProcess
    out: Path
    shown: int = 0
    partial: bytes = field(default=b"")

    def show_new_lines(self, say: Callable[[str], None]) -> None:
        try:
            with open(self.process.log_path, "rb") as fh:
                fh.seek(self.shown)
                data = fh.read()
        except FileNotFoundError:
            return
        self.shown += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            say(f"[job {self.index + 1}] {line.decode('utf-8', errors='replace')}")


def verify_in_jobs(
    design: Design,
    *,
    jobs: int,
    rows: Sequence[Row],
    options: Sequence[str],
    out_dir: Path,
    weight: Callable[[Row], int],
    say: Callable[[str], None] = print,
) -> DesignReport:
    """Verify ``rows`` of ``design`` on ``jobs`` child processes and merge their
    reports into ``out_dir``. ``options`` are the ``failmodel verify`` options every
    job gets (variant, profile, seed, budget...), never ``--row`` or ``--out``;
    ``weight`` is a row's examples, by which the rows are split."""
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    variant = options[options.index("--variant") + 1]
    groups = split_rows(rows, jobs, weight)
    running: list[_Job] = []
    interrupted: str | None = None
    try:
        for k, group in enumerate(groups):
            running.append(_start(design, k, group, options, out_dir))
            say(f"[job {k + 1}] rows {', '.join(r.id for r in group)}: {running[-1].out}")
        _wait(running, say, until=started + MAX_RUN_S)
    except KeyboardInterrupt as exc:
        interrupted = signal_name(exc)
        for job in running:
            if job.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(job.process.pid, signal.Signals[interrupted])
        _wait(running, say, until=time.monotonic() + HEAL_TIMEOUT_S)
    finally:
        for job in running:
            job.process.stop()  # a job past its time: SIGTERM, then SIGKILL
    profile = options[options.index("--profile") + 1]
    parts = [_report(design, job, variant, profile) for job in running]
    merged = merge_reports(parts, [r.id for r in rows])
    report = replace(
        merged,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        interrupted=interrupted or merged.interrupted,
    )
    write_report(report, out_dir)
    return report


def _start(design: Design, k: int, rows: list[Row], options: Sequence[str], out_dir: Path) -> _Job:
    out = out_dir / "jobs" / str(k + 1)
    argv = [sys.executable, "-m", "harness", "verify", str(design.path), *options]
    argv += ["--out", str(out), *(a for row in rows for a in ("--row", row.id))]
    process = ManagedProcess(
        f"job {k + 1}",
        argv,
        env=child_env({"PYTHONUNBUFFERED": "1"}),
        log_path=out_dir / "jobs" / f"{k + 1}.log",
    )
    process.start()
    return _Job(index=k, rows=rows, process=process, out=out)


def _wait(jobs: Sequence[_Job], say: Callable[[str], None], *, until: float) -> None:
    """Show the jobs' lines until every job has exited or ``until`` has passed."""
    while time.monotonic() < until:
        for job in jobs:
            job.show_new_lines(say)
        if not any(job.process.alive for job in jobs):
            return
        time.sleep(POLL_S)


def _report(design: Design, job: _Job, variant: str, profile: str) -> DesignReport:
    """The job's report, with an ERROR row for each of its rows it does not have
    (the job broke before writing them)."""
    from harness.verify import broken_row

    path = job.out / f"{design.name}-{variant}"
    try:
        found = read_report(path)
    except ValueError as exc:
        found = DesignReport(
            design_name=design.name,
            design_path=design.path,
            variant=variant,
            profile=profile,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=0.0,
            rows=(),
        )
        why = str(exc)
    else:
        why = "its report does not have the row"
    have = {r.row_id for r in found.rows}
    tail = job.process.log_tail(20)
    code = job.process.returncode
    missing = tuple(
        broken_row(
            design,
            row,
            variant,
            f"job {job.index + 1} (exit code {code}) did not report the row: {why}\n{tail}",
            profile=profile,
        )
        for row in job.rows
        if row.id not in have
    )
    return replace(found, rows=found.rows + missing)
