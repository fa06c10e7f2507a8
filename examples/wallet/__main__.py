"""``python -m wallet serve [--variant V]``: one replica, set up by the contract's environment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from wallet import VARIANTS
from wallet.service import serve


async def _until_sigterm(port: int, url: str, variant: str) -> None:
    task = asyncio.ensure_future(serve(port, url, variant))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m wallet")
    parser.add_argument("role", choices=["serve"])
    parser.add_argument("--variant", choices=VARIANTS,
                        default=os.environ.get("FAILMODEL_VARIANT") or "correct")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set (the design lists postgres as a dependency)")
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format=f"%(asctime)s wallet[{os.environ.get('INSTANCE_ID', '0')}] "
                               "%(levelname)s %(message)s")
    asyncio.run(_until_sigterm(int(os.environ["PORT"]), url, args.variant))


main()
