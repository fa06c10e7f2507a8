"""Schedules and faults read from JSON: every bad value is one ``InvalidSchedule``
(``InvalidFault`` for a fault alone) naming its JSON path, never a TypeError,
KeyError or AttributeError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.nemesis.faults import Crash, InvalidFault, PartnerFailure, Redelivery, fault_from_dict
from harness.schedule.decode import load_schedule, schedule_from_json
from harness.schedule.families import Topology
from harness.schedule.model import Batch, ClientOp, InvalidSchedule, Schedule, Setup, StartFault
from harness.workload.api import Answer, Key, Operation, Workload
from harness.workload.builtin import INVENTORY

ORDER = {"f": "order", "key": 0, "args": {"sku": 0, "qty": 1}}
STOCK = {"values": {"set_stock": [{"available": 3}]}}
TOPOLOGY = Topology(
    links=("postgres", "kafka", "target-0"),
    processes=("target-0", "relay", "postgres", "kafka"),
    has_partner=False,
    consumers=("relay",),
)


def inventory(*steps: Any, setup: Any = STOCK) -> dict[str, Any]:
    return {"version": 2, "workload": "inventory", "setup": setup, "steps": list(steps)}


def batch(*ops: Any, **extra: Any) -> dict[str, Any]:
    return {"step": "batch", "ops": list(ops), **extra}


def error(data: object) -> str:
    with pytest.raises(InvalidSchedule) as info:
        schedule_from_json(data)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_schedule_that_is_not_an_object() -> None:
    assert error([]) == "schedule must be an object (got [])"


def test_a_step_that_is_not_an_object() -> None:
    assert error(inventory("heal")) == "steps[0] must be an object (got 'heal')"


def test_a_null_setup() -> None:
    assert error(inventory(setup={"values": {"set_stock": None}})) == (
        "setup.values.set_stock must be a list of 0..1000 requests (one per sku set up) "
        "(got None)"
    )
    assert error(inventory(setup={"values": {"set_stock": [{"available": 0}]}})) == (
        "setup.values.set_stock[0].available must be an int in 1..6 (got 0)"
    )
    assert error(inventory(setup={"values": {"set_stock": [{}]}})) == (
        "setup.values.set_stock[0].available must be an int in 1..6 "
        "(got nothing: the key is missing)"
    )


def test_setup_of_another_workload() -> None:
    data = {"version": 2, "workload": "matching", "setup": STOCK}
    assert error(data) == (
        "setup.values has unknown key(s) 'set_stock'; accepted: none"
    )
    data = {"version": 2, "workload": "payments", "setup": {"declined": {"sku": [1]}}}
    assert error(data) == "setup.declined has unknown key(s) 'sku'; accepted: payment"


def test_the_version() -> None:
    assert error({"version": 3, "workload": "matching"}) == (
        "version must be an int in 1..2 (got 3)"
    )
    assert error({"version": 2, "workload": "auctions"}) == (
        "workload must be one of inventory, payments, matching, kv (got 'auctions')"
    )


def test_a_fault_missing_a_field() -> None:
    assert error(inventory({"step": "start", "fault": {"kind": "crash"}})) == (
        "steps[0].fault.process must be a name of 1..64 characters [A-Za-z0-9_.-] "
        "(not . or ..) (got nothing: the key is missing)"
    )


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            {"kind": "redelivery", "consumer": "relay", "grace_ms": "300"},
            "steps[0].fault.grace_ms must be an int in 0..10000 (got '300')",
        ),
        ({"kind": "crash", "process": ["x"]}, "steps[0].fault.process must be a name of"),
        (
            {"kind": "toxic", "link": "kafka", "toxic": "latency", "attributes": {"jitter_ms": 1}},
            "steps[0].fault.attributes: toxic type 'latency' needs attribute(s) 'latency_ms'",
        ),
        (
            {"kind": "toxic", "link": "kafka", "toxic": "latency",
             "attributes": {"latency_ms": 1, "name": "x"}},
            "steps[0].fault.attributes has unknown key(s) 'name'; accepted: latency_ms, jitter_ms",
        ),
        (
            {"kind": "toxic", "link": "kafka", "toxic": "latency",
             "attributes": {"latency_ms": 10**9}},
            "steps[0].fault.attributes.latency_ms must be an int in 0..60000 (got 1000000000)",
        ),
        (
            {"kind": "partner", "endpoint": "psp", "mode": "slow", "delay_ms": 0},
            "steps[0].fault.delay_ms must be an int in 1..60000 for mode 'slow' (got 0)",
        ),
        (
            {"kind": "partner", "endpoint": "psp", "mode": "fail_after", "count": -1},
            "steps[0].fault.count must be null or an int in 1..1000 (got -1)",
        ),
        (
            {"kind": "cache_loss", "process": "target-0"},
            "steps[0].fault.process must be one of redis (got 'target-0')",
        ),
        ({"kind": "crash", "process": "x", "extra": 1}, "steps[0].fault has unknown key(s)"),
    ],
)
def test_faults_with_wrong_field_types_or_values(fault: dict[str, Any], expected: str) -> None:
    assert error(inventory({"step": "start", "fault": fault})).startswith(expected)


def test_fault_from_dict_raises_invalid_fault_not_type_error() -> None:
    with pytest.raises(InvalidFault, match=r"^fault\.process must be a name"):
        fault_from_dict({"kind": "pause"})
    with pytest.raises(InvalidFault, match=r"^fault must be an object \(got None\)"):
        fault_from_dict(None)
    with pytest.raises(InvalidFault, match=r"^fault\.kind must be one of toxic, partition,"):
        fault_from_dict({"kind": ["crash"]})
    assert fault_from_dict({"kind": "redelivery", "consumer": "relay"}) == Redelivery(
        consumer="relay"
    )


def test_an_op_of_another_workload() -> None:
    pay = {"f": "pay", "key": 0, "args": {}}
    assert error(inventory(batch(pay))) == (
        "steps[0].ops[0].f must be one of order, read_order, read_stock (got 'pay')"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"sku": 0}, "steps[0].ops[0].args.qty must be an int in 1..3 (got nothing: the key"),
        (
            {"sku": "0", "qty": 1},
            "steps[0].ops[0].args.sku must be a key index of kind 'sku', an int in 0..0 (as many "
            "as are set up) (got '0')",
        ),
        ({"sku": 1, "qty": 1}, "steps[0].ops[0].args.sku must be a key index of kind 'sku', an"),
        ({"sku": 0, "qty": 1, "x": 1}, "steps[0].ops[0].args has unknown key(s) 'x'"),
        (None, "steps[0].ops[0].args must be an object (got None)"),
    ],
)
def test_op_args_missing_or_of_the_wrong_type(args: Any, expected: str) -> None:
    assert error(inventory(batch({**ORDER, "args": args}))).startswith(expected)


def test_a_swipe_needs_two_users() -> None:
    swipe = {"f": "swipe", "key": 0, "args": {"swiper": 1, "swipee": 1, "direction": "right"}}
    assert error({"version": 2, "workload": "matching", "steps": [batch(swipe)]}) == (
        "steps[0].ops[0].args.swipee must be another key than 'swiper' (got 1)"
    )


def test_no_key_is_set_up() -> None:
    assert error(inventory(batch(ORDER), setup={})) == (
        "steps[0].ops[0].args.sku must be a key index of kind 'sku', but none is set up (got 0)"
    )


def test_reads_have_no_args() -> None:
    read = {"f": "read_stock", "key": 0, "args": {"sku": 0}}
    assert error(inventory(batch(read))) == (
        "steps[0].ops[0].args has unknown key(s) 'sku'; accepted: none"
    )
    schedule = schedule_from_json(inventory(batch({"f": "read_stock", "key": 0, "args": {}})))
    assert schedule.client_ops() == (ClientOp(f="read_stock", key=0, args={}),)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (
            {"retry": {"mode": "immediate", "count": -1}},
            "steps[0].ops[0].retry.count must be an int in 0..10 (got -1)",
        ),
        (
            {"retry": {"mode": "none", "count": 2}},
            "steps[0].ops[0].retry.count must be 0 for mode 'none' (got 2)",
        ),
        (
            {"retry": {"mode": "delayed", "count": 1, "delay_s": 1e9}},
            "steps[0].ops[0].retry.delay_s must be a number > 0 and <= 10 (got 1000000000.0)",
        ),
        ({"key": -1}, "steps[0].ops[0].key must be a key index of kind 'order', an int in "
                      "0..999999 (got -1)"),
        ({"key": True}, "steps[0].ops[0].key must be a key index of kind 'order', an int in "
                        "0..999999 (got True)"),
        ({"key": None}, "steps[0].ops[0].key must be a key index of kind 'order'"),
        ({"client": 16}, "steps[0].ops[0].client must be an int in 0..15 (got 16)"),
        ({"timeout_ms": 0}, "steps[0].ops[0].timeout_ms must be an int in 1..60000 (got 0)"),
        ({"delay_ms": 10**30}, "steps[0].ops[0].delay_ms must be an int in 0..10000 (got 1000"),
    ],
)
def test_negative_and_huge_numbers(op: dict[str, Any], expected: str) -> None:
    assert error(inventory(batch({**ORDER, **op}))).startswith(expected)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"step": "wait", "ms": 10**30}, "steps[0].ms must be an int in 0..60000 (got 1000"),
        ({"step": "wait", "ms": float("nan")}, "steps[0].ms must be an int in 0..60000 (got nan)"),
        ({"step": "heal", "ms": 1}, "steps[0] has unknown key(s) 'ms'; accepted: step"),
        (batch(), "steps[0].ops must be a list of 1..50 operations (got [])"),
        (batch(ORDER, fault_delay_ms=5), "steps[0].fault_delay_ms must be 0 when the batch has"),
    ],
)
def test_bad_steps(step: dict[str, Any], expected: str) -> None:
    assert error(inventory(step)).startswith(expected)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (0, None, "steps[0].ops[0].after must be null: the first operation of a batch follows"),
        (None, 1, "steps[0].ops[1].after must be null or an earlier operation, 0..0 (got 1)"),
        (None, "0", "steps[0].ops[1].after must be null or an earlier operation, 0..0 (got '0')"),
        (None, True, "steps[0].ops[1].after must be null or an earlier operation, 0..0 (got Tr"),
    ],
)
def test_an_operation_follows_only_an_earlier_one_of_its_batch(
    first: Any, second: Any, expected: str
) -> None:
    ops = ({**ORDER, "after": first}, {**ORDER, "after": second})
    assert error(inventory(batch(*ops))).startswith(expected)


def test_too_many_steps() -> None:
    assert error(inventory(*[{"step": "heal"}] * 101)).startswith(
        "steps must be a list of 0..100 steps (got [{'step': 'heal'}, "
    )


def test_a_valid_schedule_reads_back() -> None:
    schedule = Schedule(
        workload="payments",
        setup=Setup(declined={"payment": (1,)}),
        steps=(
            Batch(
                ops=(
                    ClientOp(f="pay", key=1, args={}),
                    ClientOp(f="pay", key=2, args={}, node=1, after=0, delay_ms=5),
                ),
                fault=Crash(process="x"),
            ),
            StartFault(fault=PartnerFailure(endpoint="psp", mode="slow", delay_ms=300)),
        ),
    )
    assert schedule_from_json(json.loads(schedule.dumps())) == schedule
    assert json.loads(schedule.dumps())["version"] == 2
    assert [op["after"] for op in json.loads(schedule.dumps())["steps"][0]["ops"]] == [None, 0]


# --- version 1: the shape before workloads were declared --------------------------------


def test_version_1_schedules_still_load() -> None:
    old = {
        "workload": "payments",
        "setup": {"stock": [], "declined": [1]},
        "steps": [batch({"f": "pay", "key": 1, "args": {"amount": 200}})],
    }
    assert schedule_from_json(old) == Schedule(
        workload="payments",
        setup=Setup(declined={"payment": (1,)}),
        steps=(Batch(ops=(ClientOp(f="pay", key=1, args={}),)),),
    )
    stock = {"workload": "inventory", "setup": {"stock": [3, 2], "declined": []},
             "steps": [batch(ORDER)]}
    assert schedule_from_json(stock).setup == Setup(
        values={"set_stock": ({"available": 3}, {"available": 2})}
    )


def test_version_1_errors_name_the_old_paths() -> None:
    assert error({"workload": "inventory", "setup": {"stock": None}}) == (
        "setup.stock must be a list of 0..1000 stock counts (got None)"
    )
    assert error({"workload": "matching", "setup": {"stock": [1]}}) == (
        "setup.stock must be empty: only inventory schedules set it (got [1])"
    )
    assert error({"workload": "inventory", "setup": {"stock": [0]}}) == (
        "setup.stock[0] must be an int in 1..6 (got 0)"
    )
    pay = {"f": "pay", "key": 1, "args": {"amount": 999}}
    assert error({"workload": "payments", "steps": [batch(pay)]}) == (
        "steps[0].ops[0].args.amount must be 200, what workload 'payments' derives from the "
        "key (got 999)"
    )


def test_version_1_is_for_the_built_in_workloads_only() -> None:
    custom = Workload(
        name="inventory2",
        keys={"item": 2},
        operations=(
            Operation(name="touch", method="POST", path="/t/{item}", fields={"item": Key("item")},
                      ok=(Answer(200),)),
        ),
    )
    with pytest.raises(InvalidSchedule, match=r"^workload must be a built-in workload"):
        schedule_from_json({"workload": "inventory2"}, custom)


# --- a schedule against a design ------------------------------------------------------


def playable_error(schedule: Schedule) -> str:
    with pytest.raises(InvalidSchedule) as info:
        schedule.check_playable(workload="inventory", topology=TOPOLOGY)
    return str(info.value)


def test_the_workload_must_be_the_design_s() -> None:
    assert playable_error(Schedule(workload="matching")) == (
        "workload must be 'inventory', the design's workload (got 'matching')"
    )


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Crash(process="target-9"), "steps[0].fault.process must be one of the design's processes"),
        (Redelivery(consumer="target-0"), "steps[0].fault.consumer must be a [target.extra]"),
        (
            PartnerFailure(endpoint="psp", mode="fail_before"),
            "steps[0].fault.kind must not be 'partner': the design has no partner dependency",
        ),
    ],
)
def test_faults_must_exist_in_the_design(fault: Any, expected: str) -> None:
    schedule = Schedule(workload="inventory", steps=(StartFault(fault=fault),))
    assert playable_error(schedule).startswith(expected)


def test_load_schedule_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.schedule.json"
    cases = {
        "[": f"{path}: line 1, column 2: invalid JSON: Expecting value",
        "[]": f"{path}: schedule must be an object (got [])",
        "[" * 100_000 + "]" * 100_000: f"{path}: invalid JSON: nested too deeply",
        '{"workload": "matching"}': f"{path}: workload must be 'inventory', the design's",
    }
    for text, expected in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidSchedule) as info:
            load_schedule(path, workload=INVENTORY, topology=TOPOLOGY)
        assert str(info.value).startswith(expected)
    with pytest.raises(InvalidSchedule, match="cannot read the schedule: No such file"):
        load_schedule(tmp_path / "nope.json", workload=INVENTORY, topology=TOPOLOGY)
