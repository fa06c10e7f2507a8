"""How big a drawn schedule may be: the size limits a design row sets.

Its own module, below both the workload API (a ``draw`` hook is told the row's
shape) and the strategies that draw within it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """Size limits of one drawn schedule (a design row may tighten them).
    ``keys`` overrides the workload's number of keys per kind (``{"user": 6}``);
    for a kind a setup step makes, it is the most an example sets up."""

    replicas: int = 2
    clients: int = 4
    max_steps: int = 5
    max_batch: int = 5
    max_pause_ms: int = 0
    """Longest timed pause a ``pause`` fault may draw (0: pauses last until healed)."""
    min_latency_ms: int = 20
    max_latency_ms: int = 400
    """The delays a ``latency`` fault draws (per packet: a store link pays one per
    round trip), so a row can say how slow its slow link is."""
    keys: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def counts(self, keys: Mapping[str, int]) -> dict[str, int]:
        """Keys per kind: the workload's ``keys``, overridden by this shape's."""
        return {kind: self.keys.get(kind, n) for kind, n in keys.items()}
