"""Append-only recording of a history, written to JSON Lines as it happens.

Each event is flushed to disk when it is recorded, so a run that is killed
keeps every event up to the kill; ``read_history`` reads such a file back,
leaving operations that never completed without a completion (indeterminate).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from harness.history.events import EXIT, NEMESIS, Event, EventType, History, Phase


class Recorder:
    """Hands out op ids, timestamps events and appends them (thread-safe)."""

    def __init__(
        self, path: Path | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._t0: float = clock()
        self._events: list[Event] = []
        self._next_op = 0
        self._lock = threading.Lock()
        self._phase: Phase = "main"
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    @classmethod
    def continuing(
        cls,
        history: History,
        *,
        t0: float,
        path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Recorder:
        """A recorder that goes on from ``history`` (same time origin ``t0``, op
        ids and indices continuing), writing the whole history to ``path``: to
        read an example's keys once more, long after it ran."""
        recorder = cls(path, clock=clock)
        recorder._t0 = t0
        recorder._events = list(history.events)
        recorder._next_op = 1 + max((e.op_id for e in history.events), default=-1)
        if recorder._file is not None:
            for event in history.events:
                recorder._file.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
            recorder._file.flush()
        return recorder

    def now(self) -> float:
        return self._clock() - self._t0

    @property
    def t0(self) -> float:
        """The clock reading that is time 0 of this history (the partner
        stamps effects with the same monotonic clock, so they can be placed
        on this timeline)."""
        return self._t0

    def set_phase(self, phase: Phase) -> None:
        self._phase = phase

    def _append(
        self,
        *,
        op_id: int,
        type: EventType,
        process: int | str,
        f: str,
        value: Mapping[str, Any],
        error: str | None,
    ) -> Event:
        with self._lock:
            event = Event(
                index=len(self._events),
                op_id=op_id,
                type=type,
                process=process,
                f=f,
                time=self.now(),
                value=value,
                error=error,
                phase=self._phase,
            )
            self._events.append(event)
            if self._file is not None:
                self._file.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
                self._file.flush()
            return event

    def invoke(self, process: int | str, f: str, value: Mapping[str, Any]) -> Event:
        with self._lock:
            op_id = self._next_op
            self._next_op += 1
        return self._append(
            op_id=op_id, type="invoke", process=process, f=f, value=value, error=None
        )

    def complete(
        self,
        invoke: Event,
        type: EventType,
        value: Mapping[str, Any],
        *,
        error: str | None = None,
    ) -> Event:
        if type not in ("ok", "fail", "info"):
            raise ValueError(f"'type' must be ok, fail or info (got {type!r})")
        return self._append(
            op_id=invoke.op_id,
            type=type,
            process=invoke.process,
            f=invoke.f,
            value=value,
            error=error,
        )

    def nemesis(self, f: str, value: Mapping[str, Any], *, error: str | None = None) -> Event:
        """Record a fault ``start`` or ``heal`` (``f``) with the fault as ``value``."""
        with self._lock:
            op_id = self._next_op
            self._next_op += 1
        return self._append(
            op_id=op_id, type="nemesis", process=NEMESIS, f=f, value=value, error=error
        )

    def exit(
        self, process: str, code: int | None, output: str, *, store: bool = False,
        how: str | None = None,
    ) -> Event:
        """Record that ``process`` was found down with no fault holding it down, with
        its exit code and last output; ``store``: one of the harness's stores, not
        the target's own; ``how``: what happened, when not simply an exit."""
        value: dict[str, object] = {"process": process, "code": code, "output": output}
        if store:
            value["store"] = True
        if how:
            value["how"] = how
        return self.nemesis(EXIT, value)

    def history(self) -> History:
        with self._lock:
            return History(tuple(self._events))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HistoryFileError(ValueError):
    """A history file line is not a valid event; names the file and line."""


def read_history(path: Path) -> History:
    """Read a JSONL history back losslessly. A truncated last line (a kill
    mid-write) is ignored; any other bad line is an error naming file and line."""
    events: list[Event] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(Event.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            is_last = number >= len(lines) - 1
            if is_last and not line.endswith("}"):
                break
            raise HistoryFileError(f"{path}:{number}: not a history event ({exc})") from exc
    return History(tuple(events))
