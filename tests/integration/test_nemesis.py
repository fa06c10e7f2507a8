"""The nemesis against a live system: every fault in the vocabulary starts, has
its effect on real processes and links, heals, and is recorded; and an
exception or Ctrl-C mid-schedule leaves nothing behind.

One module-scoped ``LiveSystem`` (Redis, the partner, two toy replicas and a
tiny ``consumer`` process, all behind a real Toxiproxy) serves every test;
each test must leave it clean, which an autouse fixture checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from harness.history import EXIT, Event, Recorder, exit_text, thaw
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
    fault_to_dict,
)
from harness.nemesis.nemesis import Nemesis
from harness.provision import procfs
from harness.provision.process import ManagedProcess
from harness.schedule.model import Batch, ClientOp, Schedule, Setup, StartFault
from harness.schedule.runner import ExampleRunner
from harness.setup import Binaries
from harness.system import LiveSystem
from harness.targetproc.spec import TargetSpec
from harness.workload.client import WorkloadClient
from harness.workload.ops import OpSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toy_inventory.py"
# A stand-in consumer: says hello with its pid, then idles (bounded: 10 minutes).
CONSUMER = (
    sys.executable,
    "-c",
    "import os, time\nprint('consumer up', os.getpid(), flush=True)\n"
    "for _ in range(3000):\n    time.sleep(0.2)\n",
)
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def system(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    """Redis + partner + 2 toy replicas + a consumer, every link through Toxiproxy."""
    db = tmp_path_factory.mktemp("toy") / "toy.sqlite"
    spec = TargetSpec(
        name="toy",
        command=(sys.executable, str(TOY), "--bug", "none", "--db", str(db)),
        replicas=2,
        extra={"consumer": CONSUMER},
        dependencies=frozenset({"redis", "partner"}),
        start_timeout_s=30,
        clocks=frozenset({"consumer"}),
    )
    with LiveSystem(spec) as live:
        yield live


@pytest.fixture(autouse=True)
def left_clean(system: LiveSystem) -> Iterator[None]:
    """Every test must hand the shared system back without a trace of a fault."""
    yield
    assert_clean(system)


# -- helpers -------------------------------------------------------------------


def managed(system: LiveSystem) -> dict[str, ManagedProcess]:
    """Every process of the system by name: replicas, extras, stores, partner."""
    assert system.target is not None
    out = dict(system.target.processes())
    out["redis"] = system.stack.service("redis").process
    assert system.partner_service is not None
    out["partner"] = system.partner_service.process
    return out


def stopped(process: ManagedProcess) -> list[int]:
    """Pids of the process tree that are stopped (state T) right now."""
    assert process.pid is not None
    pids = [process.pid, *procfs.descendants(process.pid)]
    return [p for p in pids if (s := procfs.read_stat(p)) is not None and s.state in ("T", "t")]


def healthy(url: str) -> bool:
    try:
        with NO_PROXY.open(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def assert_clean(system: LiveSystem) -> None:
    """No toxic, every proxy enabled, every process alive, unpaused and healthy."""
    for name, proxy in system.stack.toxiproxy.proxies().items():
        assert proxy.enabled, f"proxy {name} left disabled"
        assert proxy.toxics() == [], f"toxics left on {name}: {proxy.toxics()}"
    for name, process in managed(system).items():
        assert process.alive, f"{name} left dead"
        assert stopped(process) == [], f"{name} left paused"
    for url in system.client_urls:
        assert healthy(url), f"{url} not healthy"
    control = system.partner_control
    assert control is not None
    assert not control.faults(), control.faults()


def probe(system: LiveSystem, node: int, *, timeout_s: float = 3.0) -> tuple[Event, float]:
    """One real ``read_stock`` through replica ``node``'s link: its completion and duration."""

    async def go() -> tuple[Event, float]:
        recorder = Recorder()
        async with WorkloadClient("inventory", system.client_urls, recorder) as client:
            begin = time.monotonic()
            spec = OpSpec(
                f="read_stock", body={"sku": "probe"}, process=0, node=node, timeout_s=timeout_s
            )
            events = await client.execute(spec)
            return events[-1], time.monotonic() - begin

    return asyncio.run(go())


def raw_get(system: LiveSystem, node: int, *, timeout_s: float = 5.0) -> tuple[bytes, float]:
    """An HTTP/1.0 GET read until the proxy closes the connection: bytes and seconds."""
    port = int(system.client_urls[node].rsplit(":", 1)[1])
    begin = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
        chunks = []
        for _ in range(10_000):  # bounded; each recv returns >= 1 byte or EOF
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks), time.monotonic() - begin


def recorded(recorder: Recorder, fault: Fault, fault_id: int) -> None:
    """The history holds exactly one start and one heal of this fault, in that order."""
    events = [e for e in recorder.history().nemesis_events() if e.value["id"] == fault_id]
    assert [e.f for e in events] == ["start", "heal"]
    for e in events:
        assert e.type == "nemesis" and e.process == "nemesis"
        assert thaw(e.value["fault"]) == json.loads(json.dumps(fault_to_dict(fault)))
    assert events[1].error is None


def run_fault(system: LiveSystem, fault: Fault) -> tuple[Nemesis, Recorder, int]:
    recorder = Recorder()
    nemesis = Nemesis(system, recorder)
    return nemesis, recorder, nemesis.start(fault)


def partner_charge(system: LiveSystem) -> int:
    """POST a new charge to the partner through its link; the HTTP status."""
    port = system.stack.proxy("partner").listen_port
    body = json.dumps({"reference": uuid.uuid4().hex[:16], "amount": 100}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/psp/charges",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
    )
    try:
        with NO_PROXY.open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# -- 1. every fault starts, acts and heals -----------------------------------------


def test_latency_slows_a_request_then_not(system: LiveSystem) -> None:
    fault = LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 600})
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        event, slow = probe(system, 0)
        assert event.type == "ok"
        assert slow >= 0.6
        other, _ = probe(system, 1)  # the other replica's link is untouched
        assert other.type == "ok"
    # A toxic left in place slows every probe; a busy machine only some.
    after = [probe(system, 0) for _ in range(3)]
    assert all(event.type == "ok" for event, _ in after)
    fast = min(took for _, took in after)
    assert fast < 0.45, f"still slow after heal: {fast:.3f}s"
    recorded(recorder, fault, fid)


def test_partition_refuse_then_heal(system: LiveSystem) -> None:
    fault = Partition(link="target-0", mode="refuse")
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        assert not system.stack.proxy("target-0").enabled
        event, _ = probe(system, 0)
        assert event.type == "info"
        assert "connect" in (event.error or "").lower(), event.error
        port = int(system.client_urls[0].rsplit(":", 1)[1])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert probe(system, 0)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_a_flapping_link_is_back_on_its_own(system: LiveSystem) -> None:
    """A cut with a duration heals itself then, whether or not a heal step comes:
    a service retrying on its own meets the link back."""
    fault = Partition(link="target-0", duration_ms=400)
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        assert not system.stack.proxy("target-0").enabled
        time.sleep(0.8)
        assert system.stack.proxy("target-0").enabled, "the flap outlived its duration"
        assert fid not in nemesis.active
        assert probe(system, 0)[0].type == "ok"
    recorded(recorder, fault, fid)
    start, heal = (e for e in recorder.history().nemesis_events() if e.value["id"] == fid)
    assert heal.time - start.time >= 0.35


def resp(port: int, *words: str, timeout_s: float = 5.0) -> tuple[bytes, float]:
    """One Redis command over a raw socket (no client library's own retry), read
    until the answer's first line or the connection's end: the bytes and seconds."""
    command = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    begin = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(command.encode())
        answer = b""
        for _ in range(1000):  # bounded; each recv returns >= 1 byte or EOF
            data = sock.recv(4096)
            answer += data
            if not data or answer.endswith(b"\r\n"):
                break
    return answer, time.monotonic() - begin


def test_a_lost_answer_was_acted_on_and_the_link_is_back_when_the_caller_learns(
    system: LiveSystem,
) -> None:
    """A request sent while the answers are held reaches the store and is done;
    its caller gets no answer, only its connection cut when the fault ends, and
    the link is back then: a service that runs the request again gets through."""
    port = system.stack.proxy("redis").listen_port
    key = f"lost-answer-{uuid.uuid4().hex}"
    assert resp(port, "SET", key, "0")[0] == b"+OK\r\n"
    fault = Partition(link="redis", mode="lost_answer", duration_ms=400)
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        answer, took = resp(port, "INCR", key)
        assert answer == b"", f"an answer came through: {answer!r}"
        assert took >= 0.3, f"the connection was cut after {took:.3f}s, before the fault ended"
        assert resp(port, "INCR", key)[0] == b":2\r\n"  # the link is back: the retry lands
        for _ in range(100):  # the heal that cut the connection is recorded just after
            if fid not in nemesis.active:
                break
            time.sleep(0.01)
        assert fid not in nemesis.active, "the lost answer outlived its duration"
    assert resp(port, "INCRBY", key, "0")[0] == b":2\r\n"  # the lost one counted once
    assert resp(port, "DEL", key)[0] == b":1\r\n"
    recorded(recorder, fault, fid)


def test_partition_blackhole_times_out(system: LiveSystem) -> None:
    fault = Partition(link="target-1", mode="blackhole")
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        event, took = probe(system, 1, timeout_s=0.5)
        assert event.type == "info"
        assert "timeout" in (event.error or ""), event.error
        assert took >= 0.5
    assert probe(system, 1)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_reset_peer_is_indeterminate(system: LiveSystem) -> None:
    fault = LinkToxic(link="target-0", toxic="reset_peer", attributes={"timeout_ms": 0})
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        event, _ = probe(system, 0)
        assert event.type == "info"
        assert event.error is not None and "timeout" not in event.error
        assert event.value["status"] is None
    assert probe(system, 0)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_limit_data_truncates_the_answer(system: LiveSystem) -> None:
    fault = LinkToxic(link="target-0", toxic="limit_data", attributes={"bytes": 20})
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        data, _ = raw_get(system, 0)
        assert len(data) <= 20
        event, _ = probe(system, 0)
        assert event.type == "info"
    data, _ = raw_get(system, 0)
    assert len(data) > 20 and data.startswith(b"HTTP/1.")
    assert probe(system, 0)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_bandwidth_slows_the_answer(system: LiveSystem) -> None:
    full, _ = raw_get(system, 1)
    fault = LinkToxic(link="target-1", toxic="bandwidth", attributes={"rate_kb": 1})
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        data, took = raw_get(system, 1)
        assert data.split(b"\r\n\r\n")[-1] == full.split(b"\r\n\r\n")[-1]
        # len(full) bytes at 1 KB/s: at least a good fraction of that many ms.
        assert took >= 0.5 * len(full) / 1024, (took, len(full))
    fast = min(raw_get(system, 1)[1] for _ in range(3))  # a busy machine slows some
    assert fast < 0.5 * len(full) / 1024 or fast < 0.05
    recorded(recorder, fault, fid)


def test_slow_close_delays_the_close(system: LiveSystem) -> None:
    fault = LinkToxic(link="target-0", toxic="slow_close", attributes={"delay_ms": 700})
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        data, took = raw_get(system, 0)
        assert data.startswith(b"HTTP/1.")
        assert took >= 0.7
    fast = min(raw_get(system, 0)[1] for _ in range(3))  # a busy machine slows some
    assert fast < 0.5
    recorded(recorder, fault, fid)


def test_slicer_splits_and_delays_the_answer(system: LiveSystem) -> None:
    full, _ = raw_get(system, 0)
    fault = LinkToxic(
        link="target-0",
        toxic="slicer",
        attributes={"average_size": 4, "size_variation": 0, "delay_us": 20_000},
    )
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        data, took = raw_get(system, 0)
        assert data.split(b"\r\n\r\n")[-1] == full.split(b"\r\n\r\n")[-1]
        # ~len/4 slices, 20 ms apart.
        assert took >= 0.5 * (len(full) / 4) * 0.02, (took, len(full))
    recorded(recorder, fault, fid)


def test_timeout_toxic_cuts_the_connection(system: LiveSystem) -> None:
    fault = LinkToxic(link="target-1", toxic="timeout", attributes={"timeout_ms": 400})
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        event, took = probe(system, 1, timeout_s=3.0)
        assert event.type == "info"
        assert "timeout after" not in (event.error or "")  # the proxy cut it, not the client
        assert took >= 0.4
    assert probe(system, 1)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_crash_then_heal_restarts_the_replica(system: LiveSystem) -> None:
    process = managed(system)["target-0"]
    old_pid = process.pid
    fault = Crash(process="target-0")
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        assert not process.alive
        assert procfs.start_ticks(old_pid or -1) is None
        event, _ = probe(system, 0)
        assert event.type == "info"
        assert probe(system, 1)[0].type == "ok"
    assert process.alive and process.pid != old_pid
    assert healthy(system.client_urls[0])
    assert probe(system, 0)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_pause_then_heal_resumes_the_replica(system: LiveSystem) -> None:
    process = managed(system)["target-1"]
    pid = process.pid
    fault = Pause(process="target-1")
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        assert stopped(process), "target-1 is not in state T"
        event, took = probe(system, 1, timeout_s=0.5)
        assert event.type == "info" and "timeout" in (event.error or "")
        assert took >= 0.5
    assert process.pid == pid and not stopped(process)
    assert probe(system, 1)[0].type == "ok"
    recorded(recorder, fault, fid)


def test_a_timed_pause_lasts_its_duration_even_when_healed_early(system: LiveSystem) -> None:
    process = managed(system)["target-1"]
    fault = Pause(process="target-1", duration_ms=700)
    nemesis, recorder, fid = run_fault(system, fault)
    assert stopped(process)
    nemesis.heal(fid)  # a heal step right away: waits for the pause to be over
    assert not stopped(process) and probe(system, 1)[0].type == "ok"
    recorded(recorder, fault, fid)
    # The nemesis's own record, not this thread's clock: on a busy machine this
    # thread may see the pause begin well after it did.
    start, heal = (e for e in recorder.history().nemesis_events() if e.value["id"] == fid)
    assert heal.time - start.time >= 0.65


def test_a_timed_pause_ends_on_its_own(system: LiveSystem) -> None:
    process = managed(system)["target-1"]
    fault = Pause(process="target-1", duration_ms=400)
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        assert stopped(process)
        time.sleep(0.8)
        assert not stopped(process), "the pause outlived its duration"
        assert fid not in nemesis.active
    recorded(recorder, fault, fid)
    start, heal = (e for e in recorder.history().nemesis_events() if e.value["id"] == fid)
    assert heal.time - start.time >= 0.35  # and it ended unasked: see the sleep above


def test_clock_faults_move_only_that_process_s_clock_and_heal_back(system: LiveSystem) -> None:
    """The control file the consumer's libfaketime reads: offset while the fault is
    active (a jump adds to a skew), the true time after the heal; only processes a
    clock family names have one (tests/integration/test_clock_faults.py shows the
    processes themselves following it)."""
    clock = system.clocks()["consumer"]
    path = Path(clock.path)  # type: ignore[attr-defined]
    assert set(system.clocks()) == {"consumer"}
    recorder = Recorder()
    with Nemesis(system, recorder) as nemesis:
        skew = nemesis.start(ClockFault(process="consumer", mode="skew", offset_ms=-1500))
        assert path.read_text().strip() == "-1.500"
        nemesis.start(ClockFault(process="consumer", mode="jump", offset_ms=4000))
        assert path.read_text().strip() == "+2.500"
        nemesis.heal(skew)
        assert path.read_text().strip() == "+0.000"
        nemesis.start(ClockFault(process="consumer", mode="drift", offset_ms=1000))
        time.sleep(0.3)
        assert 0.2 <= float(path.read_text()) <= 0.4
    assert path.read_text().strip() == "+0.000"
    assert managed(system)["consumer"].alive  # no restart was needed
    with pytest.raises(InvalidFault, match="the clock of 'target-0' is not controllable"):
        Nemesis(system, Recorder()).start(ClockFault(process="target-0", offset_ms=5))


def test_cache_loss_forgets_what_redis_held(system: LiveSystem) -> None:
    client = redis.Redis.from_url(system.stack.env()["REDIS_URL"], socket_timeout=5)
    key = f"cache-loss-{uuid.uuid4().hex}"
    try:
        client.set(key, "kept?")
        assert client.get(key) == b"kept?"
        fault = CacheLoss()
        nemesis, recorder, fid = run_fault(system, fault)
        with nemesis:
            pass
        client.connection_pool.disconnect()  # the old connection died with the server
        assert client.get(key) is None
        client.set(key, "again")
        assert client.get(key) == b"again"
        recorded(recorder, fault, fid)
    finally:
        client.close()


def test_partner_failure_then_heal(system: LiveSystem) -> None:
    assert partner_charge(system) == 200
    fault = PartnerFailure(endpoint="psp", mode="fail_before")
    nemesis, recorder, fid = run_fault(system, fault)
    with nemesis:
        assert partner_charge(system) == 503
        assert partner_charge(system) == 503  # count=None: every call
    assert partner_charge(system) == 200
    recorded(recorder, fault, fid)


def test_redelivery_cuts_the_link_and_restarts_the_consumer(system: LiveSystem) -> None:
    consumer = managed(system)["consumer"]
    old_pid = consumer.pid
    ups_before = consumer.log_tail(200).count("consumer up")
    # The toy system has no broker; the consumer's link here is the partner's.
    fault = Redelivery(consumer="consumer", link="partner", grace_ms=200)
    recorder = Recorder()
    nemesis = Nemesis(system, recorder)
    begin = time.monotonic()
    fid = nemesis.start(fault)
    with nemesis:
        assert time.monotonic() - begin >= 0.2  # the grace before the kill
        assert not system.stack.proxy("partner").enabled
        assert not consumer.alive
    assert system.stack.proxy("partner").enabled
    assert consumer.alive and consumer.pid != old_pid
    deadline = time.monotonic() + 10
    while consumer.log_tail(200).count("consumer up") <= ups_before:
        assert time.monotonic() < deadline, "the restarted consumer never said hello"
        time.sleep(0.05)
    recorded(recorder, fault, fid)


def test_unknown_names_are_refused_before_anything_happens(system: LiveSystem) -> None:
    recorder = Recorder()
    nemesis = Nemesis(system, recorder)
    with pytest.raises(InvalidFault, match="no link 'nope'"):
        nemesis.start(Partition(link="nope"))
    with pytest.raises(InvalidFault, match="no process 'ghost'"):
        nemesis.start(Crash(process="ghost"))
    assert recorder.history().nemesis_events() == ()
    assert nemesis.active == {}


# -- 2. nothing survives an exception or Ctrl-C mid-schedule --------------------------


MANY_FAULTS: tuple[Fault, ...] = (
    LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 500}),
    LinkToxic(link="redis", toxic="bandwidth", attributes={"rate_kb": 1}, stream="upstream"),
    Partition(link="target-1", mode="refuse"),
    Partition(link="partner", mode="blackhole"),
    Pause(process="target-1"),
    Pause(process="consumer"),
    Pause(process="redis"),
    Crash(process="target-0"),
    PartnerFailure(endpoint="all", mode="fail_after"),
)


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_interrupted_schedule_leaves_nothing_behind(
    system: LiveSystem, interrupt: type[BaseException]
) -> None:
    recorder = Recorder()
    with pytest.raises(interrupt), Nemesis(system, recorder) as nemesis:
        for fault in MANY_FAULTS:
            nemesis.start(fault)
        # Everything really is broken right now...
        assert not system.stack.proxy("target-1").enabled
        assert stopped(managed(system)["consumer"])
        assert not managed(system)["target-0"].alive
        raise interrupt("mid-schedule")
    # ...and nothing is now (the autouse fixture checks it again after the test).
    assert_clean(system)
    events = recorder.history().nemesis_events()
    assert [e.f for e in events].count("start") == len(MANY_FAULTS)
    assert [e.f for e in events].count("heal") == len(MANY_FAULTS)
    heals = [e.value["id"] for e in events if e.f == "heal"]
    # Infrastructure (links, redis, partner) is healed before the target's own
    # processes, whose restart needs it; different processes heal in parallel,
    # links and the partner one after another, newest first.
    on_target = {i for i, f in enumerate(MANY_FAULTS) if getattr(f, "process", "redis") != "redis"}
    infrastructure = set(range(len(MANY_FAULTS))) - on_target
    assert set(heals[: len(infrastructure)]) == infrastructure
    assert set(heals[len(infrastructure) :]) == on_target
    unowned = [i for i in infrastructure if not hasattr(MANY_FAULTS[i], "process")]
    assert [i for i in heals if i in unowned] == sorted(unowned, reverse=True)


def test_crashed_processes_restart_in_parallel(system: LiveSystem) -> None:
    """Two crashed replicas heal at once: the second restart does not wait for
    the first one's readiness (their new processes start together)."""
    recorder = Recorder()
    nemesis = Nemesis(system, recorder)
    replicas = managed(system)
    nemesis.start(Crash(process="target-0"))
    nemesis.start(Crash(process="target-1"))
    begin = time.monotonic()
    nemesis.heal_all()
    took = time.monotonic() - begin
    assert_clean(system)
    ticks = os.sysconf("SC_CLK_TCK")
    started = [procfs.start_ticks(replicas[name].pid) for name in ("target-0", "target-1")]
    assert None not in started
    apart = abs(started[0] - started[1]) / ticks  # type: ignore[operator]
    # One after another, the second would start only once the first answered
    # /health: about half of the heal's time apart.
    assert apart < took / 4, (apart, took)


def test_a_process_that_dies_on_its_own_is_recorded_and_started_again(
    system: LiveSystem,
) -> None:
    """Redis and a replica killed behind the nemesis's back: its sweep records each
    as an ``exit`` (the store's marked ``store``: no finding against the target)
    before it starts them again."""
    processes = managed(system)
    for name in ("redis", "target-1"):
        pid = processes[name].pid
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(processes[n].alive for n in ("redis", "target-1")):
        assert time.monotonic() < deadline, "SIGKILL did not end them within 10 s"
        time.sleep(0.05)
    recorder = Recorder()
    Nemesis(system, recorder).close()
    exits = {
        e.value["process"]: thaw(e.value) for e in recorder.history().nemesis_events()
        if e.f == EXIT
    }
    assert set(exits) == {"redis", "target-1"}
    assert exits["redis"]["store"] is True
    assert "store" not in exits["target-1"] and exits["target-1"]["code"] == -signal.SIGKILL
    assert processes["redis"].alive and processes["target-1"].alive


def test_heal_all_survives_a_fault_healed_behind_its_back(system: LiveSystem) -> None:
    """A heal that fails (the toxic is already gone) does not stop the others."""
    recorder = Recorder()
    nemesis = Nemesis(system, recorder)
    latency = LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 50})
    toxic = nemesis.start(latency)
    nemesis.start(Pause(process="target-1"))
    system.stack.proxy("target-0").remove_toxic(f"fm{toxic}_latency_downstream")
    with pytest.raises(Exception, match="could not heal"):
        nemesis.heal_all()
    assert nemesis.active == {}


def _wedge_toxiproxy(port: int, key: str) -> None:
    """Clients that ask Redis for ``key`` (1 MiB) through the proxy on ``port`` and
    reset their connections while a latency toxic holds the answer: Toxiproxy's
    latency toxic then blocks for good on a reader that is gone, and the next
    change to that link's toxics hangs its whole API (upstream issue 558)."""
    get = f"*2\r\n$3\r\nGET\r\n${len(key)}\r\n{key}\r\n".encode()
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
    for sock in clients:
        sock.sendall(get)
    time.sleep(0.3)  # the answers are inside the toxic now
    for sock in clients:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # linger 0: a reset, the reader is gone at once


def test_a_toxiproxy_that_hangs_is_restarted_with_every_link_healed(system: LiveSystem) -> None:
    """Healing a latency fault whose clients reset their connections hangs Toxiproxy's
    API for good; the nemesis restarts Toxiproxy (every proxy on its own port, no
    toxic), records that in the history and goes on: the heal succeeds, later faults
    work, and the schedule ends clean instead of failing every call after it."""
    key = f"failmodel-wedge-{uuid.uuid4().hex[:8]}"
    store = redis.Redis(port=system.stack.service("redis").port)
    store.set(key, b"x" * (1 << 20))
    try:
        before = {n: p.listen for n, p in system.stack.toxiproxy.proxies().items()}
        recorder = Recorder()
        nemesis = Nemesis(system, recorder)
        held = LinkToxic(link="redis", toxic="latency", attributes={"latency_ms": 3000})
        fid = nemesis.start(held)
        _wedge_toxiproxy(system.stack.proxy("redis").listen_port, key)
        begin = time.monotonic()
        nemesis.heal(fid)
        took = time.monotonic() - begin
        assert took < 20, f"healing took {took:.1f} s"
        assert nemesis.active == {}
        exits = [thaw(e.value) for e in recorder.history().nemesis_events() if e.f == EXIT]
        assert [(e["process"], e.get("store")) for e in exits] == [("toxiproxy", True)], exits
        assert "did not answer" in exits[0]["output"]
        assert exit_text(exits[0]) == "store toxiproxy stopped answering and was restarted"
        assert [e.error for e in recorder.history().nemesis_events() if e.f == "heal"] == [None]
        after = {n: p.listen for n, p in system.stack.toxiproxy.proxies().items()}
        assert after == before, "every proxy is back on its own address"
        proxied = redis.Redis(port=system.stack.proxy("redis").listen_port, socket_timeout=5)
        assert proxied.ping()
        # The same nemesis goes on: a later fault on the link starts and heals.
        nemesis.start(LinkToxic(link="redis", toxic="latency", attributes={"latency_ms": 10}))
        nemesis.close()
        assert [e.error for e in recorder.history().nemesis_events() if e.f == "heal"] == [
            None,
            None,
        ]
    finally:
        store.delete(key)
        store.close()


def test_runner_heals_when_a_step_raises(system: LiveSystem, tmp_path: Path) -> None:
    """An exception inside ExampleRunner.run (here a fault naming no process) heals
    the faults the schedule had started before it."""
    order = ClientOp(f="order", key=0, args={"sku": 0, "qty": 1})
    schedule = Schedule(
        workload="inventory",
        setup=Setup(values={"set_stock": ({"available": 2},)}),
        steps=(
            StartFault(fault=Pause(process="target-1")),
            StartFault(
                fault=LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 100})
            ),
            StartFault(fault=Partition(link="partner")),
            Batch(ops=(order,)),
            StartFault(fault=Crash(process="no-such-process")),
            Batch(ops=(order,)),
        ),
    )
    with (
        ExampleRunner(
            system,
            workload="inventory",
            invariants=("no_oversell",),
            out_dir=tmp_path,
            run_id="raise",
        ) as runner,
        pytest.raises(InvalidFault, match="no-such-process"),
    ):
        runner.run(schedule)
    assert_clean(system)
    lines = (tmp_path / "examples" / "00000.jsonl").read_text().splitlines()
    events: list[dict[str, Any]] = [json.loads(line) for line in lines]
    nemesis = [(e["f"], e["value"]["id"]) for e in events if e["type"] == "nemesis"]
    assert nemesis == [
        ("start", 0),
        ("start", 1),
        ("start", 2),
        ("heal", 2),
        ("heal", 1),
        ("heal", 0),
    ]
