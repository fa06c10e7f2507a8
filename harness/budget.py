"""A time budget instead of an example count (``failmodel verify --budget 10m``).

The run's time is spread over its rows as they start: a row gets the time not
yet spent or promised, split over the rows still to run by the examples each
asks for. A row stops drawing new examples when its share is spent; a row that
finds a failure stops searching at once (it only shrinks and replays), so the
time it leaves goes to the rows that have found nothing yet. A Hypothesis
search cannot be resumed, so a row that has run does not get more later.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.limits import MAX_EXAMPLES

EXAMPLE_CAP = MAX_EXAMPLES
"""Hypothesis needs a count: this one is never reached, time ends the search."""
STOP_RESERVE_S = 3.0
"""Kept back from the rows for stopping the system and writing the report."""


@dataclass(frozen=True, slots=True)
class RowTime:
    """One row as the allocation sees it: how much it asks for (its examples),
    and the seconds it used once it has run (None before; a row that found a
    failure stopped searching, so it used less than its share)."""

    weight: float
    used_s: float | None = None


def shares(rows: Sequence[RowTime], budget_s: float) -> list[float]:
    """Each row's seconds of ``budget_s``: a row that has run keeps what it used
    (a failure ended its search early, so it used less); what is left is split
    over the rows that have not run yet, by weight."""
    left = max(0.0, budget_s - sum(r.used_s for r in rows if r.used_s is not None))
    waiting = sum(r.weight for r in rows if r.used_s is None)
    return [
        r.used_s if r.used_s is not None else left * r.weight / waiting for r in rows
    ]


@dataclass(slots=True)
class RunBudget:
    """The live allocation of one run: ``start(i)`` gives row ``i`` its deadline,
    ``finish(i, used_s)`` returns its unused time to the rows after it."""

    total_s: float
    weights: Sequence[float]
    started: float = field(default_factory=time.monotonic)
    rows: list[RowTime] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [RowTime(weight=w) for w in self.weights]

    @property
    def deadline(self) -> float:
        """When the rows must be done (monotonic clock), the stop reserve kept back."""
        return self.started + max(0.0, self.total_s - STOP_RESERVE_S)

    def start(self, index: int) -> float:
        """Row ``index``'s share in seconds, from now. Time already gone that no
        row used (starting the system) counts against the rows still to run."""
        now = time.monotonic()
        spent = sum(r.used_s for r in self.rows if r.used_s is not None)
        overhead = (now - self.started) - spent
        available = max(0.0, self.deadline - self.started - overhead)
        return shares(self.rows, available)[index]

    def finish(self, index: int, used_s: float) -> None:
        self.rows[index] = RowTime(weight=self.rows[index].weight, used_s=used_s)
