"""Read a schedule back from JSON, checking every value (``Schedule.from_json``).

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
    MAX_AMOUNT,
    MAX_BATCH,
    MAX_CLIENTS,
    MAX_DECLINED,
    MAX_DELAY_MS,
    MAX_NODES,
    MAX_QTY,
    MAX_RETRIES,
    MAX_RETRY_DELAY_S,
    MAX_SKUS,
    MAX_STEPS,
    MAX_STOCK,
    MAX_TIMEOUT_MS,
    MAX_WAIT_MS,
    READ_OPS,
    WORKLOADS,
    WRITE_OPS,
    Batch,
    ClientOp,
    Heal,
    InvalidSchedule,
    OpName,
    Schedule,
    Setup,
    StartFault,
    Step,
    Wait,
)
from harness.workload.keys import MAX_INDEX
from harness.workload.ops import NO_RETRY, RETRY_MODES, RetryMode, RetryPolicy

_STEP_KEYS: Mapping[str, tuple[str, ...]] = {
    "batch": ("step", "ops", "fault", "fault_delay_ms"),
    "start": ("step", "fault"),
    "heal": ("step",),
    "wait": ("step", "ms"),
}
_OP_KEYS = ("f", "key", "args", "client", "node", "delay_ms", "timeout_ms", "retry")


def load_schedule(path: Path, *, workload: str, topology: Topology) -> Schedule:
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
        schedule = schedule_from_json(data)
        schedule.check_playable(workload=workload, topology=topology)
    except InvalidSchedule as exc:
        raise InvalidSchedule(f"{path}: {exc}") from exc
    return schedule


def schedule_from_json(data: object) -> Schedule:
    """What ``Schedule.from_json`` does: read one schedule, checking every value."""
    root = At("schedule", InvalidSchedule)
    obj = root.obj(data, ("workload", "setup", "steps"))
    # Paths below the root read as the file does: steps[2].ops[0].key.
    workload = At("workload", InvalidSchedule).choice(obj.get("workload", MISSING), WORKLOADS)
    setup = _setup(At("setup", InvalidSchedule), obj.get("setup", {}), workload)
    steps = At("steps", InvalidSchedule).items(
        obj.get("steps", []), "steps", low=0, high=MAX_STEPS
    )
    return Schedule(
        workload=workload,
        setup=setup,
        steps=tuple(_step(at, s, workload, setup) for at, s in steps),
    )


def _setup(at: At, value: object, workload: str) -> Setup:
    obj = at.obj(value, ("stock", "declined"))
    lists = {
        key: at.key(key).items(obj.get(key, []), what, low=0, high=high)
        for key, what, high in (
            ("stock", "stock counts", MAX_SKUS),
            ("declined", "payment indices", MAX_DECLINED),
        )
    }
    for key, owner in (("stock", "inventory"), ("declined", "payments")):
        if lists[key] and workload != owner:
            raise at.key(key).fail(f"empty: only {owner} schedules set it", obj[key])
    stock = tuple(i.integer(v, 0, MAX_STOCK) for i, v in lists["stock"])
    declined = tuple(i.integer(v, 0, MAX_INDEX) for i, v in lists["declined"])
    if len(set(declined)) != len(declined):
        raise at.key("declined").fail("a list of distinct payment indices", list(declined))
    return Setup(stock=stock, declined=declined)


def _step(at: At, value: object, workload: str, setup: Setup) -> Step:
    if not isinstance(value, Mapping):
        raise at.fail("an object", value)
    kind = at.key("step").choice(value.get("step", MISSING), _STEP_KEYS)
    obj = at.obj(value, _STEP_KEYS[kind])
    if kind == "heal":
        return Heal()
    if kind == "wait":
        return Wait(ms=at.key("ms").integer(obj.get("ms", MISSING), 0, MAX_WAIT_MS))
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
        ops=tuple(_op(i, o, workload, setup) for i, o in ops), fault=fault, fault_delay_ms=delay
    )


def _fault(at: At, value: object) -> Fault:
    try:
        return fault_from_dict(value, path=at.path)
    except InvalidFault as exc:
        raise InvalidSchedule(str(exc)) from exc


def _op(at: At, value: object, workload: str, setup: Setup) -> ClientOp:
    obj = at.obj(value, _OP_KEYS)
    ops = (WRITE_OPS[workload], *READ_OPS[workload])
    f = at.key("f").choice(obj.get("f", MISSING), ops)
    return ClientOp(
        f=cast(OpName, f),
        key=at.key("key").integer(obj.get("key", MISSING), 0, MAX_INDEX),
        args=_args(at.key("args"), obj.get("args", {}), f, setup),
        client=at.key("client").integer(obj.get("client", 0), 0, MAX_CLIENTS - 1),
        node=at.key("node").integer(obj.get("node", 0), 0, MAX_NODES - 1),
        delay_ms=at.key("delay_ms").integer(obj.get("delay_ms", 0), 0, MAX_DELAY_MS),
        timeout_ms=at.key("timeout_ms").integer(obj.get("timeout_ms", 2000), 1, MAX_TIMEOUT_MS),
        retry=_retry(at.key("retry"), obj.get("retry", MISSING)),
    )


def _args(at: At, value: object, f: str, setup: Setup) -> dict[str, Any]:
    """A write's fields (indices and values); a read has none."""
    if f == "order":
        obj = at.obj(value, ("sku", "qty"))
        skus = len(setup.stock)
        return {
            "sku": at.key("sku").integer(
                obj.get("sku", MISSING),
                0,
                skus - 1,
                what=f"an index into setup.stock, an int in 0..{skus - 1}"
                if skus
                else "an index into setup.stock, which is empty",
            ),
            "qty": at.key("qty").integer(obj.get("qty", MISSING), 1, MAX_QTY),
        }
    if f == "pay":
        obj = at.obj(value, ("amount",))
        return {"amount": at.key("amount").integer(obj.get("amount", MISSING), 1, MAX_AMOUNT)}
    if f == "swipe":
        obj = at.obj(value, ("swiper", "swipee", "direction"))
        swiper = at.key("swiper").integer(obj.get("swiper", MISSING), 0, MAX_INDEX)
        swipee = at.key("swipee").integer(obj.get("swipee", MISSING), 0, MAX_INDEX)
        if swipee == swiper:
            raise at.key("swipee").fail("another user than the swiper", swipee)
        direction = at.key("direction").choice(obj.get("direction", MISSING), ("right", "left"))
        return {"swiper": swiper, "swipee": swipee, "direction": direction}
    at.obj(value, ())
    return {}


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
