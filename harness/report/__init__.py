"""Per-row verdicts of one run, written as report.md + report.json (and a terminal table)."""

from harness.report._json import report_from_json, report_to_json
from harness.report._model import (
    FAILING,
    ROW_STATUSES,
    Counterexample,
    DesignReport,
    Judged,
    RowResult,
    RowStatus,
)
from harness.report._timeline import timeline
from harness.report._write import format_summary, render_markdown, write_report

__all__ = [
    "FAILING",
    "ROW_STATUSES",
    "Counterexample",
    "DesignReport",
    "Judged",
    "RowResult",
    "RowStatus",
    "format_summary",
    "render_markdown",
    "report_from_json",
    "report_to_json",
    "timeline",
    "write_report",
]
