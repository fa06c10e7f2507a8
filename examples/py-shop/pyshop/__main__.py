"""python -m pyshop serve [--variant NAME]

Environment (docs/contracts.md section 1): PORT, INSTANCE_ID, DATABASE_URL,
PARTNER_URL, FAILMODEL_VARIANT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from aiohttp import web

from .app import Shop
from .options import VARIANTS
from .shipper import Shipper
from .store import Store

log = logging.getLogger("py-shop")

RETRY_START_S = 0.5


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        print(f"py-shop: {name} is not set", file=sys.stderr)
        sys.exit(2)
    return value


async def serve(variant: str) -> None:
    port = int(_env("PORT"))
    dsn = _env("DATABASE_URL")
    partner = _env("PARTNER_URL")
    instance = os.environ.get("INSTANCE_ID", "0")
    options = VARIANTS[variant]

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.set_exception_handler(
        lambda _loop, ctx: log.warning(
            "unhandled: %s %r", ctx.get("message"), ctx.get("exception")
        )
    )

    # Start-up waits for the store (a restart may come while it is still
    # unreachable): retry, never exit.
    store = Store(dsn, options, f"py-shop-{instance}")
    while not stopping.is_set():
        try:
            await store.open()
            break
        except Exception as exc:
            log.warning("store not ready: %r; retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RETRY_START_S)
    if stopping.is_set():
        return

    shipper = Shipper(partner, store, options)
    await shipper.start()
    shop = Shop(store, shipper, options)
    app = web.Application()
    app.add_routes(shop.routes())
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    while not stopping.is_set():
        try:
            await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
            break
        except OSError as exc:
            log.warning("cannot listen on %d: %r; retrying", port, exc)
            await asyncio.sleep(RETRY_START_S)
    print(f"py-shop: replica {instance} serving on 127.0.0.1:{port} (variant {variant})",
          file=sys.stderr, flush=True)

    await stopping.wait()
    await runner.cleanup()
    await shipper.stop()
    await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="py-shop")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--variant", default=os.environ.get("FAILMODEL_VARIANT") or "correct")
    args = parser.parse_args(argv)
    if args.variant not in VARIANTS:
        print(f"py-shop: unknown variant {args.variant!r}; known: {', '.join(VARIANTS)}",
              file=sys.stderr)
        return 2
    logging.basicConfig(
        level=os.environ.get("PYSHOP_LOG", "WARNING").upper(),
        format=f"%(asctime)s py-shop[{os.environ.get('INSTANCE_ID', '0')}] "
        "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("asyncpg").setLevel(logging.ERROR)
    asyncio.run(serve(args.variant))
    return 0


if __name__ == "__main__":
    sys.exit(main())
