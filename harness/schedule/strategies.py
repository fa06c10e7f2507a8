"""Hypothesis strategies that draw schedules from what a failure-model row allows.

All randomness lives here: which operations, on which replica, in which
interleaving, with which retries and timeouts, and which faults start when.
Alternatives are ordered simplest first (no retry before retry, no fault
before fault) so that shrinking moves towards the plainest schedule that
still fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from harness.nemesis.faults import Fault
from harness.schedule.families import Family
from harness.schedule.model import (
    MAX_BATCH,
    MAX_CLIENTS,
    MAX_SKUS,
    Batch,
    ClientOp,
    Heal,
    OpName,
    Schedule,
    Setup,
    StartFault,
    Step,
    Wait,
)
from harness.workload.ops import NO_RETRY, RetryPolicy

DEFAULT_TIMEOUT_MS = 2000
WORKLOAD_OPS = {"inventory": "order", "payments": "pay", "matching": "swipe"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """Size limits of one drawn schedule (a design row may tighten them)."""

    replicas: int = 2
    clients: int = 4
    max_steps: int = 5
    max_batch: int = 5
    keys: int = 8
    users: int = 4
    skus: int = 2
    max_stock: int = 6
    max_pause_ms: int = 0
    """Longest timed pause a ``pause`` fault may draw (0: pauses last until healed)."""


# Inclusive bounds of the Shape fields a design row may set (replicas follows
# the target). Any shape inside them draws schedules that Schedule.from_json
# accepts: at most 50 + 2 steps (a batch may be added, and a wait before the
# final heal), key and swipe indices below harness.workload.keys.MAX_INDEX,
# amounts of at most 100 * keys cents.
SHAPE_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "clients": (1, MAX_CLIENTS),
        "max_steps": (1, 50),
        "max_batch": (1, MAX_BATCH),
        "keys": (1, 1000),
        "users": (2, 1000),
        "skus": (1, MAX_SKUS),
        "max_stock": (1, 1000),
        "max_pause_ms": (0, 60_000),
    }
)


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
    draw: st.DrawFn, workload: str, families: Sequence[Family], shape: Shape = Shape()
) -> Schedule:
    """A schedule for ``workload`` using only the faults ``families`` allow."""
    kinds = {f.kind for f in families}
    nemesis = [
        f.faults(max_pause_ms=shape.max_pause_ms) for f in families if not f.is_client_side()
    ]
    faults: st.SearchStrategy[Fault] | None = st.one_of(nemesis) if nemesis else None
    setup = draw(_setups(workload, shape))
    ops_state = _OpState(workload, shape, kinds, setup)

    steps: list[Step] = []
    n_steps = draw(st.integers(1, shape.max_steps))
    for _ in range(n_steps):
        # Batches dominate (a schedule that mostly waits tests nothing), and
        # in a row with faults most steps carry one: shrinking removes the
        # ones a failure does not need.
        choices = ["batch", "batch"]
        if faults is not None:
            choices += ["batch_fault", "batch_fault", "batch_fault", "start", "start", "heal"]
        choices.append("wait")
        kind = draw(st.sampled_from(choices))
        if kind in ("batch", "batch_fault"):
            ops = draw(st.lists(ops_state.ops(), min_size=1, max_size=shape.max_batch))
            if kind == "batch_fault" and faults is not None:
                steps.append(
                    Batch(
                        ops=tuple(ops),
                        fault=draw(faults),
                        # Often at once, so the fault also meets the side
                        # effects the batch sets off (outbox, consumers).
                        fault_delay_ms=draw(st.one_of(st.just(0), st.integers(1, 300))),
                    )
                )
            else:
                steps.append(Batch(ops=tuple(ops)))
        elif kind == "start" and faults is not None:
            steps.append(StartFault(fault=draw(faults)))
        elif kind == "heal":
            steps.append(Heal())
        else:
            steps.append(Wait(ms=draw(st.sampled_from((50, 200, 500)))))
    if not any(isinstance(s, Batch) for s in steps):
        steps.append(Batch(ops=(draw(ops_state.ops()),)))
    if faults is not None:
        # Linger before the final heal, so faults still active also meet the
        # side effects the last batch set off (relay, consumer, reconciler).
        linger = draw(st.sampled_from((0, 300, 1000)))
        if linger:
            steps.append(Wait(ms=linger))
    return Schedule(workload=workload, setup=setup, steps=tuple(steps))


def _setups(workload: str, shape: Shape) -> st.SearchStrategy[Setup]:
    if workload == "inventory":
        return st.builds(
            Setup,
            stock=st.lists(st.integers(1, shape.max_stock), min_size=1, max_size=shape.skus).map(
                tuple
            ),
        )
    if workload == "payments":
        return st.builds(
            Setup,
            declined=st.lists(st.integers(0, shape.keys - 1), max_size=2, unique=True).map(
                lambda xs: tuple(sorted(xs))
            ),
        )
    return st.just(Setup())


class _OpState:
    """Draws client operations. The first draw of a key fixes its request, so
    a later op on the same key is a true resend (same id, same body), and a
    user swipes another at most once (a resend reuses the swipe id)."""

    def __init__(self, workload: str, shape: Shape, kinds: set[str], setup: Setup) -> None:
        self.workload = workload
        self.shape = shape
        self.kinds = kinds
        self.setup = setup
        self.args: dict[int, dict[str, int]] = {}
        self.swipes: dict[tuple[int, int], tuple[int, str]] = {}

    def ops(self) -> st.SearchStrategy[ClientOp]:
        return st.composite(lambda draw: self._op(draw))()

    def _op(self, draw: st.DrawFn) -> ClientOp:
        s = self.shape
        # Now and then a read of the contract: consistent_reads judges what
        # reads show while faults are active (shrinks towards no read).
        if draw(st.sampled_from((False, False, False, False, True))):
            return self._read(draw)
        common: dict[str, Any] = {
            "client": draw(st.integers(0, s.clients - 1)),
            "node": draw(st.integers(0, s.replicas - 1)),
            "retry": draw(retry_policies()) if "retry" in self.kinds else NO_RETRY,
            "timeout_ms": (
                draw(st.sampled_from((DEFAULT_TIMEOUT_MS, 500, 250, 100)))
                if "client_timeout" in self.kinds
                else DEFAULT_TIMEOUT_MS
            ),
            # Mostly no delay (concurrency is where races live); sometimes a
            # held-back request that lands after later ones.
            "delay_ms": (
                draw(st.one_of(st.just(0), st.integers(50, 400))) if "reorder" in self.kinds else 0
            ),
        }
        if self.workload == "inventory":
            key = draw(st.integers(0, s.keys - 1))
            if key not in self.args:
                sku = draw(st.integers(0, len(self.setup.stock) - 1))
                self.args[key] = {"sku": sku, "qty": draw(st.integers(1, 3))}
            return ClientOp(f="order", key=key, args=self.args[key], **common)
        if self.workload == "payments":
            key = draw(st.integers(0, s.keys - 1))
            # The amount is a function of the key, so a resend is the same request.
            return ClientOp(f="pay", key=key, args={"amount": 100 * (key + 1)}, **common)
        open_reverse = sorted((b, a) for (a, b) in self.swipes if (b, a) not in self.swipes)
        answer: bool = draw(st.sampled_from((True, True, False))) if open_reverse else False
        if answer:
            # Answer an earlier swipe: mutual swipes are where matching races live.
            swiper, swipee = draw(st.sampled_from(open_reverse))
        else:
            swiper = draw(st.integers(0, s.users - 1))
            swipee = draw(st.integers(0, s.users - 2))
            if swipee >= swiper:
                swipee += 1
        if (swiper, swipee) not in self.swipes:
            # Mostly right: a match needs two, and matches are where bugs live.
            direction = draw(st.sampled_from(("right", "right", "right", "left")))
            self.swipes[(swiper, swipee)] = (len(self.swipes), direction)
        key, direction = self.swipes[(swiper, swipee)]
        return ClientOp(
            f="swipe",
            key=key,
            args={"swiper": swiper, "swipee": swipee, "direction": direction},
            **common,
        )

    def _read(self, draw: st.DrawFn) -> ClientOp:
        s = self.shape
        f: OpName
        count: int
        if self.workload == "inventory":
            stock: bool = draw(st.booleans())
            f, count = ("read_stock", len(self.setup.stock)) if stock else ("read_order", s.keys)
        elif self.workload == "payments":
            f, count = "read_payment", s.keys
        else:
            f, count = "read_matches", s.users
        return ClientOp(
            f=f,
            key=draw(st.integers(0, count - 1)),
            args={},
            client=draw(st.integers(0, s.clients - 1)),
            node=draw(st.integers(0, s.replicas - 1)),
            timeout_ms=DEFAULT_TIMEOUT_MS,
        )
