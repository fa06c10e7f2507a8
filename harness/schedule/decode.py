"""Read a schedule back from JSON, checking every value (``schedule_from_json``).

A schedule file may come from a report or from a user's editor; either way
``failmodel replay`` must refuse a bad one before it starts anything, with
the JSON path of the bad value. Every number is bounded (the limits in
``harness.schedule.model``), so no replayed schedule runs for hours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from harness.nemesis.faults import Fault, InvalidFault, fault_from_dict
from harness.plain import MISSING, At
from harness.schedule.families import Topology
from harness.schedule.model import (
    MAX_BATCH,
    MAX_CLIENTS,
    MAX_DECLINED,
    MAX_DELAY_MS,
    MAX_NODES,
    MAX_RETRIES,
    MAX_RETRY_DELAY_S,
    MAX_SET_UP,
    MAX_STEPS,
    MAX_TIMEOUT_MS,
    MAX_WAIT_MS,
    SCHEDULE_VERSION,
    Batch,
    ClientOp,
    Heal,
    InvalidSchedule,
    Schedule,
    Setup,
    StartFault,
    Step,
    Until,
    Wait,
    setup_drawn,
)
from harness.schedule.strategies import source_problem, value_problem
from harness.workload.api import FromKey, Operation, SetupStep, Workload, setup_sources
from harness.workload.builtin import BUILTIN
from harness.workload.keys import MAX_INDEX
from harness.workload.ops import NO_RETRY, RETRY_MODES, RetryMode, RetryPolicy

_STEP_KEYS: Mapping[str, tuple[str, ...]] = {
    "batch": ("step", "ops", "fault", "fault_delay_ms"),
    "start": ("step", "fault"),
    "heal": ("step",),
    "wait": ("step", "ms"),
    "until": ("step", "kind", "key", "offset_ms"),
}
_OP_KEYS = ("f", "key", "args", "client", "node", "delay_ms", "timeout_ms", "retry", "after")


def load_schedule(path: Path, *, workload: Workload, topology: Topology) -> Schedule:
    """Read a ``*.schedule.json`` file for a design with ``workload`` and
    ``topology``; every problem is one ``InvalidSchedule`` starting with the path."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidSchedule(f"{path}: cannot read the schedule: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidSchedule(f"{path}: invalid JSON: the file is not UTF-8 ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidSchedule(
            f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise InvalidSchedule(f"{path}: invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # a number of thousands of digits
        raise InvalidSchedule(f"{path}: invalid JSON: {str(exc).split(';')[0]}") from exc
    try:
        schedule = schedule_from_json(data, workload)
        schedule.check_playable(workload=workload, topology=topology)
    except InvalidSchedule as exc:
        raise InvalidSchedule(f"{path}: {exc}") from exc
    return schedule


def schedule_from_json(data: object, workload: Workload | None = None) -> Schedule:
    """Read what ``Schedule.to_json`` wrote, checking every value against the limits
    of harness.schedule.model and against ``workload`` (default: the built-in workload
    the schedule names); a bad value raises ``InvalidSchedule`` with its JSON path."""
    root = At("schedule", InvalidSchedule)
    obj = dict(root.obj(data, ("version", "workload", "setup", "steps")))
    # Paths below the root read as the file does: steps[2].ops[0].key.
    version = 1
    if "version" in obj:
        version = At("version", InvalidSchedule).integer(obj["version"], 1, SCHEDULE_VERSION)
    declared = _workload(At("workload", InvalidSchedule), obj.get("workload", MISSING), workload)
    if version == 1:
        obj = _from_version_1(obj, declared)
    setup = _setup(At("setup", InvalidSchedule), obj.get("setup", {}), declared)
    set_up = setup.counts(declared)
    set_up = {kind: set_up[kind] for kind in declared.set_up_kinds()}
    steps = At("steps", InvalidSchedule).items(
        obj.get("steps", []), "steps", low=0, high=MAX_STEPS
    )
    return Schedule(
        workload=declared.name,
        setup=setup,
        steps=tuple(_step(at, s, declared, set_up) for at, s in steps),
    )


def _workload(at: At, value: object, workload: Workload | None) -> Workload:
    if workload is None:
        return BUILTIN[at.choice(value, BUILTIN)]
    if value != workload.name:
        raise at.fail(f"{workload.name!r}, the design's workload", value)
    return workload


def _from_version_1(obj: dict[str, Any], workload: Workload) -> dict[str, Any]:
    """A schedule without ``version``: the shape of the built-in workloads before
    workloads were declared (``setup.stock``, ``setup.declined``, a payment's
    ``amount`` in its args), read as version 2. Only for a built-in workload."""
    at = At("workload", InvalidSchedule)
    if BUILTIN.get(workload.name) is not workload:
        raise at.fail(
            f"a built-in workload ({', '.join(BUILTIN)}) in a schedule without 'version' "
            f"(version 1); write version {SCHEDULE_VERSION}",
            workload.name,
        )
    out = dict(obj)
    out["setup"] = _setup_version_1(At("setup", InvalidSchedule), obj.get("setup", {}), workload)
    steps = obj.get("steps", [])
    if isinstance(steps, list):
        out["steps"] = [_derived_args(At("steps", InvalidSchedule).item(i), s, workload)
                        for i, s in enumerate(steps)]
    return out


def _setup_version_1(at: At, value: object, workload: Workload) -> dict[str, Any]:
    obj = at.obj(value, ("stock", "declined"))
    stock = at.key("stock").items(obj.get("stock", []), "stock counts", low=0, high=MAX_SET_UP)
    declined = at.key("declined").items(
        obj.get("declined", []), "payment indices", low=0, high=MAX_DECLINED
    )
    for key, items, owner in (("stock", stock, "inventory"), ("declined", declined, "payments")):
        if items and workload.name != owner:
            raise at.key(key).fail(f"empty: only {owner} schedules set it", obj[key])
    out: dict[str, Any] = {"values": {}, "declined": {}}
    if workload.name == "inventory":
        step = workload.setup_steps()[0]
        op = workload.operation(step.op)
        (name,) = setup_drawn(step, op)
        source = setup_sources(step, op)[name]
        for item_at, count in stock:
            problem = source_problem(source, count, {})
            if problem is not None:
                raise item_at.fail(problem, count)
        out["values"][step.op] = [{name: count} for _, count in stock]
    else:
        out["declined"] = {d.kind: [v for _, v in declined] for d in workload.declines()}
    return out


def _derived_args(at: At, step: object, workload: Workload) -> object:
    """A version 1 batch step whose ops' args hold derived values (a payment's
    ``amount``): each must be what the workload derives; it is dropped."""
    if not isinstance(step, Mapping) or not isinstance(step.get("ops"), list):
        return step
    ops = []
    for j, op in enumerate(step["ops"]):
        declared = next((o for o in workload.operations if isinstance(op, Mapping)
                         and o.name == op.get("f")), None)
        args = op.get("args") if isinstance(op, Mapping) else None
        if declared is None or not isinstance(args, Mapping):
            ops.append(op)
            continue
        op_at = at.key("ops").item(j)
        kept = dict(args)
        for name, source in declared.fields.items():
            if not isinstance(source, FromKey) or name not in kept:
                continue
            index = op.get("key") if source.of is None else kept.get(source.of)
            if isinstance(index, bool) or not isinstance(index, int) or not (
                0 <= index <= MAX_INDEX
            ):
                break  # the key itself is wrong: reading it says so
            expected = source.value(index)
            if kept[name] != expected or isinstance(kept[name], bool):
                raise op_at.key("args").key(name).fail(
                    f"{expected!r}, what workload {workload.name!r} derives from the key",
                    kept[name],
                )
            del kept[name]
        ops.append({**op, "args": kept})
    return {**step, "ops": ops}


def _setup(at: At, value: object, workload: Workload) -> Setup:
    steps = workload.setup_steps()
    declines = workload.declines()
    obj = at.obj(value, ("values", "declined"))
    values_at, declined_at = at.key("values"), at.key("declined")
    raw_values = values_at.obj(obj.get("values", {}), [s.op for s in steps])
    raw_declined = declined_at.obj(obj.get("declined", {}), [d.kind for d in declines])
    values: dict[str, tuple[dict[str, Any], ...]] = {}
    made: dict[str, int] = {}  # keys of the kinds earlier steps made
    for step in steps:
        values[step.op] = _setup_values(
            values_at.key(step.op), raw_values.get(step.op, MISSING), step,
            workload.operation(step.op), made,
        )
        if step.each is not None:
            made[step.each] = len(values[step.op])
    declined: dict[str, tuple[int, ...]] = {}
    for decline in declines:
        kind_at = declined_at.key(decline.kind)
        items = kind_at.items(
            raw_declined.get(decline.kind, []), f"{decline.kind} indices", low=0, high=MAX_DECLINED
        )
        ids = tuple(i.integer(v, 0, MAX_INDEX) for i, v in items)
        if len(set(ids)) != len(ids):
            raise kind_at.fail(f"a list of distinct {decline.kind} indices", list(ids))
        declined[decline.kind] = ids
    return Setup(values=values, declined=declined)


def _setup_values(
    at: At, value: object, step: SetupStep, op: Operation, made: Mapping[str, int]
) -> tuple[dict[str, Any], ...]:
    """The drawn values of each request of one setup step; a key index names one
    of the keys earlier steps ``made`` of its kind."""
    high = MAX_SET_UP if step.each is not None else 1
    what = f"requests (one per {step.each} set up)" if step.each else "request (sent once)"
    drawn = setup_drawn(step, op)
    sources = setup_sources(step, op)
    out = []
    for item_at, item in at.items([] if value is MISSING else value, what, low=0, high=high):
        obj = item_at.obj(item, drawn)
        request: dict[str, Any] = {}
        for name in drawn:
            got = obj.get(name, MISSING)
            problem = source_problem(sources[name], got, made)
            if problem is not None:
                raise item_at.key(name).fail(problem, got)
            request[name] = got
        out.append(request)
    return tuple(out)


def _step(at: At, value: object, workload: Workload, set_up: Mapping[str, int]) -> Step:
    if not isinstance(value, Mapping):
        raise at.fail("an object", value)
    kind = at.key("step").choice(value.get("step", MISSING), _STEP_KEYS)
    obj = at.obj(value, _STEP_KEYS[kind])
    if kind == "heal":
        return Heal()
    if kind == "wait":
        return Wait(ms=at.key("ms").integer(obj.get("ms", MISSING), 0, MAX_WAIT_MS))
    if kind == "until":
        return _until(at, obj, workload, set_up)
    if kind == "start":
        return StartFault(fault=_fault(at.key("fault"), obj.get("fault", MISSING)))
    ops = at.key("ops").items(obj.get("ops", MISSING), "operations", low=1, high=MAX_BATCH)
    raw_fault = obj.get("fault")
    fault = None if raw_fault is None else _fault(at.key("fault"), raw_fault)
    delay_at = at.key("fault_delay_ms")
    delay = delay_at.integer(
        obj.get("fault_delay_ms", 0),
        0,
        MAX_DELAY_MS if fault is not None else 0,
        what="" if fault is not None else "0 when the batch has no fault",
    )
    return Batch(
        ops=tuple(_op(op_at, o, n, workload, set_up) for n, (op_at, o) in enumerate(ops)),
        fault=fault,
        fault_delay_ms=delay,
    )


def _until(at: At, obj: Mapping[str, Any], workload: Workload, set_up: Mapping[str, int]) -> Until:
    """An ``until`` step: a kind with a deadline, one of its keys set up, an offset."""
    kinds = list(workload.deadlines())
    if not kinds:
        raise at.key("step").fail(
            f"not 'until': workload {workload.name!r} declares no deadline", "until"
        )
    kind = at.key("kind").choice(obj.get("kind", MISSING), kinds)
    key = at.key("key").integer(obj.get("key", MISSING), 0, max(set_up.get(kind, 1) - 1, 0))
    offset = at.key("offset_ms").integer(obj.get("offset_ms", MISSING), -MAX_WAIT_MS, MAX_WAIT_MS)
    return Until(kind=kind, key=key, offset_ms=offset)


def _fault(at: At, value: object) -> Fault:
    try:
        return fault_from_dict(value, path=at.path)
    except InvalidFault as exc:
        raise InvalidSchedule(str(exc)) from exc


def _op(
    at: At, value: object, index: int, workload: Workload, set_up: Mapping[str, int]
) -> ClientOp:
    """Operation ``index`` of a batch."""
    obj = at.obj(value, _OP_KEYS)
    f = at.key("f").choice(obj.get("f", MISSING), [o.name for o in workload.drawable()])
    op = workload.operation(f)
    values: dict[str, Any] = {}
    key: int | None = None
    key_at, raw_key = at.key("key"), obj.get("key", MISSING)
    if op.id is None:
        if raw_key not in (MISSING, None):
            raise key_at.fail(f"null: {f!r} has no id field", raw_key)
    else:
        values[op.id] = raw_key
        problem = value_problem(op, op.id, values, set_up)
        if problem is not None:
            raise key_at.fail(problem, raw_key)
        key = cast(int, raw_key)
    args_at = at.key("args")
    args = args_at.obj(obj.get("args", {}), op.args())
    for name in op.args():
        values[name] = args.get(name, MISSING)
        problem = value_problem(op, name, values, set_up)
        if problem is not None:
            raise args_at.key(name).fail(problem, values[name])
    return ClientOp(
        f=f,
        key=key,
        args={name: values[name] for name in op.args()},
        client=at.key("client").integer(obj.get("client", 0), 0, MAX_CLIENTS - 1),
        node=at.key("node").integer(obj.get("node", 0), 0, MAX_NODES - 1),
        delay_ms=at.key("delay_ms").integer(obj.get("delay_ms", 0), 0, MAX_DELAY_MS),
        timeout_ms=at.key("timeout_ms").integer(obj.get("timeout_ms", 2000), 1, MAX_TIMEOUT_MS),
        retry=_retry(at.key("retry"), obj.get("retry", MISSING)),
        after=_after(at.key("after"), obj.get("after"), index),
    )


def _after(at: At, value: object, index: int) -> int | None:
    """``after``: null, or an earlier operation of the same batch (its index)."""
    if value is None:
        return None
    if index == 0:
        raise at.fail("null: the first operation of a batch follows none", value)
    return at.integer(value, 0, index - 1, what=f"null or an earlier operation, 0..{index - 1}")


def _retry(at: At, value: object) -> RetryPolicy:
    if value is MISSING:
        return NO_RETRY
    obj = at.obj(value, ("mode", "count", "delay_s"))
    mode = cast(RetryMode, at.key("mode").choice(obj.get("mode", "none"), RETRY_MODES))
    count_at, delay_at = at.key("count"), at.key("delay_s")
    count = count_at.integer(obj.get("count", 0), 0, MAX_RETRIES)
    if (mode == "none") != (count == 0):
        what = "0" if mode == "none" else f"an int in 1..{MAX_RETRIES}"
        raise count_at.fail(f"{what} for mode {mode!r}", count)
    delayed = mode == "delayed"
    delay_s = delay_at.number(
        obj.get("delay_s", 0.0),
        0,
        MAX_RETRY_DELAY_S if delayed else 0,
        positive=delayed,
        what="" if delayed else f"0 for mode {mode!r}",
    )
    return RetryPolicy(mode=mode, count=count, delay_s=delay_s)
