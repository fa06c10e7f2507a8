"""What actually happened in an example, so a PASS means something.

A row whose faults never overlapped an operation, or whose retries never
went out, passed nothing: the verifier reports it as NOT EXERCISED. These
counters are a pure function of the history (plus the partner's counters,
which see redeliveries and replays the history cannot).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from harness.history.events import LAG, History

COUNTERS = (
    "operations",
    "retries",
    "indeterminate",
    "faults",
    "faults_during_ops",
    "faults_during_effects",
    "crashes_during_request",
    "kills_during_lag",
    "partner_failures",
    "replays",
)
INTERRUPTING = frozenset({"crash", "crash_in_call", "pause", "redelivery", "cache_loss"})
KILLING = frozenset({"crash", "crash_in_call", "redelivery"})
"""The families whose faults kill a target process and then ask Kafka what its
consumers had not committed (``kills_during_lag``)."""


def coverage_of(
    history: History,
    partner_delta: Mapping[str, int] | None = None,
    effect_times: Sequence[float] = (),
) -> dict[str, int]:
    """Count operations, retries, indeterminate outcomes, faults that
    overlapped operations in flight, and faults whose window saw a side
    effect land at the partner (``effect_times``, on the history's clock):
    the asynchronous path (relay, consumer, reconciler) was under fault
    even when no client request was. A kill that left Kafka messages its
    consumers had not committed (a ``LAG`` event with messages) is one a
    restarted consumer is redelivered from."""
    counts: Counter[str] = Counter({name: 0 for name in COUNTERS})
    intervals: list[tuple[float, float]] = []
    for op in history.operations():
        if op.invoke.phase != "main":
            continue
        counts["operations"] += 1
        if int(op.request.get("attempt", 1)) > 1:
            counts["retries"] += 1
        if op.outcome == "info":
            counts["indeterminate"] += 1
        intervals.append((op.invoke.time, op.end_time))

    intervals.sort()
    starts = [s for s, _ in intervals]
    # Running maximum of end times: does any op that started before t end after t?
    max_end: list[float] = []
    running = float("-inf")
    for _, end in intervals:
        running = max(running, end)
        max_end.append(running)

    def in_flight(t: float) -> bool:
        i = bisect.bisect_right(starts, t)
        return i > 0 and max_end[i - 1] > t

    def overlaps(t0: float, t1: float) -> bool:
        """Some op was in flight at t0, or started within [t0, t1]."""
        if in_flight(t0):
            return True
        i = bisect.bisect_left(starts, t0)
        return i < len(starts) and starts[i] <= t1

    started: dict[int, tuple[float, str]] = {}
    windows: list[tuple[float, float, str]] = []
    for e in history.nemesis_events():
        if e.f == LAG:
            if int(e.value.get("messages", 0)) > 0:
                counts["kills_during_lag"] += 1
            continue
        fid = int(e.value.get("id", -1))
        kind = str(e.value.get("fault", {}).get("kind", "?"))
        if e.f == "start" and e.error is None:
            started[fid] = (e.time, kind)
        elif e.f == "heal" and fid in started:
            t0, kind = started.pop(fid)
            windows.append((t0, e.time, kind))
    windows.extend((t0, float("inf"), kind) for t0, kind in started.values())
    effects = sorted(effect_times)
    for t0, t1, kind in windows:
        counts["faults"] += 1
        if overlaps(t0, t1):
            counts["faults_during_ops"] += 1
        i = bisect.bisect_left(effects, t0)
        if i < len(effects) and effects[i] <= t1:
            counts["faults_during_effects"] += 1
        if kind in INTERRUPTING and in_flight(t0):
            counts["crashes_during_request"] += 1

    if partner_delta:
        counts["partner_failures"] += int(partner_delta.get("injected_failures", 0))
        counts["replays"] += int(partner_delta.get("replays", 0))
    return dict(counts)


def add_coverage(totals: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: Counter[str] = Counter({name: 0 for name in COUNTERS})
    for c in totals:
        out.update(c)
    return dict(out)
