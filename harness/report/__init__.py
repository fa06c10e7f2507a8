"""Per-row verdicts of one run, written as report.md + report.json + report.html (and a
terminal table), and as JUnit XML for CI."""

from harness.report._html import render_html, schedule_replay_command
from harness.report._json import report_from_json, report_to_json
from harness.report._junit import render_junit, write_junit
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
from harness.report._write import format_summary, html_path, render_markdown, write_report

__all__ = [
    "FAILING",
    "ROW_STATUSES",
    "Counterexample",
    "DesignReport",
    "Judged",
    "RowResult",
    "RowStatus",
    "format_summary",
    "html_path",
    "render_html",
    "render_junit",
    "render_markdown",
    "report_from_json",
    "report_to_json",
    "schedule_replay_command",
    "timeline",
    "write_junit",
    "write_report",
]
