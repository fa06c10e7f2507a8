"""JUnit XML: one testsuite per design, one testcase per row, verdicts as CI outcomes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from harness.report import render_junit, write_junit
from tests.unit.test_report import EVIDENCE, REPLAY, failing_row, make_report, make_row


def cases(xml: str) -> dict[tuple[str, str], ET.Element]:
    root = ET.fromstring(xml)
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_one_suite_per_design_one_case_per_row_and_statuses_as_outcomes(tmp_path: Path) -> None:
    checkout = make_report(
        tmp_path,
        make_row("passes", "PASS"),
        failing_row(tmp_path),
        make_row("idle", "NOT EXERCISED"),
        make_row("unsure", "INCONCLUSIVE", reason="final state unreadable in 5 of 6"),
        make_row("breaks", "ERROR", error="RuntimeError: target-0 exited\n--- log ---\n\x1b[31m"),
        make_row("cut", "INTERRUPTED", reason="interrupted by SIGTERM"),
    )
    payments = replace(make_report(tmp_path, make_row("client-retry", "PASS")), design_name="pay")
    xml = render_junit([checkout, payments])
    root = ET.fromstring(xml)  # well-formed, even with a terminal escape in a log tail
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["checkout", "pay"]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("7", "4", "1")
    assert suites[0].get("failures") == "4" and suites[0].get("skipped") == "1"
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["variant"] == "no_idempotency" and props["profile"] == "ci"

    found = cases(xml)
    assert list(found) == [
        ("checkout", "passes"),
        ("checkout", "client-retry"),
        ("checkout", "idle"),
        ("checkout", "unsure"),
        ("checkout", "breaks"),
        ("checkout", "cut"),
        ("pay", "client-retry"),
    ]
    assert found["checkout", "passes"].find("failure") is None
    failure = found["checkout", "client-retry"].find("failure")
    assert failure is not None and failure.get("type") == "FAIL"
    assert failure.get("message") == f"FAIL: violated idempotent_retry (invalid): {EVIDENCE}"
    assert EVIDENCE in (failure.text or "") and "crash target-0" in (failure.text or "")
    for row, status in (("unsure", "INCONCLUSIVE"), ("breaks", "ERROR"), ("cut", "INTERRUPTED")):
        f = found["checkout", row].find("failure")
        assert f is not None and f.get("type") == status, row
    skipped = found["checkout", "idle"].find("skipped")
    assert skipped is not None and "NOT EXERCISED" in (skipped.get("message") or "")
    out = found["checkout", "client-retry"].findtext("system-out") or ""
    assert "seed: 1234" in out and f"replay: {REPLAY}" in out
    assert "failmodel replay " in out and "--row client-retry" in out


def test_write_junit_creates_the_folder(tmp_path: Path) -> None:
    path = write_junit([make_report(tmp_path, make_row("a", "PASS"))], tmp_path / "ci" / "j.xml")
    assert ET.parse(path).getroot().tag == "testsuites"
