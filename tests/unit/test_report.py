"""Reports: report.json reads back, report.md shows what a failing row needs, exit codes."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.history import History, Recorder
from harness.nemesis.faults import Crash, fault_to_dict
from harness.report import (
    Counterexample,
    DesignReport,
    Judged,
    RowResult,
    format_summary,
    report_from_json,
    timeline,
    write_report,
)
from invariants import Evidence, Verdict

EVIDENCE = "order o-3 was retried and got 'rejected' after 'accepted'"
REPLAY = "failmodel replay designs/checkout.toml --row client-retry --seed 1234"


def record_history(path: Path) -> History:
    ticks = itertools.count()
    with Recorder(path, clock=lambda: next(ticks) / 10) as rec:
        order = rec.invoke(0, "order", {"node": 0, "attempt": 1, "body": {"order_id": "o-3"}})
        rec.nemesis("start", {"fault": fault_to_dict(Crash(process="target-0")), "id": 1})
        rec.complete(order, "info", {"status": None, "body": None}, error="connection reset")
        retry = rec.invoke(0, "order", {"node": 1, "attempt": 2, "body": {"order_id": "o-3"}})
        rec.complete(retry, "ok", {"status": 200, "body": {"status": "rejected"}})
        rec.nemesis("heal", {"fault": fault_to_dict(Crash(process="target-0")), "id": 1})
        rec.set_phase("final")
        read = rec.invoke(0, "read_order", {"node": 0, "attempt": 1, "body": {"order_id": "o-3"}})
        rec.complete(read, "ok", {"status": 200, "body": {"status": "accepted"}})
        return rec.history()


def make_row(row_id: str, status: str, **kw: object) -> RowResult:
    fields: dict[str, object] = {
        "row_id": row_id,
        "failure_mode": f"failure | of {row_id}",
        "correct_behaviour": "same outcome",
        "mechanism": "idempotency key",
        "status": status,
        "invariants": ("idempotent_retry", "no_oversell"),
        "examples": 40,
        "duration_s": 3.25,
        "coverage": {"retries": 12, "faults_during_ops": 0},
        "seed": 1234,
        "replay_command": REPLAY,
    }
    fields.update(kw)
    return RowResult(**fields)  # type: ignore[arg-type]


def make_report(tmp_path: Path, *rows: RowResult) -> DesignReport:
    return DesignReport(
        design_name="checkout",
        design_path=Path("designs/checkout.toml"),
        variant="no_idempotency",
        profile="ci",
        started_at="2025-01-02T03:04:05+00:00",
        duration_s=61.5,
        rows=rows,
    )


def failing_row(tmp_path: Path) -> RowResult:
    history_path = tmp_path / "runs" / "history.jsonl"
    record_history(history_path)
    counterexample = Counterexample(
        schedule_lines=("batch: order k0 on n0 (retry immediate x1)", "crash target-0"),
        schedule_path=tmp_path / "runs" / "schedule.json",
        history_path=history_path,
        verdicts=(
            Verdict(
                invariant="no_oversell",
                status="valid",
                summary="ok",
                checked=2,
                parts=(("prior open", 2), ("no_prior close", 0)),
            ),
            Verdict(
                invariant="idempotent_retry",
                status="invalid",
                summary="1 order answered differently on retry",
                evidence=(Evidence(message=EVIDENCE, keys=("o-3",), op_ids=(0, 3)),),
                checked=1,
            ),
        ),
        reproduced=4,
        attempts=5,
        original_history_path=tmp_path / "runs" / "original.jsonl",
        original_schedule_path=None,
    )
    return make_row("client-retry", "FAIL", counterexample=counterexample)


def test_report_files_round_trip_and_show_the_failure(tmp_path: Path) -> None:
    report = make_report(
        tmp_path,
        make_row(
            "orders-interleave",
            "PASS",
            coverage={"faults_during_ops": 7},
            judged={
                "idempotent_retry": Judged(valid=30, vacuous=10),
                "no_oversell": Judged(valid=38, unknown=2, why_unknown="sku s-1 unread"),
                "bid_rule": Judged(valid=40, parts={"prior open": 40, "no_prior close": 12}),
            },
        ),
        failing_row(tmp_path),
        make_row("cache-loss", "NOT EXERCISED", coverage={"faults_during_ops": 0}),
    )
    json_path, md_path = write_report(report, tmp_path / "out")
    assert (json_path.name, md_path.name) == ("report.json", "report.md")

    data = json.loads(json_path.read_text())
    assert data["exit_code"] == 1 and data["status"] == "FAIL"
    assert data["rows"][1]["counterexample"]["verdicts"][1]["evidence"][0]["message"] == EVIDENCE
    assert report_from_json(data) == report

    md = md_path.read_text()
    assert "| `client-retry` | failure \\| of client-retry |" in md
    assert "**FAIL** | 40 | - | retries 12 |" in md
    # A rule's least-judged condition is what its PASS rests on.
    assert "| PASS | 40 | 12 of 40: bid_rule (no_prior close) | faults_during_ops 7 |" in md
    parts = data["rows"][0]["judged"]["bid_rule"]["parts"]
    assert parts == {"prior open": 40, "no_prior close": 12}
    assert report.rows[0].judged["bid_rule"].describe() == (
        "valid 40 of 40; conditions at stake: prior open in 40, no_prior close in 12"
    )
    assert "- `idempotent_retry` (invalid): 1 order answered differently on retry" in md
    assert f"  - {EVIDENCE} (keys o-3; ops 0, 3)" in md
    assert "`no_oversell` (valid)" not in md
    assert "crash target-0" in md
    assert "Reproduced 4/5 replays." in md
    assert f"- replay: `{REPLAY}`" in md
    assert "- seed: `1234`" in md
    assert str(tmp_path / "runs" / "history.jsonl") in md
    assert str(tmp_path / "runs" / "schedule.json") in md
    assert str(tmp_path / "runs" / "original.jsonl") in md
    assert ">>> start crash of target-0" in md and "<<< heal crash of target-0" in md
    assert "## Not exercised" in md and "`cache-loss`" in md
    assert "- variant: `no_idempotency`" in md and "- profile: `ci`" in md


def test_missing_history_does_not_break_the_report(tmp_path: Path) -> None:
    row = failing_row(tmp_path)
    assert row.counterexample is not None
    row.counterexample.history_path.unlink()
    _, md_path = write_report(make_report(tmp_path, row), tmp_path / "out")
    assert "(no timeline: cannot read the history" in md_path.read_text()


@pytest.mark.parametrize(
    ("statuses", "exit_code", "status"),
    [
        (("PASS", "PASS"), 0, "PASS"),
        (("PASS", "NOT EXERCISED"), 1, "NOT EXERCISED"),
        (("PASS", "ERROR", "NOT EXERCISED"), 1, "ERROR"),
        (("ERROR", "FAIL"), 1, "FAIL"),
        (("PASS", "INCONCLUSIVE", "NOT EXERCISED"), 1, "INCONCLUSIVE"),
        (("INCONCLUSIVE", "INTERRUPTED"), 1, "INTERRUPTED"),
    ],
)
def test_exit_code_and_status(
    tmp_path: Path, statuses: tuple[str, ...], exit_code: int, status: str
) -> None:
    rows = [
        make_row(f"row-{i}", s, error="boom" if s == "ERROR" else None)
        for i, s in enumerate(statuses)
    ]
    report = make_report(tmp_path, *rows)
    assert report.exit_code == exit_code
    assert report.status == status
    assert report.summary().startswith(f"{status}: ")


def test_an_inconclusive_row_fails_the_run_unless_allowed_and_shows_why(tmp_path: Path) -> None:
    why = "final state unreadable in 5 of 6 examples: GET /inventory/{sku} answered HTTP 500"
    row = make_row(
        "cache-loss",
        "INCONCLUSIVE",
        reason=why,
        judged={"no_oversell": Judged(valid=1, unknown=5, why_unknown="sku s-1 unread")},
    )
    report = make_report(tmp_path, make_row("a", "PASS"), row)

    assert (report.exit_code, report.exit_code_for(allow_inconclusive=True)) == (1, 0)
    assert "(exit code 1; 0 with --allow-inconclusive)" in report.summary()
    _, md_path = write_report(report, tmp_path / "out")
    md = md_path.read_text()
    assert "| **INCONCLUSIVE** | 40 | 1 of 6: no_oversell |" in md
    assert "## INCONCLUSIVE: `cache-loss`" in md and why in md
    assert "- `no_oversell`: valid 1 of 6 (5 unknown); unknown because: sku s-1 unread" in md
    assert why in format_summary(report, width=300)
    assert report_from_json(json.loads((tmp_path / "out" / "report.json").read_text())) == report


def test_summary_says_not_exercised_rows_prove_nothing(tmp_path: Path) -> None:
    report = make_report(tmp_path, make_row("a", "PASS"), make_row("b", "NOT EXERCISED"))
    assert report.summary().startswith(
        "NOT EXERCISED: 1 PASS, 1 NOT EXERCISED (exit code 1; 0 with --allow-unexercised)"
    )
    assert report.exit_code_for(allow_inconclusive=False, allow_unexercised=True) == 0
    assert report.exit_code_for(allow_inconclusive=True) == 1
    assert "nothing was shown for: b" in report.summary()
    failed = make_report(tmp_path, make_row("a", "FAIL"), make_row("b", "NOT EXERCISED"))
    assert "(exit code 1);" in failed.summary(), "no option lets a FAIL pass"


def test_format_summary_shows_first_evidence_and_errors(tmp_path: Path) -> None:
    report = make_report(
        tmp_path,
        make_row(
            "orders-interleave",
            "PASS",
            judged={
                "idempotent_retry": Judged(valid=1, vacuous=39),
                "no_oversell": Judged(valid=40),
            },
        ),
        failing_row(tmp_path),
        make_row("cache-loss", "ERROR", error="target did not start: port in use"),
    )
    text = format_summary(report, width=200)
    lines = text.splitlines()
    # A PASS says what it rests on: read beside the status, not in another column.
    passed = next(line for line in lines if line.startswith("orders-interleave"))
    assert passed.endswith("  judged 1 of 40: idempotent_retry")
    assert lines[0] == "checkout (variant no_idempotency, profile ci)"
    fail = next(line for line in lines if line.startswith("client-retry"))
    assert "FAIL" in fail and "40" in fail and "3.2s" in fail
    assert f"idempotent_retry: {EVIDENCE}" in fail
    assert "target did not start: port in use" in text
    assert lines[-1].startswith("FAIL: 1 PASS, 1 FAIL, 1 ERROR (exit code 1)")


def test_row_status_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'status' must be one of PASS, FAIL"):
        make_row("x", "FAILED")


def test_report_from_json_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="schema_version"):
        report_from_json({"rows": []})


def test_timeline_lines(tmp_path: Path) -> None:
    history = record_history(tmp_path / "h.jsonl")
    lines = timeline(history).splitlines()
    assert lines[0].split() == ["0.100", "c0", "invoke", "order", "n0", '{"order_id":"o-3"}']
    assert lines[1].split()[1:] == [">>>", "start", "crash", "of", "target-0"]
    assert lines[2].split()[1:4] == ["c0", "info", "order"]
    assert lines[2].endswith("! connection reset")
    assert "n1 attempt 2" in lines[3]
    assert lines[4].split()[1:] == ["c0", "ok", "order", "200", '{"status":"rejected"}']
    assert "<<< heal crash of target-0" in lines[5]
    assert lines[6].strip() == "--- final phase ---"
    assert "read_order" in lines[7]


def test_timeline_can_be_cut_short(tmp_path: Path) -> None:
    history = record_history(tmp_path / "h.jsonl")
    lines = timeline(history, max_events=2).splitlines()
    assert len(lines) == 3
    assert lines[-1].strip() == f"... {len(history) - 2} more events"


def test_slos_are_shown_beside_their_promise_in_every_format(tmp_path: Path) -> None:
    from harness.report import render_html, render_junit
    from invariants.slo import SloResult

    met = SloResult(
        text="p95(order) < 300 ms", kind="latency", promise="p95 < 300 ms", measured=0.041,
        met=True, distribution={"n": 120, "p50": 0.012, "p95": 0.041, "p99": 0.2, "max": 1.5},
    )
    missed = SloResult(
        text="exactly_once_shipment within 5 s", kind="freshness", promise="max <= 5.00 s",
        measured=9.8, met=False, distribution={"n": 30, "p50": 5.1, "p95": 9.7, "p99": 9.8,
                                               "max": 9.8},
        note="longest: o-3 9.80 s",
    )
    row = make_row(
        "shipment-slo", "FAIL", slos=(met, missed),
        reason="SLO not met: " + missed.line(),
    )
    report = make_report(tmp_path, row)
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| `shipment-slo` | `p95(order) < 300 ms` | p95 < 300 ms | 41 ms | n 120, p50 12 ms, "\
           "p95 41 ms, p99 200 ms, max 1.50 s | met | - |" in md
    assert "| `exactly_once_shipment within 5 s` | max <= 5.00 s | 9.80 s |" in md
    assert "**NOT MET** | longest: o-3 9.80 s |" in md
    assert "SLO not met: exactly_once_shipment within 5 s: measured 9.80 s (NOT MET)" in md
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["rows"][0]["slos"][1]["met"] is False
    assert report_from_json(data) == report
    html = render_html(report)
    assert "<span class='slo missed'>exactly_once_shipment within 5 s: 9.80 s</span>" in html
    assert "<h3>SLOs</h3>" in html
    junit = render_junit([report])
    assert "FAIL: SLO not met: exactly_once_shipment within 5 s" in junit
    assert "SLO p95(order) &lt; 300 ms: measured 41 ms (met)" in junit
    assert "SLO not met" in format_summary(report)


def test_where_the_time_went_is_shown_per_row_in_every_format(tmp_path: Path) -> None:
    from harness.phases import add_phases
    from harness.report import render_html

    phases = add_phases(
        [
            {"setup": 0.25, "batches": 0.5, "wait_steps": 0.5, "heal": 0.5, "settle_wait": 0.5,
             "final_reads": 0.2, "checking": 0.05},
            {"setup": 0.25, "batches": 2.0, "heal": 0.0, "settle_wait": 1.5, "final_reads": 0.2,
             "checking": 0.05},
        ]
    )
    timed = make_row(
        "client-retry", "PASS", examples=2, duration_s=7.5, phases=phases, cpu_stalled=0.123
    )
    untimed = make_row("cache-loss", "PASS")  # a report written before phases were recorded
    report = make_report(tmp_path, timed, untimed)
    write_report(report, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["rows"][0]["phases"]["settle_wait"] == 2.0
    assert data["rows"][0]["examples_per_minute"] == 16.0  # 2 examples in 7.5 s
    assert report_from_json(data) == report
    md = (tmp_path / "report.md").read_text()
    assert "## Where the time went" in md
    assert (
        "| row | examples | examples/min | CPU stalled | setup | main: batches | main: waits "
        "| main: faults | heal | settle: waiting | settle: final reads | checking | other |" in md
    )
    # total (mean per example); other = 7.5 s of the row minus 6.5 s in phases
    assert (
        "| `client-retry` | 2 | 16.0 | 12% | 0.5 s (0.25 s) | 2.5 s (1.25 s) | 0.5 s (0.25 s) | "
        "0.0 s (0.00 s) | 0.5 s (0.25 s) | 2.0 s (1.00 s) | 0.4 s (0.20 s) | 0.1 s (0.05 s) | "
        "1.0 s (0.50 s) |" in md
    )
    assert "| `cache-loss` | 40 |" not in md.split("## Where the time went")[1]
    html = render_html(report)
    section = html.split("<section id='time'>")[1].split("</section>")[0]
    assert "<th>settle: waiting</th>" in section and "<td class='num'>16.0</td>" in section
    assert "<td class='num'>2.0 s (1.00 s)</td>" in section and "cache-loss" not in section
    assert "<th>CPU stalled</th>" in section and "<td class='num'>12%</td>" in section
    assert data["rows"][0]["cpu_stalled"] == 0.123
    old = dict(data, schema_version=4)
    old["rows"] = [{k: v for k, v in r.items() if k != "phases"} for r in data["rows"]]
    assert all(not r.phases for r in report_from_json(old).rows)


def test_the_strategy_is_in_every_header_and_reads_back(tmp_path: Path) -> None:
    """A baseline run must never be mistaken for a guided one, and old reports
    (no strategy recorded) read back as guided, the only strategy they had."""
    from dataclasses import replace

    from harness.report import html_path

    report = replace(make_report(tmp_path, make_row("client-retry", "PASS")), strategy="random")
    json_path, md_path = write_report(report, tmp_path / "out")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["strategy"] == "random"
    assert report_from_json(data).strategy == "random"
    assert "- strategy: `random`" in md_path.read_text(encoding="utf-8")
    assert "strategy <code>random</code>" in html_path(tmp_path / "out").read_text(
        encoding="utf-8"
    )
    assert "strategy random" in format_summary(report).splitlines()[0]
    del data["strategy"]
    assert report_from_json(data).strategy == "guided"
    assert "strategy" not in format_summary(make_report(tmp_path)).splitlines()[0]


def test_an_evidence_message_over_several_lines_keeps_them_in_a_block(tmp_path: Path) -> None:
    """A process's last output (targets_stay_up) is lines a person reads as written:
    the bullet carries the first line, the rest follows as a block, in both formats."""
    from harness.report import render_html

    message = (
        "target-1 exited with code 1 at 2.300 s, no fault having crashed it; its last "
        "output:\nTraceback (most recent call last):\n  File \"x.py\", line 3\n"
        "ValueError: ``` <bad>"
    )
    row = failing_row(tmp_path)
    assert row.counterexample is not None
    exited = Verdict(
        invariant="targets_stay_up", status="invalid", summary="target-1 exited", checked=2,
        evidence=(Evidence(message=message, keys=("target-1",), op_ids=(4,)),),
    )
    ce = replace(row.counterexample, verdicts=(*row.counterexample.verdicts, exited))
    row = make_row("client-retry", "FAIL", counterexample=ce)
    write_report(make_report(tmp_path, row), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert (
        "  - target-1 exited with code 1 at 2.300 s, no fault having crashed it; its last "
        "output: (keys target-1; ops 4)\n"
        "    ````text\n"
        "    Traceback (most recent call last):\n"
        "      File \"x.py\", line 3\n"
        "    ValueError: ``` <bad>\n"
        "    ````\n"
    ) in md
    html = render_html(make_report(tmp_path, row))
    assert (
        "its last output: <span class='refs'>(keys target-1; ops 4)</span><pre>Traceback "
        "(most recent call last):\n  File &quot;x.py&quot;, line 3\nValueError: ``` "
        "&lt;bad&gt;</pre></li>"
    ) in html


def test_design_files_md_names_every_key_of_report_json() -> None:
    """Scripts read report.json from its table in docs/design-files.md: every key the
    writer emits (the run's, a row's, a counterexample's) is named there, and the
    schema version is the writer's."""
    from harness.report._json import SCHEMA_VERSION, report_to_json

    doc = (Path(__file__).resolve().parents[2] / "docs" / "design-files.md").read_text()
    assert f"`schema_version` {SCHEMA_VERSION}" in doc
    row = RowResult(
        row_id="r", failure_mode="", correct_behaviour="", mechanism="", status="PASS",
        invariants=(), examples=1, duration_s=1.0,
    )
    report = DesignReport(
        design_name="d", design_path=Path("d.toml"), variant="correct", profile="ci",
        started_at="", duration_s=1.0, rows=(row,),
    )
    data = report_to_json(report)
    ce = Counterexample(
        schedule_lines=(), schedule_path=Path("s"), history_path=Path("h"), verdicts=(),
        reproduced=1, attempts=1,
    )
    from harness.report._json import _counterexample_to_json

    keys = {*data, *data["rows"][0], *_counterexample_to_json(ce)} - {"original_schedule_path",
                                                                       "original_history_path"}
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"report.json keys not in docs/design-files.md: {missing}"
    assert "`original_*_path`" in doc
