"""Schedules played by the ExampleRunner against real toy targets: replay gives
the same steps, Hypothesis shrinks a real oversell to a tiny schedule (and a
correct target never fails), and a run killed mid-way leaves a readable
history and no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from catching import without_example_prefix
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.database import ExampleDatabase, InMemoryExampleDatabase
from hypothesis.errors import Flaky

from harness.history import History, read_history, thaw
from harness.interrupt import Interrupted, InterruptingHandler, rearm
from harness.nemesis.faults import LinkToxic, Partition, Pause
from harness.phases import PHASES
from harness.provision import procfs
from harness.schedule.decode import schedule_from_json
from harness.schedule.model import Batch, ClientOp, Heal, Schedule, Setup, StartFault, Wait
from harness.schedule.runner import QUIET_S, ExampleOutcome, ExampleRunner, next_snapshot
from harness.schedule.shape import Shape
from harness.schedule.strategies import schedules
from harness.setup import Binaries
from harness.system import LiveSystem
from harness.targetproc.spec import TargetSpec
from harness.workload.api import Ints, SetupStep
from harness.workload.builtin import INVENTORY
from harness.workload.keys import new_run_id

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "toy_inventory.py"


def toy_spec(bug: str, replicas: int = 1, db: Path | None = None) -> TargetSpec:
    """The toy target; replicas share the SQLite file ``db`` (one replica: in memory)."""
    shared = ("--db", str(db)) if db is not None else ()
    return TargetSpec(
        name=f"toy-{bug}",
        command=(sys.executable, str(TOY), "--bug", bug, *shared),
        replicas=replicas,
        start_timeout_s=30,
    )


@pytest.fixture(scope="module")
def correct(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    db = tmp_path_factory.mktemp("toy") / "toy.sqlite"
    with LiveSystem(toy_spec("none", replicas=2, db=db)) as live:
        yield live


@pytest.fixture(scope="module")
def oversell(binaries: Binaries) -> Iterator[LiveSystem]:
    with LiveSystem(toy_spec("oversell")) as live:
        yield live


def order(
    key: int, *, sku: int = 0, qty: int = 1, node: int = 0, client: int = 0, timeout_ms: int = 2000
) -> ClientOp:
    return ClientOp(
        f="order",
        key=key,
        args={"sku": sku, "qty": qty},
        node=node,
        client=client,
        timeout_ms=timeout_ms,
    )


# -- 3. replay ---------------------------------------------------------------------


def skeleton(history: History) -> list[Any]:
    """What must replay identically: nemesis events in order, and between them
    the multiset of invokes (f, phase, node, attempt, body with ids stripped).
    Concurrent ops inside one batch may interleave differently, so each
    segment is sorted."""
    out: list[Any] = []
    segment: list[str] = []
    for e in history:
        if e.type == "nemesis":
            out.append(sorted(segment))
            segment = []
            out.append((e.f, json.dumps(thaw(e.value), sort_keys=True)))
        elif e.type == "invoke":
            v = thaw(e.value)
            segment.append(
                json.dumps(
                    [e.f, e.phase, e.process, v["node"], v["attempt"],
                     without_example_prefix(v["body"])],
                    sort_keys=True,
                )
            )
    out.append(sorted(segment))
    return out


REPLAYED = Schedule(
    workload="inventory",
    # replicas share the stock: sku 1 lasts for orders 1, 3 and 5
    setup=Setup(values={"set_stock": ({"available": 3}, {"available": 3})}),
    steps=(
        Batch(ops=(order(0), order(1, sku=1, node=1, client=1), order(2, qty=2, client=2))),
        StartFault(
            fault=LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 100})
        ),
        Batch(ops=(order(3, sku=1, client=3), order(0, client=1))),  # a resend of key 0
        Wait(ms=50),
        StartFault(fault=Partition(link="target-1")),
        Batch(ops=(order(4, node=1, timeout_ms=500),)),
        Heal(),
        Batch(ops=(order(5, sku=1),)),
    ),
)


def test_a_schedule_replays_to_the_same_steps(correct: LiveSystem, tmp_path: Path) -> None:
    run_id = new_run_id()
    with ExampleRunner(
        correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path, run_id=run_id
    ) as runner:
        first = runner.run(REPLAYED)
        second = runner.run(REPLAYED)
    h1, h2 = read_history(first.history_path), read_history(second.history_path)
    s1 = skeleton(h1)
    s2 = skeleton(h2)
    assert s1 == s2
    assert [x[0] for x in s1 if isinstance(x, tuple)] == ["start", "start", "heal", "heal"]
    assert sum(len(x) for x in s1 if isinstance(x, list)) >= 8
    # Fresh ids per execution: no body of the second run names an id of the first.
    ids1 = {e.value["body"]["order_id"] for e in h1 if e.type == "invoke" and e.f == "order"}
    ids2 = {e.value["body"]["order_id"] for e in h2 if e.type == "invoke" and e.f == "order"}
    assert ids1 and ids2 and not ids1 & ids2
    # The partitioned order was indeterminate in both runs; the others not.
    for h in (h1, h2):
        outcomes = {
            op.request["body"]["order_id"].rsplit("-", 1)[1]: op.outcome
            for op in h.select("order")
            if op.invoke.phase == "main"
        }
        assert outcomes["4"] == "info"
        assert outcomes["5"] == "ok"
    assert not first.failed and not second.failed


FOLLOWED = Schedule(
    workload="inventory",
    setup=Setup(values={"set_stock": ({"available": 3},)}),
    steps=(
        StartFault(
            fault=LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 150})
        ),
        Batch(
            ops=(
                order(0),
                replace(order(1, node=1, client=1), after=0),
                order(2, node=1, client=2),
            )
        ),
        Heal(),
    ),
)


def test_a_request_that_follows_another_is_sent_once_that_one_is_answered(
    correct: LiveSystem, tmp_path: Path
) -> None:
    with ExampleRunner(
        correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path,
        run_id=new_run_id(),
    ) as runner:
        history = read_history(runner.run(FOLLOWED).history_path)
    ops = {
        op.request["body"]["order_id"].rsplit("-", 1)[1]: op
        for op in history.select("order")
        if op.invoke.phase == "main"
    }
    slowed, follower, free = ops["0"], ops["1"], ops["2"]
    assert slowed.outcome == "ok" and slowed.end_time - slowed.invoke.time >= 0.15
    assert follower.invoke.time >= slowed.end_time
    assert free.invoke.time < slowed.end_time  # the others do not wait


QUIET = Schedule(
    workload="inventory",
    setup=Setup(values={"set_stock": ({"available": 3},)}),
    steps=(Batch(ops=(order(0), order(1, node=1))),),
)


def test_an_example_says_where_its_time_went(correct: LiveSystem, tmp_path: Path) -> None:
    """Every phase is timed; a faulty example waits a quiet interval between two
    snapshots, a quiet one reads once and waits for nothing."""
    with ExampleRunner(
        correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path,
        run_id=new_run_id(),
    ) as runner:
        faulty = runner.run(REPLAYED)
        quiet = runner.run(QUIET)
    for outcome in (faulty, quiet):
        assert list(outcome.phases) == list(PHASES)
        assert all(seconds >= 0 for seconds in outcome.phases.values())
        settling = sum(outcome.phases[p] for p in ("settle_wait", "final_reads", "checking"))
        assert settling == pytest.approx(outcome.settle_s, abs=0.02)
        assert sum(outcome.phases.values()) <= outcome.duration_s
    assert faulty.phases["wait_steps"] >= 0.05  # its 50 ms wait
    assert faulty.phases["batches"] > 0 and faulty.phases["fault_steps"] > 0
    assert quiet.phases["wait_steps"] == quiet.phases["fault_steps"] == 0.0
    assert faulty.phases["settle_wait"] >= QUIET_S
    assert quiet.phases["settle_wait"] == 0.0
    assert next_snapshot(quiet.history) == 1


def test_faults_only_on_client_links_leave_nothing_to_wait_for(
    correct: LiveSystem, tmp_path: Path
) -> None:
    """Latency between the clients and a replica, every answer definite: one
    snapshot, like an example without faults. A pause of a replica (inside
    the system) needs two equal snapshots a quiet interval apart."""
    slow_way_in = LinkToxic(link="target-0", toxic="latency", attributes={"latency_ms": 100})

    def with_fault(fault: LinkToxic | Pause) -> Schedule:
        return replace(QUIET, steps=(StartFault(fault=fault), *QUIET.steps, Heal()))

    with ExampleRunner(
        correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path,
        run_id=new_run_id(),
    ) as runner:
        client_side = runner.run(with_fault(slow_way_in))
        inside = runner.run(with_fault(Pause(process="target-1", duration_ms=100)))
    assert {op.outcome for op in client_side.history.select("order")} == {"ok"}
    assert next_snapshot(client_side.history) == 1
    assert client_side.phases["settle_wait"] == 0.0
    assert next_snapshot(inside.history) >= 2
    assert inside.phases["settle_wait"] >= QUIET_S
    assert not client_side.failed and not inside.failed


def test_a_batch_fault_at_0_ms_is_in_place_before_the_first_request(
    correct: LiveSystem, tmp_path: Path
) -> None:
    """At 0 ms a batch's fault starts before anything is sent, so the schedule means
    the same on a busy machine as on a quiet one; later, it meets requests in flight."""

    def cut_after(delay_ms: int) -> Schedule:
        batch = Batch(
            ops=(order(0, node=1, timeout_ms=500),),
            fault=Partition(link="target-1"),
            fault_delay_ms=delay_ms,
        )
        return replace(QUIET, steps=(batch, Heal()))

    def first(history: History, kind: str) -> int:
        return next(e.index for e in history if e.type == kind and e.phase == "main")

    with ExampleRunner(
        correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path,
        run_id=new_run_id(),
    ) as runner:
        at_once = runner.run(cut_after(0))
        later = runner.run(cut_after(200))
    assert first(at_once.history, "nemesis") < first(at_once.history, "invoke")
    cut_off = [op.outcome for op in at_once.history.select("order") if op.invoke.phase == "main"]
    assert cut_off == ["info"]
    assert first(later.history, "invoke") < first(later.history, "nemesis")


def test_a_stop_signal_a_finalizer_dropped_still_stops_the_example(
    correct: LiveSystem, tmp_path: Path
) -> None:
    """Python runs a signal handler in whatever the main thread executes; raised
    inside a finalizer (asyncio and aiohttp run many), `Interrupted` is printed and
    dropped. The request is kept: the next step raises it, with every fault healed."""
    handler = InterruptingHandler()
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, handler)

    def dropped(what: str, fault: str) -> None:
        if what == "start" and handler.received == 0:
            with contextlib.suppress(Interrupted):  # what a finalizer does with it
                handler(signal.SIGTERM, None)

    try:
        with ExampleRunner(
            correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path,
            run_id=new_run_id(),
        ) as runner:
            runner.fault_listener = dropped
            with pytest.raises(Interrupted):
                runner.run(REPLAYED)
            rearm()  # the run has stopped: the next one goes on
            after = runner.run(QUIET)
    finally:
        signal.signal(signal.SIGTERM, previous)
    stopped = read_history(tmp_path / "examples" / "00000.jsonl")
    main = [e for e in stopped if e.type == "invoke" and e.phase == "main"]
    assert len(main) == 3, "only the batch before the fault was sent"
    assert [e.f for e in stopped.nemesis_events()] == ["start", "heal"]
    assert not after.failed and len(after.history.select("order")) >= 2


def _connections_to(ports: set[int]) -> set[int]:
    """Local ports of this process's established TCP connections to ``ports``."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own fd is gone
            mine.add(os.readlink(f"/proc/self/fd/{fd}"))
    out = set()
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and int(remote.split(":")[1], 16) in ports and (
            f"socket:[{inode}]" in mine
        ):
            out.add(int(local.split(":")[1], 16))
    return out


def test_examples_start_on_warm_connections_unless_a_fault_came_between(
    correct: LiveSystem, tmp_path: Path
) -> None:
    ports = {int(url.rsplit(":", 1)[1]) for url in correct.client_urls}
    with ExampleRunner(
        correct, workload="inventory", invariants=("no_oversell",), out_dir=tmp_path,
        run_id=new_run_id(),
    ) as runner:
        runner.run(QUIET)
        first = _connections_to(ports)
        runner.run(QUIET)
        second = _connections_to(ports)
        runner.run(REPLAYED)  # faults: its connections may be dead, so they go
        after_faults = _connections_to(ports)
        runner.run(QUIET)
        fresh = _connections_to(ports)
    assert first and first <= second  # the second example reused the first's
    assert not after_faults
    assert fresh and not fresh & first
    assert not _connections_to(ports)  # closing the runner closes them


# -- 4. shrinking ---------------------------------------------------------------------


SHRINK_SHAPE = Shape(replicas=1, clients=4, max_steps=4, max_batch=5, keys={"order": 8, "sku": 2})
# Inventory with little stock (1..3 per SKU), so an oversell needs few orders.
LOW_STOCK = replace(
    INVENTORY, setup=(SetupStep(op="set_stock", each="sku", values={"available": Ints(1, 3)}),)
)


class _Violation(AssertionError):
    pass


def search(
    system: LiveSystem,
    out_dir: Path,
    *,
    seed_: int,
    examples: int,
    phases: tuple[Phase, ...] = (Phase.generate, Phase.shrink),
    database: ExampleDatabase | None = None,
    fails_from: int = 0,
    shrink_s: float = 60.0,
) -> list[ExampleOutcome]:
    """A Hypothesis search for ``no_oversell`` over drawn schedules (no faults);
    every executed outcome in order. An example fails when the oversell shows
    *and* its schedule has size >= ``fails_from``. Once ``shrink_s`` has passed
    since the first failure only the best failure still fails, so Hypothesis
    ends on it (the same budget rule as ``harness.verify``)."""
    outcomes: list[ExampleOutcome] = []
    failures: list[ExampleOutcome] = []
    first_at: list[float] = []
    with ExampleRunner(
        system,
        workload=LOW_STOCK,
        invariants=("no_oversell",),
        out_dir=out_dir,
        run_id=new_run_id(),
    ) as runner:
        # settings outside seed: @seed alone would switch the database off.
        @settings(
            max_examples=examples,
            deadline=None,
            database=database,
            phases=phases,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @seed(seed_)
        @given(schedule=schedules(LOW_STOCK, (), SHRINK_SHAPE))
        def example(schedule: Schedule) -> None:
            if first_at and time.monotonic() - first_at[0] > shrink_s:
                best = min(failures, key=lambda o: o.schedule.size())
                if schedule == best.schedule:
                    raise _Violation("best")
                return
            outcome = runner.run(schedule)
            outcomes.append(outcome)
            if outcome.failed and schedule.size() >= fails_from:
                failures.append(outcome)
                first_at[:] = first_at or [time.monotonic()]
                raise _Violation(f"example {outcome.number}")

        try:
            example()
        except (_Violation, Flaky):
            pass
        except BaseExceptionGroup as group:  # Hypothesis >= 6.100 wraps flaky failures
            if group.subgroup((_Violation, Flaky)) is None:
                raise
    return outcomes


LARGE = 10
SHRINK_TRIES = 3


def _short(schedule: Schedule) -> bool:
    """What shrinking must reach: at most 2 batches and 4 operations."""
    batches = [s for s in schedule.steps if isinstance(s, Batch)]
    return len(batches) <= 2 and len(schedule.client_ops()) <= 4


def test_shrinking_turns_a_long_oversell_into_a_short_one(
    oversell: LiveSystem, tmp_path: Path
) -> None:
    """Pass 1 (no shrinking) looks for an oversell in a *large* schedule and
    leaves it in the example database; pass 2 starts from it and shrinks it.
    Between the passes the entry moves to Hypothesis's secondary corpus (known
    failing, not yet minimal): a primary entry counts as already shrunk."""
    db = InMemoryExampleDatabase()
    found = search(
        oversell,
        tmp_path / "find",
        seed_=1,
        examples=80,
        phases=(Phase.generate,),
        database=db,
        fails_from=LARGE,
    )
    large = [o for o in found if o.failed and o.schedule.size() >= LARGE]
    assert large, "no oversell in a large schedule was found"
    primary = [k for k in db.data if not k.endswith((b".secondary", b".pareto"))]
    assert primary
    for key in primary:
        for value in list(db.fetch(key)):
            db.move(key, key + b".secondary", value)
    saved = {key: list(db.fetch(key)) for key in list(db.data)}
    # The oversell is a race on a real target: a busy machine may not repeat it at
    # once (Hypothesis then drops the entry) or while shrinking (a Flaky ends the
    # shrink early). Up to 3 tries, each from the database as pass 1 left it.
    for attempt in range(SHRINK_TRIES):
        again = InMemoryExampleDatabase()
        for key, values in saved.items():
            for value in values:
                again.save(key, value)
        outcomes = search(
            oversell,
            tmp_path / f"shrink-{attempt}",
            seed_=2 + attempt,
            examples=80,
            phases=(Phase.reuse, Phase.shrink),
            database=again,
        )
        failures = [o for o in outcomes if o.failed]
        if failures and _short(min(failures, key=lambda o: o.schedule.size()).schedule):
            break
    assert failures, f"the oversell did not reproduce from the database in {SHRINK_TRIES} tries"
    first = failures[0]
    assert first.schedule == large[-1].schedule  # the search started from the large one
    best = min(failures, key=lambda o: o.schedule.size())
    assert _short(best.schedule), best.schedule.describe()
    assert best.schedule.size() < first.schedule.size()
    assert best.schedule.size() <= first.schedule.size() // 2, (
        first.schedule.describe(),
        best.schedule.describe(),
    )
    assert {v.invariant for v in best.violated()} == {"no_oversell"}
    # The shrunk schedule is real evidence: it reads back and is on disk.
    assert schedule_from_json(json.loads(best.schedule.dumps())) == best.schedule
    assert read_history(best.history_path).select("order")
    print(
        f"first failure size {first.schedule.size()} -> {best.schedule.size()} after "
        f"{len(outcomes)} examples: {best.schedule.describe()}"
    )


def test_a_correct_target_never_fails(correct: LiveSystem, tmp_path: Path) -> None:
    outcomes = search(correct, tmp_path, seed_=20240611, examples=25)
    assert len(outcomes) >= 20
    assert not [o.schedule.describe() for o in outcomes if o.failed]
    assert sum(o.coverage["operations"] for o in outcomes) >= 40
    assert all(v.status == "valid" for o in outcomes for v in o.verdicts)


# -- 5. a run killed mid-way ------------------------------------------------------------


KILLED_RUN = r"""
import json, sys
from pathlib import Path
from harness.provision.reaper import current_run
from harness.schedule.decode import schedule_from_json
from harness.schedule.runner import ExampleRunner
from harness.system import LiveSystem
from harness.targetproc.spec import TargetSpec

spec = TargetSpec(name="toy-killed", command=(sys.executable, sys.argv[1], "--bug", "none"),
                  replicas=1, start_timeout_s=30)
schedule = schedule_from_json(json.loads(sys.argv[3]))
with LiveSystem(spec) as system:
    assert system.target is not None
    procs = [system.stack.toxiproxy_server.process, *system.target.processes().values()]
    print(json.dumps({"pids": [p.pid for p in procs], "record": str(current_run().path)}),
          flush=True)
    with ExampleRunner(system, workload="inventory", invariants=("no_oversell",),
                       out_dir=Path(sys.argv[2]), run_id="killed") as runner:
        runner.run(schedule)
"""


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no line from the harness within {timeout}s")
    return proc.stdout.readline()


def test_a_killed_run_leaves_a_readable_history_and_no_process(
    tmp_path: Path, binaries: Binaries, wait_gone: Callable[..., list[int]]
) -> None:
    hanging = tuple(order(k, timeout_ms=60_000, client=k) for k in (1, 2, 3))
    schedule = Schedule(
        workload="inventory",
        setup=Setup(values={"set_stock": ({"available": 5},)}),
        steps=(
            Batch(ops=(order(0),)),
            StartFault(fault=Pause(process="target-0")),
            Batch(ops=hanging),  # these never complete: target-0 is frozen
            Heal(),
            *(Batch(ops=(order(10 + i),)) for i in range(20)),
        ),
    )
    path = tmp_path / "examples" / "00000.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(TOY), str(tmp_path), json.dumps(schedule.to_json())],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    pids: list[int] = []
    started: dict[int, int | None] = {}
    try:
        info = json.loads(_read_line(proc, 60))
        pids = [int(p) for p in info["pids"]]
        started = {pid: procfs.start_ticks(pid) for pid in pids}
        record = Path(info["record"])
        deadline = time.monotonic() + 30
        while True:  # wait until the three hanging orders are in flight
            text = path.read_text() if path.exists() else ""
            if len(re.findall(r'"type":"invoke"[^\n]*"f":"order"', text)) >= 4:
                break
            assert proc.poll() is None, "the harness ended before it was killed"
            assert time.monotonic() < deadline, f"no hanging orders in time:\n{text}"
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        history = read_history(path)
        orders = [op for op in history.select("order") if op.invoke.phase == "main"]
        dangling = [op for op in orders if op.completion is None]
        assert len(dangling) == 3
        assert all(op.outcome == "info" for op in dangling)
        assert [op.outcome for op in orders if op.completion is not None] == ["ok"]
        assert [e.f for e in history.nemesis_events()] == ["start"]  # never healed
        # The watchdog notices the dead harness and kills its stack, paused replica included.
        assert wait_gone(pids, within=10) == []
        deadline = time.monotonic() + 10
        while record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not record.exists(), "the run record of the killed harness was not cleaned up"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid, ticks in started.items():  # only if an assertion failed: leave nothing
            if ticks is not None and procfs.is_running(pid, ticks):
                os.kill(pid, signal.SIGKILL)
