"""Run the partner: ``python -m harness.partner --host 127.0.0.1 --port P [--ledger PATH]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from harness.partner.app import build_app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m harness.partner",
        description="failmodel's partner service (payment provider, warehouse, notifications).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--ledger", type=Path, help="append every effect to this JSONL file")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"'--port' must be in 1..65535 (got {args.port})")
    web.run_app(
        build_app(ledger_path=args.ledger),
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda _: print(f"partner listening on {args.host}:{args.port}", flush=True),
    )


if __name__ == "__main__":
    main()
