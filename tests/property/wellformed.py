"""Is a run something the real harness could have recorded? ``problems(run)``
lists every way it is not: event numbering, op ids, times and phases as the
`Recorder` makes them; answers classified as ``harness.workload.contract``
classifies them (for the contract's workloads; the library's models classify
their own answers); final reads of every touched key on every replica in
every round; partner effects caused by a request sent before them and
recorded before the last quiescence round."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from draft import CONTRACT, Run, touched

from harness.history import History
from harness.workload.contract import InvalidOperation, call_for, classify

_PHASES = {"setup": 0, "main": 1, "final": 2}
# Which request causes a partner effect: kind -> (op, the effect's body field naming it).
CAUSES: dict[str, dict[str, tuple[str, str]]] = {"wallet": {"message": ("transfer", "transfer_id")}}
_CAUSE = {
    "shipment": ("order", "order_id"),
    "charge": ("pay", "reference"),
    "message": ("swipe", "users"),
}


def problems(run: Run) -> list[str]:
    out: list[str] = []
    events = run.history.events
    invoked: dict[int, Any] = {}
    completed: set[int] = set()
    last_id, last_time, last_phase = -1, 0.0, 0
    for i, e in enumerate(events):
        where = f"event {i} ({e.type} {e.f} op {e.op_id})"
        if e.index != i:
            out.append(f"{where}: index {e.index}")
        if e.time < last_time:
            out.append(f"{where}: time goes back ({e.time} < {last_time})")
        last_time = e.time
        phase = _PHASES[e.phase]
        if phase < last_phase:
            out.append(f"{where}: phase {e.phase} after a later phase")
        last_phase = phase
        if e.type in ("invoke", "nemesis"):
            if e.op_id <= last_id:
                out.append(f"{where}: op id not handed out in order")
            last_id = max(last_id, e.op_id)
        if e.type == "nemesis":
            continue
        if e.type == "invoke":
            invoked[e.op_id] = e
            out += _invoke_problems(run, e.value, e.f, where)
            continue
        start = invoked.get(e.op_id)
        if start is None or e.op_id in completed:
            out.append(f"{where}: completion without a pending invoke")
            continue
        completed.add(e.op_id)
        if e.time <= start.time or (e.process, e.f, e.phase) != (
            start.process,
            start.f,
            start.phase,
        ):
            out.append(f"{where}: does not complete its invoke")
        out += _answer_problems(run, start.value["body"], e.f, e.type, e.value, where)
    out += _nemesis_problems(run.history)
    out += _final_read_problems(run)
    out += _effect_problems(run)
    return out


def _invoke_problems(run: Run, value: Mapping[str, Any], f: str, where: str) -> list[str]:
    node, attempt = value.get("node"), value.get("attempt")
    if not isinstance(node, int) or not 0 <= node < run.draft.replicas:
        return [f"{where}: node {node!r}"]
    if not isinstance(attempt, int) or attempt < 1:
        return [f"{where}: attempt {attempt!r}"]
    if run.workload not in CONTRACT:
        return []
    try:
        call_for(run.workload, f, value["body"])
    except InvalidOperation as exc:
        return [f"{where}: {exc}"]
    return []


def _answer_problems(
    run: Run, body: Mapping[str, Any], f: str, outcome: str, value: Mapping[str, Any], where: str
) -> list[str]:
    status = value.get("status")
    if status is None:
        return [] if outcome == "info" else [f"{where}: {outcome} without a status"]
    if run.workload not in CONTRACT:
        return []
    from harness.history import thaw

    said, _ = classify(call_for(run.workload, f, body), body, status, thaw(value.get("body")))
    if said != outcome:
        return [f"{where}: the contract classifies HTTP {status} {value.get('body')!r} as {said}"]
    return []


def _nemesis_problems(history: History) -> list[str]:
    started: dict[int, float] = {}
    out = []
    for e in history.nemesis_events():
        fid = int(e.value["id"])
        if e.f == "start":
            started[fid] = e.time
        elif fid not in started or started.pop(fid) > e.time:
            out.append(f"nemesis heal of fault {fid} without its start")
    return out + [f"fault {fid} never healed" for fid in started]


def _final_read_problems(run: Run) -> list[str]:
    draft = run.draft
    rounds = {op.final_round for op in draft.ops if op.phase == "final"}
    wanted = touched(
        run.workload, History(tuple(e for e in run.history.events if e.phase != "final"))
    )
    read = {(op.final_round, op.f, op.key, op.node) for op in draft.ops if op.phase == "final"}
    out = [
        f"round {r}: no final {f} of {key} on node {node}"
        for r in sorted(rounds)
        for f, keys in wanted.items()
        for key in keys
        for node in range(draft.replicas)
        if (r, f, key, node) not in read
    ]
    out += [
        f"final read {op.f} {op.key} is attempt {op.attempt} by process {op.process}"
        for op in draft.ops
        if op.phase == "final" and (op.attempt, op.process) != (1, 0)
    ]
    return out


def _effect_problems(run: Run) -> list[str]:
    draft = run.draft
    last = draft.last_round()
    quiet = min((op.t_invoke for op in draft.ops if op.final_round == last and last), default=0)
    out = []
    for fx in draft.effects:
        f, field = CAUSES.get(run.workload, _CAUSE)[fx.kind]
        named = fx.body[field]
        causes = [
            op.t_invoke
            for op in draft.ops
            if op.f == f
            and (
                op.body.get("swiper") in named and op.body.get("swipee") in named
                if fx.kind == "message" and run.workload == "matching"
                else op.key == named
            )
        ]
        if causes and fx.time < min(causes):
            out.append(f"{fx.kind} {fx.effect_id} at {fx.time} before any request for it")
        if last and fx.time >= quiet:
            out.append(f"{fx.kind} {fx.effect_id} at {fx.time} after quiescence ({quiet})")
    return out
