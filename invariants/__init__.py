"""Invariant checkers: pure functions of (history, final state, ledgers) -> verdict.

Each checker is linear in the history; indeterminate operations may have
happened, so a checker reports a violation only when no outcome of them
explains it, and ``unknown`` only when the data it needs is missing.
"""

from invariants._registry import APPLIES_TO, CHECKERS, check
from invariants.verdict import Checker, Evidence, Status, Verdict, combine, run_checker

__all__ = [
    "APPLIES_TO",
    "CHECKERS",
    "Checker",
    "Evidence",
    "Status",
    "Verdict",
    "check",
    "combine",
    "run_checker",
]
