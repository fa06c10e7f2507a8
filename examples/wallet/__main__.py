"""``python -m wallet serve|relay [--variant V]``: a replica or the outbox relay, from the
contract's environment (docs/contracts.md section 1)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable

from wallet import VARIANTS
from wallet.notify import relay
from wallet.service import serve


async def _until_sigterm(role: Awaitable[None]) -> None:
    task = asyncio.ensure_future(role)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set (the design lists its dependency)")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m wallet")
    parser.add_argument("role", choices=["serve", "relay"])
    parser.add_argument("--variant", choices=VARIANTS,
                        default=os.environ.get("FAILMODEL_VARIANT") or "correct")
    args = parser.parse_args()
    db, partner = _env("DATABASE_URL"), _env("PARTNER_URL")
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format=f"%(asctime)s wallet.{args.role}"
                               f"[{os.environ.get('INSTANCE_ID', '0')}] %(levelname)s %(message)s")
    if args.role == "relay":
        role = relay(db, partner)
    else:
        role = serve(int(_env("PORT")), db, partner, args.variant)
    asyncio.run(_until_sigterm(role))


main()
