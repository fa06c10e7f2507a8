"""A throwaway single-node Kafka (KRaft: broker and controller in one JVM)."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from harness.provision.ports import LOOPBACK, free_port
from harness.provision.process import ManagedProcess, run_to_completion
from harness.provision.service import LocalService
from harness.setup.binaries import Binaries

HEAP = "512m"
# Quick JVM start-up matters more here than peak throughput.
JVM_FLAGS = [f"-Xms{HEAP}", f"-Xmx{HEAP}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
LAG_TIMEOUT_S = 3.0
T = TypeVar("T")


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka's own generator avoids these too
            return text


def metadata_lists_broker(advertised: str, *, broker_port: int) -> bool:
    """Readiness: a metadata request to *advertised* (the proxy) names a live broker."""
    # Until the broker listens, the proxy would accept and drop each attempt: check the
    # broker's own port first so aiokafka is only asked when it can answer.
    with socket.create_connection((LOOPBACK, broker_port), timeout=1):
        pass
    return _run(lambda: _metadata_lists_broker(advertised))


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(work())``, on a thread of its own when this thread runs an
    event loop (the end of a schedule heals on the runner's), where
    ``asyncio.run`` refuses."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


async def _metadata_lists_broker(advertised: str) -> bool:
    client = AIOKafkaClient(
        bootstrap_servers=advertised, request_timeout_ms=2000, metadata_max_age_ms=1000
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=3)
        return bool(client.cluster.brokers())
    finally:
        await client.close()


def consumer_lag(bootstrap: str, *, timeout_s: float = LAG_TIMEOUT_S) -> int | None:
    """Messages the broker's consumer groups have not committed: for each group,
    each partition it has committed an offset on, the log end minus that offset,
    summed. None when the broker did not answer within ``timeout_s``.

    What a consumer stopped now gets again when it comes back (Kafka delivers
    from the committed offset). A group that has committed nothing yet names no
    partition, and counts nothing."""
    with _quiet():
        try:
            return _run(lambda: asyncio.wait_for(_consumer_lag(bootstrap), timeout_s))
        except (KafkaError, OSError):  # TimeoutError is an OSError
            return None


class _Quiet:
    """aiokafka logs every refused connection as an error: while a probe runs,
    a cut link (a redelivery's) would print them on the console. Its loggers are
    silenced for as long as any probe runs, then set back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes = 0
        self._level = logging.NOTSET

    @contextmanager
    def __call__(self) -> Iterator[None]:
        logger = logging.getLogger("aiokafka")
        with self._lock:
            if self._probes == 0:
                self._level = logger.level
                logger.setLevel(logging.CRITICAL)
            self._probes += 1
        try:
            yield
        finally:
            with self._lock:
                self._probes -= 1
                if self._probes == 0:
                    logger.setLevel(self._level)


_quiet = _Quiet()


async def _consumer_lag(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    await admin.start()
    try:
        committed: dict[tuple[str, TopicPartition], int] = {}
        for group, *_ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            for partition, meta in offsets.items():
                if meta.offset >= 0:
                    committed[(group, partition)] = meta.offset
    finally:
        await admin.close()
    if not committed:
        return 0
    # A short backoff: the reader asks for the partitions' metadata once, at once.
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, request_timeout_ms=2000, retry_backoff_ms=10
    )
    await reader.start()
    try:
        ends = await reader.end_offsets(list({partition for _, partition in committed}))
    finally:
        await reader.stop()
    return sum(max(0, ends[partition] - at) for (_, partition), at in committed.items())


class KafkaService(LocalService):
    """Kafka whose advertised listener is *advertised* — normally a Toxiproxy proxy
    in front of :attr:`port` — so that clients, after bootstrapping, really talk
    through the proxy. Readiness is a real metadata request to that address."""

    name = "kafka"
    ready_timeout = 60.0

    def __init__(
        self,
        *,
        binaries: Binaries,
        directory: Path,
        advertised: str,
        port: int | None = None,
        controller_port: int | None = None,
    ) -> None:
        host, _, port_text = advertised.rpartition(":")
        if not host or not port_text.isdigit():
            raise ValueError(f"'advertised' must look like '127.0.0.1:9092' (got {advertised!r})")
        super().__init__(directory=directory, port=port)
        self.advertised = advertised
        self.controller_port = free_port() if controller_port is None else controller_port
        self._binaries = binaries
        self.data_dir = directory / "data"
        self.config_path = directory / "server.properties"

    @property
    def bootstrap_servers(self) -> str:
        return self.advertised

    @property
    def _readiness(self) -> str:
        return f"a metadata request to {self.advertised} listing the broker"

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            str(self._binaries.java),
            *JVM_FLAGS,
            f"-Dlog4j2.configurationFile={self._binaries.kafka_log_config}",
            "-cp",
            f"{self._binaries.kafka_libs}/*",
            main_class,
            *args,
        ]

    def _prepare(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.advertised}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # After a crash the controller refuses the broker's new registration until the
            # old session expires (default 9 s): keep that short so restarts are quick.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
        }
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        storage_format = ManagedProcess(
            "kafka-storage-format",
            self._java(
                "kafka.tools.StorageTool", "format",
                "-t", new_cluster_id(), "-c", str(self.config_path),
            ),
            cwd=self.directory,
            log_path=self.directory / "format.log",
        )
        run_to_completion(storage_format, timeout=60)

    def _argv(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.config_path))

    def _probe(self) -> bool:
        return metadata_lists_broker(self.advertised, broker_port=self.port)
