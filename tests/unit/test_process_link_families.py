"""Per-process links: ``latency:postgres`` still means every link to PostgreSQL,
``latency:target-*>postgres`` only the replicas' own, and such faults replay."""

from __future__ import annotations

import pytest

from harness.links import links_acted_on, process_link, process_links, split_link
from harness.nemesis.faults import LinkToxic, Partition, fault_from_dict, fault_to_dict
from harness.schedule.families import InvalidFamily, Topology, parse_family

REPLICAS = ("target-0", "target-1")
PROCESSES = (*REPLICAS, "closer")
TOPOLOGY = Topology(
    links=(
        "postgres", "redis", "kafka", *REPLICAS,
        *process_links(PROCESSES, ("postgres", "redis", "kafka")),
    ),
    processes=(*PROCESSES, "postgres", "redis", "kafka"),
    has_partner=False,
)


def test_every_target_process_has_its_own_link_to_postgres_and_redis_not_kafka() -> None:
    own = process_links(PROCESSES, ("postgres", "kafka", "redis"))
    assert own == (
        "target-0>postgres", "target-0>redis", "target-1>postgres", "target-1>redis",
        "closer>postgres", "closer>redis",
    )
    assert split_link("closer>redis") == ("closer", "redis")
    assert split_link("postgres") is None
    assert process_link("target-1", "postgres") == "target-1>postgres"


def test_a_store_s_plain_link_acts_on_every_link_to_it() -> None:
    existing = ("postgres", "redis", "target-0", *process_links(PROCESSES, ("postgres", "redis")))
    assert links_acted_on("postgres", existing) == (
        "postgres", "target-0>postgres", "target-1>postgres", "closer>postgres",
    )
    assert links_acted_on("target-0", existing) == ("target-0",)
    assert links_acted_on("closer>postgres", existing) == ("closer>postgres",)


@pytest.mark.parametrize(
    ("token", "names"),
    [
        ("latency:postgres", ("postgres",)),  # the whole network to it: every link at once
        ("latency:target-*", REPLICAS),  # the client links only, as before
        ("partition:*", ("postgres", "redis", "kafka", *REPLICAS)),
        ("latency:target-*>postgres", ("target-0>postgres", "target-1>postgres")),
        ("partition:closer>postgres", ("closer>postgres",)),
        ("blackhole:closer>*", ("closer>postgres", "closer>redis")),
        ("timeout:*>redis", ("target-0>redis", "target-1>redis", "closer>redis")),
    ],
)
def test_link_families_resolve_plain_and_per_process_links(
    token: str, names: tuple[str, ...]
) -> None:
    assert parse_family(token, TOPOLOGY).names == names


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("latency:target-*>kafka", "kafka keeps one link: its broker advertises one address"),
        ("latency:relay>postgres", "no process matches 'relay'"),
        ("latency:>postgres", "a process's own link is <process>><store>"),
        ("latency:closer>", "a process's own link is <process>><store>"),
        ("latency:a>b>c", "a process's own link is <process>><store>"),
    ],
)
def test_bad_per_process_links_are_refused_with_the_reason(token: str, message: str) -> None:
    with pytest.raises(InvalidFamily) as info:
        parse_family(token, TOPOLOGY)
    assert message in str(info.value)


def test_a_design_without_per_process_links_says_so() -> None:
    topology = Topology(links=("kafka", "target-0"), processes=("target-0",), has_partner=False)
    with pytest.raises(InvalidFamily, match="no per-process links"):
        parse_family("latency:target-0>postgres", topology)


def test_faults_on_a_process_s_own_link_are_runnable_and_replay() -> None:
    toxic = LinkToxic(link="target-1>postgres", toxic="latency", attributes={"latency_ms": 300})
    cut = Partition(link="closer>postgres", mode="refuse")
    for fault in (toxic, cut):
        assert TOPOLOGY.problem(fault) is None
        assert fault_from_dict(fault_to_dict(fault)) == fault
    assert TOPOLOGY.problem(LinkToxic(link="relay>postgres", toxic="latency")) is not None


@pytest.mark.parametrize("link", ["a>b>c", ">postgres", "target-0>", "a b>postgres"])
def test_a_link_read_from_a_file_is_a_name_or_one_process_s_link(link: str) -> None:
    with pytest.raises(ValueError, match="link name"):
        fault_from_dict({"kind": "partition", "link": link, "mode": "refuse"})
