"""Histories: immutable operation records, written as JSONL while they happen."""

from harness.history.events import (
    EXIT,
    FIRE,
    LAG,
    NEMESIS,
    Event,
    EventType,
    History,
    Operation,
    Phase,
    exit_text,
    history_of,
    thaw,
)
from harness.history.outcomes import Effect, EffectKind, FinalState, Ledgers
from harness.history.recorder import HistoryFileError, Recorder, read_history

__all__ = [
    "EXIT",
    "FIRE",
    "LAG",
    "NEMESIS",
    "Effect",
    "EffectKind",
    "Event",
    "EventType",
    "FinalState",
    "History",
    "HistoryFileError",
    "Ledgers",
    "Operation",
    "Phase",
    "Recorder",
    "exit_text",
    "history_of",
    "read_history",
    "thaw",
]
