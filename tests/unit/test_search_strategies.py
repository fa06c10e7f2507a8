"""The random baseline and swarm draws: bounded, only the row's faults and
(for swarm) a non-empty subset of them, and the baseline replays per seed."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings, target
from hypothesis import strategies as st

from harness.design import load_design
from harness.nemesis.faults import Crash, LinkToxic, Partition
from harness.schedule.baseline import random_schedule, random_schedules
from harness.schedule.decode import schedule_from_json
from harness.schedule.families import Topology, parse_families
from harness.schedule.hypothesis_engine import harness_draws
from harness.schedule.model import Batch, ClientOp, Heal, Schedule, StartFault
from harness.schedule.shape import Shape
from harness.schedule.strategies import schedules, swarm_operations, swarm_subset
from harness.workload.builtin import resolve
from harness.workload.ops import NO_RETRY

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = Topology(
    links=("target-0", "target-1", "redis", "partner"),
    processes=("target-0", "target-1", "redis"),
    has_partner=True,
)
ROW = parse_families(["retry", "crash:target-*", "latency:target-0", "partition:redis"], TOPOLOGY)
KINDS = (Crash, LinkToxic, Partition)


@pytest.mark.parametrize("workload", ["inventory", "payments", "kv"])
@pytest.mark.parametrize("seed", range(8))
def test_random_schedules_are_bounded_and_use_only_the_rows_faults(
    workload: str, seed: int
) -> None:
    shape = Shape(max_steps=4, max_batch=3)
    for schedule in random_schedules(seed, workload, ROW, shape, partner=True, count=5):
        assert 1 <= len(schedule.steps) <= shape.max_steps + 2
        assert any(isinstance(s, Batch) for s in schedule.steps)
        assert all(len(s.ops) <= shape.max_batch for s in schedule.steps if isinstance(s, Batch))
        for fault in schedule.faults():
            assert isinstance(fault, KINDS)
            if isinstance(fault, LinkToxic):
                assert (fault.link, fault.toxic) == ("target-0", "latency")
            if isinstance(fault, Partition):
                assert fault.link == "redis"
        # What the runner and a replay read back.
        assert schedule_from_json(json.loads(schedule.dumps())) == schedule


def test_random_schedules_replay_per_seed_and_differ_across_seeds() -> None:
    one = random_schedules(3, "kv", ROW, Shape(), count=6)
    assert one == random_schedules(3, "kv", ROW, Shape(), count=6)
    assert one != random_schedules(4, "kv", ROW, Shape(), count=6)
    assert len({s.dumps() for s in one}) > 1


def test_random_schedules_start_and_heal_faults() -> None:
    """The nemesis moves: over a few runs faults start, and heals follow."""
    drawn = random_schedules(1, "inventory", ROW, Shape(), count=30)
    assert sum(len(s.faults()) for s in drawn) > 10
    assert any(s.step == "heal" for d in drawn for s in d.steps)


def test_a_row_without_faults_gets_none() -> None:
    rnd = random.Random(5)
    for _ in range(10):
        assert random_schedule(rnd, "kv", (), Shape()).faults() == ()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_swarm_subsets_are_non_empty_and_from_the_row(data: st.DataObject) -> None:
    picked = data.draw(swarm_subset(ROW))
    assert picked and set(picked) <= set(ROW)
    assert list(picked) == sorted(picked, key=ROW.index)
    ops = data.draw(swarm_operations(resolve("inventory")))
    writes = {o.name for o in resolve("inventory").drawable() if not o.read}
    assert set(ops) & writes
    assert data.draw(swarm_subset(())) == ()


def test_swarm_leaves_families_out() -> None:
    """Over many draws some swarm schedules use only some of the row's fault kinds
    and some use one write kind only, unlike the guided search that may mix them all."""
    seen_kinds: set[frozenset[type]] = set()
    seen_ops: set[frozenset[str]] = set()

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(schedules("payments", ROW, Shape(), swarm=True))
    def collect(schedule: Schedule) -> None:
        for fault in schedule.faults():
            assert isinstance(fault, KINDS)
        seen_kinds.add(frozenset(type(f) for f in schedule.faults()))
        seen_ops.add(frozenset(op.f for op in schedule.client_ops()))

    collect()
    assert any(len(k) == 1 for k in seen_kinds)
    assert any(len(o) == 1 for o in seen_ops)


def test_replay_command_carries_a_strategy_other_than_the_default() -> None:
    from harness.design import load_design
    from harness.verify import replay_command

    design = load_design(Path(__file__).resolve().parents[2] / "designs" / "kv.toml")
    row = design.row("cas-race")
    guided = replay_command(design, row, "read_then_write", "dev", 5)
    assert "--strategy" not in guided
    baseline = replay_command(design, row, "read_then_write", "dev", 5, strategy="random")
    assert baseline.split()[-2:] == ["--strategy", "random"]
    assert baseline.replace(" --strategy random", "") == guided
    own = replay_command(design, row, "read_then_write", "dev", 5, database=Path("ci db"))
    assert own == guided + " --database 'ci db'"


def test_jobs_get_the_runs_example_database(tmp_path: Path) -> None:
    """A ``--jobs`` child searches with the database its parent was given, named
    absolutely (a child's working directory may differ)."""
    from harness.cli import _job_options, _parser

    args = _parser().parse_args(["verify", "designs/kv.toml", "--database", "db"])
    options = _job_options(args, None)
    assert options[options.index("--database") + 1] == str(Path("db").resolve())
    plain = _parser().parse_args(["verify", "designs/kv.toml"])
    assert "--database" not in _job_options(plain, None)


def _one_plain_request(schedule: Schedule) -> bool:
    (step,) = schedule.steps if len(schedule.steps) == 1 else (None,)
    return (
        isinstance(step, Batch)
        and len(step.ops) == 1
        and step.fault is None
        and step.ops[0].retry == NO_RETRY
    )


def test_the_guided_search_starts_with_schedules_that_ask_something() -> None:
    """Hypothesis plays its simplest test cases first (one batch of one request):
    refused, they cost no example, and the first examples a search plays send
    several requests (bench/schedule_richness.py has the figures)."""
    played: list[Schedule] = []

    @settings(max_examples=20, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(schedule=schedules("inventory", ROW, Shape(max_steps=4, max_batch=3)))
    def search(schedule: Schedule) -> None:
        played.append(schedule)

    search()
    assert len(played) >= 20
    assert not any(_one_plain_request(s) for s in played)
    assert sum(len(s.client_ops()) for s in played[:5]) > 5


def test_a_shape_that_allows_only_one_plain_request_still_draws_it() -> None:
    """One step of one request and no fault is most of what such a row can ask: kept."""
    played: list[Schedule] = []

    @settings(max_examples=5, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(schedule=schedules("kv", (), Shape(max_steps=1, max_batch=1)))
    def search(schedule: Schedule) -> None:
        played.append(schedule)

    search()
    assert any(_one_plain_request(s) for s in played)


def test_a_fault_joins_the_active_ones_from_another_family() -> None:
    """While a fault is active, the next one is drawn from a family not yet active
    (two times in three, and where shrinking goes): the smallest two-fault draw
    combines both families; after a heal, the first family again."""
    from hypothesis import find

    from harness.schedule.strategies import FaultDraw

    crash, cut = Crash(process="target-0"), Partition(link="kafka")

    @st.composite
    def two(draw: st.DrawFn, heal: bool) -> tuple[object, object]:
        faults = FaultDraw([st.just(crash), st.just(cut)])
        first, _ = faults.draw(draw)
        if heal:
            faults.healed()
        second, replaces = faults.draw(draw)
        # A family already active is replaced, never stacked.
        assert replaces == (second == first and not heal)
        assert faults.active == ({0, 1} if first != second else {0 if first == crash else 1})
        return first, second

    assert find(two(heal=False), lambda _: True) == (crash, cut)
    assert find(two(heal=True), lambda _: True) == (crash, crash)
    # Any pair can still be drawn: the same family twice, or the other first.
    assert find(two(heal=False), lambda pair: pair == (crash, crash)) == (crash, crash)
    assert find(two(heal=False), lambda pair: pair[0] == cut) == (cut, crash)


def _drawn(families: list[str], examples: int, shape: Shape) -> list[Schedule]:
    """``examples`` schedules drawn (derandomized) for a row with ``families``."""
    row = parse_families(families, TOPOLOGY)
    drawn: list[Schedule] = []

    @settings(max_examples=examples, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(schedules("kv", row, shape))
    def collect(schedule: Schedule) -> None:
        drawn.append(schedule)

    collect()
    return drawn


def test_a_family_is_active_once_at_a_time() -> None:
    """A fault from a family already active comes after a heal: two latencies on
    one link would add up and slow every later request (faults of different
    families still combine). Checked by replaying each schedule's steps."""
    replaced = combined = 0
    for schedule in _drawn(
        ["latency:target-0", "crash:target-*"], 300, Shape(max_steps=8, max_batch=2)
    ):
        active: list[type] = []
        for before, step in zip((None, *schedule.steps), schedule.steps, strict=False):
            if isinstance(step, Heal):
                active = []
            fault = getattr(step, "fault", None)
            if fault is not None:
                assert type(fault) not in active, schedule.describe()
                replaced += isinstance(before, Heal) and len(active) == 0
                active.append(type(fault))
                combined += len(active) > 1
        assert len(schedule.steps) <= 8 + 3
    assert replaced > 10 and combined > 10, (replaced, combined)


def test_a_row_of_nemesis_faults_only_has_a_fault_in_every_example() -> None:
    """A crash row's example without a fault tests nothing the row is about (drawn
    freely, a quarter to a third had none); a row with a client-side family may
    still play examples without one (retries, reordered requests)."""
    shape = Shape(max_steps=5, max_batch=3)

    def faultless(families: list[str]) -> int:
        return sum(
            not any(getattr(s, "fault", None) for s in schedule.steps)
            for schedule in _drawn(families, 200, shape)
        )

    assert faultless(["crash:target-*", "latency:redis"]) == 0
    assert faultless(["reorder", "crash:target-*"]) > 10


def test_a_batch_fault_often_meets_a_fault_of_another_family_in_place() -> None:
    """A failure that takes two faults (a crash during a slow partner call) needs
    the second in place when the batch with the first runs. A batch's fault with
    no other family active comes half the time with one started just before it
    (30 % of all batch faults here; 7 % when drawn one after the other)."""
    paired = batch_faults = 0
    for schedule in _drawn(
        ["crash:target-*", "partner:slow"], 200, Shape(max_steps=5, max_batch=3)
    ):
        for before, step in zip((None, *schedule.steps), schedule.steps, strict=False):
            if isinstance(step, Batch) and step.fault is not None:
                batch_faults += 1
                paired += isinstance(before, StartFault) and type(before.fault) is not type(
                    step.fault
                )
    assert paired > batch_faults / 5, (paired, batch_faults)


def test_reorder_holds_requests_back_a_short_while_too() -> None:
    """``reorder`` delays come at two scales beside none: short (1..30 ms, inside one
    request's own time, where a later request overtakes one between its read and
    its write) and long (50..400 ms); guided and random draws alike."""
    from hypothesis import find

    row = parse_families(["reorder"], TOPOLOGY)
    shape = Shape(max_steps=2, max_batch=3)

    def delays(schedule: Schedule) -> set[int]:
        return {op.delay_ms for op in schedule.client_ops()}

    short = find(schedules("kv", row, shape), lambda s: any(1 <= d <= 30 for d in delays(s)))
    assert any(1 <= d <= 30 for d in delays(short))
    drawn = set().union(*map(delays, random_schedules(5, "kv", row, shape, count=60)))
    assert 0 in drawn
    assert any(1 <= d <= 30 for d in drawn)
    assert any(50 <= d <= 400 for d in drawn)
    assert all(d == 0 or 1 <= d <= 30 or 50 <= d <= 400 for d in drawn)


def _batch_fault_starts(families: list[str]) -> list[int]:
    row = parse_families(families, TOPOLOGY)
    starts: list[int] = []

    @settings(max_examples=400, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(schedules("kv", row, Shape(max_steps=3, max_batch=2)))
    def collect(schedule: Schedule) -> None:
        starts.extend(
            s.fault_delay_ms for s in schedule.steps if isinstance(s, Batch) and s.fault
        )

    collect()
    assert len(starts) >= 200
    assert all(0 <= d <= 300 for d in starts)
    return starts


def test_a_batch_crash_mostly_meets_requests_in_flight() -> None:
    """A crash or pause stopped before a batch's first request is what a ``start``
    step draws; a batch's own mostly starts later, at the scale of a request on a fast
    link (within 30 ms: between a partner's answer and the write recording it) or of a
    slowed one (31..300 ms). A slowed link (or a lying clock, a failing partner) means
    most in place before the requests, and starts at 0 far more often. With 0 or
    1..300 ms as even branches for every kind, a search drew 0 for 60 % of its crashes;
    now about 37 % (docs/search-power.md)."""
    link = _batch_fault_starts(["latency:target-0"])
    link_at_0 = link.count(0) / len(link)
    assert any(d > 0 for d in link)
    for family in ("crash:target-*", "pause:target-*"):
        starts = _batch_fault_starts([family])
        at_0, short = starts.count(0), sum(1 <= d <= 30 for d in starts)
        late = len(starts) - at_0 - short
        assert at_0 / len(starts) <= min(0.4, link_at_0 - 0.1), (family, at_0, link_at_0)
        assert short / len(starts) >= 0.15, (family, at_0, short, late)
        assert late / len(starts) >= 0.3, (family, at_0, short, late)


def _near_copies(s: int, *, fresh: bool) -> int:
    """How many of a 30-example search's schedules are the one before with at
    most one step changed."""
    played: list[Schedule] = []

    @seed(s)
    @settings(max_examples=30, database=None, suppress_health_check=list(HealthCheck))
    @given(schedule=schedules("kv", ROW, Shape(max_steps=4, max_batch=4)))
    def search(schedule: Schedule) -> None:
        played.append(schedule)

    if fresh:
        with harness_draws():
            search()
    else:
        search()
    pairs = [(a.describe(), b.describe()) for a, b in pairwise(played)]
    return sum(len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1
               for a, b in pairs)


@pytest.mark.parametrize("s", [1, 2, 3])
def test_each_example_of_a_guided_search_is_a_new_draw(s: int) -> None:
    """Hypothesis follows each new example with copies of it, one part changed:
    half of a 30-example search. An example costs seconds on a real system, so
    the harness's searches draw anew each time."""
    assert _near_copies(s, fresh=False) >= 8  # what the measure catches
    assert _near_copies(s, fresh=True) <= 3


def _copied_late(
    s: int, monkeypatch: pytest.MonkeyPatch, phases: tuple[Phase, ...], database: Path
) -> int:
    """How many of the second half of a 20-example guided search, as ``verify``
    builds it, are near copies (90 % of the text) of an earlier example, when
    every example scores a ``target()`` signal."""
    from difflib import SequenceMatcher

    from harness import verify

    design = load_design(ROOT / "designs" / "payments.toml")
    row = next(r for r in design.rows if r.id == "charge-not-recorded")
    played: list[str] = []

    def example(schedule: Schedule) -> None:
        played.append(schedule.dumps())
        target(float(len(played[-1]) % 97), label="signal")

    monkeypatch.setattr(verify, "PHASES", phases)
    profile = replace(verify.PROFILES["dev"], examples=20)
    verify._hypothesis_test(example, design, row, "correct", profile, s, database)()
    assert len(played) == 20
    return sum(
        max(SequenceMatcher(None, played[i], played[j]).ratio() for j in range(i)) >= 0.9
        for i in range(10, 20)
    )


@pytest.mark.parametrize("s", [1, 2])
def test_the_second_half_of_a_small_guided_search_is_new_draws(
    s: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Below 1000 examples Hypothesis's target phase is one hill-climb from half
    the budget on, with no limit: the rest of the search near copies of the
    best-scoring example. The guided search leaves it out (docs/search-power.md)."""
    from harness.verify import PHASES

    assert Phase.target not in PHASES
    climbing = (*PHASES, Phase.target)
    assert _copied_late(s, monkeypatch, climbing, tmp_path / "climb") >= 7  # the measure catches it
    assert _copied_late(s, monkeypatch, PHASES, tmp_path / "db") <= 2


def _drawn_scoring(s: int, scores: random.Random | None, database: Path) -> list[str]:
    """The schedules of a 20-example guided search, as ``verify`` builds it, whose
    examples score two ``target()`` signals drawn from ``scores`` (a real
    system's timing moves them from run to run), or none."""
    from harness import verify

    design = load_design(ROOT / "designs" / "payments.toml")
    row = next(r for r in design.rows if r.id == "charge-not-recorded")
    played: list[str] = []

    def example(schedule: Schedule) -> None:
        played.append(schedule.dumps())
        if scores is not None:
            target(float(scores.randint(0, 5)), label="in_flight")
            target(float(scores.randint(0, 5)), label="overlap")

    profile = replace(verify.PROFILES["dev"], examples=20)
    verify._hypothesis_test(example, design, row, "correct", profile, s, database)()
    assert len(played) == 20
    return played


def test_a_seed_draws_the_same_schedules_whatever_the_signals_score(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--seed`` replays a search: on an empty database a seed draws the same
    schedules whatever the signals scored. The Pareto front Hypothesis keeps of
    the scores drew from the engine's random stream, so scores that differ moved
    every later draw."""
    from harness.schedule import hypothesis_engine

    unscored = _drawn_scoring(7, None, tmp_path / "none")
    assert _drawn_scoring(7, random.Random(1), tmp_path / "one") == unscored
    assert _drawn_scoring(7, random.Random(2), tmp_path / "two") == unscored
    # The front on the engine's stream, as Hypothesis builds it: the measure catches it.
    monkeypatch.setattr(hypothesis_engine, "_FRONT", "not-patched")
    moved = _drawn_scoring(7, random.Random(1), tmp_path / "engine")
    assert sum(a != b for a, b in zip(moved, unscored, strict=True)) >= 10


def _waits(families: list[str], seeds: range) -> set[int]:
    row = parse_families(families, TOPOLOGY)
    return {
        op.timeout_ms
        for s in seeds
        for schedule in random_schedules(s, "inventory", row, Shape(), count=4)
        for step in schedule.steps
        if isinstance(step, Batch)
        for op in step.ops
        if op.f == "order"
    }


def test_a_client_timeout_row_gives_up_early_and_now_and_then_outwaits_the_server() -> None:
    """A server that gives up on its own deadline (2.5 s, say) and then answers a
    definite refusal for work that still commits shows only to a client that waits
    longer than that deadline (a blind Rust target's bug, missed while no client
    waited more than 2 s)."""
    assert _waits(["client_timeout", "latency:target-0"], range(12)) == {
        2000, 500, 250, 100, 10_000
    }
    assert _waits(["latency:target-0"], range(4)) == {2000}


def _key(op: ClientOp) -> int:
    """The kv key index an operation names (a read's id, a write's drawn field)."""
    return op.key if op.key is not None else int(op.args["key"])


def _batches(families: list[str], count: int = 300) -> list[Batch]:
    topology = Topology(
        links=("postgres", "target-0>postgres", "target-1>postgres", "target-0", "target-1"),
        processes=("target-0", "target-1", "postgres"),
        has_partner=False,
    )
    row = parse_families(families, topology)
    found: list[Batch] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(schedules("kv", row, Shape(clients=6, max_steps=8, max_batch=8)))
    def collect(schedule: Schedule) -> None:
        found.extend(s for s in schedule.steps if isinstance(s, Batch))

    collect()
    return found


def test_in_a_reorder_row_requests_follow_answers_on_another_replica() -> None:
    """A request that follows another of its batch names the same key and goes to
    another replica; and the stale-copy probe (a read, a write on its key elsewhere
    once it is answered, the read again once that is answered) is drawn."""
    batches = _batches(["reorder", "latency:target-*>postgres"])
    follows = probes = 0
    for batch in batches:
        for i, op in enumerate(batch.ops):
            if op.after is None:
                continue
            follows += 1
            before = batch.ops[op.after]
            assert op.after < i
            assert _key(op) == _key(before)
            assert op.node != before.node
            if op.f == "get" and before.f != "get" and before.after is not None:
                first = batch.ops[before.after]
                probes += first.f == "get" and first.node == op.node and _key(first) == _key(op)
    assert follows > 100
    assert probes > 20


def test_a_write_starts_the_probe_with_a_change_of_another_kind() -> None:
    """After a write, the probe's change is a write of another kind on its key to
    another replica, and then a new write of the first kind on that key goes back
    to the first replica (kv: a cas, a put elsewhere, a cas again): a decision
    taken on a stale copy of what the change set."""
    batches = _batches(["reorder", "latency:target-*>postgres"])
    probes = 0
    for batch in batches:
        for op in batch.ops:
            if op.f == "get" or op.after is None:
                continue
            change = batch.ops[op.after]
            if change.f == "get" or change.after is None:
                continue
            first = batch.ops[change.after]
            probes += (
                first.f == op.f != change.f
                and first.after is None
                and _key(first) == _key(change) == _key(op)
                and first.node == op.node != change.node
            )
    # Follows drawn apart line up so about 20 times in these 300 examples; with
    # the probe, about 100.
    assert probes > 50


def test_outside_reorder_rows_nothing_follows() -> None:
    batches = _batches(["latency:target-*>postgres", "latency:postgres"], count=100)
    assert sum(len(b.ops) for b in batches) > 200
    assert all(op.after is None for b in batches for op in b.ops)
