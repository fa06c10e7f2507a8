"""Run the partner: ``python -m harness.partner --host 127.0.0.1 --port P [--ledger PATH]
[--caller NAME=PORT ...]``.

Each ``--caller`` is one more port, for one target process's own link to the
partner: a call that arrives on it is known to come from that process.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from harness.partner.app import build_app


def _caller(text: str) -> tuple[str, int]:
    name, _, port = text.partition("=")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT with PORT in 1..65535 (got {text!r})")
    return name, int(port)


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m harness.partner",
        description="failmodel's partner service (payment provider, warehouse, notifications).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--ledger", type=Path, help="append every effect to this JSONL file")
    parser.add_argument(
        "--caller",
        type=_caller,
        action="append",
        default=[],
        help="NAME=PORT: also listen on PORT for the calls of process NAME (repeatable)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"'--port' must be in 1..65535 (got {args.port})")
    callers = {port: name for name, port in args.caller}
    web.run_app(
        build_app(ledger_path=args.ledger, callers=callers),
        sock=[_listening(args.host, port) for port in (args.port, *callers)],
        access_log=None,
        print=lambda _: print(f"partner listening on {args.host}:{args.port}", flush=True),
    )


if __name__ == "__main__":
    main()
