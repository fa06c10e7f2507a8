"""Signals of how hard an example pressed on failure handling, for the search.

Computed from one example's history alone (never from what a workload
means) and given to Hypothesis's ``target()``, which keeps the example
that scored highest on each in the example database's Pareto front: the
next run with that database replays those first. The scores move no draw
(harness/schedule/hypothesis_engine.py): a seed draws the same schedules
whatever the system's timing made them. (The search does not run
Hypothesis's target phase, a hill-climb from them: below 1000 examples it
spent half the budget on near copies of one example; see ``PHASES`` in
harness/verify.py.) Each signal is a count that rises with
how much a schedule stresses the system where failure handling is tested:

- ``in_flight_during_fault``: client operations in flight while a fault was
  active (a fault between batches meets nothing);
- ``max_key_overlap``: the most operations in flight at once on one key
  (races need overlap on the same record);
- ``sent_together``: pairs of operations on one key where the second was sent
  before a quarter of the shorter one's time had passed, counted once per key
  they share (a race needs both inside the system at once: what raises it is
  more such pairs, slower operations and smaller gaps between them);
- ``indeterminate``: operations that ended ``info`` (the answer was lost, so
  retries and recovery are exercised);
- ``effects_during_fault``: partner side effects recorded while a fault was
  active (effects that cross a failure are where duplicates come from); only
  for a design with the partner;
- ``calls_cut_by_crash``: partner calls held in flight when an aimed crash
  (``crash_in_call``) killed its process (a kill with none held hit no call:
  the window where a write and its effect part is the one it aims at); only
  for a design with the partner;
- ``in_flight_at_deadline``: operations in flight when a deadline the workload
  declared passed (a request decided on one side of it and committed on the
  other is the temporal-boundary class); this and the next only for a
  workload that declares deadlines;
- ``ok_past_deadline_ms``: how long after a deadline an operation sent before it
  was still answered ok, at most (one accepted on the strength of a decision
  taken in time but committed late is where a close, a cut-off or an expiry
  races it: the longer the straddle, the wider that race's window).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from harness.history import FIRE, History, Ledgers
from harness.history.events import Operation
from harness.workload.keys import example_ids

Window = tuple[float, float]


def fault_windows(history: History) -> list[Window]:
    """When each fault was active, on the history's clock: from its start to its
    heal (a fault never healed lasts to the end of the history)."""
    end = max((e.time for e in history.events), default=0.0)
    started: dict[Any, float] = {}
    windows: list[Window] = []
    for event in history.nemesis_events():
        fault_id = event.value.get("id")
        if event.f == "start":
            started[fault_id] = event.time
        elif event.f == "heal" and fault_id in started:
            windows.append((started.pop(fault_id), event.time))
    windows += [(t, end) for t in started.values()]
    return windows


def _overlaps(start: float, end: float, windows: Sequence[Window]) -> bool:
    return any(start <= w_end and w_start <= end for w_start, w_end in windows)


def _client_ops(history: History) -> list[Operation]:
    return [op for op in history.operations() if op.invoke.phase == "main"]


def max_key_overlap(ops: Sequence[Operation]) -> int:
    """The most operations in flight at the same instant that name one key."""
    by_key: dict[str, list[tuple[float, int]]] = {}
    for op in ops:
        for key in set(example_ids(op.request)):
            # Ends sort before starts at the same instant: touching is not overlap.
            by_key.setdefault(key, []).extend([(op.invoke.time, 1), (op.end_time, -1)])
    best = 0
    for points in by_key.values():
        level = 0
        for _, step in sorted(points, key=lambda p: (p[0], p[1])):
            level += step
            best = max(best, level)
    return best


TOGETHER = 0.25
"""Sent together: the start gap is at most this fraction of the shorter operation."""


def _duration(op: Operation) -> float:
    return op.end_time - op.invoke.time


def sent_together(ops: Sequence[Operation]) -> int:
    """Pairs of operations on one key sent together, once per key they share."""
    by_key: dict[str, list[Operation]] = {}
    for op in ops:
        for key in set(example_ids(op.request)):
            by_key.setdefault(key, []).append(op)
    pairs = 0
    for on_key in by_key.values():
        on_key.sort(key=lambda op: op.invoke.time)
        for i, first in enumerate(on_key):
            for second in on_key[i + 1 :]:
                gap = second.invoke.time - first.invoke.time
                if gap > TOGETHER * _duration(first):
                    break  # later ones start later still
                if gap <= TOGETHER * _duration(second):
                    pairs += 1
    return pairs


def signals(
    history: History,
    ledgers: Ledgers | None = None,
    *,
    t0: float = 0.0,
    deadlines: Collection[float] = (),
) -> dict[str, int]:
    """Every signal of one example that can vary: the partner's only with its
    ``ledgers`` (``t0`` puts their times, its monotonic clock, on the history's
    timeline), the deadlines' only with ``deadlines`` (on that timeline). A
    score that cannot move would only crowd the Pareto front."""
    windows = fault_windows(history)
    ops = _client_ops(history)
    scores = {
        "in_flight_during_fault": sum(
            _overlaps(op.invoke.time, op.end_time, windows) for op in ops
        ),
        "max_key_overlap": max_key_overlap(ops),
        "sent_together": sent_together(ops),
        "indeterminate": sum(op.outcome == "info" for op in ops),
    }
    if ledgers is not None:
        scores["effects_during_fault"] = sum(
            _overlaps(e.time - t0, e.time - t0, windows) for e in ledgers.effects
        )
        scores["calls_cut_by_crash"] = sum(
            int(e.value.get("held") or 0) for e in history.nemesis_events() if e.f == FIRE
        )
    if deadlines:
        scores |= deadline_signals(ops, deadlines)
    return scores


def deadline_signals(ops: Sequence[Operation], deadlines: Collection[float]) -> dict[str, int]:
    """The signals about operations that straddle a deadline."""
    return {
        "in_flight_at_deadline": sum(
            any(op.invoke.time < d < op.end_time for d in deadlines) for op in ops
        ),
        "ok_past_deadline_ms": max(
            (
                round(1000 * (op.end_time - d))
                for op in ops
                if op.outcome == "ok"
                for d in deadlines
                if op.invoke.time < d < op.end_time
            ),
            default=0,
        ),
    }
