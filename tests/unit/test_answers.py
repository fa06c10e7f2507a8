"""How a row's writes were answered, and the note a mostly refused write earns:
tallied from hand-built histories, summed over examples, and shown in the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.history import History, Recorder
from harness.report import DesignReport
from harness.report._html import _spans, render_html
from harness.report._json import report_from_json, report_to_json
from harness.report._write import render_markdown
from harness.schedule.answers import (
    MIN_ANSWERS,
    add_answers,
    answers_of,
    describe,
    refusal_notes,
)
from harness.workload.api import Answer, Key, Operation, Workload
from tests.unit.test_report import make_report, make_row

_ECHO = ("entry_id", "doc")
APPEND = Operation(
    name="append",
    method="POST",
    path="/docs/{doc}/entries",
    body=("entry_id", "doc"),
    fields={"entry_id": Key("entry"), "doc": Key("doc")},
    id="entry_id",
    ok=(Answer(200, echo=_ECHO, equals={"status": "accepted"}),),
    fail=(
        Answer(409, echo=_ECHO, equals={"status": "rejected", "reason": "forbidden"}),
        Answer(409, echo=_ECHO, equals={"status": "rejected", "reason": "stale"}),
    ),
)
CREATE = Operation(
    name="create_doc",
    method="PUT",
    path="/docs/{doc}",
    fields={"doc": Key("doc")},
    id="doc",
    weight=0,
    ok=(Answer(200),),
    fail=(Answer(409),),
)
READ = Operation(
    name="read_doc", method="GET", path="/docs/{doc}", fields={"doc": Key("doc")}, id="doc",
    read=True, ok=(Answer(200),),
)
JOURNAL = Workload(
    name="journal", keys={"doc": 2, "entry": 4}, operations=(CREATE, APPEND, READ)
)


def _append(rec: Recorder, n: int, outcome: str, reason: str | None = None) -> None:
    body = {"entry_id": f"e-{n}", "doc": "d-0"}
    op = rec.invoke(0, "append", {"node": 0, "attempt": 1, "body": body})
    if outcome == "info":
        rec.complete(op, "info", {"status": None, "body": None}, error="timeout")
        return
    said: dict[str, Any] = {**body, "status": "accepted" if outcome == "ok" else "rejected"}
    if reason is not None:
        said["reason"] = reason
    rec.complete(op, outcome, {"status": 200 if outcome == "ok" else 409, "body": said})


def journal(accepted: int, forbidden: int, stale: int = 0, lost: int = 0) -> History:
    rec = Recorder()
    rec.set_phase("setup")
    setup = rec.invoke(0, "create_doc", {"node": 0, "attempt": 1, "body": {"doc": "d-0"}})
    rec.complete(setup, "fail", {"status": 409, "body": {}})
    rec.set_phase("main")
    n = 0
    for outcome, reason, count in (
        ("ok", None, accepted),
        ("fail", "forbidden", forbidden),
        ("fail", "stale", stale),
        ("info", None, lost),
    ):
        for _ in range(count):
            _append(rec, n, outcome, reason)
            n += 1
    read = rec.invoke(0, "read_doc", {"node": 0, "attempt": 1, "body": {"doc": "d-0"}})
    rec.complete(read, "ok", {"status": 200, "body": {}})
    return rec.history()


def test_main_phase_writes_are_tallied_by_the_refusal_they_matched() -> None:
    tally = answers_of(journal(accepted=2, forbidden=3, stale=1, lost=1), JOURNAL)
    # The setup's create and the read are not main-phase writes.
    assert tally == {
        "append": {
            "accepted": 2,
            "refused: forbidden": 3,
            "refused: stale": 1,
            "indeterminate": 1,
        }
    }
    assert describe(tally["append"]) == (
        "2 accepted, 4 refused (forbidden: 3, stale: 1), 1 indeterminate"
    )


def test_a_refusal_of_its_own_is_named_by_its_values_or_its_status() -> None:
    only = Operation(
        name="append", method="POST", path="/a", body=("entry_id",),
        fields={"entry_id": Key("entry")}, id="entry_id", ok=(Answer(200),),
        fail=(Answer(409, equals={"status": "rejected"}),),
    )
    bare = Operation(
        name="append", method="POST", path="/a", body=("entry_id",),
        fields={"entry_id": Key("entry")}, id="entry_id", ok=(Answer(200),), fail=(Answer(422),),
    )
    history = journal(accepted=0, forbidden=1)
    named = Workload(name="journal", keys={"entry": 2}, operations=(only,))
    assert answers_of(history, named) == {"append": {"refused: rejected": 1}}
    # A 409 matches no refusal of ``bare`` (an ``info`` in a real run); the
    # tally still counts it, as refused.
    status = Workload(name="journal", keys={"entry": 2}, operations=(bare,))
    assert answers_of(history, status) == {"append": {"refused: refused": 1}}
    assert describe({"refused: refused": 1}) == "0 accepted, 1 refused"


def test_a_value_two_fields_share_names_the_refusal_once() -> None:
    """``equals = { status = "expired", reason = "expired" }`` reads "expired"
    (a blind author saw "refused: expired, expired")."""
    twice = Operation(
        name="append", method="POST", path="/a", body=("entry_id",),
        fields={"entry_id": Key("entry")}, id="entry_id", ok=(Answer(200),),
        fail=(Answer(409, equals={"status": "rejected", "reason": "rejected"}),),
    )
    rec = Recorder()
    rec.set_phase("main")
    _append(rec, 0, "fail", "rejected")
    workload = Workload(name="journal", keys={"entry": 2}, operations=(twice,))
    assert answers_of(rec.history(), workload) == {"append": {"refused: rejected": 1}}


def test_a_write_mostly_refused_gets_a_note_and_one_mostly_accepted_none() -> None:
    many = MIN_ANSWERS
    refused = answers_of(journal(accepted=2, forbidden=many, lost=30), JOURNAL)
    (note,) = refusal_notes(refused)
    assert note.startswith(f"`append` was refused in {many} of its {many + 2} decided answers")
    assert "setup" in note and "docs/workloads.md §6" in note
    # Indeterminate answers decide nothing: they neither earn nor prevent a note.
    assert refusal_notes(answers_of(journal(accepted=many, forbidden=many), JOURNAL)) == ()
    # Too few answers to say anything.
    assert refusal_notes(answers_of(journal(accepted=0, forbidden=many - 1), JOURNAL)) == ()


def test_examples_add_up_to_the_rows_tally() -> None:
    one = answers_of(journal(accepted=1, forbidden=10), JOURNAL)
    two = answers_of(journal(accepted=0, forbidden=10, stale=2), JOURNAL)
    total = add_answers([one, two, {}])
    assert total == {"append": {"accepted": 1, "refused: forbidden": 20, "refused: stale": 2}}
    # Neither example alone has enough answers; the row has.
    assert refusal_notes(one) == refusal_notes(two) == ()
    assert len(refusal_notes(total)) == 1


def _report(answers: dict[str, dict[str, int]]) -> DesignReport:
    row = make_row("appends-interleave", "PASS", answers=answers)
    return make_report(Path("."), row)


def test_the_reports_show_the_tally_and_the_note() -> None:
    answers = answers_of(journal(accepted=3, forbidden=40, stale=2), JOURNAL)
    report = _report(answers)
    assert report_from_json(report_to_json(report)).rows[0].answers == answers
    markdown = render_markdown(report)
    assert "## Writes mostly refused" in markdown
    assert "`appends-interleave`: `append` was refused in 42 of its 45" in markdown
    page = render_html(report)
    assert "3 accepted, 42 refused (forbidden: 40, stale: 2)" in page
    assert "<strong>Note:</strong> <code>append</code> was refused" in page
    quiet = _report(answers_of(journal(accepted=30, forbidden=2), JOURNAL))
    assert "mostly refused" not in render_markdown(quiet)
    assert "Note:" not in render_html(quiet)


def test_html_sets_backticked_names_as_code_and_an_odd_backtick_as_typed() -> None:
    assert _spans("`a<b` is <i>") == "<code>a&lt;b</code> is &lt;i&gt;"
    assert _spans("an odd ` one") == "an odd ` one"
