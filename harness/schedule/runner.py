"""Play one schedule against a live system and judge it: one Hypothesis example.

Steps run in order with a barrier after each (a batch completes before the
next step), so replaying a schedule reproduces it as far as a real system
allows. Every fault is healed in ``finally``; then the runner lets the system
settle and judges it -- and never judges a system that has not settled:

- it reads every key from every replica as numbered snapshots, and checks
  the row's invariants (plus ``consistent_reads``) on each;
- findings that time may fix (an effect not yet seen, replicas not yet
  agreeing) are *pending*: the runner keeps reading until they clear or the
  design's ``settle_timeout_s`` passes, when they become violations that say
  how long the harness waited;
- when anything may still be moving (a fault reached past the clients' links,
  an answer was lost, or the workload declares deadlines, whose passing
  changes the state with no request at all) a snapshot counts only once the
  next one, a quiet interval later, is equal.

Side effects can land after an example was judged (a slow relay, a late
duplicate); `ExampleRunner.recheck` judges earlier examples again with
everything the partner has recorded since.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from harness import host_load
from harness.history import Effect, FinalState, History, Ledgers, Recorder, thaw
from harness.interrupt import raise_if_stopped
from harness.nemesis.faults import Fault
from harness.nemesis.nemesis import Nemesis, record_exits
from harness.partner.control import PartnerControl
from harness.schedule.answers import answers_of
from harness.schedule.coverage import coverage_of
from harness.schedule.deadlines import deadlines, until_s
from harness.schedule.model import (
    Batch,
    ClientOp,
    Heal,
    Schedule,
    StartFault,
    Until,
    Wait,
    materialize,
    setup_specs,
)
from harness.system import LiveSystem
from harness.workload.api import Workload
from harness.workload.builtin import resolve
from harness.workload.client import WorkloadClient, new_session
from harness.workload.final import Snapshot, read_snapshot
from harness.workload.keys import KeySpace, example_ids, example_prefix
from harness.workload.ops import OpSpec
from invariants import ALWAYS, ReadConsistency, Verdict, check, expire_pending, undecided
from invariants.slo import Samples, Slo, samples

QUIET_S = 0.4
SETUP_ATTEMPTS = 4
POLL_S = 0.1
POLL_MAX_S = 1.0
MAIN_PHASES: Mapping[type, str] = {
    Batch: "batches",
    Wait: "wait_steps",
    Until: "wait_steps",
    StartFault: "fault_steps",
    Heal: "fault_steps",
}
"""The phase (`harness.phases`) each kind of schedule step's time counts under."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleOutcome:
    """The judged result of one schedule execution.

    ``settled`` is False when the settle deadline passed first (pending
    findings then became violations); ``unread`` says, per read, why keys of
    the last snapshot could not be read from any replica; ``late`` marks a
    verdict revised by side effects that arrived after the example was judged;
    ``phases`` holds the seconds spent in each of `harness.phases.PHASES`.
    """

    number: int
    schedule: Schedule
    history_path: Path
    history: History
    prefix: str
    t0: float
    verdicts: tuple[Verdict, ...]
    coverage: Mapping[str, int]
    final: FinalState
    ledgers: Ledgers
    duration_s: float
    settle_s: float
    settled: bool = True
    unread: Mapping[str, str] = field(default_factory=dict)
    phases: Mapping[str, float] = field(default_factory=dict)
    late: bool = False
    slo_samples: tuple[Samples, ...] = ()
    """What the example contributes to each of the row's SLOs, in their order."""
    deadlines: Mapping[tuple[str, int], float] = field(default_factory=dict)
    """(kind, key index) -> the key's deadline in history seconds (a setup step's
    ``deadline``; `harness.schedule.deadlines`)."""
    answers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """How the main phase's writes were answered (`harness.schedule.answers`)."""
    stall: host_load.Stall | None = None
    """How long a runnable task waited for a CPU during the main phase and the
    settle, where the SLOs' samples come from (None: not measurable here)."""

    @property
    def failed(self) -> bool:
        return any(v.status == "invalid" for v in self.verdicts)

    def violated(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status == "invalid")


class LedgerWatch:
    """The partner's ledger as it grows, each effect filed under the examples
    whose ids it names, read incrementally (the partner serves every example)."""

    def __init__(self, partner: PartnerControl | None, kinds: Collection[str] = ()) -> None:
        self._partner = partner
        self._kinds = frozenset(kinds) or None
        self._seq = partner.last_seq() if partner is not None else 0
        self._by_prefix: dict[str, list[Effect]] = {}

    def refresh(self) -> None:
        if self._partner is None:
            return
        self._seq, new = self._partner.ledger_since(self._seq)
        for effect in new.effects:
            for prefix in dict.fromkeys(_prefixes(effect.body, self._kinds)):
                self._by_prefix.setdefault(prefix, []).append(effect)

    def of(self, prefix: str) -> Ledgers:
        """Every effect seen so far that names an id of example ``prefix``."""
        return Ledgers(tuple(self._by_prefix.get(prefix, ())))


def _prefixes(value: Any, kinds: Collection[str] | None) -> Iterable[str]:
    for key in example_ids(value, kinds):
        prefix = example_prefix(key, kinds)
        if prefix is not None:
            yield prefix


@dataclass(frozen=True, slots=True)
class _Judged:
    snapshot: Snapshot
    ledgers: Ledgers
    verdicts: tuple[Verdict, ...]
    settled: bool
    phases: Mapping[str, float]
    """Seconds settling spent waiting, reading and checking (`harness.phases`)."""


class ExampleRunner:
    """Runs schedules for one row on one live system; examples get fresh keys."""

    def __init__(
        self,
        system: LiveSystem,
        *,
        workload: Workload | str,
        invariants: Sequence[str],
        out_dir: Path,
        run_id: str,
        settle_timeout_s: float = 30.0,
        reads: ReadConsistency = "eventual",
        slos: Sequence[Slo] = (),
    ) -> None:
        self.system = system
        self.slos = tuple(slos)
        self.workload = resolve(workload)
        self.invariants = (*invariants, *(n for n in ALWAYS if n not in invariants))
        self.out_dir = out_dir
        self.run_id = run_id
        self.settle_timeout_s = settle_timeout_s
        self.reads = reads
        self._count = 0
        self._loop = asyncio.Runner()
        self._session: aiohttp.ClientSession | None = None
        self.ledger = LedgerWatch(system.partner_control, self.workload.keys)
        self.fault_listener: Callable[[str, str], None] | None = None
        """Told ``("start", description)`` when a fault starts and ``("heal", "")``
        when every fault is healed (progress displays; must not raise)."""

    def _tell(self, what: str, fault: Fault | None = None) -> None:
        if self.fault_listener is not None:
            self.fault_listener(what, fault.describe() if fault is not None else "")

    def close(self) -> None:
        try:
            # Closing idle connections cannot fail a run, nor hide why it stopped.
            with contextlib.suppress(Exception):
                self._loop.run(self._drop_session())
        finally:
            self._loop.close()

    async def _warm_session(self) -> aiohttp.ClientSession:
        """The session examples share, so an example starts on warm connections."""
        if self._session is None or self._session.closed:
            self._session = new_session()
        return self._session

    async def _drop_session(self) -> None:
        """Close the shared session. After an example with faults the next one
        starts on new connections: a restarted replica or a cut link leaves
        pooled connections dead, and a POST sent on one would be recorded
        indeterminate for a fault that is not that example's."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self, recorder: Recorder, session: aiohttp.ClientSession) -> WorkloadClient:
        return WorkloadClient(self.workload, self.system.client_urls, recorder, session=session)

    def __enter__(self) -> ExampleRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, schedule: Schedule) -> ExampleOutcome:
        raise_if_stopped()
        number = self._count
        self._count += 1
        return self._loop.run(self._run(schedule, number))

    def check(self, history: History, final: FinalState, ledgers: Ledgers) -> tuple[Verdict, ...]:
        """The row's invariants and the always-checked ones, on one state."""
        return check(
            self.invariants, history, final, ledgers, reads=self.reads, own=self.workload.invariants
        )

    def recheck(self, outcomes: Iterable[ExampleOutcome]) -> list[ExampleOutcome]:
        """Settle once more and judge again every example the partner has
        recorded new side effects for since it was judged; the examples whose
        verdicts got worse, with the new verdicts (``late``)."""
        return self._loop.run(self._recheck(list(outcomes)))

    async def _recheck(self, outcomes: list[ExampleOutcome]) -> list[ExampleOutcome]:
        self.ledger.refresh()
        worse = []
        for outcome in outcomes:
            if self.ledger.of(outcome.prefix) == outcome.ledgers:
                continue
            path = outcome.history_path.with_suffix(".recheck.jsonl")
            recorder = Recorder.continuing(outcome.history, t0=outcome.t0, path=path)
            try:
                async with self._client(recorder, await self._warm_session()) as client:
                    judged = await self._settle(
                        client, outcome.prefix, first_snapshot=next_snapshot(outcome.history)
                    )
            finally:
                recorder.close()
            before = {v.invariant for v in outcome.violated()}
            if any(v.status == "invalid" and v.invariant not in before for v in judged.verdicts):
                _write_json(
                    path.with_suffix(".ledger.json"), [e.to_json() for e in judged.ledgers.effects]
                )
                worse.append(
                    replace(
                        outcome,
                        history=recorder.history(),
                        history_path=path,
                        verdicts=judged.verdicts,
                        final=judged.snapshot.final,
                        ledgers=judged.ledgers,
                        late=True,
                    )
                )
        return worse

    async def _run(self, schedule: Schedule, number: int) -> ExampleOutcome:
        started = time.monotonic()
        keys = KeySpace.for_example(self.run_id, number)
        path = self.out_dir / "examples" / f"{number:05d}.jsonl"
        partner = self.system.partner_control
        stats_before = partner.stats() if partner is not None else {}
        recorder = Recorder(path)
        phases: dict[str, float] = dict.fromkeys(("setup", *MAIN_PHASES.values()), 0.0)
        try:
            async with self._client(recorder, await self._warm_session()) as client:
                recorder.set_phase("setup")
                await self._note_exits(recorder)
                await self._setup(client, schedule, keys, partner)
                phases["setup"] = time.monotonic() - started
                recorder.set_phase("main")
                main_started = host_load.mark()
                due = deadlines(
                    recorder.history(), self.workload, keys, schedule.setup.counts(self.workload)
                )
                nemesis = Nemesis(self.system, recorder)
                try:
                    for step in schedule.steps:
                        raise_if_stopped()
                        begun = time.monotonic()
                        if isinstance(step, Batch):
                            await self._batch(client, nemesis, step, keys)
                        elif isinstance(step, StartFault):
                            await asyncio.to_thread(nemesis.start, step.fault)
                            self._tell("start", step.fault)
                        elif isinstance(step, Heal):
                            await asyncio.to_thread(nemesis.heal_all)
                            self._tell("heal")
                        elif isinstance(step, Wait):
                            await asyncio.sleep(step.ms / 1000)
                        elif isinstance(step, Until):
                            await asyncio.sleep(until_s(step, due, recorder.now()))
                        phases[MAIN_PHASES[type(step)]] += time.monotonic() - begun
                finally:
                    healing = time.monotonic()
                    # Synchronous on purpose: it must finish even when this
                    # task is being cancelled (Ctrl-C); closed, so a start still
                    # running in a worker thread cannot act after it.
                    nemesis.close()
                    self._tell("heal")
                settle_started = time.monotonic()
                phases["heal"] = settle_started - healing
                judged = await self._settle(client, keys.prefix)
                settle_s = time.monotonic() - settle_started
                stall = host_load.since(main_started)
                phases.update(judged.phases)
        finally:
            recorder.close()
            if recorder.history().nemesis_events():
                await self._drop_session()
        history = recorder.history()
        final = judged.snapshot.final
        _write_json(path.with_suffix(".final.json"), final.to_json())
        _write_json(path.with_suffix(".ledger.json"), [e.to_json() for e in judged.ledgers.effects])
        delta = _stats_delta(stats_before, partner.stats()) if partner is not None else {}
        return ExampleOutcome(
            number=number,
            schedule=schedule,
            history_path=path,
            history=history,
            prefix=keys.prefix,
            t0=recorder.t0,
            verdicts=judged.verdicts,
            coverage=coverage_of(
                history, delta, [e.time - recorder.t0 for e in judged.ledgers.effects]
            ),
            final=final,
            ledgers=judged.ledgers,
            duration_s=time.monotonic() - started,
            settle_s=settle_s,
            settled=judged.settled,
            unread=judged.snapshot.unread,
            phases=phases,
            slo_samples=tuple(
                samples(slo, history, final, judged.ledgers, t0=recorder.t0) for slo in self.slos
            ),
            deadlines=due,
            answers=answers_of(history, self.workload),
            stall=stall,
        )

    async def _note_exits(self, recorder: Recorder) -> None:
        """Record (and start again) each process found down now that no fault is
        active: one that died after the heal's sweep (a store, or the target's)."""
        await asyncio.to_thread(record_exits, self.system, recorder, restart=True)

    async def _setup(
        self,
        client: WorkloadClient,
        schedule: Schedule,
        keys: KeySpace,
        partner: PartnerControl | None,
    ) -> None:
        client.recorder.set_phase("setup")
        workload = self.workload
        for step, specs in zip(
            workload.setup_steps(), setup_specs(workload, schedule.setup, keys), strict=True
        ):
            await self._setup_step(client, step.op, specs)
        for decline in workload.declines():
            indices = schedule.setup.declined.get(decline.kind, ())
            if not indices:
                continue
            if partner is None:
                raise SetupFailed(
                    f"the schedule declines {decline.kind} keys but there is no partner"
                )
            partner.decline([keys.id(decline.kind, i) for i in indices])

    async def _setup_step(self, client: WorkloadClient, op: str, specs: list[OpSpec]) -> None:
        """Send one setup step's requests until each is ok (they are idempotent)."""
        for attempt in range(SETUP_ATTEMPTS):
            answers = await client.execute_batch(specs)
            failed = [
                spec for spec, events in zip(specs, answers, strict=True) if events[-1].type != "ok"
            ]
            if not failed:
                return
            if attempt == SETUP_ATTEMPTS - 1:
                last = answers[specs.index(failed[0])][-1]
                raise SetupFailed(
                    f"setup {op!r} failed before any fault, {SETUP_ATTEMPTS} times: "
                    f"{thaw(last.value)}" + (f" ({last.error})" if last.error else "")
                )
            # The system may still be recovering from the previous example's
            # faults; setup writes are idempotent, so simply send them again.
            specs = failed
            await asyncio.sleep(0.2 * (attempt + 1))

    async def _batch(
        self, client: WorkloadClient, nemesis: Nemesis, batch: Batch, keys: KeySpace
    ) -> None:
        replicas = len(self.system.client_urls)
        specs = [materialize(op, keys, self.workload, replicas=replicas) for op in batch.ops]
        answered = [asyncio.Event() for _ in batch.ops]  # an op that follows one waits for it

        async def send(index: int, op: ClientOp, spec: OpSpec) -> None:
            try:
                if op.after is not None:
                    await answered[op.after].wait()
                if op.delay_ms:
                    await asyncio.sleep(op.delay_ms / 1000)
                await client.execute(spec)
            finally:
                answered[index].set()

        async def fault_after(delay_ms: int, fault: Fault) -> None:
            await asyncio.sleep(delay_ms / 1000)
            await asyncio.to_thread(nemesis.start, fault)
            self._tell("start", fault)

        if batch.fault is not None and batch.fault_delay_ms == 0:
            await fault_after(0, batch.fault)  # in place before the first request leaves
        tasks = [send(i, *sent) for i, sent in enumerate(zip(batch.ops, specs, strict=True))]
        if batch.fault is not None and batch.fault_delay_ms > 0:
            tasks.append(fault_after(batch.fault_delay_ms, batch.fault))
        await asyncio.gather(*tasks)

    async def _settle(
        self, client: WorkloadClient, prefix: str, *, first_snapshot: int = 0
    ) -> _Judged:
        """Read snapshots until the system has settled, then judge the last one.

        Settled: nothing pending, and -- when anything may still be moving
        (`_unsettled`) -- two equal snapshots a quiet interval apart (a
        definite violation is trusted only then too). At the deadline the last snapshot is judged
        as it is, pending findings becoming violations. Snapshots are numbered
        from ``first_snapshot``: a recheck goes on after the example's own, so
        the last snapshot of the history is always the latest one read.
        """
        started = time.monotonic()
        deadline = started + self.settle_timeout_s
        # A deadline passing changes the state by itself (a hold expires, an
        # auction closes): the reads of one snapshot, sent together, may fall on
        # both sides of it and contradict each other, though neither is wrong.
        moving = bool(self.workload.deadlines()) or _unsettled(
            client.recorder.history(), self.system.spec.replica_names
        )
        previous: tuple[Any, ...] | None = None
        interval = POLL_S
        number = first_snapshot
        spent = {"settle_wait": 0.0, "final_reads": 0.0, "checking": 0.0}
        while True:
            raise_if_stopped()
            # Ledger first, then state: a side effect seen in the ledger was
            # caused by state the following read can see, never the reverse.
            mark = time.monotonic()
            await self._note_exits(client.recorder)
            self.ledger.refresh()
            ledgers = self.ledger.of(prefix)
            snapshot = await read_snapshot(client, number=number)
            checked = time.monotonic()
            verdicts = self.check(client.recorder.history(), snapshot.final, ledgers)
            now = time.monotonic()
            spent["final_reads"] += checked - mark
            spent["checking"] += now - checked
            current = (snapshot.answers, ledgers.effects)
            steady = not moving or previous == current
            waiting = any(e.pending for v in verdicts for e in v.evidence)
            definite = any(v.status == "invalid" and not v.waiting for v in verdicts)
            if steady and not waiting:
                return _Judged(snapshot, ledgers, verdicts, settled=True, phases=spent)
            if steady and definite:
                # One definite violation decides the example; what others still
                # wait for is not evidence yet, so it is not called a violation.
                failed = ", ".join(
                    v.invariant for v in verdicts if v.status == "invalid" and not v.waiting
                )
                why = f"judged without waiting, {failed} having failed for good"
                verdicts = tuple(undecided(v, why) for v in verdicts)
                return _Judged(snapshot, ledgers, verdicts, settled=True, phases=spent)
            if now >= deadline:
                late = tuple(expire_pending(v, now - started) for v in verdicts)
                return _Judged(snapshot, ledgers, late, settled=False, phases=spent)
            previous = current
            number += 1
            pause = QUIET_S if not waiting else interval
            interval = min(interval * 1.5, POLL_MAX_S)
            await asyncio.sleep(min(pause, max(deadline - now, 0.0)))
            spent["settle_wait"] += time.monotonic() - now


class SetupFailed(RuntimeError):
    """The example's setup (before any fault) did not succeed: a harness or target error."""


def next_snapshot(history: History) -> int:
    """The number after every settle snapshot already in ``history`` (0 if none)."""
    numbers = [
        int(e.value.get("snapshot") or 0)
        for e in history.events
        if e.type == "invoke" and e.phase == "final"
    ]
    return 1 + max(numbers, default=-1)


def _unsettled(history: History, client_links: Collection[str]) -> bool:
    """Could the target still be working on something the clients sent?

    Yes after an indeterminate answer, and after a fault that reached past the
    clients' own links. Faults only on the client links (latency, a cut) with
    every answer definite leave nothing behind, as if there had been no fault:
    each request reached the target, which handled it and answered; only the
    way in and out was slow.
    """
    return any(op.outcome == "info" for op in history.operations()) or any(
        not _on_client_link(event.value.get("fault"), client_links)
        for event in history.nemesis_events()
    )


def _on_client_link(fault: Any, client_links: Collection[str]) -> bool:
    """A toxic or partition on a link between the clients and a replica."""
    return (
        isinstance(fault, Mapping)
        and fault.get("kind") in ("toxic", "partition")
        and fault.get("link") in client_links
    )


def _stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    """Sum partner counters across endpoints: replays and injected failures in this example."""
    out = {"replays": 0, "injected_failures": 0}
    for endpoint, now in after.items():
        if not isinstance(now, Mapping):
            continue
        was = before.get(endpoint) or {}
        out["replays"] += int(now.get("replays", 0)) - int(was.get("replays", 0))
        inj_now = now.get("injected") or {}
        inj_was = was.get("injected") or {}
        out["injected_failures"] += sum(int(v) for v in inj_now.values()) - sum(
            int(v) for v in inj_was.values()
        )
    return out


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
