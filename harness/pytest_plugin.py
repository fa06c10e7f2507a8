"""The pytest entry point: every failure-model row of a design file is a test item.

``pytest designs/checkout.toml --failmodel-variant read_then_write`` collects one
item per row; the items of one design file share one ``LiveSystem``, started
when the first of them runs and stopped when pytest leaves the file (or at
session end), so a run provisions each design once, like ``failmodel verify``.

Installed, pytest loads this module through the ``pytest11`` entry point
``failmodel``; from a checkout that is not installed, pass
``-p harness.pytest_plugin`` (the repo's ``tests/conftest.py`` does so itself).
Heavy imports (Hypothesis, service clients) happen only once a design file is
collected, so the plugin costs nothing in unrelated pytest runs.
"""

from __future__ import annotations

import contextlib
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from harness.design import Design, Row
    from harness.report import RowResult
    from harness.system import LiveSystem

__all__ = ["DesignFile", "RowItem", "parse_profile", "parse_seed"]

PROFILE_NAMES = ("dev", "ci", "nightly")
_EVIDENCE_SHOWN = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class _Options:
    """The validated ``--failmodel-*`` options of one pytest run."""

    variant: str
    profile: str
    seed: int | None
    out: Path
    allow_unexercised: bool
    allow_inconclusive: bool


_OPTIONS = pytest.StashKey[_Options]()


def parse_profile(value: str) -> str:
    """``--failmodel-profile``: one of the search budgets of ``failmodel verify``."""
    if value not in PROFILE_NAMES:
        raise pytest.UsageError(
            f"--failmodel-profile must be one of {', '.join(PROFILE_NAMES)} (got {value!r})"
        )
    return value


def parse_seed(value: str | None) -> int | None:
    """``--failmodel-seed``: an integer, the same for every row (as ``failmodel verify --seed``)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(
            f"--failmodel-seed must be an integer such as 1234, as printed in a FAIL "
            f"message (got {value!r})"
        ) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("failmodel", "failure-model verification of design files (*.toml)")
    group.addoption(
        "--failmodel-variant",
        default="correct",
        metavar="NAME",
        help="target variant to verify, one of the design's target.variants (default: correct)",
    )
    group.addoption(
        "--failmodel-profile",
        default="dev",
        metavar="NAME",
        help=f"search budget per row: {', '.join(PROFILE_NAMES)} (default: dev)",
    )
    group.addoption(
        "--failmodel-seed",
        default=None,
        metavar="INT",
        help="Hypothesis seed for every row (replays a search; default: random per row)",
    )
    group.addoption(
        "--failmodel-out",
        default="reports/pytest",
        metavar="DIR",
        help="folder for reports, histories and schedules (default: reports/pytest)",
    )
    group.addoption(
        "--failmodel-allow-unexercised",
        action="store_true",
        default=False,
        help="skip, instead of fail, rows whose faults never met an operation",
    )
    group.addoption(
        "--failmodel-allow-inconclusive",
        action="store_true",
        default=False,
        help="skip, instead of fail, rows whose invariants were judged on too few examples",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "failmodel_row(row_id, taxonomy): a failure-model row of a design file, "
        "collected by the failmodel plugin",
    )
    out = Path(config.getoption("failmodel_out"))
    config.stash[_OPTIONS] = _Options(
        variant=config.getoption("failmodel_variant"),
        profile=parse_profile(config.getoption("failmodel_profile")),
        seed=parse_seed(config.getoption("failmodel_seed")),
        out=out if out.is_absolute() else config.invocation_params.dir / out,
        allow_unexercised=config.getoption("failmodel_allow_unexercised"),
        allow_inconclusive=config.getoption("failmodel_allow_inconclusive"),
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DesignFile | None:
    if file_path.suffix != ".toml":
        return None
    try:
        data = tomllib.loads(file_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        # A broken file named on the command line is reported by the loader;
        # one met while walking a folder may not be a design at all.
        if parent.session.isinitpath(file_path):
            return DesignFile.from_parent(parent, path=file_path)
        return None
    if isinstance(data.get("target"), dict) and "rows" in data:
        return DesignFile.from_parent(parent, path=file_path)
    return None


class RowFailed(Exception):
    """A row's verdict was not PASS; the message is the whole explanation."""


@dataclass(slots=True)
class _DesignRun:
    """One design file in this pytest process: its live system and the rows run so far."""

    design: Design
    options: _Options
    out_dir: Path
    base_seed: int
    run_id: str
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    started: float = field(default_factory=time.monotonic)
    results: list[RowResult] = field(default_factory=list)
    _exit: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _system: LiveSystem | None = None

    def start(self) -> None:
        """Provision the design's services and target; a failed start leaves nothing running."""
        from harness.system import LiveSystem

        spec = self.design.target_spec(self.options.variant)
        self._system = self._exit.enter_context(
            LiveSystem(
                spec,
                redis_persistence=self.design.services.redis_persistence,
                images=self.design.services.images,
            )
        )

    @property
    def system(self) -> LiveSystem:
        assert self._system is not None, "the design file's setup starts the system"
        return self._system

    def stop(self) -> None:
        """Stop the live system if it runs; safe to call again (teardown, then cleanup)."""
        self._system = None
        self._exit.close()

    def record(self, result: RowResult) -> None:
        """Keep a row's result and rewrite the report, so an interrupted run keeps it."""
        from harness.report import DesignReport, write_report

        self.results = [r for r in self.results if r.row_id != result.row_id] + [result]
        write_report(
            DesignReport(
                design_name=self.design.name,
                design_path=self.design.path,
                variant=self.options.variant,
                profile=self.options.profile,
                started_at=self.started_at,
                duration_s=time.monotonic() - self.started,
                rows=tuple(self.results),
            ),
            self.out_dir,
        )


class DesignFile(pytest.File):
    """A design file; collecting it loads and validates it, running it provisions it."""

    _run: _DesignRun

    def collect(self) -> list[RowItem]:
        from harness.design import InvalidDesign, load_design

        options = self.config.stash[_OPTIONS]
        try:
            design = load_design(self.path)
        except InvalidDesign as exc:
            raise self.CollectError(str(exc)) from exc
        if options.variant not in design.target.variants:
            raise self.CollectError(
                f"{self.path}: --failmodel-variant must be one of the design's target.variants "
                f"{', '.join(design.target.variants)} (got {options.variant!r})"
            )
        self._run = _design_run(self.config, design, options)
        return [
            RowItem.from_parent(self, name=row.id, row=row, index=index)
            for index, row in enumerate(design.rows)
        ]

    @property
    def run(self) -> _DesignRun:
        return self._run

    def setup(self) -> None:
        """pytest enters this file (its first selected row is about to run): provision.

        A failed start is raised once here and, by pytest, again for every
        other row of the file, so a broken stack is not provisioned per row.
        """
        self._run.start()

    def teardown(self) -> None:
        """pytest leaves this file (its last row ran, or the session ends): stop the system."""
        self._run.stop()


def _design_run(config: pytest.Config, design: Design, options: _Options) -> _DesignRun:
    from harness.workload.keys import new_run_id

    out_dir = options.out / f"{design.name}-{options.variant}"
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker:  # pytest-xdist: each worker provisions its own system and writes its own report
        out_dir = out_dir / worker
    run_id = new_run_id()
    base_seed = (
        options.seed
        if options.seed is not None
        else int.from_bytes(bytes.fromhex(run_id)[:4], "big")
    )
    run = _DesignRun(
        design=design, options=options, out_dir=out_dir, base_seed=base_seed, run_id=run_id
    )
    config.add_cleanup(run.stop)
    return run


class RowItem(pytest.Item):
    """One failure-model row: a Hypothesis search of fault schedules on the shared system."""

    def __init__(self, *, row: Row, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row = row
        self.index = index  # the row's place in the file: seeds and run ids follow it
        self.add_marker(pytest.mark.failmodel_row(row.id, taxonomy=row.taxonomy))

    @property
    def design_file(self) -> DesignFile:
        assert isinstance(self.parent, DesignFile)
        return self.parent

    def runtest(self) -> None:
        from harness.verify import PROFILES, verify_row

        run = self.design_file.run
        design, options = run.design, run.options
        seed = options.seed if options.seed is not None else run.base_seed + self.index
        result = verify_row(
            run.system,
            design,
            self.row,
            variant=options.variant,
            profile=PROFILES[options.profile],
            seed_=seed,
            out_dir=run.out_dir / self.row.id,
            run_id=f"{run.run_id}{self.index}",
        )
        run.record(result)
        line = row_line(result)
        self.user_properties.append(("failmodel", line))
        self.add_report_section("call", "failmodel", line)
        if result.status == "PASS":
            return
        if result.status == "NOT EXERCISED" and options.allow_unexercised:
            pytest.skip(
                f"{unexercised_message(self.row, result)} (allowed by "
                "--failmodel-allow-unexercised)"
            )
        if result.status == "INCONCLUSIVE" and options.allow_inconclusive:
            pytest.skip(
                f"row {self.row.id} INCONCLUSIVE: {result.reason} (allowed by "
                "--failmodel-allow-inconclusive)"
            )
        if result.interrupted is not None:
            raise KeyboardInterrupt(f"row {self.row.id} interrupted by {result.interrupted}")
        raise RowFailed(failure_message(self.row, result))

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, RowFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.design_file.run.design.name}::{self.row.id}"


def row_line(result: RowResult) -> str:
    """The row's one-line report, attached to the test report as a string (survives xdist)."""
    return (
        f"{result.row_id}: {result.status} ({result.examples} examples, "
        f"{result.duration_s:.1f} s, seed {result.seed})"
    )


def unexercised_message(row: Row, result: RowResult) -> str:
    counters = ", ".join(f"{k}={v}" for k, v in sorted(result.coverage.items())) or "none"
    return (
        f"row {row.id} NOT EXERCISED: none of its exercised_by counters "
        f"({', '.join(row.exercised_by)}) went above 0 in {result.examples} examples, so "
        f"the row proved nothing (coverage: {counters})"
    )


def failure_message(row: Row, result: RowResult) -> str:
    """What a user needs to act on a non-PASS row, without opening the report."""
    if result.status == "ERROR":
        return f"row {row.id} ERROR (the harness or target broke; no verdict):\n{result.error}"
    if result.status == "NOT EXERCISED":
        return (
            unexercised_message(row, result)
            + "; pass --failmodel-allow-unexercised to skip such rows instead of failing"
        )
    if result.status == "INCONCLUSIVE":
        return (
            f"row {row.id} INCONCLUSIVE (judged on too few examples, so not a PASS): "
            f"{result.reason}; pass --failmodel-allow-inconclusive to skip such rows instead"
        )
    cx = result.counterexample
    assert cx is not None, "a FAIL row always has a counterexample"
    lines = [f"row {row.id} FAIL: {row.failure_mode}", f"  expected: {row.correct_behaviour}"]
    for verdict in cx.violated:
        lines.append(f"  {verdict.invariant} {verdict.status}: {verdict.summary}")
        lines.extend(f"    - {e.message}" for e in verdict.evidence[:_EVIDENCE_SHOWN])
        if len(verdict.evidence) > _EVIDENCE_SHOWN:
            lines.append(f"    ... {len(verdict.evidence) - _EVIDENCE_SHOWN} more in the report")
    lines.append("minimal schedule:")
    lines.extend(f"  {s}" for s in cx.schedule_lines)
    lines.append(f"reproduced {cx.reproduced}/{cx.attempts} replays of the minimal schedule")
    lines.append(f"history: {cx.history_path}")
    lines.append(f"seed {result.seed}; replay: {result.replay_command}")
    return "\n".join(lines)
