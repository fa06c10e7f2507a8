"""Each target process reaches PostgreSQL through a link of its own: a fault on
``target-0>postgres`` slows that process's path only, while ``postgres`` still
slows every path to the database (real Toxiproxy, real PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest

from conftest import IDLE, toy_spec
from harness.history import Recorder
from harness.nemesis.faults import LinkToxic, Partition
from harness.nemesis.nemesis import Nemesis
from harness.setup import Binaries
from harness.system import LiveSystem

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
LATENCY_MS = 300


@pytest.fixture(scope="module")
def system(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    db = tmp_path_factory.mktemp("toy") / "toy.sqlite"
    spec = toy_spec(db, replicas=2, extra={"closer": IDLE}, dependencies={"postgres"})
    with LiveSystem(spec) as live:
        yield live


def _database_url(system: LiveSystem, node: int) -> str:
    with NO_PROXY.open(f"{system.client_urls[node]}/_env", timeout=5) as response:
        return str(json.loads(response.read())["DATABASE_URL"])


def _urls(system: LiveSystem) -> dict[str, str]:
    """The address each process got, and the harness's own (the plain link)."""
    shared = system.stack.env()["DATABASE_URL"]
    closer_port = system.proxy("closer>postgres").listen_port
    return {
        "target-0": _database_url(system, 0),
        "target-1": _database_url(system, 1),
        "closer": shared.replace(f":{system.proxy('postgres').listen_port}/", f":{closer_port}/"),
        "harness": shared,
    }


def _round_trips(connections: dict[str, psycopg.Connection[tuple[int]]]) -> dict[str, float]:
    """Seconds of one ``SELECT 1`` on each open connection."""
    seconds = {}
    for name, connection in connections.items():
        begin = time.monotonic()
        connection.execute("SELECT 1").fetchone()
        seconds[name] = time.monotonic() - begin
    return seconds


def test_every_process_gets_its_own_address_behind_its_own_link(system: LiveSystem) -> None:
    urls = _urls(system)
    proxies = system.stack.toxiproxy.proxies()
    postgres_port = system.stack.service("postgres").port
    for name in ("target-0", "target-1", "closer"):
        own = proxies[f"{name}>postgres"]
        assert own.upstream == f"127.0.0.1:{postgres_port}"
        assert f":{own.listen_port}/" in urls[name], (name, urls[name])
    assert len(set(urls.values())) == 4, urls  # the harness keeps a link of its own


def test_a_fault_on_one_process_s_link_slows_only_it_and_on_postgres_every_link(
    system: LiveSystem,
) -> None:
    urls = _urls(system)
    connections = {n: psycopg.connect(u, connect_timeout=10) for n, u in urls.items()}
    try:
        one = LinkToxic(link="target-0>postgres", toxic="latency",
                        attributes={"latency_ms": LATENCY_MS})
        every = LinkToxic(link="postgres", toxic="latency", attributes={"latency_ms": LATENCY_MS})
        with Nemesis(system, Recorder()) as nemesis:
            fault = nemesis.start(one)
            slowed_one = _round_trips(connections)
            nemesis.heal(fault)
            fault = nemesis.start(every)
            slowed_all = _round_trips(connections)
            nemesis.heal(fault)
        healed = _round_trips(connections)
    finally:
        for connection in connections.values():
            connection.close()
    limit = LATENCY_MS / 1000
    assert slowed_one["target-0"] >= limit, slowed_one
    assert all(slowed_one[n] < limit / 2 for n in ("target-1", "closer", "harness")), slowed_one
    assert all(s >= limit for s in slowed_all.values()), slowed_all
    assert all(s < limit / 2 for s in healed.values()), healed
    for proxy in system.stack.toxiproxy.proxies().values():
        assert proxy.toxics() == [], proxy.name


def test_a_partition_of_the_closer_s_link_cuts_it_alone(system: LiveSystem) -> None:
    urls = _urls(system)
    with Nemesis(system, Recorder()) as nemesis:
        fault = nemesis.start(Partition(link="closer>postgres", mode="refuse"))
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(urls["closer"], connect_timeout=3).close()
        with psycopg.connect(urls["target-1"], connect_timeout=5) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        nemesis.heal(fault)
    with psycopg.connect(urls["closer"], connect_timeout=5) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    assert all(p.enabled for p in system.stack.toxiproxy.proxies().values())


def test_a_start_racing_the_final_heal_leaves_no_toxic(system: LiveSystem) -> None:
    """A fault on ``postgres`` is four proxies' worth of requests: a start still
    running in a worker thread when the schedule ends (its task cancelled) must
    finish before the final heal or not act at all, never leave a toxic behind."""
    fault = LinkToxic(link="postgres", toxic="latency", attributes={"latency_ms": LATENCY_MS})
    for _ in range(5):
        nemesis = Nemesis(system, Recorder())

        def start(nemesis: Nemesis = nemesis) -> None:
            with contextlib.suppress(RuntimeError):  # refused: the nemesis closed first
                nemesis.start(fault)

        worker = threading.Thread(target=start)
        worker.start()
        nemesis.close()
        worker.join(timeout=30)
        assert not worker.is_alive()
        for proxy in system.stack.toxiproxy.proxies().values():
            assert proxy.toxics() == [], proxy.name
    with pytest.raises(RuntimeError, match="closed"):
        nemesis.start(fault)
