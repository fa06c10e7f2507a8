"""Linearizability checking: is a concurrent history explained by some sequential order?

A history is linearizable against a sequential ``Model`` when its operations
can be put in one order that respects real time (an operation that completed
before another was invoked comes first) and in which each ``ok`` operation's
result is what the model answers. ``fail`` operations surely did not happen
and are dropped; indeterminate ones (``info``, or never completed) may take
effect at any point after their invoke, or never.

The search is Wing & Gong's with Lowe's cache of (linearized set, state), as
in Porcupine, plus prunings that keep its answers (see ``_search``). It
answers ``linearizable``, ``not linearizable`` (with the longest linearizable
prefix it found and the operation that cannot follow it) or ``unknown`` when
the time budget runs out -- never a guess.

    from invariants.linearizability import CAS_REGISTER, check_operations, read_jepsen_log

    result = check_operations(CAS_REGISTER, read_jepsen_log(path), timeout=10)
    result.status                  # "linearizable" | "not linearizable" | "unknown"
    result.to_verdict()            # a failmodel Verdict, invariant "linearizable"

A model of your own is a ``Model``: an initial state and a pure ``step``
(see its docstring for an example, and docs/linearizability.md).
"""

from invariants.linearizability._check import (
    INVARIANT,
    LinearizabilityResult,
    check_history,
    check_linearization,
    check_operations,
    linearizability_checker,
    partition_ops,
)
from invariants.linearizability._model import UNKNOWN, Model, Op
from invariants.linearizability._models import CAS_REGISTER, KV, MODELS, KvOp, RegisterOp
from invariants.linearizability._readers import (
    HistoryFormatError,
    detect_format,
    ops_from_history,
    read_edn_kv,
    read_failmodel_history,
    read_jepsen_log,
    read_operations,
)
from invariants.linearizability._search import ModelError, PartitionResult, Status, search

__all__ = [
    "CAS_REGISTER",
    "INVARIANT",
    "KV",
    "MODELS",
    "UNKNOWN",
    "HistoryFormatError",
    "KvOp",
    "LinearizabilityResult",
    "Model",
    "ModelError",
    "Op",
    "PartitionResult",
    "RegisterOp",
    "Status",
    "check_history",
    "check_linearization",
    "check_operations",
    "detect_format",
    "linearizability_checker",
    "ops_from_history",
    "partition_ops",
    "read_edn_kv",
    "read_failmodel_history",
    "read_jepsen_log",
    "read_operations",
    "search",
]
