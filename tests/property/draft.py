"""A run under construction: operations with times, nemesis events and partner
effects, kept mutable so models can build it and mutations can edit it, then
frozen into exactly what a real run hands the checkers.

``Draft.freeze`` plays the roles of the `Recorder` (event indices in time
order, op ids handed out at invoke time, phases), of
``harness.workload.final.final_state`` (the `FinalState` is built from the
*last* round of final reads on node 0, process 0: the first ``ok`` answer per
key, 200 -> body, 404 -> ``None`` where a 404 means "does not exist", absent
otherwise) and of the partner (effects in ledger order, ``time`` on the
partner's monotonic clock, ``t0`` + the history's time).

Times are milliseconds inside a draft and seconds in the frozen history.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from harness.history import Effect, EffectKind, Event, FinalState, History, Ledgers, Phase

Outcome: TypeAlias = Literal["ok", "fail", "info"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalRead:
    """One kind of final read, as ``harness.workload.final`` does it."""

    f: str
    field: str
    slot: str
    not_found_known: bool


FINAL_READS: Mapping[str, tuple[FinalRead, ...]] = {
    "inventory": (
        FinalRead(f="read_stock", field="sku", slot="stock", not_found_known=False),
        FinalRead(f="read_order", field="order_id", slot="orders", not_found_known=True),
    ),
    "payments": (
        FinalRead(f="read_payment", field="payment_id", slot="payments", not_found_known=True),
    ),
    "matching": (FinalRead(f="read_matches", field="user", slot="matches", not_found_known=False),),
}
READ_FIELD: Mapping[str, str] = {r.f: r.field for rs in FINAL_READS.values() for r in rs}


@dataclass(slots=True, kw_only=True)
class Op:
    """One HTTP attempt: an invoke and (unless ``outcome`` is None) one completion.

    ``points`` are the model's linearization points (ms) of this attempt's
    effect steps; empty when it had no effect. ``final_round`` numbers the
    quiescence round of a final-phase read (1, 2, ...).
    """

    process: int
    f: str
    body: dict[str, Any]
    phase: Phase
    t_invoke: float
    t_done: float | None
    outcome: Outcome | None = None
    status: int | None = None
    answer: Any = None
    error: str | None = None
    node: int = 0
    attempt: int = 1
    final_round: int = 0
    points: list[float] = field(default_factory=list)
    note: str = ""  # how the model produced it (for reading failures)

    @property
    def key(self) -> str:
        """The id this op is about (order, payment, swipe id; or what a read reads)."""
        name = (
            READ_FIELD.get(self.f)
            or {
                "order": "order_id",
                "pay": "payment_id",
                "swipe": "swipe_id",
                "set_stock": "sku",
            }[self.f]
        )
        return str(self.body[name])

    def complete(
        self, outcome: Outcome | None, status: int | None, answer: Any, error: str | None = None
    ) -> None:
        self.outcome, self.status, self.answer, self.error = outcome, status, answer, error


@dataclass(slots=True, kw_only=True)
class Fx:
    """One partner effect (a ledger entry) at ``time`` ms on the history's clock."""

    kind: EffectKind
    effect_id: str
    body: dict[str, Any]
    time: float
    idempotency_key: str | None = None


@dataclass(slots=True, kw_only=True)
class NemesisEvent:
    time: float
    f: Literal["start", "heal"]
    fault_id: int
    fault: dict[str, Any]
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class Draft:
    workload: str
    replicas: int
    ops: list[Op] = field(default_factory=list)
    nemesis: list[NemesisEvent] = field(default_factory=list)
    effects: list[Fx] = field(default_factory=list)
    t0: float = 1000.0  # the recorder's clock reading at time 0, in seconds

    def copy(self) -> Draft:
        """A copy whose ops and effects can be edited without touching this one.

        Shallow per op and per effect: whoever edits a copy *replaces* an
        attribute (``op.answer = {...}``, ``fx.body = {...}``), never changes a
        body, an answer or a list of points in place.
        """
        return Draft(
            workload=self.workload,
            replicas=self.replicas,
            t0=self.t0,
            ops=[copy.copy(op) for op in self.ops],
            nemesis=list(self.nemesis),
            effects=[copy.copy(fx) for fx in self.effects],
        )

    # --- views used by models, mutations and tests ------------------------------------

    def select(self, *fs: str, phase: Phase | None = None) -> Iterator[Op]:
        return (op for op in self.ops if op.f in fs and (phase is None or op.phase == phase))

    def attempts(self, f: str, key: str) -> list[Op]:
        """Main-phase attempts of the write ``f`` at id ``key``, in invoke order."""
        return sorted(
            (op for op in self.select(f, phase="main") if op.key == key),
            key=lambda op: op.t_invoke,
        )

    def last_round(self) -> int:
        return max((op.final_round for op in self.select(*READ_FIELD, phase="final")), default=0)

    def final_reads(self, f: str, key: str) -> list[Op]:
        """The last round's final reads of ``key`` on every node, in invoke order."""
        last = self.last_round()
        return sorted(
            (
                op
                for op in self.select(f, phase="final")
                if op.final_round == last and op.key == key
            ),
            key=lambda op: op.t_invoke,
        )

    def set_final_answer(self, f: str, key: str, status: int, answer: Any) -> None:
        """Make every ok final read of ``key`` in the last round answer ``status``/``answer``."""
        for op in self.final_reads(f, key):
            if op.outcome == "ok":
                op.status, op.answer = status, copy.deepcopy(answer)

    def end(self) -> float:
        """The latest time anything in the draft happened."""
        times = [t for op in self.ops for t in (op.t_invoke, op.t_done) if t is not None]
        times += [e.time for e in self.nemesis] + [fx.time for fx in self.effects]
        return max(times, default=0.0)

    # --- freezing --------------------------------------------------------------------

    def history(self) -> History:
        """The events, in time order, numbered as a `Recorder` numbers them."""
        rows: list[tuple[float, int, int, Any]] = []
        for seq, op in enumerate(self.ops):
            rows.append((op.t_invoke, 0, seq, ("invoke", op)))
            if op.outcome is not None:
                assert op.t_done is not None and op.t_done > op.t_invoke, op
                rows.append((op.t_done, 1, seq, ("done", op)))
        for seq, ne in enumerate(self.nemesis):
            rows.append((ne.time, 0, len(self.ops) + seq, ("nemesis", ne)))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        events: list[Event] = []
        ids: dict[int, int] = {}
        next_id = 0
        for time, _, _, (what, item) in rows:
            index = len(events)
            if what == "nemesis":
                events.append(
                    Event(
                        index=index,
                        op_id=next_id,
                        type="nemesis",
                        process="nemesis",
                        f=item.f,
                        time=time / 1000,
                        value={"id": item.fault_id, "fault": item.fault},
                        error=item.error,
                        phase="main",
                    )
                )
                next_id += 1
            elif what == "invoke":
                ids[id(item)] = next_id
                events.append(
                    Event(
                        index=index,
                        op_id=next_id,
                        type="invoke",
                        process=item.process,
                        f=item.f,
                        time=time / 1000,
                        value={
                            "node": item.node,
                            "attempt": item.attempt,
                            "body": item.body,
                            # The runner numbers its settle snapshots; so do final rounds.
                            **({"snapshot": item.final_round} if item.phase == "final" else {}),
                        },
                        phase=item.phase,
                    )
                )
                next_id += 1
            else:
                events.append(
                    Event(
                        index=index,
                        op_id=ids[id(item)],
                        type=item.outcome,
                        process=item.process,
                        f=item.f,
                        time=time / 1000,
                        value={"status": item.status, "body": item.answer},
                        error=item.error,
                        phase=item.phase,
                    )
                )
        return History(tuple(events))

    def final_state(self) -> FinalState:
        """What ``final_state`` returns: the last round, node 0, first ok answer per key."""
        slots: dict[str, dict[str, Any]] = {r.slot: {} for r in FINAL_READS[self.workload]}
        last = self.last_round()
        for read in FINAL_READS[self.workload]:
            reads = sorted(
                (
                    op
                    for op in self.select(read.f, phase="final")
                    if op.final_round == last and op.node == 0 and op.process == 0
                ),
                key=lambda op: op.t_invoke,
            )
            for op in reads:
                key = op.key
                if op.outcome != "ok" or key in slots[read.slot]:
                    continue
                if op.status == 200:
                    slots[read.slot][key] = op.answer
                elif read.not_found_known:
                    slots[read.slot][key] = None
        return FinalState(workload=self.workload, values=slots)

    def ledgers(self) -> Ledgers:
        ordered = sorted(enumerate(self.effects), key=lambda p: (p[1].time, p[0]))
        return Ledgers(
            tuple(
                Effect(
                    kind=fx.kind,
                    effect_id=fx.effect_id,
                    body=fx.body,
                    idempotency_key=fx.idempotency_key,
                    time=self.t0 + fx.time / 1000,
                )
                for _, fx in ordered
            )
        )

    def freeze(self) -> Run:
        return Run(
            workload=self.workload,
            history=self.history(),
            final=self.final_state(),
            ledgers=self.ledgers(),
            draft=self,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What the checkers get, plus the draft it was frozen from (to mutate a copy)."""

    workload: str
    history: History
    final: FinalState
    ledgers: Ledgers
    draft: Draft

    def __repr__(self) -> str:  # Hypothesis prints falsifying examples with repr
        return describe(self)


def describe(run: Run) -> str:
    """The run as readable lines: events, final state, ledger (for failure reports)."""
    lines = [f"Run(workload={run.workload!r}, replicas={run.draft.replicas})", "history:"]
    for e in run.history:
        extra = f" error={e.error!r}" if e.error else ""
        lines.append(
            f"  {e.index:3d} op{e.op_id:<3d} {e.phase:5s} {e.time:8.3f}s p={e.process!s:7s} "
            f"{e.type:7s} {e.f:12s} {_compact(e.value)}{extra}"
        )
    lines.append(f"final: {_compact(run.final.to_json())}")
    lines.append("ledger:")
    for fx in run.ledgers.effects:
        lines.append(
            f"  {fx.time - run.draft.t0:8.3f}s {fx.kind:8s} {fx.effect_id} {_compact(fx.body)}"
        )
    return "\n".join(lines)


def _compact(value: Any) -> str:
    import json

    from harness.history import thaw

    return json.dumps(thaw(value), separators=(",", ":"), sort_keys=True)
