"""Every example the guided search plays is a new draw, not a near copy.

Hypothesis follows each new test case of its generate phase with up to five
mutated copies of it (one part of it pasted over another part drawn by the same
strategy): for a unit test that runs in microseconds, a cheap way to reach
inputs with repeated values. Here an example runs a real system for seconds,
and in a 20-example search those copies were most of the examples: the same
batches with one request changed, or the very same schedule again. The random
baseline meanwhile drew 20 different schedules, and found the races sooner.

Hypothesis has no setting for it, so the harness turns that one step off while
its own searches run (its own draws aim requests at shared keys already).
Shrinking and the example database are untouched. With another
Hypothesis that lacks the step, this does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis.internal.conjecture.engine import ConjectureRunner

_STEP = "generate_mutations_from"
_lock = threading.Lock()
_depth = 0
_original: Any = None


def _skip(self: ConjectureRunner, data: Any) -> None:
    """No copies: the next example is a new draw."""


@contextmanager
def fresh_examples() -> Iterator[None]:
    """Within the block, Hypothesis's generate phase plays new draws only
    (nested and concurrent blocks share one switch, restored by the last)."""
    global _depth, _original
    with _lock:
        if _depth == 0 and hasattr(ConjectureRunner, _STEP):
            _original = getattr(ConjectureRunner, _STEP)
            setattr(ConjectureRunner, _STEP, _skip)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _original is not None:
                setattr(ConjectureRunner, _STEP, _original)
                _original = None
