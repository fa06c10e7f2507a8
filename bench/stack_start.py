"""How long set-up and a full stack start take: ``python bench/stack_start.py``.

Cold = the first stack started by this process (fresh data dirs: initdb, Kafka
storage format, JVM and imports not yet warm); warm = a second one, also with
fresh data dirs, once the OS caches are warm.
"""

from __future__ import annotations

import time

from harness.provision import Stack
from harness.setup import Binaries, setup


def start_once(binaries: Binaries, label: str) -> None:
    begin = time.monotonic()
    with Stack(binaries=binaries) as stack:
        ready = time.monotonic() - begin
        per_service = ", ".join(f"{name} {secs:.2f}s" for name, secs in stack.start_seconds.items())
    total = time.monotonic() - begin
    print(f"{label:<12} ready in {ready:6.2f}s  ({per_service}); with stop {total:.2f}s")


def main() -> None:
    begin = time.monotonic()
    binaries = setup(quiet=True)
    print(f"{'set-up':<12} {time.monotonic() - begin:6.3f}s (cached)")
    start_once(binaries, "cold start")
    start_once(binaries, "warm start")


if __name__ == "__main__":
    main()
