"""Fault families: exactly the arguments each takes, redeliveries only to Kafka
consumers, faults a topology can run, and toxic values Toxiproxy accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from harness.nemesis.faults import (
    CacheLoss,
    ClockFault,
    Crash,
    Fault,
    InvalidFault,
    LinkToxic,
    Partition,
    PartnerFailure,
    Pause,
    Redelivery,
    fault_from_dict,
    fault_to_dict,
)
from harness.schedule.families import InvalidFamily, Topology, parse_family
from harness.schedule.shape import Shape
from harness.toxiproxy.toxics import toxic_from_dict

TOPOLOGY = Topology(
    links=("kafka", "target-0"),
    processes=("target-0", "relay", "kafka"),
    has_partner=False,
    consumers=("relay",),
)
PARTNERED = Topology(links=(), processes=("target-0", "relay"), has_partner=True)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("retry:", "fault 'retry:': empty argument after ':'"),
        ("client_timeout:5", "fault 'client_timeout:5': 'client_timeout' takes no argument"),
        ("cache_loss:x", "fault 'cache_loss:x': 'cache_loss' takes no argument"),
        ("crash:", "fault 'crash:': empty argument after ':'"),
        ("crash:a:b", "fault 'crash:a:b': 'crash' takes exactly one name, e.g. crash:target-*"),
        ("latency::", "fault 'latency::': empty argument after ':'"),
    ],
)
def test_families_take_exactly_their_arguments(token: str, expected: str) -> None:
    with pytest.raises(InvalidFamily) as info:
        parse_family(token, TOPOLOGY)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("partner:", "fault 'partner:': empty argument after ':'"),
        ("partner::psp", "fault 'partner::psp': empty argument after ':'"),
        ("partner:slow:", "fault 'partner:slow:': empty argument after ':'"),
        ("partner:slow:psp:x", "fault 'partner:slow:psp:x': 'partner' takes at most a mode"),
    ],
)
def test_partner_takes_a_mode_and_an_endpoint_at_most(token: str, expected: str) -> None:
    with pytest.raises(InvalidFamily) as info:
        parse_family(token, Topology(links=(), processes=(), has_partner=True))
    assert str(info.value).startswith(expected)
    family = parse_family("partner:slow:psp", Topology(links=(), processes=(), has_partner=True))
    assert (family.mode, family.endpoint) == ("slow", "psp")


def test_redelivery_only_to_a_kafka_consumer() -> None:
    assert parse_family("redelivery:*", TOPOLOGY).names == ("relay",)
    with pytest.raises(InvalidFamily, match="no Kafka consumer matches 'target-0'"):
        parse_family("redelivery:target-0", TOPOLOGY)
    no_kafka = Topology(links=("target-0",), processes=("target-0", "relay"), has_partner=False)
    with pytest.raises(InvalidFamily, match=r"redelivery needs a \[target.extra\] process of a"):
        parse_family("redelivery:relay", no_kafka)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Crash(process="relay"), None),
        (Redelivery(consumer="relay"), None),
        (LinkToxic(link="postgres", toxic="latency"), "link must be one of the design's links"),
        (Crash(process="redis"), "process must be one of the design's processes target-0,"),
        (CacheLoss(), "process must be one of the design's processes"),
        (Redelivery(consumer="target-0"), "consumer must be a [target.extra] process of a design"),
        (PartnerFailure(endpoint="psp", mode="slow", delay_ms=1), "kind must not be 'partner'"),
    ],
)
def test_what_a_topology_can_run(fault: Fault, problem: str | None) -> None:
    found = TOPOLOGY.problem(fault)
    assert found == problem if problem is None else (found or "").startswith(problem)


@settings(max_examples=200)
@given(fault=parse_family("slicer:*", TOPOLOGY).faults())
def test_drawn_slicers_are_valid_toxics(fault: Fault) -> None:
    assert isinstance(fault, LinkToxic)
    toxic_from_dict({"type": fault.toxic, **fault.attributes})


def test_every_toxic_family_names_exactly_the_attributes_it_draws() -> None:
    from hypothesis import find

    from harness.schedule.families import _TOXIC_ATTRS, TOXIC_ATTRIBUTES

    assert set(TOXIC_ATTRIBUTES) == set(_TOXIC_ATTRS)
    for kind, within in _TOXIC_ATTRS.items():
        drawn = find(within(Shape()), lambda attrs: True)
        assert tuple(drawn) == TOXIC_ATTRIBUTES[kind], kind


def test_clock_takes_a_target_process_and_optionally_a_mode() -> None:
    family = parse_family("clock:*", TOPOLOGY)
    assert (family.kind, family.names, family.mode) == ("clock", ("target-0", "relay"), None)
    assert parse_family("clock:drift:relay", TOPOLOGY).mode == "drift"
    with pytest.raises(InvalidFamily, match="no target process matches 'kafka'; target processes"):
        parse_family("clock:kafka", TOPOLOGY)
    with pytest.raises(InvalidFamily, match="unknown clock mode 'slew'; expected skew, jump"):
        parse_family("clock:slew:relay", TOPOLOGY)
    with pytest.raises(InvalidFamily, match="'clock' takes a process, optionally after a mode"):
        parse_family("clock:skew:relay:x", TOPOLOGY)
    assert TOPOLOGY.problem(ClockFault(process="kafka", offset_ms=5)) == (
        "process must be one of the target's processes target-0, relay (got 'kafka')"
    )


@settings(max_examples=200)
@given(fault=parse_family("clock:*", TOPOLOGY).faults())
def test_drawn_clock_faults_stay_in_their_mode_s_range(fault: Fault) -> None:
    from harness.schedule.families import CLOCK_RANGES

    assert isinstance(fault, ClockFault)
    low, high = CLOCK_RANGES[fault.mode]
    assert low <= abs(fault.offset_ms) <= high
    assert fault_from_dict(fault_to_dict(fault)) == fault


@settings(max_examples=100)
@given(
    until_healed=parse_family("pause:relay", TOPOLOGY).faults(),
    timed=parse_family("pause:relay", TOPOLOGY).faults(Shape(max_pause_ms=2500)),
)
def test_pauses_last_until_healed_unless_the_row_bounds_a_timed_one(
    until_healed: Fault, timed: Fault
) -> None:
    assert isinstance(until_healed, Pause) and until_healed.duration_ms == 0
    assert isinstance(timed, Pause)
    assert timed.duration_ms == 0 or 100 <= timed.duration_ms <= 2500
    assert fault_from_dict(fault_to_dict(timed)) == timed


def test_a_cut_link_half_the_time_flaps_back_within_a_second() -> None:
    from hypothesis import find

    cuts = parse_family("partition:target-0", TOPOLOGY).faults()
    flap = find(cuts, lambda f: isinstance(f, Partition) and f.duration_ms > 0)
    assert isinstance(flap, Partition) and flap.duration_ms == 50  # the shortest
    assert find(cuts, lambda f: True) == Partition(link="target-0")  # shrinks to until healed
    assert fault_from_dict(fault_to_dict(flap)) == flap
    assert flap.describe() == "partition (refuse) of link target-0 for 50 ms"
    assert fault_from_dict({"kind": "partition", "link": "kafka"}).duration_ms == 0
    with pytest.raises(InvalidFault, match=r"fault.duration_ms must be an int in 0..60000"):
        fault_from_dict({"kind": "partition", "link": "kafka", "duration_ms": -1})


def test_a_lost_answer_always_ends_within_half_a_second() -> None:
    from hypothesis import find

    losses = parse_family("lost_answer:kafka", TOPOLOGY).faults()
    shortest = find(losses, lambda f: True)
    assert shortest == Partition(link="kafka", mode="lost_answer", duration_ms=50)
    longest = find(losses, lambda f: isinstance(f, Partition) and f.duration_ms >= 500)
    assert isinstance(longest, Partition) and longest.duration_ms == 500
    assert fault_from_dict(fault_to_dict(longest)) == longest
    assert shortest.describe() == "answers lost on link kafka for 50 ms, then its connections cut"
    with pytest.raises(InvalidFault, match=r"fault.duration_ms must be an int in 1..60000 for mode "
                       r"'lost_answer' \(got 0\)"):
        fault_from_dict({"kind": "partition", "link": "kafka", "mode": "lost_answer"})
    with pytest.raises(InvalidFault, match="duration_ms must be >= 1 for mode 'lost_answer'"):
        Partition(link="kafka", mode="lost_answer")


@settings(max_examples=100)
@given(
    default=parse_family("latency:*", TOPOLOGY).faults(),
    slow=parse_family("latency:*", TOPOLOGY).faults(Shape(min_latency_ms=150, max_latency_ms=300)),
)
def test_latencies_stay_in_the_row_s_range(default: Fault, slow: Fault) -> None:
    assert isinstance(default, LinkToxic) and isinstance(slow, LinkToxic)
    assert 20 <= default.attributes["latency_ms"] <= 400
    assert 150 <= slow.attributes["latency_ms"] <= 300
    assert fault_from_dict(fault_to_dict(slow)) == slow


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "clock", "process": "x", "mode": "skew", "offset_ms": 3_600_001},
         "fault.offset_ms must be an int in -3600000..3600000 for mode 'skew' (got 3600001)"),
        ({"kind": "clock", "process": "x", "mode": "drift", "offset_ms": -10_001},
         "fault.offset_ms must be an int in -10000..10000 for mode 'drift' (got -10001)"),
        ({"kind": "clock", "process": "x", "mode": "warp"}, "fault.mode must be one of"),
        ({"kind": "pause", "process": "x", "duration_ms": 60_001},
         "fault.duration_ms must be an int in 0..60000 (got 60001)"),
    ],
)
def test_clock_and_pause_values_read_from_a_file_are_bounded(data: object, message: str) -> None:
    with pytest.raises(InvalidFault) as info:
        fault_from_dict(data)
    assert str(info.value).startswith(message)


def test_a_pause_written_before_durations_existed_still_reads() -> None:
    assert fault_from_dict({"kind": "pause", "process": "relay"}) == Pause(process="relay")
    assert Pause(process="relay", duration_ms=1500).describe() == "pause of relay for 1500 ms"
    assert ClockFault(process="relay", mode="jump", offset_ms=-2000).describe() == (
        "clock of relay jumps -2000 ms"
    )


@settings(max_examples=50)
@given(fault=parse_family("crash_in_call:target-*", PARTNERED).faults())
def test_a_crash_in_call_holds_a_call_long_enough_before_or_after_its_effect(
    fault: Fault,
) -> None:
    assert isinstance(fault, Crash) and fault.process == "target-0"
    assert 300 <= fault.in_call_ms <= 1000
    assert fault_from_dict(fault_to_dict(fault)) == fault
    when = "after" if fault.after_effect else "before"
    assert f"during a partner call, {when} its effect" in fault.describe()


def test_a_crash_in_call_needs_the_partner_and_reads_back_bounded() -> None:
    without = Topology(links=(), processes=("target-0",), has_partner=False)
    with pytest.raises(InvalidFamily, match="needs the partner dependency"):
        parse_family("crash_in_call:target-*", without)
    stores = Topology(links=(), processes=("target-0", "postgres"), has_partner=True)
    with pytest.raises(InvalidFamily, match="no target process matches 'postgres'"):
        parse_family("crash_in_call:postgres", stores)
    # A crash written before aimed crashes existed is a plain one.
    assert fault_from_dict({"kind": "crash", "process": "relay"}) == Crash(process="relay")
    with pytest.raises(InvalidFault, match=r"fault.after_effect must be true or false \(got 1\)"):
        fault_from_dict({"kind": "crash", "process": "x", "in_call_ms": 500, "after_effect": 1})
    with pytest.raises(InvalidFault, match=r"fault.in_call_ms must be an int in 0..60000"):
        fault_from_dict({"kind": "crash", "process": "x", "in_call_ms": 60_001})
