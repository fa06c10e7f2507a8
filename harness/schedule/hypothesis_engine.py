"""Two changes to Hypothesis's engine while the harness's own searches run.

**Every example is a new draw, not a near copy.** Hypothesis follows each new
test case of its generate phase with up to five mutated copies of it (one part
of it pasted over another part drawn by the same strategy): for a unit test
that runs in microseconds, a cheap way to reach inputs with repeated values.
Here an example runs a real system for seconds, and in a 20-example search
those copies were most of the examples: the same batches with one request
changed, or the very same schedule again. The random baseline meanwhile drew
20 different schedules, and found the races sooner. So that step is off (the
harness's own draws aim requests at shared keys already).

**The draws follow the seed alone.** Hypothesis keeps, for the example
database, a Pareto front of the examples that scored best on the ``target()``
signals, and the front's upkeep (a randomised clear-down on each example
added) drew from the engine's own random stream, the one new examples are
drawn from. The scores come from a real system's timing (operations in
flight, operations sent together), so two searches of one seed on an empty
database drew different schedules from the second example on, and
``--seed`` did not replay a search. The front now draws from a random stream
of its own: what it keeps is unchanged, and the schedules drawn depend on the
seed and on which examples failed, not on timing.

Hypothesis has no setting for either, so the harness changes the engine only
while its own searches run. Shrinking and the example database are untouched.
With another Hypothesis that lacks either part, that change does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from random import Random
from typing import Any

from hypothesis.internal.conjecture import engine

_MUTATIONS = "generate_mutations_from"
_FRONT = "ParetoFront"
_lock = threading.Lock()
_depth = 0
_originals: dict[tuple[object, str], Any] = {}


def _no_copies(self: engine.ConjectureRunner, data: Any) -> None:
    """No copies: the next example is a new draw."""


def _front_of_its_own(front: Any) -> Any:
    """``ParetoFront``, built with a random stream of its own, whatever the
    engine passes (the engine's stream is the one examples are drawn from)."""

    def build(_engine_random: Random) -> Any:
        return front(Random(0))

    return build


def _changes() -> list[tuple[object, str, Any]]:
    """(owner, attribute, replacement) for each part this Hypothesis has."""
    found: list[tuple[object, str, Any]] = []
    if hasattr(engine.ConjectureRunner, _MUTATIONS):
        found.append((engine.ConjectureRunner, _MUTATIONS, _no_copies))
    if hasattr(engine, _FRONT):
        found.append((engine, _FRONT, _front_of_its_own(getattr(engine, _FRONT))))
    return found


@contextmanager
def harness_draws() -> Iterator[None]:
    """Within the block, Hypothesis's generate phase plays new draws only, drawn
    from the seed alone (nested and concurrent blocks share one switch,
    restored by the last)."""
    global _depth
    with _lock:
        if _depth == 0:
            for owner, name, replacement in _changes():
                _originals[(owner, name)] = getattr(owner, name)
                setattr(owner, name, replacement)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for (owner, name), original in _originals.items():
                    setattr(owner, name, original)
                _originals.clear()
