"""Workloads: what a service's clients do (the public API of docs/workloads.md),
the async clients that send it and record every attempt, and final reads."""

from harness.workload.api import (
    Answer,
    Const,
    DrawContext,
    DrawHook,
    DrawnOp,
    FinalRead,
    FromAnswer,
    FromKey,
    Ints,
    InvalidWorkload,
    Key,
    OneOf,
    Operation,
    PartnerDecline,
    SetupStep,
    Source,
    Workload,
)
from harness.workload.builtin import BUILTIN, resolve
from harness.workload.client import WorkloadClient
from harness.workload.contract import WORKLOADS, InvalidOperation, classify
from harness.workload.final import Snapshot, read_snapshot, touched_keys
from harness.workload.keys import KeySpace, new_run_id
from harness.workload.ops import RETRY_MODES, OpSpec, RetryMode, RetryPolicy
from harness.workload.toml_form import load_workload_file, workload_from_table

__all__ = [
    "BUILTIN",
    "RETRY_MODES",
    "WORKLOADS",
    "Answer",
    "Const",
    "DrawContext",
    "DrawHook",
    "DrawnOp",
    "FinalRead",
    "FromAnswer",
    "FromKey",
    "Ints",
    "InvalidOperation",
    "InvalidWorkload",
    "Key",
    "KeySpace",
    "OneOf",
    "OpSpec",
    "Operation",
    "PartnerDecline",
    "RetryMode",
    "RetryPolicy",
    "SetupStep",
    "Snapshot",
    "Source",
    "Workload",
    "WorkloadClient",
    "classify",
    "load_workload_file",
    "new_run_id",
    "read_snapshot",
    "resolve",
    "touched_keys",
    "workload_from_table",
]
