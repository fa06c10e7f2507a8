"""The random baseline: what a Jepsen- or Chaos-Toolkit-style run would try.

Uniform random operations (the workload's own op mix) in concurrent batches,
and a nemesis on a timer: a random fault from the row's families starts
during a batch and is healed a random while later, then the next one. No
Hypothesis search, no shrinking, no example database: a seeded
``random.Random`` makes every schedule, so a seed replays the whole run.
The schedules are the same `Schedule` values the runner plays for the
guided search, which is what makes the two comparable (bench/search_power.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.control import BuildContext
from hypothesis.internal.conjecture.data import ConjectureData

from harness.nemesis.faults import Fault
from harness.schedule.families import Family
from harness.schedule.model import Batch, Heal, Schedule, Step, Wait
from harness.schedule.shape import Shape
from harness.schedule.strategies import OpState, setups
from harness.workload.api import Workload
from harness.workload.builtin import resolve

T = TypeVar("T")
TIMER_MS = (50, 200, 500, 1000)
"""How long the nemesis waits between its moves (drawn uniformly)."""
MAX_FAULT_DELAY_MS = 300


class _Draw:
    """Draws values of Hypothesis strategies with a plain ``random.Random``:
    the same value spaces as the guided search (faults, setup, requests),
    with none of its search. A fresh ConjectureData per schedule keeps each
    within Hypothesis's per-example choice limit; the build context is what
    ``st.builds`` and ``st.composite`` need outside a Hypothesis test."""

    def __init__(self, rnd: random.Random) -> None:
        self._data = ConjectureData(random=rnd)
        self.context = BuildContext(self._data, is_final=True, wrapped_test=random_schedule)

    def __call__(self, strategy: st.SearchStrategy[T]) -> T:
        return self._data.draw(strategy)


def random_schedule(
    rnd: random.Random,
    workload: Workload | str,
    families: Sequence[Family],
    shape: Shape,
    *,
    partner: bool = True,
) -> Schedule:
    """One schedule of at most ``shape.max_steps + 2`` steps using only the
    faults of ``families``; the same ``rnd`` state gives the same schedule."""
    draw = _Draw(rnd)
    with draw.context:
        return _random_schedule(rnd, draw, resolve(workload), families, shape, partner=partner)


def _random_schedule(
    rnd: random.Random,
    draw: Any,
    declared: Workload,
    families: Sequence[Family],
    shape: Shape,
    *,
    partner: bool,
) -> Schedule:
    nemesis = [f for f in families if not f.is_client_side()]
    setup = draw(setups(declared, shape, partner=partner))
    ops = OpState(declared, shape, {f.kind for f in families}, setup)

    def fault() -> Fault:
        family = rnd.choice(nemesis)
        drawn: Fault = draw(family.faults(shape))
        return drawn

    steps: list[Step] = []
    active = False
    for _ in range(rnd.randint(1, shape.max_steps)):
        if active and rnd.random() < 0.5:
            # The timer runs out: heal, then the nemesis rests a while.
            steps.append(Heal())
            active = False
            continue
        batch = ops.draw_batch(draw, rnd.randint(1, shape.max_batch))
        if nemesis and not active and rnd.random() < 0.5:
            steps.append(
                Batch(ops=batch, fault=fault(), fault_delay_ms=rnd.randint(0, MAX_FAULT_DELAY_MS))
            )
            active = True
        else:
            steps.append(Batch(ops=batch))
        if rnd.random() < 0.5:
            steps.append(Wait(ms=rnd.choice(TIMER_MS)))
    if len(steps) > shape.max_steps + 1:
        steps = steps[: shape.max_steps + 1]
    if not any(isinstance(s, Batch) for s in steps):
        steps.append(Batch(ops=(ops.draw_op(draw),)))
    return Schedule(workload=declared.name, setup=setup, steps=tuple(steps))


def random_schedules(
    seed: int,
    workload: Workload | str,
    families: Sequence[Family],
    shape: Shape,
    *,
    partner: bool = True,
    count: int,
) -> list[Schedule]:
    """The run's ``count`` schedules for ``seed``, in the order they are played."""
    rnd = random.Random(seed)
    return [
        random_schedule(rnd, workload, families, shape, partner=partner) for _ in range(count)
    ]
