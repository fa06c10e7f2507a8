"""report.md and report.json for one run, and the compact table the CLI prints.

The Markdown is the failure-model table again, now with a verdict per row;
each failing row gets what a reader needs to believe and rerun it: the
violated invariants with their evidence, the minimal schedule, how often it
reproduces, the replay command and a timeline of the failing history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from harness.design import COVERAGE_COUNTERS
from harness.history import HistoryFileError, read_history
from harness.report._html import render_html
from harness.report._json import report_to_json
from harness.report._model import DesignReport, RowResult, evidence_parts
from harness.report._phases import EXPLAINED, pace, phase_cells, phase_labels, stalled, timed
from harness.report._timeline import timeline
from harness.schedule.answers import refusal_notes

# A minimal counterexample is short; this only guards report.md against a huge history.
TIMELINE_MAX_EVENTS = 400


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _indented_block(text: str) -> list[str]:
    """Lines after an evidence message's first (a process's last output), kept as
    written: a fenced block inside the bullet, fenced longer than any backtick run
    in it, so the output cannot end the block early."""
    if not text.strip():
        return []
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [f"    {line}".rstrip() for line in text.splitlines()]
    return [f"    {fence}text", *lines, f"    {fence}"]


def _coverage(coverage: Mapping[str, int]) -> str:
    """Non-zero counters, the known ones first in their usual order."""
    order = [c for c in COVERAGE_COUNTERS if c in coverage]
    order += sorted(c for c in coverage if c not in COVERAGE_COUNTERS)
    shown = [f"{c} {coverage[c]}" for c in order if coverage[c]]
    return ", ".join(shown) if shown else "none"


def _first_evidence(row: RowResult) -> str:
    if row.status == "ERROR":
        return row.error or ""
    if row.status in ("INCONCLUSIVE", "INTERRUPTED"):
        return row.reason or ""
    if row.counterexample is None or not row.counterexample.violated:
        return (row.reason or "") if row.status == "FAIL" else ""
    v = row.counterexample.violated[0]
    return f"{v.invariant}: {v.evidence[0].message if v.evidence else v.summary}"


def _timeline_block(path: Path) -> list[str]:
    try:
        text = timeline(read_history(path), max_events=TIMELINE_MAX_EVENTS)
    except (OSError, HistoryFileError) as exc:
        return [f"(no timeline: cannot read the history: {exc})"]
    return ["```text", text, "```"]


def _failure_section(row: RowResult) -> list[str]:
    out = [f"## {row.status}: `{row.row_id}` — {_cell(row.failure_mode)}", ""]
    if row.reason:
        out += [_cell(row.reason), ""]
    if row.error:
        out += ["```text", row.error, "```", ""]
    if row.judged:
        out += ["Judged (valid with something to check / examples):", ""]
        out += [f"- `{name}`: {_cell(j.describe())}" for name, j in row.judged.items()]
        out.append("")
    ce = row.counterexample
    if ce is not None:
        out += ["Violated invariants:", ""]
        for v in ce.violated:
            out.append(f"- `{v.invariant}` ({v.status}): {_cell(v.summary)}")
            for e in v.evidence:
                first, refs, rest = evidence_parts(e)
                out.append(f"  - {_cell(first)}{f' ({refs})' if refs else ''}")
                out += _indented_block(rest)
        if ce.late:
            out += [
                "",
                "Found late: side effects that landed after the example was judged (during "
                "later examples or after the row's last one) were attributed to it by the ids "
                "they carry, and judged at the end of the row. The schedule is not shrunk.",
            ]
        out += ["", "Minimal schedule:", "", "```text", *ce.schedule_lines, "```", ""]
        out.append(f"Reproduced {ce.reproduced}/{ce.attempts} replays. {ce.timing_note}".strip())
        out.append("")
    out += [f"- seed: `{row.seed}`"]
    if row.replay_command:
        out.append(f"- replay: `{row.replay_command}`")
    if ce is not None:
        out.append(f"- history: `{ce.history_path}`")
        out.append(f"- schedule: `{ce.schedule_path}`")
        if ce.original_history_path is not None:
            out.append(f"- history before shrinking: `{ce.original_history_path}`")
        if ce.original_schedule_path is not None:
            out.append(f"- schedule before shrinking: `{ce.original_schedule_path}`")
        out += ["", "Timeline of the minimal counterexample:", ""]
        out += _timeline_block(ce.history_path)
    out.append("")
    return out


def render_markdown(report: DesignReport) -> str:
    """The whole report.md text."""
    out = [
        f"# failmodel: {report.design_name} — {report.status}",
        "",
        f"- design: `{report.design_path}`",
        f"- variant: `{report.variant}`",
        f"- profile: `{report.profile}`",
        f"- strategy: `{report.strategy}`",
        f"- started: {report.started_at} (took {report.duration_s:.1f} s)",
        f"- result: {report.summary()}",
        "",
        "## Failure model",
        "",
        "| row | failure mode | correct behaviour | mechanism | status | examples | judged "
        "| coverage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report.rows:
        status = r.status if r.status == "PASS" else f"**{r.status}**"
        out.append(
            f"| `{r.row_id}` | {_cell(r.failure_mode)} | {_cell(r.correct_behaviour)} | "
            f"{_cell(r.mechanism)} | {status} | {r.examples} | {r.least_judged()} | "
            f"{_coverage(r.coverage)} |"
        )
    out.append("")
    out += refusals_section(report)
    out += slo_section(report)
    out += time_section(report)
    out += budget_section(report)
    for r in report.rows:
        if r.status in ("FAIL", "ERROR", "INCONCLUSIVE", "INTERRUPTED"):
            out += _failure_section(r)
    idle = [r for r in report.rows if r.status == "NOT EXERCISED"]
    if idle:
        out += [
            "## Not exercised",
            "",
            "These rows ran without error, but no example reached the condition the row is "
            "about, so their PASS would prove nothing:",
            "",
        ]
        out += [
            f"- `{r.row_id}` ({r.examples} examples; coverage {_coverage(r.coverage)}); "
            f"replay: `{r.replay_command}`"
            for r in idle
        ]
        out.append("")
    return "\n".join(out)


def refusals_section(report: DesignReport) -> list[str]:
    """Rows whose writes were mostly refused: what their verdict rests on is thin."""
    notes = [(r, note) for r in report.rows for note in refusal_notes(r.answers)]
    if not notes:
        return []
    out = ["## Writes mostly refused", ""]
    out += [f"- `{r.row_id}`: {note}" for r, note in notes]
    out.append("")
    return out


def slo_section(report: DesignReport) -> list[str]:
    """The rows' SLOs: each promise beside what the row's examples measured."""
    rows = [(r, slo) for r in report.rows for slo in r.slos]
    if not rows:
        return []
    out = [
        "## SLOs",
        "",
        "Judged once per row, on every example's operations (under the row's faults).",
        "",
        "| row | SLO | promise | measured | distribution | verdict | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, slo in rows:
        verdict = "**NOT MET**" if slo.met is False else slo.verdict
        out.append(
            f"| `{r.row_id}` | `{_cell(slo.text)}` | {_cell(slo.promise)} | {slo.shown} | "
            f"{slo.spread} | {verdict} | {_cell(slo.note) or '-'} |"
        )
    out.append("")
    return out


def time_section(report: DesignReport) -> list[str]:
    """Where each row's time went: its pace, and seconds per phase of its examples."""
    rows = timed(report.rows)
    if not rows:
        return []
    labels = phase_labels(rows)
    out = [
        "## Where the time went",
        "",
        EXPLAINED,
        "",
        "| row | examples | examples/min | CPU stalled | " + " | ".join(labels) + " |",
        "|---|---|---|---|" + "---|" * len(labels),
    ]
    for r in rows:
        cells = " | ".join(c.text() for c in phase_cells(r, rows))
        out.append(f"| `{r.row_id}` | {r.examples} | {pace(r)} | {stalled(r)} | {cells} |")
    out.append("")
    return out


def write_report(report: DesignReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir``;
    returns (json, md) (the page is ``html_path(out_dir)``).

    Each file is written to a temporary name and renamed, so a run stopped
    while writing leaves the previous complete report, never half of one.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    md_path = out_dir / "report.md"
    _write_atomic(json_path, json.dumps(report_to_json(report), indent=2) + "\n")
    _write_atomic(md_path, render_markdown(report))
    _write_atomic(html_path(out_dir), render_html(report))
    return json_path, md_path


def html_path(out_dir: Path) -> Path:
    """Where ``write_report`` puts the HTML page of a run."""
    return out_dir / "report.html"


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def format_summary(report: DesignReport, *, width: int = 100) -> str:
    """A compact table for the terminal: row, status, examples, time, and the first
    evidence, or for a PASS what it rests on (its least-judged invariant)."""
    id_width = max([len("row"), *(len(r.row_id) for r in report.rows)])
    head = f"{'row':<{id_width}}  {'status':<13}  {'examples':>8}  {'time':>7}"
    lines = [
        f"{report.design_name} (variant {report.variant}, profile {report.profile}"
        f"{'' if report.strategy == 'guided' else ', strategy ' + report.strategy})",
        head,
        "-" * len(head),
    ]
    for r in report.rows:
        line = f"{r.row_id:<{id_width}}  {r.status:<13}  {r.examples:>8}  {r.duration_s:>6.1f}s"
        note = _first_evidence(r) or (f"judged {r.least_judged()}" if r.status == "PASS" else "")
        if note:
            room = max(width - len(line) - 2, 20)
            note = " ".join(note.split())
            line += "  " + (note if len(note) <= room else note[: room - 3] + "...")
        lines.append(line)
    lines.append(report.summary())
    return "\n".join(lines)


def budget_section(report: DesignReport) -> list[str]:
    """A ``--budget`` run: per row the seconds it was given and the seconds it used."""
    rows = [r for r in report.rows if r.budget_s is not None]
    if not rows:
        return []
    out = ["## Time budget", "", "| row | given | used | examples | status |", "|" + "---|" * 5]
    out += [
        f"| `{r.row_id}` | {r.budget_s:.0f} s | {r.duration_s:.0f} s | {r.examples} | {r.status} |"
        for r in rows
    ]
    return [*out, ""]
