"""Verdicts: what a checker says about one invariant, with evidence a user can follow.

Three-valued, as in Jepsen: ``invalid`` (a violation no outcome of the
indeterminate operations explains), ``unknown`` (the data needed to decide is
missing, or the checker crashed) and ``valid``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

from harness.history import FinalState, History, Ledgers

Status: TypeAlias = Literal["valid", "invalid", "unknown"]
_RANK: dict[Status, int] = {"valid": 0, "unknown": 1, "invalid": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One finding: a sentence for the user, the keys it is about, the ops it rests on.

    A ``pending`` finding is something the system may still do (an effect not
    yet seen, a write not yet visible, replicas not yet agreeing): while the
    harness waits for the system to settle it means "not yet", and only if it
    is still there when the settle deadline passes is it a violation.
    """

    message: str
    keys: tuple[str, ...]
    op_ids: tuple[int, ...]
    pending: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of one invariant; ``checked`` counts the keys examined.

    ``parts`` is set by an invariant made of several conditions (an
    eligibility rule): each condition's label and how many of the examined
    keys it could have failed. One that could fail none was not judged, even
    when the others were: the row says so rather than let their counts hide it.
    """

    invariant: str
    status: Status
    summary: str
    evidence: tuple[Evidence, ...] = ()
    checked: int = 0
    parts: tuple[tuple[str, int], ...] = ()

    @property
    def waiting(self) -> bool:
        """Invalid only by pending findings: the system may still make it hold."""
        return self.status == "invalid" and all(e.pending for e in self.evidence)

    @property
    def vacuous(self) -> bool:
        """Valid because there was nothing to examine: a PASS that judged nothing."""
        return self.status == "valid" and self.checked == 0


def expire_pending(verdict: Verdict, waited_s: float) -> Verdict:
    """The verdict once the settle deadline has passed: what was pending is now
    a violation, and its evidence says how long the harness waited for it."""
    if not any(e.pending for e in verdict.evidence):
        return verdict
    note = f" (still so {waited_s:.0f} s after every fault was healed)"
    evidence = tuple(
        replace(e, message=e.message + note, pending=False) if e.pending else e
        for e in verdict.evidence
    )
    summary = verdict.summary
    for before, after in zip(verdict.evidence, evidence, strict=True):
        if before.pending and summary.endswith(before.message):
            summary = summary[: -len(before.message)] + after.message
            break
    return replace(verdict, evidence=evidence, summary=summary)


def undecided(verdict: Verdict, because: str) -> Verdict:
    """A waiting verdict when the example is judged before it could settle: not a
    violation (the system may still make it hold) but ``unknown``, saying why."""
    if not verdict.waiting:
        return verdict
    summary = f"undecided: {because}; pending then: {verdict.summary}"
    return replace(verdict, status="unknown", summary=summary)


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
