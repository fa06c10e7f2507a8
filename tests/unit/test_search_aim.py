"""The search aims a batch at what the steps before it set up: the replica its
fault names and the key whose deadline an until step just waited for. Independent
draws line these up seldom (a bid on the slowed replica, on the auction whose
deadline is near: docs/search-power.md, "Aimed batches"). Without aiming, each
share below is about one half (2 replicas, 2 or 3 keys): 0.43 to 0.50 on these
samples, against 0.62 to 0.86 with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hypothesis import HealthCheck, given, settings

from harness.nemesis.faults import Crash, LinkToxic, Pause
from harness.schedule.families import Topology, parse_family
from harness.schedule.model import Batch, ClientOp, Schedule, StartFault, Until
from harness.schedule.strategies import replica_of, schedules
from harness.workload.api import Answer, Ints, Key, Operation, SetupStep, Workload
from targets.auction.workload import AUCTION

TOPOLOGY = Topology(links=("postgres", "target-0>postgres", "target-1>postgres", "target-0"),
                    processes=("target-0", "target-1", "postgres"), has_partner=False)
SAMPLE = settings(database=None, max_examples=2000, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
"""Derandomized: each test judges one fixed sample of draws, the same on every run."""

THINGS = Workload(
    name="things",
    keys={"thing": 3},
    operations=(
        Operation(name="create", method="PUT", path="/things/{id}", body=("due_in_ms",),
                  fields={"id": Key("thing"), "due_in_ms": Ints(0, 900)}, id="id", weight=0,
                  ok=(Answer(200),)),
        Operation(name="touch", method="POST", path="/touch", body=("thing", "n"),
                  fields={"thing": Key("thing"), "n": Ints(1, 5)}, ok=(Answer(200),)),
    ),
    setup=(SetupStep(op="create", each="thing", deadline="due_in_ms"),),
)

Aimed = Callable[[Schedule], Iterator[tuple[ClientOp, bool]]]
"""Each request a test counts, and whether it went where the search should aim it."""


def share(workload: Workload, family: str, aimed: Aimed) -> float:
    """The share of counted requests that hit their aim, over a fixed sample."""
    hits = total = 0

    @SAMPLE
    @given(schedules(workload, [parse_family(family, TOPOLOGY)]))
    def collect(schedule: Schedule) -> None:
        nonlocal hits, total
        for _, hit in aimed(schedule):
            hits += hit
            total += 1

    collect()
    assert total > 30, f"too few requests counted ({total}) to judge"
    return hits / total


def after_until(
    schedule: Schedule, workload: Workload, kind: str
) -> Iterator[tuple[Until, Batch]]:
    """Each batch right after an until step, where more than one key could be hit."""
    if schedule.setup.counts(workload)[kind] < 2:
        return
    for before, step in zip(schedule.steps, schedule.steps[1:], strict=False):
        if isinstance(before, Until) and isinstance(step, Batch):
            yield before, step


def test_the_replica_a_fault_names() -> None:
    assert replica_of(LinkToxic(link="target-1>postgres", toxic="latency")) == 1
    assert replica_of(LinkToxic(link="target-0", toxic="latency")) == 0
    assert replica_of(Pause(process="target-12")) == 12
    assert replica_of(Crash(process="postgres")) is None
    assert replica_of(LinkToxic(link="postgres", toxic="latency")) is None


def test_a_batch_with_a_fault_on_a_replica_mostly_sends_to_it() -> None:
    def aimed(schedule: Schedule) -> Iterator[tuple[ClientOp, bool]]:
        for step in schedule.steps:
            if isinstance(step, Batch) and step.fault is not None:
                yield from ((op, op.node == replica_of(step.fault)) for op in step.ops)

    assert share(AUCTION, "latency:target-*>postgres", aimed) > 0.6


def test_a_started_fault_aims_later_batches_until_healed() -> None:
    """Counted on replica 1 only: drawn alone, requests lean to replica 0 (where
    Hypothesis shrinks to), as do faults."""

    def aimed(schedule: Schedule) -> Iterator[tuple[ClientOp, bool]]:
        node = None
        for step in schedule.steps:
            if isinstance(step, StartFault):
                node = replica_of(step.fault)
            elif step.step == "heal":
                node = None
            elif isinstance(step, Batch) and step.fault is None and node == 1:
                yield from ((op, op.node == 1) for op in step.ops)

    assert share(AUCTION, "pause:target-*", aimed) > 0.55  # 0.43 without aiming


def test_a_batch_after_an_until_step_bids_on_the_awaited_auction() -> None:
    """The auction workload's draw hook takes the aim (``ctx.aim``)."""

    def aimed(schedule: Schedule) -> Iterator[tuple[ClientOp, bool]]:
        for until, batch in after_until(schedule, AUCTION, "auction"):
            bids = (op for op in batch.ops if op.f == "bid")
            yield from ((op, op.args["auction_id"] == until.key) for op in bids)

    assert share(AUCTION, "latency:target-*>postgres", aimed) > 0.6


def test_without_a_draw_hook_the_key_field_takes_the_aim() -> None:
    def aimed(schedule: Schedule) -> Iterator[tuple[ClientOp, bool]]:
        for until, batch in after_until(schedule, THINGS, "thing"):
            yield from ((op, op.args["thing"] == until.key) for op in batch.ops)

    assert share(THINGS, "latency:target-*>postgres", aimed) > 0.6
