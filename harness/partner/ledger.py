"""The partner's ledger: every effect, numbered from 1, in memory and
optionally appended to a JSON Lines file as it happens.

The file is flushed per effect (no fsync): a SIGKILLed partner or a crashed
harness leaves every effect on disk. Opening an existing file reloads it, so a
restarted partner keeps its history and its idempotency keys.

An effect's ``time`` is the partner's ``time.monotonic()``: on Linux that is
CLOCK_MONOTONIC, shared by every process on the machine, so subtracting the
recorder's start reading puts effects on the history's timeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from harness.history.outcomes import Effect


class LedgerFileError(ValueError):
    """A ledger file line is not an effect; names the file and line."""


def effect_line(seq: int, effect: Effect) -> dict[str, Any]:
    """One ledger entry as JSON: the effect plus its sequence number."""
    return {"seq": seq, **effect.to_json()}


def read_ledger_file(path: Path) -> list[Effect]:
    """Effects in *path* in order. A torn last line (a kill mid-write) is skipped."""
    effects: list[Effect] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.get("seq") != len(effects) + 1:
                raise ValueError(f"expected seq {len(effects) + 1}, got {data.get('seq')!r}")
            effects.append(Effect.from_json(data))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if number >= len(lines) - 1 and not line.endswith("}"):
                break
            raise LedgerFileError(f"{path}:{number}: not a ledger entry ({exc})") from exc
    return effects


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial last line, so the next append starts on a line of its own."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)


class Ledger:
    """Append-only list of effects; ``seq`` of the n-th effect is n."""

    def __init__(self, path: Path | None = None) -> None:
        self._effects: list[Effect] = []
        self._file: IO[str] | None = None
        if path is not None:
            if path.exists():
                _drop_torn_tail(path)
                self._effects = read_ledger_file(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    @property
    def last_seq(self) -> int:
        return len(self._effects)

    def effects(self) -> tuple[Effect, ...]:
        return tuple(self._effects)

    def append(self, effect: Effect) -> int:
        """Record *effect*, write it through to the file, and return its seq."""
        self._effects.append(effect)
        seq = len(self._effects)
        if self._file is not None:
            self._file.write(json.dumps(effect_line(seq, effect), separators=(",", ":")) + "\n")
            self._file.flush()
        return seq

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Entries with a sequence number greater than *seq*, as JSON."""
        start = max(seq, 0)
        return [
            effect_line(n, effect)
            for n, effect in enumerate(self._effects[start:], start=start + 1)
        ]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
