"""Where each key's deadline falls on the history's clock, read from its setup.

A setup step's ``deadline`` field asks the target to fix a deadline that many ms
after it receives the request (an auction's ``ends_in_ms``). The target received
it during the round trip of the attempt that was answered ok; setup runs before
any fault, so that round trip is short, and its middle plus the field is the
deadline in history seconds, give or take half the round trip. ``until`` steps
wait for these moments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.history import History
from harness.schedule.model import MAX_WAIT_MS, Until
from harness.workload.api import Workload, setup_key_field
from harness.workload.keys import KeySpace


def deadlines(
    history: History, workload: Workload, keys: KeySpace, counts: Mapping[str, int]
) -> dict[tuple[str, int], float]:
    """(kind, key index) -> the key's deadline in history seconds, for every key
    whose setup request declaring a deadline was answered ok in ``history``;
    ``counts`` is how many keys of each kind the example set up."""
    due: dict[tuple[str, int], float] = {}
    for kind, step in workload.deadlines().items():
        key_field = setup_key_field(step, workload.operation(step.op))
        if key_field is None:  # Workload refuses a deadline in a step without 'each'
            continue
        index_of = {keys.id(kind, i): i for i in range(counts.get(kind, 0))}
        for op in history.operations():
            if op.invoke.phase != "setup" or op.f != step.op or op.outcome != "ok":
                continue
            body: Any = op.invoke.value.get("body")
            if not isinstance(body, Mapping):
                continue
            ident = body.get(key_field)
            index = index_of.get(ident) if isinstance(ident, str) else None
            after_ms = body.get(step.deadline)
            if index is None or not isinstance(after_ms, int) or (kind, index) in due:
                continue
            due[(kind, index)] = (op.invoke.time + op.end_time) / 2 + after_ms / 1000
    return due


def until_s(step: Until, due: Mapping[tuple[str, int], float], now: float) -> float:
    """Seconds from history time ``now`` to the moment ``step`` waits for: 0 if it
    has passed or the key's deadline is unknown, never more than a wait step's most."""
    deadline = due.get((step.kind, step.key))
    if deadline is None:
        return 0.0
    return min(MAX_WAIT_MS / 1000, max(0.0, deadline + step.offset_ms / 1000 - now))
