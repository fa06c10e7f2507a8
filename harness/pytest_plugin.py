"""The pytest entry point: every failure-model row of a design file is a test item.

``pytest designs/checkout.toml --failmodel-variant read_then_write`` collects one
item per row; the items of one design file share one ``LiveSystem``, started
when the first of them runs and stopped when pytest leaves the file (or at
session end), so a run provisions each design once, like ``failmodel verify``.
Rows are ordinary items: ``-k``, ``-m failmodel_row``, ``-x`` and ``--lf``
select and stop them, and under pytest-xdist (``-n 2``) each worker runs its
share of the rows on a system of its own (its own ports and processes) and
writes its own report under ``<report dir>/<design>-<variant>/<worker>/``.

For users' own tests the plugin also has fixtures (docs/pytest.md):
``failmodel_system`` (the live system of a design chosen by the
``failmodel_design`` marker or ini option), ``failmodel_nemesis`` (faults by
name), ``failmodel_partner``, ``failmodel_client`` and ``failmodel_run`` (one
schedule, judged); each wraps a plain piece of ``harness.testing``.

Installed, pytest loads this module through the ``pytest11`` entry point
``failmodel``; from a checkout that is not installed, pass
``-p harness.pytest_plugin`` (the repo's ``tests/conftest.py`` does so itself).
Heavy imports (Hypothesis, service clients) happen only once a design file is
collected, so the plugin costs nothing in unrelated pytest runs.
"""

from __future__ import annotations

import contextlib
import re
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.schedule import STRATEGIES

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr, TracebackStyle

    from harness.design import Design, Row
    from harness.history import Recorder
    from harness.report import RowResult
    from harness.schedule.model import Schedule
    from harness.schedule.runner import ExampleOutcome
    from harness.system import LiveSystem
    from harness.testing import Client, Faults, Partner, SystemUnderTest

__all__ = ["DesignFile", "RowItem", "parse_profile", "parse_seed"]

PROFILE_NAMES = ("dev", "ci", "nightly")
_EVIDENCE_SHOWN = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class _Options:
    """The validated ``--failmodel-*`` options of one pytest run."""

    variant: str
    profile: str
    seed: int | None
    strategy: str
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
        "--failmodel-strategy",
        default="guided",
        choices=STRATEGIES,
        help="how each row's schedules are drawn: guided (default), swarm or random "
        "(a Jepsen-style baseline without search or shrinking)",
    )
    group.addoption(
        "--failmodel-report",
        "--failmodel-out",
        dest="failmodel_report",
        default="reports/pytest",
        metavar="DIR",
        help="report folder: reports, histories and schedules of rows and of tests using "
        "the failmodel fixtures (default: reports/pytest)",
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
    parser.addini(
        "failmodel_design",
        "design file (from the rootdir) whose live system the failmodel_system fixture "
        "provides, unless a test's failmodel_design marker names another",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "failmodel_row(row_id, taxonomy): a failure-model row of a design file, "
        "collected by the failmodel plugin",
    )
    config.addinivalue_line(
        "markers",
        "failmodel_design(path, variant=None): the design file (from the rootdir) and variant "
        "whose live system the failmodel_* fixtures of the test use",
    )
    out = Path(config.getoption("failmodel_report"))
    config.stash[_OPTIONS] = _Options(
        variant=config.getoption("failmodel_variant"),
        profile=parse_profile(config.getoption("failmodel_profile")),
        seed=parse_seed(config.getoption("failmodel_seed")),
        strategy=config.getoption("failmodel_strategy"),
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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """In ``--junitxml`` output a row's testcase is named as ``failmodel verify
    --junit`` names it: classname = the design's name, name = the row id."""
    if not isinstance(item, RowItem):
        return
    from _pytest.junitxml import xml_key

    xml = item.config.stash.get(xml_key, None)
    if xml is not None:
        xml.node_reporter(item.nodeid).add_attribute("classname", item.design_name)


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
                strategy=self.options.strategy,
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


def xdist_worker(config: pytest.Config) -> str | None:
    """The pytest-xdist worker id (``gw0``, ...) of this process, or None."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    return str(worker) if worker else None


def _design_run(config: pytest.Config, design: Design, options: _Options) -> _DesignRun:
    from harness.workload.keys import new_run_id

    out_dir = options.out / f"{design.name}-{options.variant}"
    worker = xdist_worker(config)
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
    def design_name(self) -> str:
        return self.design_file.run.design.name

    @property
    def design_file(self) -> DesignFile:
        assert isinstance(self.parent, DesignFile)
        return self.parent

    def runtest(self) -> None:
        from harness.verify import PROFILES, verify_row

        run = self.design_file.run
        design, options = run.design, run.options
        seed = options.seed if options.seed is not None else run.base_seed + self.index
        system = self.system_record(run)
        result = verify_row(
            run.system,
            design,
            self.row,
            variant=options.variant,
            profile=PROFILES[options.profile],
            seed_=seed,
            out_dir=run.out_dir / self.row.id,
            run_id=f"{run.run_id}{self.index}",
            strategy=options.strategy,
        )
        run.record(result)
        system["ended"] = time.time()
        self.user_properties.append(("failmodel_system", system))
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
            if result.status == "INTERRUPTED":
                raise KeyboardInterrupt(f"row {self.row.id} interrupted by {result.interrupted}")
            # A verdict found before the signal is reported, and no row runs after it.
            self.session.shouldstop = f"row {self.row.id} interrupted by {result.interrupted}"
        raise RowFailed(failure_message(self.row, result))

    def system_record(self, run: _DesignRun) -> dict[str, Any]:
        """Where the row runs: worker, run directory, the system's ports and pids
        (to tell side-by-side xdist workers apart), and when (``started``/``ended``)."""
        return {
            "worker": xdist_worker(self.config) or "main",
            "run_dir": str(run.out_dir),
            "ports": run.system.ports(),
            "pids": run.system.pids(),
            "started": time.time(),
        }

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
    if cx.timing_note:
        lines.append(cx.timing_note)
    lines.append(f"history: {cx.history_path}")
    lines.append(f"seed {result.seed}; replay: {result.replay_command}")
    return "\n".join(lines)


# -- fixtures for users' own tests (docs/pytest.md) ---------------------------------


class _Systems:
    """The fixtures' live systems: one (design, variant) at a time, kept from
    test to test and stopped when another is needed or the session ends. A
    system that fails to start is not started again for the next test."""

    def __init__(self) -> None:
        self._key: tuple[Path, str] | None = None
        self._sut: SystemUnderTest | None = None
        self._exit = contextlib.ExitStack()
        self._failed: dict[tuple[Path, str], str] = {}
        self.designs: dict[Path, Design] = {}

    def get(self, design: Design, variant: str) -> SystemUnderTest:
        from harness.testing import open_system

        key = (design.path.resolve(), variant)
        if key in self._failed:
            pytest.fail(
                f"the system of {design.path} (variant {variant}) failed to start for an "
                f"earlier test:\n{self._failed[key]}",
                pytrace=False,
            )
        if self._key != key or self._sut is None:
            self.stop()
            try:
                self._sut = self._exit.enter_context(open_system(design, variant))
            except Exception as exc:
                self.stop()
                self._failed[key] = f"{type(exc).__name__}: {exc}"
                raise
            self._key = key
        return self._sut

    def discard(self) -> None:
        """Stop the current system (it could not be healed): the next test gets a new one."""
        self.stop()

    def stop(self) -> None:
        self._key, self._sut = None, None
        self._exit.close()


_SYSTEMS = pytest.StashKey[_Systems]()


def _systems(config: pytest.Config) -> _Systems:
    if _SYSTEMS not in config.stash:
        config.stash[_SYSTEMS] = _Systems()
        config.add_cleanup(config.stash[_SYSTEMS].stop)
    return config.stash[_SYSTEMS]


def _design_choice(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(design path, variant or None) for a test: an indirect parameter of
    ``failmodel_design`` (a path or (path, variant)), else the closest
    ``failmodel_design`` marker, else the ``failmodel_design`` ini option."""
    callspec = getattr(request.node, "callspec", None)
    param = callspec.params.get("failmodel_design") if callspec is not None else None
    if param is not None:
        if isinstance(param, tuple | list):
            return str(param[0]), str(param[1])
        return str(param), None
    marker = request.node.get_closest_marker("failmodel_design")
    if marker is not None:
        path = marker.args[0] if marker.args else marker.kwargs.get("path")
        if not path:
            pytest.fail("@pytest.mark.failmodel_design needs the design file's path", pytrace=False)
        variant = marker.kwargs.get("variant")
        return str(path), None if variant is None else str(variant)
    path = str(request.config.getini("failmodel_design") or "")
    if not path:
        pytest.fail(
            f"{request.node.nodeid} uses a failmodel fixture but names no design: mark it "
            "@pytest.mark.failmodel_design('designs/x.toml') or set 'failmodel_design' in the "
            "pytest ini options",
            pytrace=False,
        )
    return path, None


@pytest.fixture
def failmodel_design(request: pytest.FixtureRequest) -> Design:
    """The design a test's failmodel fixtures use (loaded and validated once)."""
    from harness.design import InvalidDesign, load_design

    text, _ = _design_choice(request)
    path = Path(text)
    if not path.is_absolute():
        path = request.config.rootpath / path
    systems = _systems(request.config)
    if path not in systems.designs:
        try:
            systems.designs[path] = load_design(path)
        except (InvalidDesign, OSError) as exc:
            pytest.fail(str(exc), pytrace=False)
    return systems.designs[path]


@pytest.fixture
def failmodel_variant(request: pytest.FixtureRequest, failmodel_design: Design) -> str:
    """The variant: the marker's (or parameter's) ``variant``, else ``--failmodel-variant``."""
    _, variant = _design_choice(request)
    chosen = variant or request.config.stash[_OPTIONS].variant
    if chosen not in failmodel_design.target.variants:
        pytest.fail(
            f"{failmodel_design.path}: variant must be one of "
            f"{', '.join(failmodel_design.target.variants)} (got {chosen!r})",
            pytrace=False,
        )
    return chosen


@pytest.fixture
def failmodel_system(
    request: pytest.FixtureRequest, failmodel_design: Design, failmodel_variant: str
) -> Iterator[SystemUnderTest]:
    """The live system of the test's design: started by the first test that
    needs it, shared by the following tests of the same design and variant,
    and swept after each test (proxies reset, partner faults cleared, every
    process resumed and running), so a test never inherits another's faults."""
    from harness.history import Recorder
    from harness.nemesis.nemesis import Nemesis

    systems = _systems(request.config)
    sut = systems.get(failmodel_design, failmodel_variant)
    yield sut
    try:
        Nemesis(sut.live, Recorder()).heal_all()
    except Exception:
        systems.discard()
        raise


def _test_dir(request: pytest.FixtureRequest) -> Path:
    """``<report dir>/tests/[<worker>/]<test>``: where a test's histories go."""
    options = request.config.stash[_OPTIONS]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")[:150]
    worker = xdist_worker(request.config)
    return options.out / "tests" / (worker or "") / name


@pytest.fixture
def failmodel_recorder(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """The test's history (JSON Lines in its report folder), shared by the
    client and the nemesis fixtures so calls and faults share one timeline."""
    from harness.history import Recorder

    directory = _test_dir(request)
    (directory / "history.jsonl").unlink(missing_ok=True)
    recorder = Recorder(directory / "history.jsonl")
    yield recorder
    recorder.close()


@pytest.fixture
def failmodel_nemesis(
    failmodel_system: SystemUnderTest, failmodel_recorder: Recorder
) -> Iterator[Faults]:
    """Faults by name: ``failmodel_nemesis.start("partition:postgres")``
    (a context manager too); every fault is healed when the test ends."""
    from harness.testing import Faults

    with Faults(failmodel_system, failmodel_recorder) as faults:
        yield faults


@pytest.fixture
def failmodel_partner(failmodel_system: SystemUnderTest) -> Partner:
    """The partner: its effects since the test started, its faults and declines."""
    from harness.testing import Partner

    return Partner(failmodel_system)


@pytest.fixture
def failmodel_client(
    failmodel_system: SystemUnderTest, failmodel_recorder: Recorder
) -> Iterator[Client]:
    """The workload's synchronous client, with fresh ids in ``.keys``."""
    from harness.testing import Client

    with Client(failmodel_system, failmodel_recorder) as client:
        yield client


@pytest.fixture
def failmodel_run(
    request: pytest.FixtureRequest, failmodel_system: SystemUnderTest
) -> Callable[..., ExampleOutcome]:
    """``failmodel_run(schedule, row=None, invariants=None)``: play one schedule
    (a ``Schedule`` or a ``*.schedule.json`` path) as one example and judge it."""
    from harness.testing import run_schedule

    directory = _test_dir(request)
    runs = iter(range(1_000_000))

    def run(
        schedule: Schedule | str | Path,
        *,
        row: str | None = None,
        invariants: Sequence[str] | None = None,
    ) -> ExampleOutcome:
        return run_schedule(
            failmodel_system,
            schedule,
            out_dir=directory / f"run-{next(runs)}",
            row=row,
            invariants=invariants,
        )

    return run
