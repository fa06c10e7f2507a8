"""What a kill leaves behind in Kafka, as the nemesis records it: the messages
the broker's consumer groups had not committed (``kills_during_lag``), on a live
system with a real broker behind Toxiproxy, a toy replica and a stand-in consumer.

Lag is summed over every group on the broker, so each test brings its own group
back to the log's end before it ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from conftest import IDLE, produce, toy_spec
from harness.history import LAG, Recorder
from harness.nemesis.faults import Crash, Fault, Redelivery
from harness.nemesis.nemesis import Nemesis
from harness.provision.kafka import consumer_lag
from harness.schedule.coverage import coverage_of
from harness.setup import Binaries
from harness.system import LiveSystem

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]



@pytest.fixture(scope="module")
def system(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    db = tmp_path_factory.mktemp("toy") / "toy.sqlite"
    # An idle stand-in consumer: the test commits for it.
    spec = toy_spec(db, replicas=1, extra={"consumer": IDLE}, dependencies={"kafka"})
    with LiveSystem(spec) as live:
        yield live


class Group:
    """A consumer group of the test's own on a topic of five messages."""

    def __init__(self, system: LiveSystem) -> None:
        self.bootstrap = system.stack.env()["KAFKA_BOOTSTRAP_SERVERS"]
        self.topic = f"t-{uuid.uuid4().hex}"
        self.name = f"g-{uuid.uuid4().hex}"
        produce(self.bootstrap, self.topic, *(b"m%d" % i for i in range(5)))

    def commit(self, offset: int) -> None:
        asyncio.run(self._commit(offset))

    async def _commit(self, offset: int) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.name, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            await consumer.commit({partition: OffsetAndMetadata(offset, "")})
        finally:
            await consumer.stop()


def kill(system: LiveSystem, fault: Fault) -> tuple[list[dict[str, object]], int]:
    """Start ``fault`` and heal it: the LAG events recorded, and the kills the
    history's coverage counts as during lag."""
    recorder = Recorder()
    with Nemesis(system, recorder) as nemesis:
        nemesis.start(fault)
    history = recorder.history()
    lags = [dict(e.value) for e in history.nemesis_events() if e.f == LAG]
    return lags, coverage_of(history)["kills_during_lag"]


def test_the_probe_sums_what_each_group_has_not_committed(system: LiveSystem) -> None:
    group = Group(system)
    group.commit(2)
    assert consumer_lag(group.bootstrap) == 3
    group.commit(5)
    assert consumer_lag(group.bootstrap) == 0


def test_a_kill_records_the_messages_a_group_had_not_committed(system: LiveSystem) -> None:
    group = Group(system)
    group.commit(2)
    lags, counted = kill(system, Crash(process="consumer"))
    assert lags == [{"id": 0, "process": "consumer", "messages": 3}]
    assert counted == 1
    group.commit(5)  # caught up: a kill now leaves nothing to deliver again
    lags, counted = kill(system, Crash(process="consumer"))
    assert lags == [{"id": 0, "process": "consumer", "messages": 0}]
    assert counted == 0


def test_a_redelivery_asks_once_its_cut_link_is_back(system: LiveSystem) -> None:
    """The cut Kafka link is the harness's way to the broker too: the lag is read
    at the heal, the link back and the consumer still down."""
    group = Group(system)
    group.commit(4)
    try:
        lags, counted = kill(system, Redelivery(consumer="consumer", link="kafka", grace_ms=100))
    finally:
        group.commit(5)
    assert lags == [{"id": 0, "process": "consumer", "messages": 1}]
    assert counted == 1


def test_a_store_crash_asks_nothing(system: LiveSystem) -> None:
    group = Group(system)
    group.commit(2)
    try:
        lags, counted = kill(system, Crash(process="kafka"))
    finally:
        group.commit(5)
    assert lags == []
    assert counted == 0
