"""Design files: a target and its executable failure-model table (docs/design-files.md)."""

from harness.design._load import InvalidDesign, load_design
from harness.design._model import (
    COVERAGE_COUNTERS,
    ROW_TEXTS,
    TAXONOMY,
    WORKLOADS,
    Design,
    Row,
    ServicesDecl,
    TargetDecl,
    UnknownRow,
)

__all__ = [
    "COVERAGE_COUNTERS",
    "ROW_TEXTS",
    "TAXONOMY",
    "WORKLOADS",
    "Design",
    "InvalidDesign",
    "Row",
    "ServicesDecl",
    "TargetDecl",
    "UnknownRow",
    "load_design",
]
