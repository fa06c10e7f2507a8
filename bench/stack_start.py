"""How long set-up and a full stack start take: ``python bench/stack_start.py [--containers]``.

Cold = the first stack started by this process (fresh data dirs: initdb, Kafka
storage format, JVM and imports not yet warm); warm = a second one, also with
fresh data dirs, once the OS caches are warm. Each line gives start-to-ready
per service (a real request answered: ``SELECT 1``, ``PING``, a Kafka metadata
request, Toxiproxy's ``/version``, the partner's health).

With ``--containers`` the same is measured on the containers backend too, and
a table puts the two side by side (the containers' images must be built:
``failmodel setup --backend containers``; the set-up time printed is that of
the cached set-up, i.e. checking that every image exists).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from harness.provision import Stack
from harness.setup import Binaries, setup


def start_once(binaries: Binaries, label: str, stack_class: Any = Stack) -> dict[str, float]:
    begin = time.monotonic()
    with stack_class(binaries=binaries) as stack:
        stack.start_partner()
        ready = time.monotonic() - begin
        seconds = dict(stack.start_seconds)
        per_service = ", ".join(f"{name} {secs:.2f}s" for name, secs in seconds.items())
    total = time.monotonic() - begin
    print(f"{label:<24} ready in {ready:6.2f}s  ({per_service}); with stop {total:.2f}s")
    return seconds


def main() -> None:
    containers = "--containers" in sys.argv[1:]
    begin = time.monotonic()
    binaries = setup(quiet=True)
    print(f"{'set-up':<24} {time.monotonic() - begin:6.3f}s (cached)")
    local = [start_once(binaries, "local cold start"), start_once(binaries, "local warm start")]
    if not containers:
        return
    from harness.provision.containers import ContainerStack

    begin = time.monotonic()
    binaries = setup(quiet=True, backend="containers", engine_for=os.getpid())
    print(f"{'set-up (containers)':<24} {time.monotonic() - begin:6.3f}s (cached)")
    boxed = [
        start_once(binaries, "containers cold start", ContainerStack),
        start_once(binaries, "containers warm start", ContainerStack),
    ]
    print(f"\nwarm start-to-ready per service (s)\n{'service':<12}{'local':>8}{'containers':>12}")
    for name in local[1]:
        print(f"{name:<12}{local[1][name]:>8.2f}{boxed[1].get(name, float('nan')):>12.2f}")


if __name__ == "__main__":
    main()
