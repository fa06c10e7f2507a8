"""Invariant checkers: pure functions of (history, final state, ledgers) -> verdict.

Each checker is linear in the history; indeterminate operations may have
happened, so a checker reports a violation only when no outcome of them
explains it, and ``unknown`` only when the data it needs is missing.
"""

from invariants._reads import ReadConsistency
from invariants._registry import ALWAYS, APPLIES_TO, CHECKERS, applies, check
from invariants.verdict import (
    Checker,
    Evidence,
    Status,
    Verdict,
    combine,
    expire_pending,
    run_checker,
)

__all__ = [
    "ALWAYS",
    "APPLIES_TO",
    "CHECKERS",
    "Checker",
    "Evidence",
    "ReadConsistency",
    "Status",
    "Verdict",
    "applies",
    "check",
    "combine",
    "expire_pending",
    "run_checker",
]
