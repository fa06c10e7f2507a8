"""report.json: every field of a ``DesignReport``, and the reader that restores it.

The JSON is the record a dashboard (or a later ``failmodel`` command) reads,
so it is lossless: ``report_from_json(report_to_json(r)) == r``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report._model import Counterexample, DesignReport, Judged, RowResult
from invariants import Evidence, Verdict
from invariants.slo import SloResult

SCHEMA_VERSION = 5
# Version 1 lacks judged, reason, unsettled, interrupted and pending; version 2
# lacks can_happen, recovery, taxonomy, faults and histories; version 3 lacks slos;
# version 4 lacks phases and examples_per_minute.
_READABLE = (1, 2, 3, 4, 5)


def _path(value: Path | None) -> str | None:
    return None if value is None else str(value)


def _verdict_to_json(v: Verdict) -> dict[str, Any]:
    return {
        "invariant": v.invariant,
        "status": v.status,
        "summary": v.summary,
        "checked": v.checked,
        "parts": [[label, n] for label, n in v.parts],
        "evidence": [
            {
                "message": e.message,
                "keys": list(e.keys),
                "op_ids": list(e.op_ids),
                "pending": e.pending,
            }
            for e in v.evidence
        ],
    }


def _counterexample_to_json(c: Counterexample) -> dict[str, Any]:
    return {
        "schedule_lines": list(c.schedule_lines),
        "schedule_path": str(c.schedule_path),
        "history_path": str(c.history_path),
        "verdicts": [_verdict_to_json(v) for v in c.verdicts],
        "reproduced": c.reproduced,
        "attempts": c.attempts,
        "original_schedule_path": _path(c.original_schedule_path),
        "original_history_path": _path(c.original_history_path),
        "late": c.late,
        "unconfirmed": c.unconfirmed,
        "unreplayable": c.unreplayable,
    }


def _row_to_json(r: RowResult) -> dict[str, Any]:
    return {
        "row_id": r.row_id,
        "failure_mode": r.failure_mode,
        "can_happen": r.can_happen,
        "correct_behaviour": r.correct_behaviour,
        "mechanism": r.mechanism,
        "recovery": r.recovery,
        "taxonomy": r.taxonomy,
        "faults": list(r.faults),
        "status": r.status,
        "invariants": list(r.invariants),
        "examples": r.examples,
        "duration_s": r.duration_s,
        "coverage": dict(r.coverage),
        "answers": {f: dict(kinds) for f, kinds in r.answers.items()},
        "counterexample": (
            None if r.counterexample is None else _counterexample_to_json(r.counterexample)
        ),
        "seed": r.seed,
        "replay_command": r.replay_command,
        "error": r.error,
        "first_failure_s": r.first_failure_s,
        "first_failure_example": r.first_failure_example,
        "judged": {name: _judged_to_json(j) for name, j in r.judged.items()},
        "reason": r.reason,
        "unsettled": r.unsettled,
        "interrupted": r.interrupted,
        "histories": [str(p) for p in r.histories],
        "slos": [_slo_to_json(x) for x in r.slos],
        "phases": dict(r.phases),
        "examples_per_minute": r.examples_per_minute,
        "budget_s": r.budget_s,
        "cpu_stalled": r.cpu_stalled,
    }


def _slo_to_json(r: SloResult) -> dict[str, Any]:
    return {
        "text": r.text,
        "kind": r.kind,
        "promise": r.promise,
        "measured": r.measured,
        "shown": r.shown,
        "met": r.met,
        "distribution": dict(r.distribution),
        "note": r.note,
    }


def _slo_from_json(d: Mapping[str, Any]) -> SloResult:
    return SloResult(
        text=d["text"],
        kind=d["kind"],
        promise=d["promise"],
        measured=d["measured"],
        met=d["met"],
        distribution=d.get("distribution") or {},
        note=d.get("note", ""),
    )


def _judged_to_json(j: Judged) -> dict[str, Any]:
    return {
        "valid": j.valid,
        "vacuous": j.vacuous,
        "unknown": j.unknown,
        "invalid": j.invalid,
        "why_unknown": j.why_unknown,
        "parts": dict(j.parts),
    }


def report_to_json(report: DesignReport) -> dict[str, Any]:
    """The report as JSON-ready data, with the derived status and exit code for readers."""
    return {
        "schema_version": SCHEMA_VERSION,
        "design_name": report.design_name,
        "design_path": str(report.design_path),
        "variant": report.variant,
        "profile": report.profile,
        "strategy": report.strategy,
        "started_at": report.started_at,
        "duration_s": report.duration_s,
        "status": report.status,
        "exit_code": report.exit_code,
        "summary": report.summary(),
        "interrupted": report.interrupted,
        "rows": [_row_to_json(r) for r in report.rows],
    }


def _verdict_from_json(d: Mapping[str, Any]) -> Verdict:
    return Verdict(
        invariant=d["invariant"],
        status=d["status"],
        summary=d["summary"],
        checked=d["checked"],
        parts=tuple((label, n) for label, n in d.get("parts") or ()),
        evidence=tuple(
            Evidence(
                message=e["message"],
                keys=tuple(e["keys"]),
                op_ids=tuple(e["op_ids"]),
                pending=bool(e.get("pending", False)),
            )
            for e in d["evidence"]
        ),
    )


def _optional_path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def _counterexample_from_json(d: Mapping[str, Any]) -> Counterexample:
    return Counterexample(
        schedule_lines=tuple(d["schedule_lines"]),
        schedule_path=Path(d["schedule_path"]),
        history_path=Path(d["history_path"]),
        verdicts=tuple(_verdict_from_json(v) for v in d["verdicts"]),
        reproduced=d["reproduced"],
        attempts=d["attempts"],
        original_schedule_path=_optional_path(d["original_schedule_path"]),
        original_history_path=_optional_path(d["original_history_path"]),
        late=bool(d.get("late", False)),
        unconfirmed=int(d.get("unconfirmed", 0)),
        unreplayable=int(d.get("unreplayable", 0)),
    )


def _row_from_json(d: Mapping[str, Any]) -> RowResult:
    ce = d["counterexample"]
    return RowResult(
        row_id=d["row_id"],
        failure_mode=d["failure_mode"],
        correct_behaviour=d["correct_behaviour"],
        mechanism=d["mechanism"],
        status=d["status"],
        invariants=tuple(d["invariants"]),
        examples=d["examples"],
        duration_s=d["duration_s"],
        coverage=d["coverage"],
        counterexample=None if ce is None else _counterexample_from_json(ce),
        seed=d["seed"],
        replay_command=d["replay_command"],
        error=d["error"],
        first_failure_s=d.get("first_failure_s"),
        first_failure_example=d.get("first_failure_example"),
        judged={name: Judged(**j) for name, j in (d.get("judged") or {}).items()},
        reason=d.get("reason"),
        unsettled=int(d.get("unsettled", 0)),
        interrupted=d.get("interrupted"),
        can_happen=d.get("can_happen", ""),
        recovery=d.get("recovery", ""),
        taxonomy=d.get("taxonomy", ""),
        faults=tuple(d.get("faults") or ()),
        histories=tuple(Path(p) for p in d.get("histories") or ()),
        slos=tuple(_slo_from_json(x) for x in d.get("slos") or ()),
        phases=d.get("phases") or {},
        budget_s=d.get("budget_s"),
        cpu_stalled=d.get("cpu_stalled"),
        answers=d.get("answers") or {},
    )


def report_from_json(data: Mapping[str, Any]) -> DesignReport:
    """Restore a report written by ``report_to_json`` (ValueError if it is not one)."""
    if data.get("schema_version") not in _READABLE:
        raise ValueError(
            f"'schema_version' must be one of {list(_READABLE)} "
            f"(got {data.get('schema_version')!r})"
        )
    try:
        return DesignReport(
            design_name=data["design_name"],
            design_path=Path(data["design_path"]),
            variant=data["variant"],
            profile=data["profile"],
            started_at=data["started_at"],
            duration_s=data["duration_s"],
            rows=tuple(_row_from_json(r) for r in data["rows"]),
            interrupted=data.get("interrupted"),
            strategy=data.get("strategy", "guided"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a failmodel report: {type(exc).__name__}: {exc}") from exc
