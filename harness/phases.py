"""The phases of one example, in the order they run: where its time goes.

The runner records seconds under these keys (``ExampleOutcome.phases``) and
the report sums them per row. The schedule's own steps are split into its
batches of operations (a fault starting mid-batch included), its waits, and
its fault steps (a start, a heal); settling into waiting (sleeping between
snapshots until the system is quiet), final reads (the snapshots and the
partner's ledger) and checking (the invariants on each snapshot). So a slow
row says whether the schedule asks for the time or the harness waits, reads
or computes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

PHASES: Mapping[str, str] = MappingProxyType(
    {
        "setup": "setup",
        "batches": "main: batches",
        "wait_steps": "main: waits",
        "fault_steps": "main: faults",
        "heal": "heal",
        "settle_wait": "settle: waiting",
        "final_reads": "settle: final reads",
        "checking": "checking",
    }
)
"""Phase key -> the words a report uses for it, in the order an example runs them."""


def add_phases(examples: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Seconds per phase summed over examples, known phases first in their order."""
    total: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    for phases in examples:
        for name, seconds in phases.items():
            total[name] = total.get(name, 0.0) + seconds
    return total
