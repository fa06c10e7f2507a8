"""`python -m targets.<name> <role> [--variant V]`: one entry point shape for every target."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence

from targets.common.config import MissingEnvironment, TargetEnv

Role = Callable[[TargetEnv], Awaitable[None]]

log = logging.getLogger("targets")


def run_target(
    name: str,
    roles: Mapping[str, Role],
    variants: Sequence[str],
    argv: Sequence[str] | None = None,
) -> None:
    """Parse the command line, then run the role until it ends or SIGTERM arrives.

    Exit status: 0 on SIGTERM or normal end, 2 on a usage error (unknown role or
    variant, missing environment), 1 if the role crashed.
    """
    parser = argparse.ArgumentParser(prog=f"python -m targets.{name}")
    parser.add_argument("role", choices=sorted(roles), help="which process to run")
    parser.add_argument(
        "--variant",
        default=os.environ.get("FAILMODEL_VARIANT") or "correct",
        help=f"behaviour to run: {', '.join(variants)} (default: $FAILMODEL_VARIANT or correct)",
    )
    args = parser.parse_args(argv)
    if args.variant not in variants:
        parser.error(f"unknown variant {args.variant!r}; accepted variants: {', '.join(variants)}")
    env = TargetEnv.from_environ(args.variant)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format=f"%(asctime)s {name}.{args.role}[{env.instance_id}] %(levelname)s %(name)s: "
        "%(message)s",
    )
    log.info("starting %s %s variant=%s", name, args.role, env.variant)
    try:
        asyncio.run(_until_sigterm(roles[args.role](env)))
    except MissingEnvironment as exc:
        log.error("%s", exc)
        sys.exit(2)
    except Exception:
        log.exception("%s %s crashed", name, args.role)
        sys.exit(1)
    log.info("stopped")


async def _until_sigterm(role: Awaitable[None]) -> None:
    """Run `role`; SIGTERM or SIGINT cancel it so its cleanup (finally blocks) runs."""
    task = asyncio.ensure_future(role)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
