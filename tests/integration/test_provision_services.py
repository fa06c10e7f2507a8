"""Each service starts, answers through its Toxiproxy proxy, stops, and leaves nothing behind.

Runs on both backends: local processes and containers (docs/containers.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
import redis
from backends import both_backends

from harness.provision.docker_api import DockerAPI
from harness.provision.stack import Stack

pytestmark = pytest.mark.integration
backend_name = both_backends()

Produce = Callable[..., None]
Consume = Callable[..., list[bytes]]


def test_env_points_every_variable_at_a_proxy(stack: Stack) -> None:
    proxies = {p.listen_port: name for name, p in stack.toxiproxy.proxies().items()}
    env = stack.env()
    assert set(env) == {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    assert env["DATABASE_URL"].startswith("postgresql://failmodel@127.0.0.1:")
    ports = {
        "postgres": int(env["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]),
        "redis": int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]),
        "kafka": int(env["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1]),
    }
    for name, port in ports.items():
        assert proxies[port] == name
        assert port != stack.service(name).port


def test_postgres_answers_through_its_proxy(stack: Stack) -> None:
    with psycopg.connect(stack.env()["DATABASE_URL"], connect_timeout=5) as conn:
        row = conn.execute("SELECT current_database(), current_user").fetchone()
        peer = conn.execute("SELECT inet_client_addr()").fetchone()
    assert row == ("failmodel", "failmodel")
    assert peer is not None and str(peer[0]) == "127.0.0.1"


def test_redis_answers_through_its_proxy(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.env()["REDIS_URL"], socket_timeout=5)
    try:
        assert client.ping() is True
        key = f"k-{uuid.uuid4().hex}"
        client.set(key, "v")
        assert client.get(key) == b"v"
    finally:
        client.close()


def test_kafka_produce_and_consume_through_its_proxy(
    stack: Stack, kafka_produce: Produce, kafka_consume: Consume
) -> None:
    bootstrap = stack.env()["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"t-{uuid.uuid4().hex}"
    kafka_produce(bootstrap, topic, b"one", b"two")
    assert kafka_consume(bootstrap, topic, 2) == [b"one", b"two"]


def test_disabling_the_kafka_proxy_cuts_clients_off(
    stack: Stack, kafka_produce: Produce, kafka_consume: Consume
) -> None:
    """Clients really go through the proxy after bootstrapping (advertised listener)."""
    bootstrap = stack.env()["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"t-{uuid.uuid4().hex}"
    stack.proxy("kafka").disable()
    try:
        with pytest.raises(Exception):  # noqa: B017 - any client error will do
            kafka_produce(bootstrap, topic, b"x", timeout=8)
    finally:
        stack.toxiproxy.reset()
    kafka_produce(bootstrap, topic, b"y")
    assert kafka_consume(bootstrap, topic, 1) == [b"y"]


@pytest.mark.parametrize("service", ["postgres", "redis", "kafka"])
def test_a_stopped_stack_leaves_no_process_and_no_workdir(
    service: str,
    make_stack: Callable[..., Stack],
    pids_of: Callable[[Stack], list[int]],
    wait_gone: Callable[..., list[int]],
) -> None:
    own = make_stack(services=[service])
    if not isinstance(own, Stack):  # containers: the service's and Toxiproxy's
        ids = [c.container_id for c in own.containers()]
        assert len(ids) == 2
        own.stop()
        remaining = {c["Id"] for c in DockerAPI().containers("failmodel")}
        assert not remaining & set(ids)
        return
    pids = pids_of(own)
    assert len(pids) >= 2  # the service and the Toxiproxy server
    assert list(own.env()) == [
        {"postgres": "DATABASE_URL", "redis": "REDIS_URL", "kafka": "KAFKA_BOOTSTRAP_SERVERS"}[
            service
        ]
    ]
    workdir = own.workdir
    own.stop()
    assert wait_gone(pids, within=5) == []
    assert not workdir.exists()
