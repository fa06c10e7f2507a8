"""JUnit XML for CI: one ``testsuite`` per design, one ``testcase`` per row.

``classname`` is the design's name and ``name`` the row id, as ``pytest
designs/x.toml --junitxml=F`` names its items, so CI shows the same rows
either way. FAIL, INCONCLUSIVE, ERROR and INTERRUPTED rows are failures (the
message names the violated invariants, the text holds the evidence); NOT
EXERCISED rows are skipped (they proved nothing, but did not fail); the
replay command and the seed go to ``system-out``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.report._html import schedule_replay_command
from harness.report._model import DesignReport, RowResult

_FAILURES = ("FAIL", "INCONCLUSIVE", "ERROR", "INTERRUPTED")
# Characters XML 1.0 cannot hold at all (a target's log tail may contain them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def failure_message(row: RowResult) -> str:
    """One line: the status and the violated invariants (or why there is no verdict)."""
    ce = row.counterexample
    if row.status == "FAIL" and ce is not None:
        names = ", ".join(f"{v.invariant} ({v.status})" for v in ce.violated)
        first = ce.violated[0] if ce.violated else None
        why = ""
        if first is not None:
            why = first.evidence[0].message if first.evidence else first.summary
        return f"FAIL: violated {names}: {why}" if why else f"FAIL: violated {names}"
    if row.status == "FAIL" and row.reason:
        return f"FAIL: {row.reason}"
    if row.status == "ERROR":
        first_line = (row.error or "").strip().splitlines()[:1]
        return f"ERROR (no verdict, the harness or target broke): {''.join(first_line)}"
    if row.status == "INCONCLUSIVE":
        return f"INCONCLUSIVE (judged on too few examples): {row.reason or ''}"
    if row.status == "INTERRUPTED":
        return f"INTERRUPTED: {row.reason or row.interrupted or ''}"
    return row.status


def failure_text(row: RowResult) -> str:
    """Everything a CI page should show for a failing row, in plain text."""
    lines = [f"row {row.row_id} {row.status}: {row.failure_mode}"]
    lines.append(f"expected: {row.correct_behaviour}")
    if row.reason:
        lines.append(f"why: {row.reason}")
    if row.error:
        lines += ["error:", row.error]
    for slo in row.slos:
        lines.append(f"SLO {slo.line()}" + (f"; {slo.note}" if slo.note else ""))
    ce = row.counterexample
    if ce is not None:
        for v in ce.violated:
            lines.append(f"{v.invariant} {v.status}: {v.summary}")
            lines += [f"  - {e.message}" for e in v.evidence]
        lines.append("minimal schedule:")
        lines += [f"  {s}" for s in ce.schedule_lines]
        lines.append(f"reproduced {ce.reproduced}/{ce.attempts} replays of the minimal schedule")
        if ce.timing_note:
            lines.append(ce.timing_note)
        lines.append(f"history: {ce.history_path}")
    return "\n".join(lines)


def _system_out(report: DesignReport, row: RowResult) -> str:
    lines = [f"seed: {row.seed}"]
    if row.replay_command:
        lines.append(f"replay: {row.replay_command}")
    replay = schedule_replay_command(report, row)
    if replay:
        lines.append(f"replay the minimal schedule: {replay}")
    return "\n".join(lines)


def _suite(report: DesignReport) -> ET.Element:
    counts = {
        "tests": len(report.rows),
        "failures": sum(r.status in _FAILURES for r in report.rows),
        "errors": 0,
        "skipped": sum(r.status == "NOT EXERCISED" for r in report.rows),
    }
    suite = ET.Element(
        "testsuite",
        {
            "name": report.design_name,
            **{k: str(v) for k, v in counts.items()},
            "time": f"{report.duration_s:.3f}",
            "timestamp": report.started_at,
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("design", str(report.design_path)),
        ("variant", report.variant),
        ("profile", report.profile),
        ("strategy", report.strategy),
        ("status", report.status),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for row in report.rows:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": report.design_name,
                "name": row.row_id,
                "time": f"{row.duration_s:.3f}",
            },
        )
        if row.status in _FAILURES:
            failure = ET.SubElement(
                case, "failure", {"message": _clean(failure_message(row)), "type": row.status}
            )
            failure.text = _clean(failure_text(row))
        elif row.status == "NOT EXERCISED":
            ET.SubElement(
                case,
                "skipped",
                {
                    "message": f"NOT EXERCISED: no example reached the row's condition in "
                    f"{row.examples} examples, so it proved nothing"
                },
            )
        ET.SubElement(case, "system-out").text = _clean(_system_out(report, row))
    return suite


def render_junit(reports: Sequence[DesignReport]) -> str:
    """The JUnit XML document of one or several designs' runs."""
    root = ET.Element(
        "testsuites",
        {
            "name": "failmodel",
            "tests": str(sum(len(r.rows) for r in reports)),
            "failures": str(sum(r.status in _FAILURES for rep in reports for r in rep.rows)),
            "errors": "0",
            "skipped": str(sum(r.status == "NOT EXERCISED" for rep in reports for r in rep.rows)),
            "time": f"{sum(r.duration_s for r in reports):.3f}",
        },
    )
    root.extend(_suite(r) for r in reports)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(reports: Sequence[DesignReport], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(render_junit(reports), encoding="utf-8")
    partial.replace(path)
    return path
