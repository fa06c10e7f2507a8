"""The ``failmodel`` command line.

Exit codes: 0 every row passed, 1 a row failed, errored or was inconclusive,
2 usage or configuration error, 130 / 143 stopped by SIGINT / SIGTERM (after
healing every fault, stopping every process and writing the report).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from harness.interrupt import Interrupted, signal_name, stop_on_signals
from harness.plain import show
from harness.schedule import STRATEGIES

if TYPE_CHECKING:
    from harness.design import Design
    from harness.report import DesignReport

from harness.limits import MAX_EXAMPLES, MAX_JOBS, MAX_REPLICAS, parse_duration

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141
MAX_TIMES = 1000
MAX_SEED = 2**64 - 1


class UsageError(Exception):
    """A bad command line or input file, found before anything started: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block) and exit code 2 via ``main``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``low..high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high} (got {text!r})")
        return value

    return parse


def _duration(text: str) -> float:
    """An argparse type: a duration (``90s``, ``10m``, ``1h``) in seconds."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


BACKENDS = ("local", "containers")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="failmodel",
        description="Make a design's failure-model table executable: provision real "
        "services, inject faults drawn by Hypothesis, check invariants, report per row.",
        epilog="scripts/failmodel also runs 'test' (the test suite, set-up included) and "
        "'env' (prints the exports that put failmodel's Python and cache in your shell, "
        "for benchmarks and your own scripts: eval \"$(scripts/failmodel env)\").",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    setup = sub.add_parser("setup", help="install PostgreSQL, Redis, Toxiproxy and Kafka (cached)")
    setup.add_argument("--quiet", action="store_true", help="print nothing")
    setup.add_argument(
        "--brief",
        action="store_true",
        help="print only the steps that install something (what, and how long it took)",
    )
    setup.add_argument(
        "--with",
        dest="components",
        action="append",
        default=[],
        metavar="COMPONENT",
        help="also install an optional component: chromium (headless browser for the "
        "HTML report's tests)",
    )
    setup.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="containers: also a Docker engine and the locally built images (docs/containers.md)",
    )
    setup.add_argument(
        "--engine-for",
        type=int,
        metavar="PID",
        help="a Docker engine this set-up starts is stopped once process PID is gone and no "
        "failmodel run uses it (the README's commands pass their own pid); without it, "
        "an engine started here stays up",
    )

    verify = sub.add_parser("verify", help="run every row of design files as a Hypothesis search")
    verify.add_argument(
        "designs", nargs="+", type=Path, help="design files (*.toml) or folders of them"
    )
    verify.add_argument("--variant", default="correct", help="target variant (default: correct)")
    verify.add_argument("--profile", default="dev", help="budget: dev, ci or nightly")
    verify.add_argument("--row", action="append", default=[], help="only this row (repeatable)")
    verify.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="guided",
        help="how schedules are drawn: guided (Hypothesis draws, shrinking, an example database; "
        "default), swarm (the same, each example from a random subset of the row's faults "
        "and operations) or random (a Jepsen-style baseline: no search, no shrinking)",
    )
    verify.add_argument(
        "--seed", type=_bounded(0, MAX_SEED), help="Hypothesis seed (replays a search)"
    )
    verify.add_argument(
        "--out",
        "--report-dir",
        dest="out",
        type=Path,
        default=Path("reports"),
        help="report folder (default: reports); each design writes <design>-<variant>/"
        "report.{md,json,html} in it",
    )
    verify.add_argument(
        "--examples",
        type=_bounded(1, MAX_EXAMPLES),
        metavar="N",
        help="examples per row, overriding the profile's budget and the rows' own",
    )
    verify.add_argument(
        "--budget",
        type=_duration,
        metavar="DURATION",
        help="a time budget (90s, 10m, 1h) instead of example counts: spread over the rows, "
        "a row that found a failure leaves its time to the rows after it",
    )
    verify.add_argument(
        "--jobs",
        type=_bounded(1, MAX_JOBS),
        default=1,
        metavar="N",
        help="run the rows of each design on N independent stacks in parallel (default: 1)",
    )
    verify.add_argument(
        "--database",
        type=Path,
        metavar="DIR",
        help="the Hypothesis example database: failures a run finds are tried first by the "
        "next run with the same DIR (default: hypothesis-db in the cache; an empty folder "
        "gives a fresh search)",
    )
    verify.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write JUnit XML: one testsuite per design, one testcase per row",
    )
    verify.add_argument(
        "--backend",
        choices=BACKENDS,
        help="where the services run: local processes or containers "
        "(default: $FAILMODEL_BACKEND, else local)",
    )
    verify.add_argument(
        "--allow-inconclusive",
        action="store_true",
        help="do not fail the run for INCONCLUSIVE rows (invariants judged on too few examples)",
    )
    verify.add_argument(
        "--allow-unexercised",
        action="store_true",
        help="do not fail the run for NOT EXERCISED rows (the row's failure never happened)",
    )

    replay = sub.add_parser("replay", help="replay a saved schedule (from a report) N times")
    replay.add_argument("schedule", type=Path, help="a *.schedule.json file from a report")
    replay.add_argument("--design", type=Path, required=True)
    replay.add_argument("--row", required=True, help="the row whose invariants to check")
    replay.add_argument("--variant", default="correct")
    replay.add_argument(
        "--times", type=_bounded(1, MAX_TIMES), default=3, help=f"1..{MAX_TIMES} (default: 3)"
    )
    replay.add_argument("--out", type=Path, default=Path("reports") / "replays")
    replay.add_argument("--backend", choices=BACKENDS, help="local or containers")

    merge = sub.add_parser(
        "merge-reports",
        help="join the reports of one design's shards (runs of some --row each) into one",
    )
    merge.add_argument(
        "parts", nargs="+", type=Path, help="report.json files, or the folders holding them"
    )
    merge.add_argument(
        "--out", type=Path, required=True, help="the folder for the merged report.{md,json,html}"
    )

    listing = sub.add_parser(
        "list", help="show a design's rows, faults, invariants and variants (runs nothing)"
    )
    listing.add_argument(
        "designs", nargs="+", type=Path, help="design files (*.toml) or folders of them"
    )

    sub.add_parser(
        "doctor", help="what is installed, which versions, what is missing and how to fix it"
    )

    init = sub.add_parser("init", help="write a starter design file for your service, then list it")
    init.add_argument(
        "--workload",
        required=True,
        help="the contract your service speaks: inventory, payments, matching or kv "
        "(docs/contracts.md), or custom: a [workload] skeleton to describe your own API "
        "(docs/workloads.md)",
    )
    init.add_argument(
        "--command",
        required=True,
        dest="target_command",
        help='how to start one replica, e.g. "./bin/shop serve" (split like a shell would, '
        "run without one); {root} is the folder above the design file's folder (the "
        "project root when designs live in <project>/designs/)",
    )
    init.add_argument(
        "--prepare",
        help='a command run once before the replicas start, e.g. "make build": a build '
        "that may take longer than a replica's start (split like --command)",
    )
    init.add_argument(
        "--name", help="the design's name (default: the workload's; needed with custom)"
    )
    init.add_argument(
        "--dependencies",
        help="comma-separated, every one your service uses (the harness starts them and "
        "faults their links): postgres, redis, kafka, partner (default: postgres for kv, "
        "which has no partner effects; partner otherwise)",
    )
    init.add_argument(
        "--replicas", type=_bounded(1, MAX_REPLICAS), default=2, help="default: 2"
    )
    init.add_argument("--out", type=Path, help="where to write it (default: designs/<name>.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    history = sub.add_parser(
        "check-history",
        help="check a history file for linearizability (exit 0 yes, 1 no, 2 unknown or error)",
    )
    history.add_argument("file", type=Path, help="a failmodel JSONL history, Jepsen log or EDN")
    history.add_argument("--model", required=True, help="cas-register or kv")
    history.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    return parser


def _design_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(p.glob("*.toml")))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no design file or folder at {p}")
    if not files:
        raise FileNotFoundError(f"no design files (*.toml) in {', '.join(map(str, paths))}")
    return files


def _cmd_setup(args: argparse.Namespace) -> int:
    from harness.console import setup_progress
    from harness.progress import no_setup_progress
    from harness.setup import SetupError
    from harness.setup import setup as run_setup

    progress = no_setup_progress if args.quiet else setup_progress(ready=not args.brief)
    try:
        run_setup(
            progress=progress,
            components=args.components,
            backend=args.backend,
            engine_for=args.engine_for,
        )
    except SetupError as exc:
        print(f"failmodel setup: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from harness.design import InvalidDesign, UnknownRow, load_design
    from harness.report import format_summary, html_path, write_junit
    from harness.verify import PROFILES, verify_design

    if args.profile not in PROFILES:
        print(
            f"failmodel verify: --profile must be one of {', '.join(PROFILES)} "
            f"(got {args.profile!r})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        designs = [load_design(p) for p in _design_files(args.designs)]
        _check_out(args.out)
        _check_unique("--row", args.row)
        _check_unique("design name", [d.name for d in designs])
        for d in designs:
            _check_variant(d, args.variant)
            for r in args.row:
                d.row(r)
    except (InvalidDesign, OSError, UnknownRow, UsageError) as exc:
        print(f"failmodel verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.budget is not None and args.examples is not None:
        print("failmodel verify: give --budget or --examples, not both", file=sys.stderr)
        return EXIT_USAGE
    from harness.listing import missing_note, unanswered_note

    for design in designs:
        for note in (missing_note(design), unanswered_note(design)):
            if note is not None:
                print(f"failmodel verify: note: {note}", file=sys.stderr)
    from harness.budget import RunBudget
    from harness.console import verify_progress
    from harness.jobs import verify_in_jobs

    progress = verify_progress(sys.stdout)
    worst = EXIT_OK
    reports: list[DesignReport] = []
    stopped_by: str | None = None
    profile = PROFILES[args.profile]
    chosen = [[d.row(r) for r in args.row] if args.row else list(d.rows) for d in designs]
    weights = [sum(map(profile.examples_for, rows)) for rows in chosen]
    plan = None if args.budget is None else RunBudget(args.budget, weights)
    for i, design in enumerate(designs):
        out_dir = args.out / f"{design.name}-{args.variant}"
        budget_s = None if plan is None else max(1.0, plan.start(i))
        try:
            if args.jobs > 1 and len(chosen[i]) > 1:
                report = verify_in_jobs(
                    design,
                    jobs=args.jobs,
                    rows=chosen[i],
                    options=_job_options(args, budget_s),
                    out_dir=out_dir,
                    weight=profile.examples_for,
                )
            else:
                report = verify_design(
                    design,
                    variant=args.variant,
                    profile=profile,
                    rows=args.row or None,
                    seed_=args.seed,
                    out_dir=out_dir,
                    progress=progress,
                    examples=args.examples,
                    backend=args.backend,
                    budget_s=budget_s,
                    strategy=args.strategy,
                    database=args.database,
                )
        except Exception as exc:  # could not even provision: say why, go on
            print(f"failmodel verify: {design.path}: {exc}", file=sys.stderr)
            worst = EXIT_FAIL
            continue
        finally:
            stop = getattr(progress, "stop", None)
            if callable(stop):  # a live terminal line must end before the summary
                stop()
            if plan is not None:
                plan.finish(i)
        reports.append(report)
        print(format_summary(report))
        print(f"report: {html_path(out_dir)} (and report.md, report.json)")
        if report.interrupted:
            stopped_by = report.interrupted
            print(
                f"failmodel: interrupted by {report.interrupted}; every fault was healed and "
                f"every process stopped; partial report: {out_dir / 'report.md'}",
                file=sys.stderr,
            )
            break
        worst = max(worst, verify_exit_code(report, args))
    if args.junit is not None:
        write_junit(reports, args.junit)
        print(f"junit: {args.junit}")
    if len(designs) > 1:
        print(overall_summary(reports, args.out, variant=args.variant))
    if stopped_by is not None:
        return 128 + signal.Signals[stopped_by].value
    return worst


def verify_exit_code(report: DesignReport, args: argparse.Namespace) -> int:
    """A design's exit code under the command line's ``--allow-*`` options."""
    return report.exit_code_for(
        allow_inconclusive=args.allow_inconclusive, allow_unexercised=args.allow_unexercised
    )


def _job_options(args: argparse.Namespace, budget_s: float | None) -> list[str]:
    """The options each ``--jobs`` child gets: this run's, the design's budget share."""
    options = ["--variant", args.variant, "--profile", args.profile]
    for name, value in (("--seed", args.seed), ("--examples", args.examples)):
        if value is not None:
            options += [name, str(value)]
    if args.backend is not None:
        options += ["--backend", args.backend]
    if args.strategy != "guided":
        options += ["--strategy", args.strategy]
    if args.database is not None:
        options += ["--database", str(args.database.resolve())]
    if budget_s is not None:
        options += ["--budget", f"{budget_s:.1f}s"]
    return options


def overall_summary(reports: Sequence[DesignReport], out: Path, *, variant: str) -> str:
    """One table for a run of several designs: status and row counts per design."""
    from harness.report import ROW_STATUSES

    width = max([len("design"), *(len(r.design_name) for r in reports)])
    lines = ["", f"{'design':<{width}}  {'status':<13}  rows", "-" * (width + 40)]
    for r in reports:
        counts = ", ".join(f"{r.count(s)} {s}" for s in ROW_STATUSES if r.count(s))
        lines.append(f"{r.design_name:<{width}}  {r.status:<13}  {counts or 'no rows'}")
    total = {s: sum(r.count(s) for r in reports) for s in ROW_STATUSES}
    shown = ", ".join(f"{n} {s}" for s, n in total.items() if n)
    lines.append(
        f"all designs ({variant}): {shown or 'no rows'}; reports in "
        f"{out}/<design>-{variant}/report.html"
    )
    return "\n".join(lines)


def _cmd_replay(args: argparse.Namespace) -> int:
    from harness.design import InvalidDesign, UnknownRow, load_design
    from harness.schedule.decode import load_schedule
    from harness.schedule.model import InvalidSchedule
    from harness.schedule.runner import ExampleRunner
    from harness.system import LiveSystem
    from harness.workload.keys import new_run_id

    try:
        design = load_design(args.design)
        row = design.row(args.row)
        _check_variant(design, args.variant)
        _check_out(args.out)
        schedule = load_schedule(
            args.schedule, workload=design.workload, topology=design.topology
        )
    except (InvalidDesign, UnknownRow, InvalidSchedule, UsageError) as exc:
        raise UsageError(f"failmodel replay: {exc}") from exc
    failed = 0
    spec = design.target_spec(args.variant)
    with (
        LiveSystem(
            spec,
            redis_persistence=design.services.redis_persistence,
            backend=args.backend,
            images=design.services.images,
        ) as system,
        ExampleRunner(
            system,
            workload=design.workload,
            invariants=row.invariants,
            out_dir=args.out,
            run_id=new_run_id(),
            settle_timeout_s=design.target.settle_timeout_s,
            reads=design.target.reads,
        ) as runner,
    ):
        for i in range(args.times):
            outcome = runner.run(schedule)
            failed += outcome.failed
            names = ", ".join(v.invariant for v in outcome.violated()) or "none"
            print(f"replay {i + 1}/{args.times}: violated {names} ({outcome.history_path})")
    print(f"reproduced {failed}/{args.times}")
    return EXIT_FAIL if failed else EXIT_OK


def _cmd_merge_reports(args: argparse.Namespace) -> int:
    from harness.merge import merge_reports, read_report, table_order
    from harness.report import format_summary, html_path, write_report

    try:
        _check_out(args.out)
        parts = [read_report(p) for p in args.parts]
        merged = merge_reports(parts, table_order(parts[0]))
    except ValueError as exc:
        raise UsageError(f"failmodel merge-reports: {exc}") from exc
    write_report(merged, args.out)
    print(format_summary(merged))
    print(f"report: {html_path(args.out)} (and report.md, report.json)")
    return merged.exit_code


def _cmd_list(args: argparse.Namespace) -> int:
    from harness.design import InvalidDesign, load_design
    from harness.listing import describe_design

    try:
        designs = [load_design(p) for p in _design_files(args.designs)]
    except (InvalidDesign, FileNotFoundError) as exc:
        print(f"failmodel list: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("\n\n".join(describe_design(d) for d in designs))
    return EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import checks, render

    found = checks()
    print(render(found))
    return EXIT_FAIL if any(c.blocking for c in found) else EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    import shlex

    from harness.design import InvalidDesign, load_design
    from harness.listing import describe_design
    from harness.starter import STARTER_WORKLOADS, starter_design

    if args.workload not in STARTER_WORKLOADS:
        print(
            f"failmodel init: --workload must be one of {', '.join(STARTER_WORKLOADS)} "
            f"(got {args.workload!r})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.workload == "custom" and not args.name:
        print(
            "failmodel init: --workload custom needs --name NAME: your design and its "
            "workload are named after it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    name = args.name or args.workload
    path = args.out or Path("designs") / f"{name}.toml"
    dependencies = args.dependencies or ("postgres" if args.workload == "kv" else "partner")
    try:
        text = starter_design(
            name=name,
            workload=args.workload,
            command=shlex.split(args.target_command),
            dependencies=[d.strip() for d in dependencies.split(",") if d.strip()],
            replicas=args.replicas,
            prepare=shlex.split(args.prepare or ""),
            path=str(path),
        )
    except ValueError as exc:
        print(f"failmodel init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if path.exists() and not args.force:
        print(
            f"failmodel init: {path} exists; pass --force to overwrite it, or --out elsewhere",
            file=sys.stderr,
        )
        return EXIT_USAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        design = load_design(path)
    except InvalidDesign as exc:  # a bug of init itself: say so plainly
        print(f"failmodel init: the written design does not load: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"wrote {path}: answer every 'EDIT:' in it, then run: failmodel verify {path}")
    print()
    print(describe_design(design))
    return EXIT_OK


def _cmd_check_history(args: argparse.Namespace) -> int:
    from invariants.linearizability._cli import check_history_file

    return check_history_file(args.file, args.model, timeout=args.timeout)


def _check_variant(design: Design, variant: str) -> None:
    if variant not in design.target.variants:
        raise UsageError(
            f"{design.path}: --variant must be one of the design's variants "
            f"{', '.join(design.target.variants)} (got {variant!r})"
        )


def _check_unique(what: str, values: Sequence[str]) -> None:
    """Reports are per design name and row: a repeated one would overwrite the first."""
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        raise UsageError(f"{what} {repeated!r} is given twice; each must be unique")


def _check_out(out: Path) -> None:
    """Reports go under ``--out``: a file in the way would fail only after the run."""
    try:
        existing = next(p for p in (out, *out.parents) if p.exists())
        is_dir = existing.is_dir()
    except OSError as exc:  # e.g. a name too long
        raise UsageError(
            f"--out must be a usable folder (got {str(out)!r}: {exc.strerror})"
        ) from exc
    if not is_dir:
        raise UsageError(f"--out must be a folder (got {str(out)!r}; {str(existing)!r} is a file)")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    handlers = {"setup": _cmd_setup, "verify": _cmd_verify, "replay": _cmd_replay}
    handlers["check-history"] = _cmd_check_history
    handlers["merge-reports"] = _cmd_merge_reports
    handlers.update(list=_cmd_list, doctor=_cmd_doctor, init=_cmd_init)
    try:
        nul = next((a for a in arguments if "\0" in a), None)
        if nul is not None:
            raise UsageError(f"failmodel: an argument contains a NUL byte ({show(nul)})")
        args = _parser().parse_args(arguments)
        with stop_on_signals():
            return handlers[args.command](args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print(
            f"failmodel: interrupted by {signal_name(exc)}; every fault was healed and every "
            "process stopped",
            file=sys.stderr,
        )
        return exc.exit_code if isinstance(exc, Interrupted) else 130
    except BrokenPipeError:
        # The reader went away (`failmodel list | head`): no traceback, and the
        # interpreter's own final flush must not raise again. 141 = 128 + SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
