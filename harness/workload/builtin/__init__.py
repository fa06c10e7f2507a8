"""The built-in workloads: ordinary users of `harness.workload.api`.

``inventory`` is declared in TOML (``inventory.toml``, the same text a design
could hold under ``[workload]``); ``payments`` and ``matching`` in Python, as
they use hooks (an amount computed from the key; a draw that answers open
swipes; a predicate on match lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from harness.plain import Where
from harness.workload.api import Workload
from harness.workload.builtin.matching import MATCHING
from harness.workload.builtin.payments import PAYMENTS
from harness.workload.toml_form import load_workload_file

INVENTORY = load_workload_file(Path(__file__).with_name("inventory.toml"), Where(path=""))

BUILTIN: Mapping[str, Workload] = MappingProxyType(
    {"inventory": INVENTORY, "payments": PAYMENTS, "matching": MATCHING}
)

__all__ = ["BUILTIN", "INVENTORY", "MATCHING", "PAYMENTS", "builtin_mismatch", "resolve"]


def resolve(workload: Workload | str) -> Workload:
    """``workload`` itself, or the built-in workload of that name."""
    if isinstance(workload, Workload):
        return workload
    found = BUILTIN.get(workload) if isinstance(workload, str) else None
    if found is None:
        raise ValueError(
            f"'workload' must be a Workload or a built-in workload name "
            f"({', '.join(BUILTIN)}) (got {workload!r})"
        )
    return found


def builtin_mismatch(workload: Workload) -> str | None:
    """Why a workload named after a built-in cannot stand in for it, or None.

    The built-in invariants judge a workload by its name; they read its
    operations (by name, with their body fields) and its final slots. A
    workload of another name, or the built-in itself, is never a mismatch;
    one named ``inventory`` must keep inventory's operations (their paths,
    answers and weights are its own) and final reads."""
    builtin = BUILTIN.get(workload.name)
    if builtin is None or builtin is workload:
        return None
    mine = {op.name: op for op in workload.operations}
    for op in builtin.operations:
        other = mine.get(op.name)
        if other is None:
            return f"operation {op.name!r} is missing"
        if other.read != op.read:
            return f"operation {op.name!r} must {'' if op.read else 'not '}be a read"
        lacking = [f for f in op.fields if f not in other.fields]
        if lacking:
            return f"operation {op.name!r} lacks fields {', '.join(lacking)}"
    slots = {read.slot: read for read in workload.final}
    for read in builtin.final:
        other_read = slots.get(read.slot)
        if other_read is None or other_read.op != read.op:
            return f"final slot {read.slot!r} must be read with {read.op!r}"
    return None
