"""Play one schedule against a live system and judge it: one Hypothesis example.

Steps run in order with a barrier after each (a batch completes before the
next step), so replaying a schedule reproduces it as far as a real system
allows. Every fault is healed in ``finally``; then the runner waits for
quiescence, reads the final state, and runs the row's checkers on the
history -- which is on disk before any checker runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history import FinalState, History, Ledgers, Recorder, thaw
from harness.nemesis.faults import Fault
from harness.nemesis.nemesis import Nemesis
from harness.partner.control import PartnerControl
from harness.schedule.coverage import coverage_of
from harness.schedule.model import Batch, Heal, Schedule, StartFault, Wait, materialize
from harness.system import LiveSystem
from harness.workload.client import WorkloadClient
from harness.workload.final import final_state
from harness.workload.keys import KeySpace
from harness.workload.ops import OpSpec
from invariants import Verdict, check

# Invariants about what happens *after* the answers (outbox, consumers,
# reconcilers): the runner waits for quiescence before reading for them.
EVENTUAL = frozenset({"exactly_once_shipment", "no_unrecorded_money", "every_match_announced"})
QUIET_S = 0.4
SETUP_ATTEMPTS = 4
POLL_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class ExampleOutcome:
    """The judged result of one schedule execution."""

    number: int
    schedule: Schedule
    history_path: Path
    verdicts: tuple[Verdict, ...]
    coverage: Mapping[str, int]
    final: FinalState
    ledgers: Ledgers
    duration_s: float
    settle_s: float

    @property
    def failed(self) -> bool:
        return any(v.status == "invalid" for v in self.verdicts)

    def violated(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status == "invalid")


class ExampleRunner:
    """Runs schedules for one row on one live system; examples get fresh keys."""

    def __init__(
        self,
        system: LiveSystem,
        *,
        workload: str,
        invariants: Sequence[str],
        out_dir: Path,
        run_id: str,
        settle_timeout_s: float = 10.0,
    ) -> None:
        self.system = system
        self.workload = workload
        self.invariants = tuple(invariants)
        self.out_dir = out_dir
        self.run_id = run_id
        self.settle_timeout_s = settle_timeout_s
        self.eventual = bool(EVENTUAL & set(self.invariants))
        self._count = 0
        self._loop = asyncio.Runner()

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> ExampleRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, schedule: Schedule) -> ExampleOutcome:
        number = self._count
        self._count += 1
        return self._loop.run(self._run(schedule, number))

    async def _run(self, schedule: Schedule, number: int) -> ExampleOutcome:
        started = time.monotonic()
        keys = KeySpace.for_example(self.run_id, number)
        path = self.out_dir / "examples" / f"{number:05d}.jsonl"
        partner = self.system.partner_control
        stats_before = partner.stats() if partner is not None else {}
        recorder = Recorder(path)
        try:
            async with WorkloadClient(self.workload, self.system.client_urls, recorder) as client:
                await self._setup(client, schedule, keys, partner)
                recorder.set_phase("main")
                nemesis = Nemesis(self.system, recorder)
                try:
                    for step in schedule.steps:
                        if isinstance(step, Batch):
                            await self._batch(client, nemesis, step, keys)
                        elif isinstance(step, StartFault):
                            await asyncio.to_thread(nemesis.start, step.fault)
                        elif isinstance(step, Heal):
                            await asyncio.to_thread(nemesis.heal_all)
                        elif isinstance(step, Wait):
                            await asyncio.sleep(step.ms / 1000)
                finally:
                    # Synchronous on purpose: it must finish even when this
                    # task is being cancelled (Ctrl-C).
                    nemesis.heal_all()
                settle_started = time.monotonic()
                final, ledgers = await self._quiesce(client, keys, partner)
                settle_s = time.monotonic() - settle_started
        finally:
            recorder.close()
        history = recorder.history()
        _write_json(path.with_suffix(".final.json"), final.to_json())
        _write_json(path.with_suffix(".ledger.json"), [e.to_json() for e in ledgers.effects])
        verdicts = check(self.invariants, history, final, ledgers)
        delta = _stats_delta(stats_before, partner.stats()) if partner is not None else {}
        return ExampleOutcome(
            number=number,
            schedule=schedule,
            history_path=path,
            verdicts=verdicts,
            coverage=coverage_of(history, delta, [e.time - recorder.t0 for e in ledgers.effects]),
            final=final,
            ledgers=ledgers,
            duration_s=time.monotonic() - started,
            settle_s=settle_s,
        )

    async def _setup(
        self,
        client: WorkloadClient,
        schedule: Schedule,
        keys: KeySpace,
        partner: PartnerControl | None,
    ) -> None:
        client.recorder.set_phase("setup")
        specs = [
            OpSpec(f="set_stock", body={"sku": keys.sku(i), "available": n}, process=0)
            for i, n in enumerate(schedule.setup.stock)
        ]
        for attempt in range(SETUP_ATTEMPTS):
            answers = await client.execute_batch(specs)
            failed = [
                spec for spec, events in zip(specs, answers, strict=True) if events[-1].type != "ok"
            ]
            if not failed:
                break
            if attempt == SETUP_ATTEMPTS - 1:
                raise SetupFailed(
                    f"setting stock failed before any fault, {SETUP_ATTEMPTS} times: "
                    f"{thaw(answers[specs.index(failed[0])][-1].value)}"
                )
            # The system may still be recovering from the previous example's
            # faults; setup writes are idempotent, so simply send them again.
            specs = failed
            await asyncio.sleep(0.2 * (attempt + 1))
        if schedule.setup.declined:
            if partner is None:
                raise SetupFailed("the schedule declines payments but there is no partner")
            partner.decline([keys.payment_id(i) for i in schedule.setup.declined])

    async def _batch(
        self, client: WorkloadClient, nemesis: Nemesis, batch: Batch, keys: KeySpace
    ) -> None:
        replicas = len(self.system.client_urls)

        async def send(delay_ms: int, spec: OpSpec) -> None:
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            await client.execute(spec)

        async def fault_after(delay_ms: int, fault: Fault) -> None:
            await asyncio.sleep(delay_ms / 1000)
            await asyncio.to_thread(nemesis.start, fault)

        tasks = [send(op.delay_ms, materialize(op, keys, replicas=replicas)) for op in batch.ops]
        if batch.fault is not None:
            tasks.append(fault_after(batch.fault_delay_ms, batch.fault))
        await asyncio.gather(*tasks)

    async def _quiesce(
        self, client: WorkloadClient, keys: KeySpace, partner: PartnerControl | None
    ) -> tuple[FinalState, Ledgers]:
        """Read the final state; for eventual invariants, first wait (bounded)
        until the target's asynchronous work has caught up -- nothing pending,
        every accepted order shipped, every match announced -- and then one
        quiet interval more, so late duplicates are seen too. A bug that
        never catches up simply runs into the deadline and is judged."""
        deadline = time.monotonic() + self.settle_timeout_s
        prefix = keys.prefix + "-"
        # Requests may still be running inside the target (a paused replica
        # resumes and works through its queue) whenever a fault happened or an
        # answer was lost; then only two equal snapshots mean quiescence.
        moving = self.eventual or _unsettled(client.recorder.history())
        previous: tuple[FinalState, Ledgers] | None = None
        while True:
            # Ledger first, then state: a side effect seen in the ledger was
            # caused by state the following read can see, never the reverse.
            ledgers = _own(partner.ledgers(), prefix) if partner is not None else Ledgers()
            final = await final_state(client)
            if not moving or time.monotonic() >= deadline:
                return final, ledgers
            caught_up = _caught_up(final, ledgers)
            # Quiescent: caught up, and nothing moved between two snapshots.
            if caught_up and previous == (final, ledgers):
                return final, ledgers
            previous = (final, ledgers)
            await asyncio.sleep(QUIET_S if caught_up else POLL_S)


class SetupFailed(RuntimeError):
    """The example's setup (before any fault) did not succeed: a harness or target error."""


def _unsettled(history: History) -> bool:
    """Could the target still be working on something the clients sent?"""
    return bool(history.nemesis_events()) or any(
        op.outcome == "info" for op in history.operations()
    )


def _caught_up(final: FinalState, ledgers: Ledgers) -> bool:
    """Has the asynchronous part of the target (reconciler, relay, consumer)
    done what a correct design eventually does?"""
    if any(p is not None and p.get("status") == "pending" for p in final.payments.values()):
        return False
    shipped = {e.body.get("order_id") for e in ledgers.of("shipment")}
    if any(
        o is not None and o.get("status") == "accepted" and oid not in shipped
        for oid, o in final.orders.items()
    ):
        return False
    announced = {e.body.get("match_id") for e in ledgers.of("message")}
    return all(m.get("match_id") in announced for ms in final.matches.values() for m in ms)


def _mentions(value: Any, prefix: str) -> bool:
    if isinstance(value, str):
        return value.startswith(prefix)
    if isinstance(value, Mapping):
        return any(_mentions(v, prefix) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v, prefix) for v in value)
    return False


def _own(ledgers: Ledgers, prefix: str) -> Ledgers:
    """The partner is shared by all examples; keep the effects naming this example's ids."""
    return Ledgers(tuple(e for e in ledgers.effects if _mentions(e.body, prefix)))


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
