"""How a row's writes were answered: accepted, refused (by which of the
operation's documented refusals) or indeterminate.

A row can PASS with its invariants judged on every example and still have
tested little: if a write is refused almost every time (a member not yet
granted, an account with nothing to spend), the races and retries between
*accepted* writes, where most bugs live, were seldom drawn. The tally is a
pure function of the history and the workload's answers; `refusal_notes`
says, per write mostly refused, what that means and what a design can do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from harness.history import History
from harness.workload.api import Answer, Workload
from harness.workload.api import Operation as OpDef

ACCEPTED = "accepted"
INDETERMINATE = "indeterminate"
REFUSED = "refused"
MIN_ANSWERS = 20
"""A write answered fewer times than this in a row gets no note: too few to say."""
MOSTLY = 0.75
"""The share of a write's answers that, refused, earns a note."""

Answers = Mapping[str, Mapping[str, int]]
"""Per write: ``accepted``, ``indeterminate`` and ``refused: <why>`` -> count."""


def answers_of(history: History, workload: Workload) -> dict[str, dict[str, int]]:
    """Each main-phase answer to a write of ``workload``, counted by kind (every
    attempt counts: a resend is answered too)."""
    writes = {op.name: op for op in workload.operations if not op.read}
    out: dict[str, Counter[str]] = {}
    for op in history.operations():
        spec = writes.get(op.f)
        if spec is None or op.invoke.phase != "main":
            continue
        tally = out.setdefault(op.f, Counter())
        if op.outcome == "ok":
            tally[ACCEPTED] += 1
        elif op.outcome == "fail":
            tally[f"{REFUSED}: {_why(spec, op.request.get('body') or {}, op.response)}"] += 1
        else:
            tally[INDETERMINATE] += 1
    return {f: dict(tally) for f, tally in out.items()}


def add_answers(tallies: Iterable[Answers]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for tally in tallies:
        for f, kinds in tally.items():
            out.setdefault(f, Counter()).update(kinds)
    return {f: dict(kinds) for f, kinds in out.items()}


def describe(kinds: Mapping[str, int]) -> str:
    """``21 accepted, 139 refused (forbidden: 120, stale: 19), 6 indeterminate``."""
    refused = {k.split(": ", 1)[1]: n for k, n in kinds.items() if k.startswith(REFUSED)}
    parts = [f"{kinds.get(ACCEPTED, 0)} {ACCEPTED}"]
    if refused:
        total = sum(refused.values())
        why = sorted(refused.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{w}: {n}" for w, n in why)
        detail = "" if list(refused) == [REFUSED] else f" ({shown})"
        parts.append(f"{total} {REFUSED}{detail}")
    if kinds.get(INDETERMINATE):
        parts.append(f"{kinds[INDETERMINATE]} {INDETERMINATE}")
    return ", ".join(parts)


def refusal_notes(answers: Answers) -> tuple[str, ...]:
    """One note per write refused in at least `MOSTLY` of its decided answers
    (at least `MIN_ANSWERS` of them): the row's verdict says little about the
    accepted ones."""
    notes = []
    for f, kinds in sorted(answers.items()):
        refused = sum(n for k, n in kinds.items() if k.startswith(REFUSED))
        decided = refused + kinds.get(ACCEPTED, 0)
        if decided < MIN_ANSWERS or refused < MOSTLY * decided:
            continue
        notes.append(
            f"`{f}` was refused in {refused} of its {decided} decided answers "
            f"[{describe(kinds)}]: races and retries between accepted `{f}` requests, "
            "where most bugs live, were seldom drawn. A write refused for want of an "
            "earlier one (a grant, a deposit) can have that one made in setup, before "
            "any fault (docs/workloads.md §6); one refused by the rule at work (a lease "
            "held, a job done) is accepted more often with more of what frees it (more "
            "keys, releases, shorter leases)."
        )
    return tuple(notes)


def _why(spec: OpDef, request: Mapping[str, object], response: Mapping[str, object]) -> str:
    """The refusal an answer matched, named by what sets it apart from the
    operation's other refusals (``forbidden``, ``stale``), else by its status."""
    status, body = response.get("status"), response.get("body")
    answer = next(
        (a for a in spec.fail if a.status == status and a.matches(request, body)), None
    )
    if answer is None:
        return REFUSED
    return _distinct(answer, [a for a in spec.fail if a is not answer]) or f"status {answer.status}"


def _distinct(answer: Answer, others: list[Answer]) -> str:
    """The ``equals`` values of ``answer`` that another refusal does not share
    (all of them when it is the only refusal), each once (``status`` and
    ``reason`` both ``expired`` read "expired")."""
    values = [
        str(value)
        for name, value in answer.equals.items()
        if not others or any(o.equals.get(name) != value for o in others)
    ]
    return ", ".join(dict.fromkeys(values))
