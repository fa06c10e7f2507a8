"""Invariant checkers: pure functions of (history, final state, ledgers) -> verdict."""
