"""Crash, restart, pause and resume each service, and see what survives.

Runs on both backends: on containers a crash is ``docker kill`` and a pause
``docker pause``, and the outcomes must be the same (a killed PostgreSQL
keeps its committed rows, a Redis without persistence loses its data).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import psycopg
import pytest
import redis
from aiokafka import AIOKafkaProducer
from backends import both_backends

from harness.provision.stack import Stack

pytestmark = pytest.mark.integration
backend_name = both_backends()


def _redis(stack: Stack, *, timeout: float = 5) -> redis.Redis:
    return redis.Redis.from_url(stack.env()["REDIS_URL"], socket_timeout=timeout)


def test_postgres_keeps_a_committed_row_across_a_crash(make_stack: Callable[..., Stack]) -> None:
    own = make_stack(services=["postgres"])
    url = own.env()["DATABASE_URL"]
    postgres = own.service("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES ('committed')")
    postgres.crash()
    assert not postgres.alive
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    postgres.restart()
    assert postgres.alive
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [("committed",)]


def test_pausing_postgres_times_out_a_request_and_resuming_answers_it(stack: Stack) -> None:
    url = stack.env()["DATABASE_URL"]
    postgres = stack.service("postgres")
    postgres.pause()
    try:
        with pytest.raises(psycopg.OperationalError, match="timeout"):
            psycopg.connect(url, connect_timeout=1).close()
    finally:
        postgres.resume()
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(("persistence", "survives"), [("none", False), ("aof", True)])
def test_redis_data_after_a_crash_depends_on_persistence(
    persistence: str, survives: bool, make_stack: Callable[..., Stack]
) -> None:
    own = make_stack(services=["redis"], redis_persistence=persistence)
    client = _redis(own)
    try:
        client.set("acknowledged", "yes")
        own.service("redis").crash()
        own.service("redis").restart()
        assert (client.get("acknowledged") == b"yes") is survives
    finally:
        client.close()


def test_pausing_redis_times_out_a_request_and_resuming_answers_it(stack: Stack) -> None:
    client = _redis(stack, timeout=0.5)
    try:
        assert client.ping() is True
        stack.service("redis").pause()
        try:
            with pytest.raises(redis.TimeoutError):
                client.ping()
        finally:
            stack.service("redis").resume()
        assert client.ping() is True
    finally:
        client.close()


def test_kafka_keeps_a_message_across_a_crash(
    make_stack: Callable[..., Stack],
    kafka_produce: Callable[..., None],
    kafka_consume: Callable[..., list[bytes]],
) -> None:
    own = make_stack(services=["kafka"])
    bootstrap = own.env()["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"t-{uuid.uuid4().hex}"
    kafka_produce(bootstrap, topic, b"before-crash")
    own.service("kafka").crash()
    own.service("kafka").restart()
    assert kafka_consume(bootstrap, topic, 1) == [b"before-crash"]


def test_kafka_restarts_on_a_thread_that_runs_an_event_loop(
    make_stack: Callable[..., Stack],
    kafka_produce: Callable[..., None],
    kafka_consume: Callable[..., list[bytes]],
) -> None:
    """The end of a schedule heals on the runner's event loop, synchronously: a
    crashed broker must come back there as anywhere (its readiness probe once
    called asyncio.run there, failed every time, and the heal gave up after 60 s
    on a broker long ready: round 10's blind target, docs/unseen-bugs.md)."""
    own = make_stack(services=["kafka"])
    bootstrap = own.env()["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"t-{uuid.uuid4().hex}"
    kafka_produce(bootstrap, topic, b"before-crash")

    async def heal_on_the_loop() -> None:
        own.service("kafka").crash()
        own.service("kafka").restart()

    asyncio.run(heal_on_the_loop())
    assert own.service("kafka").alive
    assert kafka_consume(bootstrap, topic, 1) == [b"before-crash"]


def test_a_kafka_client_keeps_working_across_a_broker_restart(
    make_stack: Callable[..., Stack], kafka_consume: Callable[..., list[bytes]]
) -> None:
    """One producer, through the proxy, before and after a clean broker restart."""
    own = make_stack(services=["kafka"])
    bootstrap = own.env()["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"t-{uuid.uuid4().hex}"

    async def scenario() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await asyncio.wait_for(producer.start(), timeout=20)
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, b"first"), timeout=20)
            await asyncio.to_thread(own.service("kafka").restart)
            await asyncio.wait_for(producer.send_and_wait(topic, b"second"), timeout=30)
        finally:
            await producer.stop()

    asyncio.run(scenario())
    assert kafka_consume(bootstrap, topic, 2) == [b"first", b"second"]


def test_overlapping_pauses_are_harmless(stack: Stack) -> None:
    """Two pause faults may overlap on one process: a second pause does nothing
    (SIGSTOP twice; a paused container is left paused) and one resume ends both."""
    client = _redis(stack, timeout=0.5)
    try:
        stack.service("redis").pause()
        try:
            stack.service("redis").pause()
            assert stack.service("redis").alive
        finally:
            stack.service("redis").resume()
        assert client.ping() is True
    finally:
        client.close()
