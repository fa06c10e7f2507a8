"""Schedules as data: JSON round trip over drawn schedules, ``describe``,
``size``, ``materialize`` with fresh ids, and seeded draws that replay."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from harness.nemesis.faults import Crash, LinkToxic, Partition, PartnerFailure
from harness.schedule.decode import schedule_from_json
from harness.schedule.families import ALL_FAMILIES, Topology, parse_families
from harness.schedule.model import (
    Batch,
    ClientOp,
    Heal,
    InvalidSchedule,
    Schedule,
    Setup,
    StartFault,
    Wait,
    materialize,
)
from harness.schedule.shape import Shape
from harness.schedule.strategies import schedules
from harness.workload.builtin import INVENTORY, MATCHING, PAYMENTS
from harness.workload.keys import KeySpace
from harness.workload.ops import OpSpec, RetryPolicy

TOPOLOGY = Topology(
    links=("target-0", "target-1", "redis", "kafka", "partner"),
    processes=("target-0", "target-1", "consumer", "redis"),
    has_partner=True,
    consumers=("consumer",),
)
NAMES = {"crash": "target-*", "pause": "*", "redelivery": "consumer", "blackhole": "partner"}


def every_family() -> list[str]:
    """One token per family in the vocabulary, each resolved against TOPOLOGY."""
    tokens = []
    for kind in ALL_FAMILIES:
        if kind in ("retry", "client_timeout", "reorder", "cache_loss", "partner"):
            tokens.append(kind)
        else:
            tokens.append(f"{kind}:{NAMES.get(kind, 'target-*')}")
    return tokens


FAMILIES = parse_families(every_family(), TOPOLOGY)


@pytest.mark.parametrize("workload", ["inventory", "payments", "matching", "kv"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_round_trip(workload: str, data: st.DataObject) -> None:
    schedule = data.draw(schedules(workload, FAMILIES, Shape()))
    text = schedule.dumps()
    again = schedule_from_json(json.loads(text))
    assert again == schedule
    assert again.dumps() == text
    assert again.size() == schedule.size()
    assert len(schedule.describe()) >= len(schedule.steps)


@settings(max_examples=40, deadline=None)
@given(schedule=schedules("inventory", FAMILIES, Shape(replicas=3, clients=2)))
def test_drawn_schedules_respect_the_shape_and_families(schedule: Schedule) -> None:
    assert any(isinstance(s, Batch) for s in schedule.steps)
    skus = len(schedule.setup.values["set_stock"])
    for op in schedule.client_ops():
        assert 0 <= op.node < 3 and 0 <= op.client < 2
        if op.f == "order":
            assert op.args["sku"] < skus
        if op.f == "read_stock":
            assert op.key is not None and op.key < skus and not op.args
    for fault in schedule.faults():
        link = getattr(fault, "link", None)
        assert link is None or link in TOPOLOGY.links
        process = getattr(fault, "process", None) or getattr(fault, "consumer", None)
        assert process is None or process in TOPOLOGY.processes


def test_a_resend_is_the_same_request() -> None:
    """The first draw of a key fixes its body; later ops on the key resend it."""

    @settings(max_examples=40, deadline=None)
    @given(schedule=schedules("inventory", (), Shape(keys={"order": 2}, max_batch=5)))
    def check(schedule: Schedule) -> None:
        args: dict[int | None, dict[str, int]] = {}
        for op in schedule.client_ops():
            if op.f == "order":
                assert args.setdefault(op.key, dict(op.args)) == dict(op.args)

    check()


def _draw(seed_: int, n: int) -> list[Schedule]:
    out: list[Schedule] = []

    @settings(max_examples=n, database=None, phases=(Phase.generate,), deadline=None)
    @seed(seed_)
    @given(schedule=schedules("payments", FAMILIES, Shape()))
    def collect(schedule: Schedule) -> None:
        out.append(schedule)

    collect()
    return out


def test_a_seed_draws_the_same_schedules_again() -> None:
    first, second = _draw(1234, 15), _draw(1234, 15)
    assert first == second
    assert [s.dumps() for s in first] == [s.dumps() for s in second]
    assert len({s.dumps() for s in first}) > 5  # not one schedule over and over
    assert any(s.faults() for s in first)
    assert _draw(4321, 15) != first


def op(key: int, **kw: object) -> ClientOp:
    return ClientOp(f="order", key=key, args={"sku": 0, "qty": 2}, **kw)  # type: ignore[arg-type]


SCHEDULE = Schedule(
    workload="inventory",
    setup=Setup(values={"set_stock": ({"available": 3}, {"available": 1})}),
    steps=(
        Batch(
            ops=(
                op(0),
                op(1, client=1, node=1, delay_ms=30, retry=RetryPolicy(mode="immediate", count=2)),
            )
        ),
        StartFault(
            fault=LinkToxic(
                link="target-0", toxic="latency", attributes={"latency_ms": 200, "jitter_ms": 0}
            )
        ),
        Batch(ops=(op(2, timeout_ms=250),), fault=Crash(process="target-1"), fault_delay_ms=40),
        Heal(),
        Wait(ms=200),
    ),
)


def test_describe_gives_one_line_per_step() -> None:
    assert SCHEDULE.describe() == [
        "setup: set_stock x2 [available=3; available=1]",
        "0: batch [c0->n0 order#0(sku=0,qty=2) t=2000ms; "
        "c1->n1 order#1(sku=0,qty=2) t=2000ms retry=immediatex2 +30ms]",
        "1: start latency(jitter_ms=0, latency_ms=200) downstream on link target-0",
        "2: batch [c0->n0 order#2(sku=0,qty=2) t=250ms] + at 40 ms: crash of target-1",
        "3: heal all",
        "4: wait 200 ms",
    ]
    payments = Schedule(
        workload="payments",
        setup=Setup(declined={"payment": (1, 3)}),
        steps=(
            StartFault(fault=PartnerFailure(endpoint="psp", mode="slow", count=2, delay_ms=300)),
        ),
    )
    assert payments.describe() == [
        "setup: PSP declines payment [1, 3]",
        "0: start partner psp slow by 300 ms (next 2 calls)",
    ]


def test_size_counts_attempts_faults_and_steps() -> None:
    # attempts 1 + 3 + 1, faults 2 (x2), steps 5
    assert SCHEDULE.size() == 5 + 4 + 5
    assert SCHEDULE.faults() == (
        LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 200, "jitter_ms": 0}),
        Crash(process="target-1"),
    )
    smaller = Schedule(workload="inventory", setup=SCHEDULE.setup, steps=SCHEDULE.steps[:1])
    assert smaller.size() < SCHEDULE.size()


def test_materialize_gives_fresh_ids_per_key_space() -> None:
    a, b = KeySpace.for_example("run1", 0), KeySpace.for_example("run1", 1)
    ops = [op(0), op(1), op(0, node=3)]
    first = [materialize(o, a, INVENTORY, replicas=2) for o in ops]
    second = [materialize(o, b, INVENTORY, replicas=2) for o in ops]
    assert first[0].body == {"order_id": "run1-0-order-0", "sku": "run1-0-sku-0", "qty": 2}
    assert first[0].body["order_id"] == first[2].body["order_id"]  # same key, same id
    assert first[0].body["order_id"] != first[1].body["order_id"]
    ids_a = {v for s in first for v in s.body.values() if isinstance(v, str)}
    ids_b = {v for s in second for v in s.body.values() if isinstance(v, str)}
    assert not ids_a & ids_b
    assert first[2].node == 1  # node 3 of 2 replicas wraps around
    assert first[0].timeout_s == 2.0


def test_materialize_payments_and_matching() -> None:
    keys = KeySpace("ex")
    pay = materialize(ClientOp(f="pay", key=4, args={}), keys, PAYMENTS, replicas=1)
    # The order has the payment's index; the amount is a function of it.
    assert pay.body == {"payment_id": "ex-payment-4", "order_id": "ex-order-4", "amount": 500}
    swipe = materialize(
        ClientOp(
            f="swipe",
            key=1,
            args={"swiper": 0, "swipee": 2, "direction": "right"},
            retry=RetryPolicy(mode="concurrent", count=1),
            timeout_ms=100,
        ),
        keys,
        MATCHING,
        replicas=1,
    )
    assert swipe.body == {
        "swipe_id": "ex-swipe-1",
        "swiper": "ex-user-0",
        "swipee": "ex-user-2",
        "direction": "right",
    }
    assert swipe.retry.count == 1 and swipe.timeout_s == 0.1


def test_from_json_rejects_unknown_steps_and_faults() -> None:
    with pytest.raises(InvalidSchedule, match=r"steps\[0\]\.step must be one of batch, start,"):
        schedule_from_json({"workload": "inventory", "steps": [{"step": "jump"}]})
    with pytest.raises(InvalidSchedule, match=r"steps\[0\]\.fault\.kind must be one of toxic,"):
        schedule_from_json(
            {"workload": "inventory", "steps": [{"step": "start", "fault": {"kind": "meteor"}}]}
        )
    assert schedule_from_json({"workload": "matching"}) == Schedule(workload="matching")
    blackhole = Schedule(
        workload="inventory", steps=(StartFault(fault=Partition(link="partner", mode="blackhole")),)
    )
    assert schedule_from_json(json.loads(blackhole.dumps())) == blackhole


@pytest.mark.parametrize("seconds", [0, -1, True, float("nan"), float("inf"), 601])
def test_an_operation_timeout_is_a_sane_number_of_seconds(seconds: object) -> None:
    with pytest.raises(ValueError, match="'timeout_s' must be a finite number > 0 and <= 600"):
        OpSpec(f="order", body={}, process=0, timeout_s=seconds)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'delay_s' must be a finite number > 0 and <= 600"):
        RetryPolicy(mode="delayed", count=1, delay_s=seconds)  # type: ignore[arg-type]
