"""Start a target per CONTRACTS.md section 1: replicas plus extra processes."""

from harness.targetproc.processes import TargetProcesses, TargetStartError
from harness.targetproc.spec import DEPENDENCIES, TargetSpec

__all__ = ["DEPENDENCIES", "TargetProcesses", "TargetSpec", "TargetStartError"]
