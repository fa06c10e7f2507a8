"""Per-endpoint counters: the coverage evidence the engine reads, e.g. that a
retry reached the partner and was absorbed as an idempotent replay."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.partner.faults import FAULT_MODES


def _zero_per_mode() -> dict[str, int]:
    return dict.fromkeys(FAULT_MODES, 0)


@dataclass(slots=True)
class EndpointStats:
    """What happened at one endpoint since the partner started (mutable counters)."""

    requests: int = 0
    invalid: int = 0
    effects: int = 0
    replays: int = 0
    conflicts: int = 0
    declines: int = 0
    held: int = 0
    abandoned: int = 0
    injected: dict[str, int] = field(default_factory=_zero_per_mode)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "invalid": self.invalid,
            "effects": self.effects,
            "replays": self.replays,
            "conflicts": self.conflicts,
            "declines": self.declines,
            "held": self.held,
            "abandoned": self.abandoned,
            "injected": dict(self.injected),
        }
