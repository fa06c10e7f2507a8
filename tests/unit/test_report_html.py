"""report.html: one self-contained page with the Step 14 table, verdicts, evidence,
replay commands and the pictures (inline SVG), written beside report.md/json."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from harness.history import Recorder, read_history
from harness.report import (
    DesignReport,
    Judged,
    html_path,
    render_html,
    report_from_json,
    write_report,
)
from harness.report._plots import bars, exits, fault_windows, latency_svg, timeline_svg
from tests.unit.test_report import EVIDENCE, REPLAY, failing_row, make_report, make_row

STEP_14 = ("failure mode", "can it happen", "correct behaviour", "mechanism", "recovery")


def full_report(tmp_path: Path) -> DesignReport:
    failing = failing_row(tmp_path)
    assert failing.counterexample is not None
    history = failing.counterexample.history_path
    return make_report(
        tmp_path,
        make_row(
            "orders-interleave",
            "PASS",
            can_happen="Yes (concurrent buyers)",
            recovery="Cancel the oversold orders",
            faults=("reorder", "pause:target-*"),
            coverage={"faults_during_ops": 7},
            judged={"no_oversell": Judged(valid=30, vacuous=10)},
            histories=(history, history),
        ),
        replace(
            failing,
            can_happen="Yes (client timeouts)",
            recovery="Refund the duplicate",
            faults=("retry", "crash:target-*"),
            histories=(history,),
        ),
        make_row("cache-loss", "NOT EXERCISED"),
        make_row("slow-reads", "INCONCLUSIVE", reason="final state unreadable in 5 of 6"),
        make_row("boom", "ERROR", error="target did not start <port in use>"),
        make_row("cut", "INTERRUPTED", reason="interrupted by SIGTERM"),
    )


def test_the_page_has_the_step_14_table_with_a_coloured_verdict_per_row(tmp_path: Path) -> None:
    page = render_html(full_report(tmp_path))
    table = page[page.index("<section id='failure-model'>") : page.index("</table>")]
    for column in (
        *STEP_14,
        "verdict",
        "examples",
        "faults injected",
        "coverage",
        "judged",
        "time",
    ):
        assert f"<th>{column}</th>" in table
    for status, cls in (
        ("PASS", "pass"),
        ("FAIL", "fail"),
        ("NOT EXERCISED", "not-exercised"),
        ("INCONCLUSIVE", "inconclusive"),
        ("ERROR", "error"),
        ("INTERRUPTED", "interrupted"),
    ):
        assert f'<span class="pill {cls}">{status}</span>' in table
        assert re.search(rf"\.pill\.{cls} {{ background: var\(--{cls}\)", page)
    assert "Yes (concurrent buyers)" in table and "Cancel the oversold orders" in table
    assert "<code>pause:target-*</code>" in table
    assert "faults_during_ops 7" in table and "30 of 40: no_oversell" in table and "3.2 s" in table


def test_a_failing_row_shows_evidence_schedule_rate_and_replay_with_copy(tmp_path: Path) -> None:
    page = render_html(full_report(tmp_path))
    section = page[page.index("id='row-client-retry'") :]
    section = section[: section.index("</section>")]
    assert "<code>idempotent_retry</code> (invalid)" in section
    assert EVIDENCE.replace("'", "&#x27;") in section
    assert "crash target-0" in section  # the minimal schedule
    assert "Reproduced <span class='rate'>4/5</span> (80 %)" in section
    assert f"data-copy='{REPLAY}'" in section
    assert "failmodel replay " in section and "--times 5" in section
    assert section.count("button class='copy'") == 2
    assert 'id="timeline-client-retry"' in section and 'id="latency-client-retry"' in section
    assert "&lt;port in use&gt;" in page  # errors are escaped


def test_the_page_needs_nothing_from_outside(tmp_path: Path) -> None:
    page = render_html(full_report(tmp_path))
    assert page.startswith("<!doctype html>")
    for external in ("src=", "<link", "@import", "url(http", 'href="http', "href='http"):
        assert external not in page, external
    assert page.count("<script>") == 1 and "navigator.clipboard" in page
    # Each inline SVG has ids of its own (several share one page).
    ids = re.findall(r'<clipPath id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_write_report_writes_all_three_and_a_missing_history_is_a_sentence(
    tmp_path: Path,
) -> None:
    report = full_report(tmp_path)
    write_report(report, tmp_path / "out")
    page = html_path(tmp_path / "out").read_text()
    assert "timeline-client-retry" in page
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["schema_version"] == 5 and report_from_json(data) == report
    assert data["rows"][1]["recovery"] == "Refund the duplicate"

    row = report.rows[1]
    assert row.counterexample is not None
    row.counterexample.history_path.unlink()
    write_report(report, tmp_path / "again")
    page = html_path(tmp_path / "again").read_text()
    assert "(no timeline picture: " in page and "(no latency picture: " in page


def test_pictures_lanes_faults_and_ids(tmp_path: Path) -> None:
    row = failing_row(tmp_path)
    assert row.counterexample is not None
    history = read_history(row.counterexample.history_path)
    assert {b.lane for b in bars(history)} == {"c0 → n0", "c0 → n1"}
    (window,) = fault_windows(history)
    assert window.label == "crash of target-0" and window.end > window.start
    svg = timeline_svg(history, svg_id="timeline-x", title="t")
    assert svg.startswith("<svg") and 'id="timeline-x"' in svg[: svg.index(">")]
    assert "crash of target-0" in svg and "c0 → n1" in svg
    assert 'id="latency-y"' in latency_svg([history, history], svg_id="latency-y")
    assert "exited" not in svg


def test_the_timeline_picture_marks_a_process_that_exited_on_its_own(tmp_path: Path) -> None:
    row = failing_row(tmp_path)
    assert row.counterexample is not None
    before = read_history(row.counterexample.history_path)
    end = max(e.time for e in before.events)
    recorder = Recorder.continuing(before, t0=0.0, clock=lambda: end + 0.5)
    recorder.exit("target-1", 1, "Error: Connection terminated unexpectedly")
    history = recorder.history()
    assert exits(history) == [(history.events[-1].time, "target-1 exited with code 1")]
    svg = timeline_svg(history, svg_id="timeline-x", title="t")
    assert "target-1 exited with code 1" in svg and "process exited on its own" in svg
