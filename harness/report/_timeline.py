"""A plain-text timeline of a history: what each client did, with fault windows marked.

Jepsen's timeline in text form, so a counterexample reads top to bottom in a
terminal or a Markdown code block: one line per event, nemesis starts and
heals standing out as ``>>>`` / ``<<<`` lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.history import EXIT, FIRE, LAG, Event, History, exit_text, thaw
from harness.nemesis.faults import InvalidFault, fault_from_dict

_VALUE_WIDTH = 72


def _short(data: Any) -> str:
    text = json.dumps(thaw(data), separators=(",", ":"), sort_keys=True)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def _fault_text(value: Mapping[str, Any]) -> str:
    fault = value.get("fault")
    if not isinstance(fault, Mapping):
        return ""
    try:
        return fault_from_dict(thaw(fault)).describe()
    except (InvalidFault, TypeError, ValueError):
        return _short(fault)


def _client_value(event: Event) -> str:
    v = event.value
    if event.type == "invoke":
        node = v.get("node")
        attempt = v.get("attempt")
        where = f"n{node}" if node is not None else ""
        if attempt not in (None, 1):
            where += f" attempt {attempt}"
        return f"{where} {_short(v.get('body', v))}".strip()
    status = v.get("status")
    body = v.get("body")
    text = "" if status is None else str(status)
    if body is not None:
        text = f"{text} {_short(body)}".strip()
    return text


def timeline(history: History, *, max_events: int | None = None) -> str:
    """One line per event: time, process, type, f and a short value.

    ``max_events`` keeps the first events and says how many were left out.
    """
    lines: list[str] = []
    phase = "main"
    events = history.events if max_events is None else history.events[:max_events]
    for e in events:
        if e.phase != phase:
            phase = e.phase
            lines.append(f"{'':>8}  --- {phase} phase ---")
        stamp = f"{e.time:8.3f}"
        if e.is_nemesis and e.f == EXIT:
            text = f"{stamp}  !!! {exit_text(e.value)} on its own"
        elif e.is_nemesis and e.f == LAG:
            text = (
                f"{stamp}  ... {e.value.get('process')} killed with "
                f"{e.value.get('messages')} Kafka messages not yet committed by a consumer group"
            )
        elif e.is_nemesis:
            arrow = {"start": ">>>", FIRE: "***"}.get(e.f, "<<<")
            text = f"{stamp}  {arrow} {e.f} {_fault_text(e.value)}".rstrip()
        else:
            who = f"c{e.process}" if isinstance(e.process, int) else str(e.process)
            text = f"{stamp}  {who:<4} {e.type:<6} {e.f:<12} {_client_value(e)}".rstrip()
        if e.error:
            text += f"  ! {e.error}"
        lines.append(text)
    left_out = len(history.events) - len(events)
    if left_out:
        lines.append(f"{'':>8}  ... {left_out} more events")
    return "\n".join(lines)
