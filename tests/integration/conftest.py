"""Shared fixtures for tests on real services: binaries, a session stack, a stack factory."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from harness.partner import PartnerService
from harness.provision import procfs
from harness.provision.stack import Stack
from harness.setup import Binaries, setup
from harness.targetproc.spec import TargetSpec

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toy_inventory.py"
IDLE = (sys.executable, "-c", "import time\nfor _ in range(3000):\n    time.sleep(0.2)\n")
"""An extra process that idles (bounded: 10 minutes)."""


def toy_spec(
    db: Path, *, replicas: int, extra: Mapping[str, tuple[str, ...]], dependencies: set[str]
) -> TargetSpec:
    """The toy inventory target, correct, on the SQLite file ``db``, with ``extra``
    processes and ``dependencies`` (the stores and links the test is about)."""
    return TargetSpec(
        name="toy",
        command=(sys.executable, str(TOY), "--bug", "none", "--db", str(db)),
        replicas=replicas,
        extra=dict(extra),
        dependencies=frozenset(dependencies),
        start_timeout_s=30,
    )

StackFactory = Callable[..., Any]
@pytest.fixture(scope="session")
def backend_name() -> str:
    """Where ``stack`` and ``make_stack`` run the services: local unless a module says both."""
    return "local"


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    """The services' binaries, installed on first use (cached: instant afterwards)."""
    return setup(quiet=True)


@pytest.fixture(scope="session")
def container_binaries() -> Binaries:
    """The local binaries plus a Docker engine and the containers backend's images.
    An engine this session starts stops once the session is gone (a pytest run
    directly, not through ``scripts/failmodel test``, included); every xdist
    worker that reuses it registers too."""
    return setup(quiet=True, backend="containers", engine_for=os.getpid())


def _stack_class(backend: str, request: pytest.FixtureRequest) -> tuple[type[Any], Binaries]:
    if backend == "containers":
        from harness.provision.containers import ContainerStack

        return ContainerStack, request.getfixturevalue("container_binaries")
    return Stack, request.getfixturevalue("binaries")


@pytest.fixture(scope="session")
def stack(backend_name: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """PostgreSQL, Redis (no persistence) and Kafka behind Toxiproxy, shared by the session.

    Tests must leave it healthy: heal what they break (``stack.toxiproxy.reset()``).
    """
    stack_class, found = _stack_class(backend_name, request)
    with stack_class(services=("postgres", "redis", "kafka"), binaries=found) as shared:
        yield shared


@pytest.fixture
def make_stack(backend_name: str, request: pytest.FixtureRequest) -> Iterator[StackFactory]:
    """``make_stack(services=..., redis_persistence=...)``: a started stack of one's own,
    stopped when the test ends — for tests that crash or wreck things."""
    started: list[Any] = []
    stack_class, found = _stack_class(backend_name, request)

    def make(**options: Any) -> Any:
        options.setdefault("binaries", found)
        new = stack_class(**options)
        started.append(new)
        new.start()
        return new

    try:
        yield make
    finally:
        for each in reversed(started):
            each.stop()


def stack_pids(stack: Stack) -> list[int]:
    """Every live process of the stack: each service's tree and the Toxiproxy server's."""
    processes = [stack.toxiproxy_server.process]
    processes += [stack.service(name).process for name in stack.service_names]
    pids: list[int] = []
    for process in processes:
        if process.pid is not None and process.alive:
            pids += [process.pid, *procfs.descendants(process.pid)]
    return pids


def survivors(pids: list[int], *, within: float) -> list[int]:
    """The *pids* still running (not zombies) after waiting up to *within* seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = [pid for pid in pids if procfs.start_ticks(pid) is not None]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


@pytest.fixture
def pids_of() -> Callable[[Stack], list[int]]:
    return stack_pids


@pytest.fixture
def wait_gone() -> Callable[..., list[int]]:
    """``wait_gone(pids, within=5)``: the pids still running after waiting; [] when all died."""
    return survivors


async def _produce(bootstrap: str, topic: str, values: tuple[bytes, ...]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        return [(await consumer.getone()).value for _ in range(count)]
    finally:
        await consumer.stop()


def produce(bootstrap: str, topic: str, *values: bytes, timeout: float = 30) -> None:
    """Send *values* to *topic* with acks=all through aiokafka, within *timeout* seconds."""
    asyncio.run(asyncio.wait_for(_produce(bootstrap, topic, values), timeout))


def consume(bootstrap: str, topic: str, count: int, *, timeout: float = 30) -> list[bytes]:
    """The first *count* values of *topic*, read from the beginning within *timeout* seconds."""
    return asyncio.run(asyncio.wait_for(_consume(bootstrap, topic, count), timeout))


@pytest.fixture
def kafka_produce() -> Callable[..., None]:
    """``kafka_produce(bootstrap, topic, *values, timeout=30)`` through a real aiokafka producer."""
    return produce


@pytest.fixture
def kafka_consume() -> Callable[..., list[bytes]]:
    """``kafka_consume(bootstrap, topic, count, timeout=30)``: values read from the start."""
    return consume


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PartnerService]:
    """A real partner process for one test module, stopped after it."""
    service = PartnerService(workdir=tmp_path_factory.mktemp("partner"))
    try:
        service.start()
        yield service
    finally:
        service.stop()
