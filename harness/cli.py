"""The ``failmodel`` command line.

Exit codes: 0 every row passed, 1 a row failed (or errored), 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from harness.plain import show

if TYPE_CHECKING:
    from harness.design import Design

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="failmodel",
        description="Make a design's failure-model table executable: provision real "
        "services, inject faults drawn by Hypothesis, check invariants, report per row.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    setup = sub.add_parser("setup", help="install PostgreSQL, Redis, Toxiproxy and Kafka (cached)")
    setup.add_argument("--quiet", action="store_true")

    verify = sub.add_parser("verify", help="run every row of design files as a Hypothesis search")
    verify.add_argument(
        "designs", nargs="+", type=Path, help="design files (*.toml) or folders of them"
    )
    verify.add_argument("--variant", default="correct", help="target variant (default: correct)")
    verify.add_argument("--profile", default="dev", help="budget: dev, ci or nightly")
    verify.add_argument("--row", action="append", default=[], help="only this row (repeatable)")
    verify.add_argument(
        "--seed", type=_bounded(0, MAX_SEED), help="Hypothesis seed (replays a search)"
    )
    verify.add_argument("--out", type=Path, default=Path("reports"), help="report folder")

    replay = sub.add_parser("replay", help="replay a saved schedule (from a report) N times")
    replay.add_argument("schedule", type=Path, help="a *.schedule.json file from a report")
    replay.add_argument("--design", type=Path, required=True)
    replay.add_argument("--row", required=True, help="the row whose invariants to check")
    replay.add_argument("--variant", default="correct")
    replay.add_argument(
        "--times", type=_bounded(1, MAX_TIMES), default=3, help=f"1..{MAX_TIMES} (default: 3)"
    )
    replay.add_argument("--out", type=Path, default=Path("reports") / "replays")
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
    from harness.setup import SetupError
    from harness.setup import setup as run_setup

    try:
        run_setup(quiet=args.quiet)
    except SetupError as exc:
        print(f"failmodel setup: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from harness.design import InvalidDesign, UnknownRow, load_design
    from harness.report import format_summary
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
    worst = EXIT_OK
    for design in designs:
        out_dir = args.out / f"{design.name}-{args.variant}"
        try:
            report = verify_design(
                design,
                variant=args.variant,
                profile=PROFILES[args.profile],
                rows=args.row or None,
                seed_=args.seed,
                out_dir=out_dir,
            )
        except Exception as exc:  # could not even provision: say why, go on
            print(f"failmodel verify: {design.path}: {exc}", file=sys.stderr)
            worst = EXIT_FAIL
            continue
        print(format_summary(report))
        print(f"report: {out_dir / 'report.md'}")
        worst = max(worst, report.exit_code)
    return worst


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
        LiveSystem(spec, redis_persistence=design.services.redis_persistence) as system,
        ExampleRunner(
            system,
            workload=design.workload,
            invariants=row.invariants,
            out_dir=args.out,
            run_id=new_run_id(),
        ) as runner,
    ):
        for i in range(args.times):
            outcome = runner.run(schedule)
            failed += outcome.failed
            names = ", ".join(v.invariant for v in outcome.violated()) or "none"
            print(f"replay {i + 1}/{args.times}: violated {names} ({outcome.history_path})")
    print(f"reproduced {failed}/{args.times}")
    return EXIT_FAIL if failed else EXIT_OK


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
    try:
        nul = next((a for a in arguments if "\0" in a), None)
        if nul is not None:
            raise UsageError(f"failmodel: an argument contains a NUL byte ({show(nul)})")
        args = _parser().parse_args(arguments)
        return handlers[args.command](args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "failmodel: interrupted; every fault was healed and every process stopped",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
