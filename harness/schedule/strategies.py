"""Hypothesis strategies that draw schedules from what a failure-model row allows.

All randomness lives here: which operations, on which replica, in which
interleaving, with which retries and timeouts, and which faults start when.
Alternatives are ordered simplest first (no retry before retry, no fault
before fault) so that shrinking moves towards the plainest schedule that
still fails. A batch aims at what the steps before it set up: most of its
requests go to the replica its fault (or a started one) names, and name the
key whose deadline an until step just waited for; and a fault started while
others are active mostly comes from a family not yet active. Drawn apart, such
conjunctions (a bid on the slowed replica, on the auction about to end; a crash
during a slow partner call) are seldom drawn at all.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from harness.limits import MAX_KEYS
from harness.nemesis.faults import Crash, Fault, Pause
from harness.schedule.families import Family
from harness.schedule.model import (
    MAX_BATCH,
    MAX_CLIENTS,
    Batch,
    ClientOp,
    Heal,
    Schedule,
    Setup,
    StartFault,
    Step,
    Until,
    Wait,
    setup_drawn,
)
from harness.schedule.shape import Shape
from harness.workload.api import (
    DrawContext,
    DrawnOp,
    FromAnswer,
    Ints,
    InvalidWorkload,
    Key,
    OneOf,
    Operation,
    PartnerDecline,
    Source,
    Workload,
    setup_sources,
)
from harness.workload.builtin import resolve
from harness.workload.keys import MAX_INDEX
from harness.workload.ops import NO_RETRY, RetryPolicy

DEFAULT_TIMEOUT_MS = 2000
CLIENT_TIMEOUTS_MS = (DEFAULT_TIMEOUT_MS, 500, 250, 100, 10_000)
"""What a ``client_timeout`` row's operations wait: mostly less than the default (a
client gives up while the work goes on), and now and then far longer, so the
client outwaits a server's own deadline and sees what the server answers when
it gives up (a definite refusal for work that still commits is a bug)."""
UNTIL_MS = (-2000, 500)
"""Offsets an ``until`` step draws around a deadline: up to 2 s before it (a request
slowed by a fault still on its way when the deadline passes) to 0.5 s after;
shrinking moves towards 0, the deadline itself."""
SHORT_DELAY_MS = (1, 30)
LONG_DELAY_MS = (50, 400)
"""A ``reorder`` delay holds a request back half the time (the other half it is
sent with the others: concurrency is where races live), as often a short while as
a long one. Short is within one request's own time on a fast link, so a later request
overtakes it while it is still between its read and its write (a check-then-act
race); long, it lands after later requests have finished, or inside the window a
slowed link opens. Shrinks towards no delay."""
REORDER_DELAYS = st.one_of(
    st.just(0),
    # Not a nested one_of, which Hypothesis flattens into three even branches.
    st.sampled_from((SHORT_DELAY_MS, LONG_DELAY_MS)).flatmap(lambda span: st.integers(*span)),
)
_READ_PROBE = (False, False, True)
_WRITE_PROBE = (False, False, False, False, False, True)
"""How often an operation that follows nothing starts the stale-copy probe
(``OpState._probe``): a read one time in three, a write one time in six. Writes
are most of a batch, and each probe sends three requests one after another that
would otherwise go together, where races live: at one in three, the pairs of
writes on one key sent together fell by a quarter to a half (drawn, 120 examples
of go-promo's, auction's and kv's reorder rows)."""
FAULT_DELAYS = st.one_of(st.just(0), st.integers(1, 300))
"""When a batch's fault starts, in ms after the batch does. Often at 0: in place before
the first request is sent, a slowed or cut link, a lying clock or a failing partner
meets every request and the side effects they set off (outbox, consumers); later, the
requests in flight. Shrinks towards 0."""
IN_FLIGHT_DELAYS = st.sampled_from(((0, 0), (1, 30), (31, 300), (31, 300))).flatmap(
    lambda span: st.integers(*span)
)
"""When a batch's crash or pause starts. A process stopped before the first request
is what a ``start`` step before the batch already draws; stopped while requests are
in flight it is the partial write (a crash between a call to a partner and the write
recording it). So one time in four at 0, one in four within 30 ms (requests still in
flight on a fast link), half the time 31 to 300 ms (what a slowed link or partner still
holds, and the side effects). Hypothesis leans to the first branch: about 37 % start
at 0 (60 % with FAULT_DELAYS). Shrinks towards 0."""


# Inclusive bounds of the Shape fields a design row may set (replicas follows
# the target; ``keys`` are per kind, 1..SHAPE_KEYS_LIMIT). Any shape inside them
# draws schedules that schedule_from_json accepts: at most 50 + 3 steps (the
# last step may be a heal and a fault, a batch may be added, and a wait before
# the final heal), key indices below
# harness.workload.keys.MAX_INDEX.
SHAPE_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "clients": (1, MAX_CLIENTS),
        "max_steps": (1, 50),
        "max_batch": (1, MAX_BATCH),
        "max_pause_ms": (0, 60_000),
        "min_latency_ms": (1, 10_000),
        "max_latency_ms": (1, 10_000),
    }
)
SHAPE_KEYS_LIMIT = (1, MAX_KEYS)


def retry_policies() -> st.SearchStrategy[RetryPolicy]:
    return st.one_of(
        st.just(NO_RETRY),
        st.builds(RetryPolicy, mode=st.just("immediate"), count=st.integers(1, 2)),
        st.builds(RetryPolicy, mode=st.just("concurrent"), count=st.integers(1, 2)),
        st.builds(
            RetryPolicy,
            mode=st.just("delayed"),
            count=st.integers(1, 2),
            delay_s=st.sampled_from((0.05, 0.2, 0.5)),
        ),
    )


@st.composite
def schedules(
    draw: st.DrawFn,
    workload: Workload | str,
    families: Sequence[Family],
    shape: Shape = Shape(),
    *,
    partner: bool = True,
    swarm: bool = False,
) -> Schedule:
    """A schedule for ``workload`` using only the faults ``families`` allow;
    without the ``partner`` dependency nothing is declined at the partner.
    With ``swarm`` (Groce et al., ISSTA 2012) the example first enables a
    random non-empty subset of the families and of the operation kinds and
    draws only from those: a bug that one fault or operation masks is found
    in the examples that leave it out."""
    declared = resolve(workload)
    enabled: tuple[str, ...] | None = None
    if swarm:
        families = draw(swarm_subset(tuple(families)))
        enabled = draw(swarm_operations(declared))
    kinds = {f.kind for f in families}
    nemesis = FaultDraw([f.faults(shape) for f in families if not f.is_client_side()])
    setup = draw(setups(declared, shape, partner=partner))
    ops_state = OpState(declared, shape, kinds, setup, enabled)

    deadlines = [k for k in declared.deadlines() if ops_state.counts.get(k, 0) > 0]
    # A row whose every family is a fault the nemesis starts (a crash, a slow
    # partner, a cut link) tests nothing a fault-free example would: its
    # examples carry one. Drawn freely, a quarter to a third carried none.
    needs_fault = bool(nemesis) and not any(f.is_client_side() for f in families)
    steps: list[Step] = []
    started: int | None = None  # the replica a fault started and not healed names
    n_steps = draw(st.integers(1, shape.max_steps))

    def start(fault: Fault) -> None:
        """A start step; later batches aim at the replica the fault names."""
        nonlocal started
        named = replica_of(fault)
        started = started if named is None else named
        steps.append(StartFault(fault=fault))

    def next_fault() -> Fault:
        """The nemesis's next fault; a heal first when it replaces the active ones."""
        nonlocal started
        fault, replaces = nemesis.draw(draw)
        if replaces:
            steps.append(Heal())
            started = None
        return fault

    while len(steps) < n_steps:  # a heal before a replacing fault counts
        # Batches dominate (a schedule that mostly waits tests nothing), and
        # in a row with faults most steps carry one: shrinking removes the
        # ones a failure does not need.
        choices = ["batch", "batch", "batch"]
        if nemesis:
            choices += ["batch_fault", "batch_fault", "batch_fault", "start", "heal"]
        choices.append("wait")
        if deadlines:
            # The workload names deadlines: meeting them is the point of its rows.
            choices += ["until", "until"]
        kind = draw(st.sampled_from(choices))
        if needs_fault and len(steps) >= n_steps - 1 and not _faulted(steps):
            kind = "batch_fault"  # the last step: the fault meets requests
        if kind in ("batch", "batch_fault"):
            # The fault first: the batch's requests aim at the replica it names.
            fault = next_fault() if kind == "batch_fault" and nemesis else None
            if fault is not None and (companion := nemesis.companion(draw)) is not None:
                start(companion)
            named = replica_of(fault) if fault is not None else None
            ops_state.aim_node = started if named is None else named
            # A count drawn evenly, as random chaos does (a list mostly stops early,
            # and a race needs requests in flight together); shrinking lowers it.
            ops = ops_state.draw_batch(draw, draw(st.integers(1, shape.max_batch)))
            ops_state.aim = {}
            if fault is not None:
                steps.append(
                    Batch(
                        ops=ops,
                        fault=fault,
                        fault_delay_ms=draw(
                            IN_FLIGHT_DELAYS if isinstance(fault, Crash | Pause) else FAULT_DELAYS
                        ),
                    )
                )
            else:
                steps.append(Batch(ops=ops))
        elif kind == "start" and nemesis:
            start(next_fault())
        elif kind == "heal":
            started = None
            nemesis.healed()
            steps.append(Heal())
        elif kind == "until":
            deadline_kind = draw(st.sampled_from(deadlines))
            until = Until(
                kind=deadline_kind,
                key=draw(st.integers(0, ops_state.counts[deadline_kind] - 1)),
                offset_ms=draw(st.integers(*UNTIL_MS)),
            )
            ops_state.aim = {deadline_kind: until.key}  # the next batch's key
            steps.append(until)
        else:
            steps.append(Wait(ms=draw(st.sampled_from((50, 200, 500)))))
    if not any(isinstance(s, Batch) for s in steps):
        steps.append(Batch(ops=(draw(ops_state.ops()),)))
    if nemesis:
        # Linger before the final heal, so faults still active also meet the
        # side effects the last batch set off (relay, consumer, reconciler).
        linger = draw(st.sampled_from((0, 300, 1000)))
        if linger:
            steps.append(Wait(ms=linger))
    if _plain(steps) and (shape.max_steps > 1 or shape.max_batch > 1):
        reject()
    return Schedule(workload=declared.name, setup=setup, steps=tuple(steps))


class FaultDraw:
    """The faults of a row's families, drawn so that failures combine: while
    faults of some families are active (started, not healed), two times in
    three the next fault comes from a family not yet active. A row lists the
    families whose combination makes its failure (a crash during a slow
    partner call); drawn apart, the second is mostly another of the first.
    Shrinks towards a family not yet active.

    A family is active once at a time: a fault from a family already active
    replaces the active faults (``draw`` says so, and the schedule heals
    first), as a timed nemesis moves on from one fault to the next. Stacked,
    two latencies on one link add up and every later request waits out both,
    a combination no row asks for: with them, guided examples of four latency
    rows ran 1.4 to 2.2 times slower, and found no more (docs/search-power.md,
    "One fault per family")."""

    def __init__(self, families: Sequence[st.SearchStrategy[Fault]]) -> None:
        self.families = tuple(families)
        self.active: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.families)

    def draw(self, draw: st.DrawFn) -> tuple[Fault, bool]:
        """A fault, and whether it replaces the active ones (its family is one)."""
        others = [i for i in range(len(self.families)) if i not in self.active]
        if self.active and others and draw(st.sampled_from((True, True, False))):
            index = draw(st.sampled_from(others))
        else:
            index = draw(st.integers(0, len(self.families) - 1))
        replaces = index in self.active
        if replaces:
            self.active.clear()
        self.active.add(index)
        return draw(self.families[index]), replaces

    def companion(self, draw: st.DrawFn) -> Fault | None:
        """Half the time, beside the one fault just drawn, one of another family,
        started first: a failure that takes two (a crash during a slow partner
        call) needs both in place when the batch runs. Drawn one after the other,
        most examples of such rows had one fault only. Shrinks towards none."""
        others = [i for i in range(len(self.families)) if i not in self.active]
        if len(self.active) != 1 or not others or not draw(st.booleans()):
            return None
        index = draw(st.sampled_from(others))
        self.active.add(index)
        return draw(self.families[index])

    def healed(self) -> None:
        self.active.clear()


def replica_of(fault: Fault) -> int | None:
    """The target replica a fault names (its process, or one end of its link), if any."""
    name = getattr(fault, "link", None) or getattr(fault, "process", None) or ""
    found = re.search(r"\btarget-(\d+)\b", name)
    return int(found.group(1)) if found else None


def _faulted(steps: Sequence[Step]) -> bool:
    """Whether a fault starts in ``steps``."""
    return any(isinstance(s, StartFault) or (isinstance(s, Batch) and s.fault) for s in steps)


def _plain(steps: Sequence[Step]) -> bool:
    """One step, one request sent once, no fault: a schedule that asks nothing of
    the system a richer one does not also ask. Hypothesis's engine plays its simplest
    test cases first, and for its first max_examples // 10 keeps new ones close
    to them: on a real system each costs a whole example (the first 2 of 20, or 7
    of 60, on some rows: bench/schedule_richness.py). Refused, they cost nothing and
    the engine soon stops asking for them; a failure they would show, a schedule
    with one more request or a fault shows too, and shrinks to that."""
    if len(steps) != 1 or not isinstance(steps[0], Batch):
        return False
    batch = steps[0]
    return len(batch.ops) == 1 and batch.ops[0].retry == NO_RETRY and batch.fault is None


def swarm_subset(families: tuple[Family, ...]) -> st.SearchStrategy[tuple[Family, ...]]:
    """A non-empty subset of ``families`` in their order (none when there are
    none); shrinks towards the first family alone."""
    if not families:
        return st.just(())
    return st.lists(
        st.integers(0, len(families) - 1), min_size=1, max_size=len(families), unique=True
    ).map(lambda picked: tuple(families[i] for i in sorted(picked)))


def swarm_operations(workload: Workload) -> st.SearchStrategy[tuple[str, ...]]:
    """The operation kinds one swarm example may draw: a non-empty subset of
    the writes (a schedule needs something to change) and any subset of the
    reads; shrinks towards the first write alone."""
    writes = tuple(o.name for o in workload.drawable() if not o.read)
    reads = tuple(o.name for o in workload.drawable() if o.read)
    some_writes = (
        st.lists(st.sampled_from(writes), min_size=1, max_size=len(writes), unique=True)
        if writes
        else st.just([])
    )
    some_reads = st.lists(st.sampled_from(reads), max_size=len(reads), unique=True)
    return st.tuples(some_writes, some_reads).map(
        lambda both: tuple(n for n in (*writes, *reads) if n in both[0] or n in both[1])
    )


def _setup_value(
    source: Source, counts: Mapping[str, int], made: Mapping[str, int]
) -> st.SearchStrategy[Any]:
    """A setup field's value; a `Key`'s index among the keys of its kind that
    exist by then (``made`` by an earlier step, else the row's count)."""
    if isinstance(source, Key):
        return st.integers(0, made.get(source.kind, counts[source.kind]) - 1)
    return _value(source)


def _value(source: Source) -> st.SearchStrategy[Any]:
    if isinstance(source, Ints):
        return st.integers(source.lo, source.hi)
    if isinstance(source, FromAnswer):
        return st.integers(0, source.back - 1)
    assert isinstance(source, OneOf)
    return st.sampled_from(source.choices())


@st.composite
def setups(draw: st.DrawFn, workload: Workload, shape: Shape, *, partner: bool = True) -> Setup:
    """What the workload's setup steps draw, in their order: the values of each
    request (1 to ``keys[each]`` requests for a step with ``each``) and the
    key indices the PSP declines (none without the partner)."""
    counts = shape.counts(workload.keys)
    values: dict[str, tuple[dict[str, Any], ...]] = {}
    declined: dict[str, tuple[int, ...]] = {}
    for step in workload.setup:
        if isinstance(step, PartnerDecline):
            if not partner:
                declined[step.kind] = ()
                continue
            ids = draw(
                st.lists(
                    st.integers(0, counts[step.kind] - 1), max_size=step.at_most, unique=True
                )
            )
            declined[step.kind] = tuple(sorted(ids))
            continue
        op = workload.operation(step.op)
        sources = setup_sources(step, op)
        drawn = setup_drawn(step, op)
        made = {  # the keys earlier steps made: a grant names a journal set up before it
            s.each: len(values[s.op]) for s in workload.setup_steps() if s.op in values and s.each
        }

        def request(d: st.DrawFn, sources: Mapping[str, Source] = sources,
                    drawn: tuple[str, ...] = drawn,
                    made: Mapping[str, int] = made) -> dict[str, Any]:
            return {name: d(_setup_value(sources[name], counts, made)) for name in drawn}

        one = st.composite(request)()
        if step.each is None:
            values[step.op] = (draw(one),)
        else:
            low = workload.min_keys(step.each)
            values[step.op] = tuple(
                draw(st.lists(one, min_size=low, max_size=max(low, counts[step.each])))
            )
    return Setup(values=values, declined=declined)


class OpState:
    """Draws client operations. The first draw of an operation's ``id`` fixes
    its request, so a later op with the same id is a true resend (same id,
    same body); the workload's ``draw`` hook, if any, picks the values."""

    def __init__(
        self,
        workload: Workload,
        shape: Shape,
        kinds: set[str],
        setup: Setup,
        enabled: Sequence[str] | None = None,
    ) -> None:
        self.workload = workload
        self.shape = shape
        self.kinds = kinds
        self.set_up = _set_up(workload, setup)
        self.counts = {**shape.counts(workload.keys), **self.set_up}
        ops = tuple(o for o in workload.drawable() if enabled is None or o.name in enabled)
        self.reads = tuple(o for o in ops if o.read)
        self.writes = tuple(o for o in ops if not o.read)
        self.drawn: list[DrawnOp] = []
        self.fixed: dict[tuple[str, int], dict[str, Any]] = {}
        self.aim: dict[str, int] = {}
        """Keys the next batch aims at: the one an until step just waited for."""
        self.aim_node: int | None = None
        """The replica the next batch aims at: the one its fault names."""

    def ops(self) -> st.SearchStrategy[ClientOp]:
        return st.composite(lambda draw: self.draw_op(draw))()

    def draw_batch(self, draw: st.DrawFn, size: int) -> tuple[ClientOp, ...]:
        """``size`` operations sent together; some follow others (``_follows``,
        ``_probe``)."""
        batch: list[ClientOp] = []
        while len(batch) < size:
            batch.append(self.draw_op(draw, batch))
            batch.extend(self._probe(draw, batch, size - len(batch)))
        return tuple(batch)

    def draw_op(self, draw: st.DrawFn, batch: Sequence[ClientOp] = ()) -> ClientOp:
        """One operation of a batch whose earlier operations are ``batch``."""
        # Now and then a read of the contract: consistent_reads judges what
        # reads show while faults are active (shrinks towards no read).
        read = bool(self.reads) and draw(st.sampled_from((False, False, False, False, True)))
        op = _weighted(draw, self.reads if read else self.writes)
        node = self._node(draw)
        follows = self._follows(draw, batch, op, node)
        after, aim = follows if follows is not None else (None, None)
        delay_ms = draw(REORDER_DELAYS) if "reorder" in self.kinds else 0
        return self._make(draw, op, node=node, after=after, aim=aim, delay_ms=delay_ms)

    def _make(
        self,
        draw: st.DrawFn,
        op: Operation,
        *,
        node: int,
        after: int | None,
        aim: Mapping[str, int] | None,
        delay_ms: int,
    ) -> ClientOp:
        """``op`` by a drawn client, with its values (``aim``: its keys by kind)."""
        common: dict[str, Any] = {
            "client": draw(st.integers(0, self.shape.clients - 1)),
            "node": node,
            "delay_ms": delay_ms,
            "after": after,
        }
        if op.read:
            return self._client_op(op, self._draw_values(draw, op, aim), common)
        common["retry"] = draw(retry_policies()) if "retry" in self.kinds else NO_RETRY
        common["timeout_ms"] = (
            draw(st.sampled_from(CLIENT_TIMEOUTS_MS))
            if "client_timeout" in self.kinds
            else DEFAULT_TIMEOUT_MS
        )
        hooked = None
        if self.workload.draw is not None:
            hooked = self.workload.draw(
                DrawContext(
                    op=op,
                    ops_so_far=tuple(self.drawn),
                    draw=draw,
                    shape=self.shape,
                    counts=MappingProxyType(self.counts),
                    aim=MappingProxyType(self._aimed(draw) if aim is None else aim),
                )
            )
        values = (
            self._checked(op, hooked) if hooked is not None else self._draw_values(draw, op, aim)
        )
        return self._client_op(op, values, common)

    def _probe(self, draw: st.DrawFn, batch: Sequence[ClientOp], room: int) -> list[ClientOp]:
        """In a ``reorder`` row, after an operation that follows nothing (a read one
        time in three, a write one time in six: `_WRITE_PROBE`), when the batch
        has room: a change on its key to another replica, sent when it is
        answered, and the operation again on that key and its first replica,
        sent when the change is answered. The stale-copy
        probe: the first operation warms a copy the replica keeps (a cache, a
        read replica), the change lands elsewhere, and the second shows whether
        the copy still answers. After a read the change is any write on its key
        and the read asks again for the same key; after a write the change is
        a write of another kind (a disable after a redeem, a close after a bid),
        drawn evenly, not by weight, since a rare kind of change is as likely to
        be the one a copy misses, and the write again is a new request on the
        keys the change named (a decision taken on a stale copy of what the
        change set: eligibility). The three seldom line up drawn apart (nothing
        else on the key between). Shrinks towards no probe."""
        first, replicas = batch[-1], self.shape.replicas
        declared = self.workload.operation(first.f)
        if room < 2 or "reorder" not in self.kinds or replicas < 2 or first.after is not None:
            return []
        keys = self._keys(first, _kinds(declared))
        changes = tuple(
            w
            for w in self.writes
            if keys.keys() & _kinds(w) and (declared.read or w.name != declared.name)
        )
        if not changes or not draw(st.sampled_from(_READ_PROBE if declared.read else _WRITE_PROBE)):
            return []
        other = (first.node + 1 + draw(st.integers(0, replicas - 2))) % replicas
        at = len(batch) - 1
        change = _weighted(draw, changes) if declared.read else draw(st.sampled_from(changes))
        named = keys if declared.read else {k: v for k, v in keys.items() if k in _kinds(change)}
        write = self._make(draw, change, node=other, after=at, aim=named, delay_ms=0)
        again = self._make(draw, declared, node=first.node, after=at + 1, aim=named, delay_ms=0)
        return [write, again]

    def _follows(
        self, draw: st.DrawFn, batch: Sequence[ClientOp], op: Operation, node: int
    ) -> tuple[int, dict[str, int]] | None:
        """In a ``reorder`` row, one time in three an earlier operation of the
        batch, sent to another replica than ``node`` on a key of a kind ``op``
        names, for ``op`` to follow: its index and its keys by kind. ``op`` then
        names those keys (a draw hook is handed them as ``ctx.aim``) and is
        sent the moment that one is answered, as a client acting on an answer
        does. A copy a replica keeps (a cache, a read replica) that a write on
        another replica has not reached yet answers a read sent so with the
        value the write replaced. Drawn apart, a request seldom lands in that
        window: a few milliseconds on loopback, longer with latency on the
        copy's own path (its link to the store, where invalidations travel).
        Shrinks towards no follow."""
        if "reorder" not in self.kinds:
            return None
        kinds = _kinds(op)
        single = self.shape.replicas == 1
        earlier = [
            (i, keys)
            for i, e in enumerate(batch)
            if (single or e.node != node) and (keys := self._keys(e, kinds))
        ]
        if not earlier or not draw(st.sampled_from((False, False, True))):
            return None
        return draw(st.sampled_from(earlier))

    def _keys(self, op: ClientOp, kinds: Collection[str]) -> dict[str, int]:
        """The keys ``op`` names of ``kinds``, by kind."""
        declared = self.workload.operation(op.f)
        values = op.values(declared)
        return {kind: values[name] for name, kind in _key_kinds(declared).items() if kind in kinds}

    def _node(self, draw: st.DrawFn) -> int:
        """Two times in three the replica this batch's fault names, if one does (drawn
        apart, a request on the slowed replica and a deadline near are seldom drawn
        together); else any. Shrinks towards the aimed replica."""
        node, anywhere = self.aim_node, st.integers(0, self.shape.replicas - 1)
        if node is None or node >= self.shape.replicas:
            return draw(anywhere)
        return node if draw(st.sampled_from((True, True, False))) else draw(anywhere)

    def _aimed(self, draw: st.DrawFn) -> dict[str, int]:
        """Two times in three the key an until step just waited for, by kind; else none."""
        if self.aim and draw(st.sampled_from((True, True, False))):
            return dict(self.aim)
        return {}

    def _draw_values(
        self, draw: st.DrawFn, op: Operation, aim: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        """The id first; a known id is a resend (its first values), else draw the
        rest; ``aim`` (keys by kind) fixes the keys of those kinds."""
        values: dict[str, Any] = {}
        aimed = self._aimed(draw) if aim is None else aim
        for name in op.drawn():
            source = op.fields[name]
            if isinstance(source, Key):
                count = self.counts[source.kind]
                if source.kind in aimed and source.distinct_from is None:
                    values[name] = aimed[source.kind]
                elif source.distinct_from is not None:
                    other = values[source.distinct_from]
                    index = draw(st.integers(0, count - 2))
                    values[name] = index + 1 if index >= other else index
                else:
                    values[name] = draw(st.integers(0, count - 1))
            else:
                values[name] = draw(_value(source))
            if name == op.id and (op.name, values[name]) in self.fixed:
                return dict(self.fixed[(op.name, values[name])])
        return values

    def _checked(self, op: Operation, values: Any) -> dict[str, Any]:
        """A draw hook's values, checked like a schedule's (kinds, ranges)."""
        owner = f"draw hook of workload {self.workload.name!r} for {op.name!r}"
        if not isinstance(values, Mapping) or set(values) != set(op.drawn()):
            raise InvalidWorkload(
                owner, f"must return None or values of {list(op.drawn())} (got {values!r})"
            )
        for name in op.drawn():
            problem = value_problem(op, name, values, self.set_up)
            if problem is not None:
                raise InvalidWorkload(owner, f"{name!r} must be {problem} (got {values[name]!r})")
        return dict(values)

    def _client_op(self, op: Operation, values: dict[str, Any], common: dict[str, Any]) -> ClientOp:
        key = values.get(op.id) if op.id is not None else None
        if key is not None:
            values = self.fixed.setdefault((op.name, key), values)
        self.drawn.append(DrawnOp(op=op.name, values=MappingProxyType(dict(values))))
        args = {n: values[n] for n in op.args()}
        return ClientOp(f=op.name, key=key, args=args, **common)


def _key_kinds(op: Operation) -> dict[str, str]:
    """The drawn `Key` fields of ``op`` and the kind of key each names."""
    return {
        name: source.kind
        for name, source in op.fields.items()
        if isinstance(source, Key) and source.same_as is None and name in op.drawn()
    }


def _kinds(op: Operation) -> set[str]:
    return set(_key_kinds(op).values())


def _weighted(draw: st.DrawFn, ops: tuple[Operation, ...]) -> Operation:
    """One of ``ops`` by weight (no draw when there is one; a coin for two of
    equal weight); shrinking moves towards the first."""
    if len(ops) == 1:
        return ops[0]
    if len(ops) == 2 and ops[0].weight == ops[1].weight:
        return ops[1] if draw(st.booleans()) else ops[0]
    return draw(st.sampled_from(tuple(o for o in ops for _ in range(o.weight))))


def _set_up(workload: Workload, setup: Setup) -> dict[str, int]:
    """Keys of the kinds a setup step makes: as many as it set up."""
    return {
        kind: len(setup.values.get(step.op, ()))
        for kind, step in workload.set_up_kinds().items()
    }


def value_problem(
    op: Operation, name: str, values: Mapping[str, Any], set_up: Mapping[str, int]
) -> str | None:
    """What the drawn ``values[name]`` of ``op`` must be, if it is not that; else None."""
    source = op.fields[name]
    problem = source_problem(source, values[name], set_up)
    if (
        problem is None
        and isinstance(source, Key)
        and source.distinct_from is not None
        and values[name] == values.get(source.distinct_from)
    ):
        return f"another key than {source.distinct_from!r}"
    return problem


def source_problem(source: Source, value: Any, set_up: Mapping[str, int]) -> str | None:
    """What a value drawn from ``source`` must be, if ``value`` is not that; else
    None. A key index is below the number of keys set up for a kind a setup
    step makes (``set_up``), else at most ``MAX_INDEX``."""
    if isinstance(source, Key):
        high = set_up.get(source.kind, MAX_INDEX + 1) - 1
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            if high < 0:
                return f"a key index of kind {source.kind!r}, but none is set up"
            set_up_text = " (as many as are set up)" if source.kind in set_up else ""
            return f"a key index of kind {source.kind!r}, an int in 0..{high}{set_up_text}"
        return None
    if isinstance(source, Ints | FromAnswer):
        lo, hi = (source.lo, source.hi) if isinstance(source, Ints) else (0, source.back - 1)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return f"an int in {lo}..{hi}"
        return None
    assert isinstance(source, OneOf)
    if not any(type(v) is type(value) and v == value for v in source.values):
        return f"one of {', '.join(repr(v) for v in source.values)}"
    return None
