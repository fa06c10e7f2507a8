"""Deadlines a workload declares (``SetupStep.deadline``) and the ``until`` steps
that aim at them: declared, drawn, written, read back, and timed from a setup."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from harness.history import Recorder
from harness.plain import Where
from harness.schedule.deadlines import deadlines, until_s
from harness.schedule.decode import schedule_from_json
from harness.schedule.families import Topology, parse_family
from harness.schedule.model import MAX_WAIT_MS, InvalidSchedule, Until
from harness.schedule.strategies import UNTIL_MS, schedules
from harness.workload.api import Answer, Ints, InvalidWorkload, Key, Operation, SetupStep, Workload
from harness.workload.builtin import INVENTORY
from harness.workload.keys import KeySpace
from harness.workload.toml_form import workload_from_table
from targets.auction.workload import AUCTION

CREATE = Operation(
    name="create",
    method="PUT",
    path="/things/{id}",
    body=("due_in_ms", "size"),
    fields={"id": Key("thing"), "due_in_ms": Ints(0, 900), "size": Ints(1, 3)},
    id="id",
    weight=0,
    ok=(Answer(200),),
)
TOUCH = Operation(name="touch", method="POST", path="/things/{id}", fields={"id": Key("thing")},
                  id="id", ok=(Answer(200),))


def things(**setup: Any) -> Workload:
    return Workload(name="things", keys={"thing": 3}, operations=(CREATE, TOUCH),
                    setup=(SetupStep(op="create", **setup),))


def test_a_deadline_is_an_ints_field_of_a_step_with_each() -> None:
    assert set(things(each="thing", deadline="due_in_ms").deadlines()) == {"thing"}
    assert things(each="thing").deadlines() == {}
    with pytest.raises(InvalidWorkload, match=r"'setup\['create'\]\.deadline' must be a field"):
        things(each="thing", deadline="nope")
    with pytest.raises(InvalidWorkload, match=r"in a step with 'each'.*got 'due_in_ms'"):
        Workload(name="things", keys={"thing": 3}, operations=(CREATE, TOUCH),
                 setup=(SetupStep(op="create", values={"id": Ints(0, 1)},
                                  deadline="due_in_ms"),))


def test_the_toml_form_declares_a_deadline_too() -> None:
    text = """
name = "things"
keys = { thing = 2 }
[[operations]]
name = "create"
method = "PUT"
path = "/things/{id}"
id = "id"
weight = 0
body = ["due_in_ms"]
fields = { id = { key = "thing" }, due_in_ms = { ints = [0, 900] } }
ok = [{ status = 200 }]
[[operations]]
name = "touch"
method = "POST"
path = "/things/{id}"
id = "id"
fields = { id = { key = "thing" } }
ok = [{ status = 200 }]
[[setup]]
op = "create"
each = "thing"
deadline = "due_in_ms"
"""
    table = tomllib.loads(text)
    assert set(workload_from_table(table, Where(path="things.toml")).deadlines()) == {"thing"}
    table["setup"][0]["deadline"] = "id"
    expected = r"^things.toml: 'setup\['create'\]\.deadline' must be a field.*\(got 'id'\)"
    with pytest.raises(ValueError, match=expected):
        workload_from_table(table, Where(path="things.toml"))


AUCTION_SETUP = {"values": {"create_auction": [{"ends_in_ms": 500}, {"ends_in_ms": -100}]}}


def auction(*steps: Any) -> dict[str, Any]:
    return {"version": 2, "workload": "auction", "setup": AUCTION_SETUP, "steps": list(steps)}


def test_an_until_step_reads_back_and_reads_in_words() -> None:
    until = {"step": "until", "kind": "auction", "key": 1, "offset_ms": -250}
    batch = {"step": "batch", "ops": [{"f": "clock", "key": None, "args": {}}]}
    schedule = schedule_from_json(auction(until, batch), AUCTION)
    assert schedule.steps[0] == Until(kind="auction", key=1, offset_ms=-250)
    assert schedule_from_json(schedule.to_json(), AUCTION) == schedule
    assert "0: until deadline of auction#1 -250 ms" in schedule.describe()


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"step": "until", "kind": "bid", "key": 0, "offset_ms": 0},
         "steps[0].kind must be one of auction (got 'bid')"),
        ({"step": "until", "kind": "auction", "key": 2, "offset_ms": 0},
         "steps[0].key must be an int in 0..1 (got 2)"),
        ({"step": "until", "kind": "auction", "key": 0, "offset_ms": -MAX_WAIT_MS - 1},
         f"steps[0].offset_ms must be an int in -{MAX_WAIT_MS}..{MAX_WAIT_MS}"),
        ({"step": "until", "kind": "auction", "key": 0},
         "steps[0].offset_ms must be an int in"),
    ],
)
def test_bad_until_steps(step: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidSchedule) as info:
        schedule_from_json(auction(step), AUCTION)
    assert str(info.value).startswith(expected)


def test_a_workload_without_deadlines_has_no_until_steps() -> None:
    data = {"version": 2, "workload": "inventory",
            "setup": {"values": {"set_stock": [{"available": 3}]}},
            "steps": [{"step": "until", "kind": "sku", "key": 0, "offset_ms": 0}]}
    with pytest.raises(InvalidSchedule, match="declares no deadline"):
        schedule_from_json(data, INVENTORY)


TOPOLOGY = Topology(links=("postgres", "target-0>postgres", "target-1>postgres"),
                    processes=("target-0", "target-1", "postgres"), has_partner=False)
LATENCY = [parse_family("latency:target-*>postgres", TOPOLOGY)]
QUIET = settings(database=None, max_examples=200, deadline=None,
                 suppress_health_check=list(HealthCheck))


def test_the_search_aims_at_deadlines_of_keys_set_up() -> None:
    schedule = find(schedules(AUCTION, LATENCY),
                    lambda s: any(isinstance(x, Until) for x in s.steps), settings=QUIET)
    counts = schedule.setup.counts(AUCTION)
    for step in schedule.steps:
        if isinstance(step, Until):
            assert step.kind == "auction" and 0 <= step.key < counts["auction"]
            assert UNTIL_MS[0] <= step.offset_ms <= UNTIL_MS[1]


@settings(QUIET, max_examples=50)
@given(st.data())
def test_no_until_step_without_a_deadline(data: st.DataObject) -> None:
    schedule = data.draw(schedules(INVENTORY, [parse_family("latency:postgres", TOPOLOGY)]))
    assert not any(isinstance(s, Until) for s in schedule.steps)


def test_deadlines_come_from_the_ok_setup_round_trip() -> None:
    clock = iter([10.0, 10.2, 10.4, 10.6, 10.8, 11.0, 20.0]).__next__
    recorder = Recorder(clock=clock)  # t0 = 10.0
    keys = KeySpace("run-0")
    recorder.set_phase("setup")
    for i, due in enumerate((500, -100)):
        body = {"auction_id": keys.id("auction", i), "ends_in_ms": due}
        invoke = recorder.invoke(0, "create_auction", {"node": 0, "attempt": 1, "body": body})
        recorder.complete(invoke, "ok", {"status": 200, "body": {}})
    recorder.set_phase("main")
    invoke = recorder.invoke(0, "create_auction", {"node": 0, "attempt": 1, "body": {
        "auction_id": keys.id("auction", 2), "ends_in_ms": 0}})  # main phase: not a deadline
    due = deadlines(recorder.history(), AUCTION, keys, {"auction": 3})
    assert due == pytest.approx({("auction", 0): 0.3 + 0.5, ("auction", 1): 0.7 - 0.1})
    assert until_s(Until(kind="auction", key=0, offset_ms=-300), due, now=0.4) == pytest.approx(0.1)
    assert until_s(Until(kind="auction", key=1, offset_ms=0), due, now=0.9) == 0.0
    assert until_s(Until(kind="auction", key=2, offset_ms=0), due, now=0.0) == 0.0
    assert until_s(Until(kind="auction", key=0, offset_ms=MAX_WAIT_MS), due, now=0.0) == (
        MAX_WAIT_MS / 1000)
