"""How long the host's CPUs were saturated while an example ran.

A latency, a lag or a timeout measured while runnable tasks queued for a CPU
is the machine's as much as the service's: two test suites side by side on two
cores made a correct service miss ``p95(pay) < 300 ms`` (329 ms at load 11). So
the runner marks the CPU stall before and after each example's main phase and
settle, and an SLO missed while the host was saturated is not judged
(`invariants.slo.judge`). Linux's pressure stall information
(``/proc/pressure/cpu``, the time some runnable task waited for a CPU) measures
exactly that; without it the 1-minute load average over the CPUs this process
may use stands in (the share of runnable tasks that had no CPU).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PRESSURE = Path("/proc/pressure/cpu")
LOADAVG = Path("/proc/loadavg")
SATURATED = 0.75
"""The share of the examples' time with a runnable task waiting for a CPU from
which their times are not the service's to answer for. Measured on a 2-core
machine: two verify runs of go-promo side by side (with a unit-test run for a
while), 3 to 9 % of each row's examples' time; the CI suite's integration tests
(two workers, each with its own stack), in 10-second samples over two runs, a
median of 29 %, 53 % at the 95th percentile and 79 % at most, and its unit
tests 80 to 92 %; two busy processes 1 %, four 100 %: the measure jumps once
runnable tasks outnumber the cores. A row's share is over all its examples,
smoother than a 10-second sample: 75 % leaves the CI suite's rows their
verdicts and takes them from a host running twice its cores' work."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A point to measure the stall from: the monotonic clock and, with pressure
    stall information, its cumulative stalled microseconds."""

    at: float
    stalled_us: int | None


@dataclass(frozen=True, slots=True)
class Stall:
    """Seconds some runnable task waited for a CPU, of ``seconds`` measured."""

    stalled_s: float
    seconds: float
    source: str
    """``cpu pressure`` or ``load average``: how it was measured."""


def mark(pressure: Path = PRESSURE) -> Mark:
    return Mark(time.monotonic(), _stalled_us(pressure))


def since(start: Mark, pressure: Path = PRESSURE, loadavg: Path = LOADAVG) -> Stall | None:
    """The stall from ``start`` to now; None when neither source can be read."""
    end = mark(pressure)
    seconds = max(end.at - start.at, 0.0)
    if start.stalled_us is not None and end.stalled_us is not None:
        stalled = min(max(end.stalled_us - start.stalled_us, 0) / 1e6, seconds)
        return Stall(stalled, seconds, "cpu pressure")
    load = _load(loadavg)
    if load is None:
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    waiting = max(0.0, 1.0 - (cpus or 1) / load) if load > 0 else 0.0
    return Stall(waiting * seconds, seconds, "load average")


def share(stalls: Sequence[Stall]) -> float | None:
    """The stalled share of the time ``stalls`` (one per example) measured, or None."""
    seconds = sum(s.seconds for s in stalls)
    return sum(s.stalled_s for s in stalls) / seconds if seconds > 0 else None


def saturated(stalls: Sequence[Stall]) -> str | None:
    """Why the host was saturated over ``stalls`` (one per example), or None: the
    stalled share of their time at or above `SATURATED`."""
    stalled = share(stalls)
    if stalled is None or stalled < SATURATED:
        return None
    sources = " and ".join(sorted({s.source for s in stalls}))
    return (
        f"the host's CPUs were saturated: a runnable task waited for a CPU "
        f"{stalled:.0%} of the examples' time ({sources})"
    )


def _stalled_us(pressure: Path) -> int | None:
    """The ``some`` line's ``total`` of ``/proc/pressure/cpu``, or None."""
    try:
        text = pressure.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            for field in line.split()[1:]:
                name, _, value = field.partition("=")
                if name == "total" and value.isdigit():
                    return int(value)
    return None


def _load(loadavg: Path) -> float | None:
    try:
        return float(loadavg.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None
