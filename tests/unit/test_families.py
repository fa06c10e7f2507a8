"""Fault families: exactly the arguments each takes, redeliveries only to Kafka
consumers, faults a topology can run, and toxic values Toxiproxy accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from harness.nemesis.faults import CacheLoss, Crash, Fault, LinkToxic, PartnerFailure, Redelivery
from harness.schedule.families import InvalidFamily, Topology, parse_family
from harness.toxiproxy.toxics import toxic_from_dict

TOPOLOGY = Topology(
    links=("kafka", "target-0"),
    processes=("target-0", "relay", "kafka"),
    has_partner=False,
    consumers=("relay",),
)


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
    for kind, strategy in _TOXIC_ATTRS.items():
        drawn = find(strategy, lambda attrs: True)
        assert tuple(drawn) == TOXIC_ATTRIBUTES[kind], kind
