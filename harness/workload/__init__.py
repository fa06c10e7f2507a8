"""Async workload clients that record every attempt, retries, and final reads."""

from harness.workload.client import WorkloadClient
from harness.workload.contract import WORKLOADS, InvalidOperation, Workload, classify
from harness.workload.final import Snapshot, read_snapshot, touched_keys
from harness.workload.keys import KeySpace, new_run_id
from harness.workload.ops import RETRY_MODES, OpSpec, RetryMode, RetryPolicy

__all__ = [
    "RETRY_MODES",
    "WORKLOADS",
    "InvalidOperation",
    "KeySpace",
    "OpSpec",
    "RetryMode",
    "RetryPolicy",
    "Snapshot",
    "Workload",
    "WorkloadClient",
    "classify",
    "new_run_id",
    "read_snapshot",
    "touched_keys",
]
