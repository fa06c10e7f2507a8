"""The ``failmodel`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="failmodel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="install PostgreSQL, Redis, Toxiproxy and Kafka (cached)")
    setup.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "setup":
        return 0  # TODO(setup): replaced by harness.setup
    return 2


if __name__ == "__main__":
    sys.exit(main())
