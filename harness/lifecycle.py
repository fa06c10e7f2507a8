"""One shape for everything a run starts and must stop: a with-block that always stops.

Stacks, targets and the live system each start several processes; whatever
happens inside the block (a failed check, Ctrl-C), leaving it stops them all.
A ``start()`` that fails half-way stops what it had started itself before
raising, since it is also called outside a with-block.
"""

from __future__ import annotations

from typing import Self, TypeVar

T = TypeVar("T")


class Lifecycle:
    """Base for objects with ``start()`` and ``stop()`` used as context managers."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def started(value: T | None, what: str = "the stack") -> T:
    """``value``, which exists only once ``start()`` has run; else a clear error."""
    if value is None:
        raise RuntimeError(f"{what} has not been started; use it as a context manager")
    return value
