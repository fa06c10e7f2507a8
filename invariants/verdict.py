"""Verdicts: what a checker says about one invariant, with evidence a user can follow.

Three-valued, as in Jepsen: ``invalid`` (a violation no outcome of the
indeterminate operations explains), ``unknown`` (the data needed to decide is
missing, or the checker crashed) and ``valid``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from harness.history import FinalState, History, Ledgers

Status: TypeAlias = Literal["valid", "invalid", "unknown"]
_RANK: dict[Status, int] = {"valid": 0, "unknown": 1, "invalid": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One finding: a sentence for the user, the keys it is about, the ops it rests on."""

    message: str
    keys: tuple[str, ...]
    op_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of one invariant; ``checked`` counts the keys examined."""

    invariant: str
    status: Status
    summary: str
    evidence: tuple[Evidence, ...] = ()
    checked: int = 0


Checker: TypeAlias = Callable[[History, FinalState, Ledgers], Verdict]


def combine(verdicts: Iterable[Verdict]) -> Status:
    """The overall status: invalid outranks unknown outranks valid.

    No verdicts at all is ``unknown``: nothing was checked, so nothing passed.
    """
    statuses = [v.status for v in verdicts]
    if not statuses:
        return "unknown"
    return max(statuses, key=_RANK.__getitem__)


def run_checker(
    name: str, checker: Checker, history: History, final: FinalState, ledgers: Ledgers
) -> Verdict:
    """Run one checker; a checker that raises yields ``unknown`` with the error, never valid."""
    try:
        return checker(history, final, ledgers)
    except Exception as exc:  # a crashed checker must not stop the others
        return Verdict(
            invariant=name,
            status="unknown",
            summary=f"checker {name} crashed: {type(exc).__name__}: {exc}",
        )
