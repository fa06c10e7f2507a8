"""Where a row's time went: seconds per phase of its examples, and its pace.

One table for report.md and report.html alike: per row, the examples per
minute of its wall time and, per phase (`harness.phases`), the total and the
mean per example; "other" is the row's time outside its examples (the
search itself, replays of a counterexample, the late-effects watch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.phases import PHASES
from harness.report._model import RowResult

OTHER = "other"
EXPLAINED = (
    "Seconds per phase over the row's examples, the mean per example in brackets; "
    "other: the row's time outside its examples (search, replays, late effects). "
    "CPU stalled: the share of the examples' main phases and settles during which a "
    "runnable task waited for a CPU; at 75% or more an SLO missed is not judged."
)


@dataclass(frozen=True, slots=True)
class PhaseCell:
    """One phase of one row: seconds in total and per example."""

    total_s: float
    mean_s: float | None

    def text(self) -> str:
        """``12.3 s (1.23 s)``: the total, and the mean per example in brackets."""
        mean = "" if self.mean_s is None else f" ({self.mean_s:.2f} s)"
        return f"{self.total_s:.1f} s{mean}"


def _names(rows: Sequence[RowResult]) -> list[str]:
    """The known phases in their order, then any others a row recorded."""
    return [*PHASES, *sorted({n for r in rows for n in r.phases if n not in PHASES})]


def phase_labels(rows: Sequence[RowResult]) -> list[str]:
    """The columns after the row's pace: each phase's words, then "other"."""
    return [PHASES.get(n, n) for n in _names(rows)] + [OTHER]


def phase_cells(row: RowResult, rows: Sequence[RowResult]) -> list[PhaseCell]:
    """The row's cells under `phase_labels` (``rows``: every row of the table)."""
    names = _names(rows)
    n = row.examples

    def cell(total: float) -> PhaseCell:
        return PhaseCell(total, total / n if n else None)

    totals = [row.phases.get(name, 0.0) for name in names]
    other = max(row.duration_s - sum(totals), 0.0)
    return [cell(t) for t in totals] + [cell(other)]


def pace(row: RowResult) -> str:
    """Examples per minute, ``31.2``, or ``-`` for a row that took no time."""
    per_minute = row.examples_per_minute
    return "-" if per_minute is None else f"{per_minute:.1f}"


def stalled(row: RowResult) -> str:
    """The share of the row's examples' time a task waited for a CPU, ``12%``, or ``-``."""
    return "-" if row.cpu_stalled is None else f"{row.cpu_stalled:.0%}"


def timed(rows: Sequence[RowResult]) -> list[RowResult]:
    """The rows that ran examples with a phase breakdown (older reports have none)."""
    return [r for r in rows if r.examples and r.phases]
