"""The kv workload (docs/contracts.md section 8), declared with the public API:
its answers classify as the contract's table says, and its draws give every
write a fresh value and most compare-and-sets a value of their key to expect,
so the race the contract forbids is within reach of a search."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings

from harness.schedule.decode import schedule_from_json
from harness.schedule.families import Topology, parse_families
from harness.schedule.model import Batch, Schedule
from harness.schedule.shape import Shape
from harness.schedule.strategies import schedules
from harness.workload import BUILTIN, DrawContext, DrawnOp
from harness.workload.builtin.kv import KV, VALUES, WRITTEN_FIELD, fresh_writes
from harness.workload.contract import classify

SHAPE = Shape(clients=6, max_steps=8, max_batch=8)
CLIENT_FAULTS = parse_families(
    ("retry", "client_timeout", "reorder"), Topology(links=(), processes=(), has_partner=False)
)


def test_kv_is_a_built_in_declared_with_the_api() -> None:
    assert BUILTIN["kv"] is KV
    assert [o.name for o in KV.drawable()] == ["put", "cas", "get"]
    assert [(r.op, r.slot, r.not_found) for r in KV.final] == [("get", "kv", "absent")]


K = "ex-key-0"


@pytest.mark.parametrize(
    ("f", "request_", "status", "body", "outcome"),
    [
        ("put", {"key": K, "value": "v1"}, 200, {"key": K, "value": "v1"}, "ok"),
        ("put", {"key": K, "value": "v1"}, 200, {"key": K, "value": "v2"}, "info"),
        ("put", {"key": K, "value": "v1"}, 404, {"key": K}, "info"),
        ("get", {"key": K}, 200, {"key": K, "value": ""}, "ok"),
        ("get", {"key": K}, 404, "no value", "ok"),
        ("get", {"key": K}, 200, {"key": K, "value": 3}, "info"),
        ("get", {"key": K}, 200, {"key": "ex-key-1", "value": "v1"}, "info"),
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 200, {"key": K, "value": "v2"}, "ok"),
        # A 200 that answers another value than new did not swap to new: unknown.
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 200, {"key": K, "value": "v1"}, "info"),
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 409, {"key": K, "value": "v3"}, "fail"),
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 409, {"key": K, "value": None}, "fail"),
        ("cas", {"key": K, "expected": None, "new": "v2"}, 409, {"key": K, "value": "v1"}, "fail"),
        # A refusal that found expected contradicts itself; one that found nothing says nothing.
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 409, {"key": K, "value": "v1"}, "info"),
        ("cas", {"key": K, "expected": None, "new": "v2"}, 409, {"key": K, "value": None}, "info"),
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 409, {"key": K}, "info"),
        ("cas", {"key": K, "expected": "v1", "new": "v2"}, 503, {"key": K}, "info"),
    ],
)
def test_answers_classify_as_the_contract_says(
    f: str, request_: dict[str, Any], status: int, body: Any, outcome: str
) -> None:
    assert classify(KV.operation(f), request_, status, body)[0] == outcome


def _writes(schedule: Schedule) -> list[tuple[str, int, Any, str]]:
    """(f, key, expected or None, value written) of every write, in order."""
    return [
        (op.f, op.args["key"], op.args.get("expected"), op.args[WRITTEN_FIELD[op.f]])
        for op in schedule.client_ops()
        if op.f in WRITTEN_FIELD
    ]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(KV, CLIENT_FAULTS, SHAPE))
def test_every_write_sends_a_fresh_value_and_a_cas_expects_one_of_its_key(
    schedule: Schedule,
) -> None:
    writes = _writes(schedule)
    assert [value for *_, value in writes] == list(VALUES[: len(writes)])
    for n, (f, key, expected, _) in enumerate(writes):
        assert 0 <= key < 2
        if f == "cas" and expected is not None:
            assert expected in {v for _, k, _, v in writes[:n] if k == key}
    for op in schedule.client_ops():
        if op.f == "get":
            assert op.key is not None and 0 <= op.key < 2
    assert schedule_from_json(json.loads(schedule.dumps()), KV) == schedule


def _racing_swaps(schedule: Schedule) -> bool:
    """Two compare-and-sets of one key from one written value in one batch."""
    for step in schedule.steps:
        if isinstance(step, Batch):
            swaps = [
                (op.args["key"], op.args["expected"])
                for op in step.ops
                if op.f == "cas" and op.args["expected"] is not None
            ]
            if len(swaps) != len(set(swaps)):
                return True
    return False


def test_the_race_a_cas_must_settle_is_within_reach() -> None:
    found = find(
        schedules(KV, (), SHAPE),
        _racing_swaps,
        settings=settings(max_examples=500, database=None, deadline=None),
    )
    assert _racing_swaps(found)


def test_past_the_last_value_a_write_reuses_one() -> None:
    done = tuple(
        DrawnOp(op="put", values={"key": 0, "value": VALUES[i % len(VALUES)]})
        for i in range(len(VALUES) + 5)
    )
    ctx = DrawContext(
        op=KV.operation("cas"),
        ops_so_far=done,
        draw=lambda strategy: find(strategy, lambda _: True),  # the simplest value
        shape=SHAPE,
        counts={"key": 2},
    )
    values = fresh_writes(ctx)
    assert set(values) == {"key", "expected", "new"}
    assert values["new"] in VALUES
    assert values["expected"] is None or values["expected"] in VALUES
