"""Histories: immutable operation records, written as JSONL while they happen."""

from harness.history.events import (
    NEMESIS,
    Event,
    EventType,
    History,
    Operation,
    Phase,
    history_of,
    thaw,
)
from harness.history.outcomes import Effect, EffectKind, FinalState, Ledgers
from harness.history.recorder import HistoryFileError, Recorder, read_history

__all__ = [
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
    "history_of",
    "read_history",
    "thaw",
]
