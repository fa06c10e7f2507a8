"""The ``failmodel`` command line.

Exit codes: 0 every row passed, 1 a row failed, errored or was inconclusive,
2 usage or configuration error, 130 / 143 stopped by SIGINT / SIGTERM (after
healing every fault, stopping every process and writing the report).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.interrupt import Interrupted, signal_name, stop_on_signals

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
BACKENDS = ("local", "containers")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="failmodel",
        description="Make a design's failure-model table executable: provision real "
        "services, inject faults drawn by Hypothesis, check invariants, report per row.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    setup = sub.add_parser("setup", help="install PostgreSQL, Redis, Toxiproxy and Kafka (cached)")
    setup.add_argument("--quiet", action="store_true")
    setup.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="containers: also a Docker engine and the locally built images (docs/containers.md)",
    )

    verify = sub.add_parser("verify", help="run every row of design files as a Hypothesis search")
    verify.add_argument(
        "designs", nargs="+", type=Path, help="design files (*.toml) or folders of them"
    )
    verify.add_argument("--variant", default="correct", help="target variant (default: correct)")
    verify.add_argument("--profile", default="dev", help="budget: dev, ci or nightly")
    verify.add_argument("--row", action="append", default=[], help="only this row (repeatable)")
    verify.add_argument("--seed", type=int, help="Hypothesis seed (replays a search)")
    verify.add_argument("--out", type=Path, default=Path("reports"), help="report folder")
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

    replay = sub.add_parser("replay", help="replay a saved schedule (from a report) N times")
    replay.add_argument("schedule", type=Path, help="a *.schedule.json file from a report")
    replay.add_argument("--design", type=Path, required=True)
    replay.add_argument("--row", required=True, help="the row whose invariants to check")
    replay.add_argument("--variant", default="correct")
    replay.add_argument("--times", type=int, default=3)
    replay.add_argument("--out", type=Path, default=Path("reports") / "replays")
    replay.add_argument("--backend", choices=BACKENDS, help="local or containers")

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
    from harness.setup import SetupError
    from harness.setup import setup as run_setup

    try:
        run_setup(quiet=args.quiet, backend=args.backend)
    except SetupError as exc:
        print(f"failmodel setup: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from harness.design import InvalidDesign, load_design
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
        for d in designs:
            if args.variant not in d.target.variants:
                raise InvalidDesign(
                    f"{d.path}: no variant {args.variant!r}; variants: "
                    f"{', '.join(d.target.variants)}"
                )
            for r in args.row:
                d.row(r)
    except (InvalidDesign, FileNotFoundError, KeyError) as exc:
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
                backend=args.backend,
            )
        except Exception as exc:  # could not even provision: say why, go on
            print(f"failmodel verify: {design.path}: {exc}", file=sys.stderr)
            worst = EXIT_FAIL
            continue
        print(format_summary(report))
        print(f"report: {out_dir / 'report.md'}")
        if report.interrupted:
            print(
                f"failmodel: interrupted by {report.interrupted}; every fault was healed and "
                f"every process stopped; partial report: {out_dir / 'report.md'}",
                file=sys.stderr,
            )
            return 128 + signal.Signals[report.interrupted].value
        worst = max(worst, report.exit_code_for(allow_inconclusive=args.allow_inconclusive))
    return worst


def _cmd_replay(args: argparse.Namespace) -> int:
    from harness.design import InvalidDesign, load_design
    from harness.schedule.model import Schedule
    from harness.schedule.runner import ExampleRunner
    from harness.system import LiveSystem
    from harness.workload.keys import new_run_id

    try:
        design = load_design(args.design)
        row = design.row(args.row)
        schedule = Schedule.from_json(json.loads(args.schedule.read_text()))
    except (InvalidDesign, KeyError, OSError, ValueError) as exc:
        print(f"failmodel replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
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


def _cmd_check_history(args: argparse.Namespace) -> int:
    from invariants.linearizability._cli import check_history_file

    return check_history_file(args.file, args.model, timeout=args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"setup": _cmd_setup, "verify": _cmd_verify, "replay": _cmd_replay}
    handlers["check-history"] = _cmd_check_history
    try:
        with stop_on_signals():
            return handlers[args.command](args)
    except KeyboardInterrupt as exc:
        print(
            f"failmodel: interrupted by {signal_name(exc)}; every fault was healed and every "
            "process stopped",
            file=sys.stderr,
        )
        return exc.exit_code if isinstance(exc, Interrupted) else 130


if __name__ == "__main__":
    sys.exit(main())
