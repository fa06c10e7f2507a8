"""A time budget instead of an example count (``failmodel verify --budget 10m``).

The run's time is spread over its rows as they start: a row gets the time left
until the run's deadline, split over the rows still waiting for their turn by
the examples each asks for. A row stops drawing new examples when its share is
spent; a row that finds a failure stops searching at once (it only shrinks, by
the end of its share, and replays), so the time it leaves goes to the rows that
have found nothing yet.
When every row has run and time is left, the rows that found nothing search
again (a new round, a new seed), sharing what is left, until it is spent.
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
MIN_ROUND_S = 5.0
"""Another round gives each row at least this, else the time is left unused."""
MAX_ROUNDS = 20
MIN_SHRINK_S = 10.0
"""A row that finds a failure near the end of its share may still shrink this long."""


@dataclass(frozen=True, slots=True)
class RowTime:
    """One row as the allocation sees it: how much it asks for (its examples),
    whether it has had its turn in this round, and whether it found a failure."""

    weight: float
    ran: bool = False
    found: bool = False


def shares(rows: Sequence[RowTime], left_s: float) -> list[float]:
    """Each row's seconds of the ``left_s`` seconds left: the rows that have not
    had their turn share them by weight; once every row has had one, the rows
    that found nothing share them (another round), those that found a failure
    get none."""
    waiting = [not r.ran for r in rows]
    if not any(waiting):
        waiting = [not r.found for r in rows]
    total = sum(r.weight for r, w in zip(rows, waiting, strict=True) if w)
    return [
        max(0.0, left_s) * r.weight / total if w else 0.0
        for r, w in zip(rows, waiting, strict=True)
    ]


@dataclass(slots=True)
class RunBudget:
    """The live allocation of one run: ``start(i)`` gives row ``i`` its share,
    ``finish(i, found=...)`` ends its turn, ``next_round()`` starts another."""

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

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def start(self, index: int) -> float:
        """Row ``index``'s share in seconds from now; time no row used (starting
        the system) has already been taken from what is left."""
        return shares(self.rows, self.left())[index]

    def finish(self, index: int, *, found: bool = False) -> None:
        self.rows[index] = RowTime(weight=self.rows[index].weight, ran=True, found=found)

    def next_round(self, longest_s: float = 0.0) -> list[int]:
        """The rows that search again (they found nothing), if what is left gives
        each at least ``MIN_ROUND_S`` and two of its longest examples; else none."""
        again = [i for i, r in enumerate(self.rows) if not r.found]
        if not again or self.left() / len(again) < max(MIN_ROUND_S, 2 * longest_s):
            return []
        for i in again:
            self.rows[i] = RowTime(weight=self.rows[i].weight)
        return again
