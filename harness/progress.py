"""Progress of long work as plain data: what the runner and the installer are doing.

The verifier and ``failmodel setup`` call a progress callback with small
frozen events; they never print progress themselves and know nothing of
terminals. ``harness.console`` turns the events into a live ``rich`` display
on a terminal and into plain, one-event-per-line text in CI logs. A test or
a dashboard can pass any callable of the right type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from harness.report import RowResult

VerifyEventKind: TypeAlias = Literal[
    "row_started",  # a row's search begins
    "example_started",  # an example (a schedule) starts running
    "faults",  # the set of active faults changed during an example
    "example_finished",  # an example was judged (``failed`` says how)
    "phase",  # the row moved on: replaying the counterexample, watching for late effects
    "row_finished",  # the row has its verdict (``result``)
]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyEvent:
    """Where one row's search stands. ``example`` is the number of the current
    (or last) example, 1-based; past ``budget`` Hypothesis is shrinking."""

    kind: VerifyEventKind
    design: str
    variant: str
    row: str
    row_index: int
    """0-based place of the row among the rows this run verifies."""
    rows: int
    example: int = 0
    budget: int = 0
    failures: int = 0
    """Failing examples of this row so far."""
    faults: tuple[str, ...] = ()
    """Faults active right now (their descriptions)."""
    elapsed_s: float = 0.0
    """Seconds since the row started."""
    failed: bool = False
    message: str = ""
    seed: int = 0
    result: RowResult | None = None


class VerifyProgress(Protocol):
    """Anything that takes a `VerifyEvent`; it must return quickly and never raise."""

    def __call__(self, event: VerifyEvent) -> None: ...


SetupState: TypeAlias = Literal["started", "finished", "ready"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupEvent:
    """One step of ``failmodel setup``: ``started`` (work begins: ``message``
    says what), ``finished`` (it is done, ``elapsed_s`` how long it took), or
    ``ready`` (nothing to do: it was already installed)."""

    step: str
    state: SetupState
    message: str
    elapsed_s: float = 0.0


SetupProgress: TypeAlias = Callable[[SetupEvent], None]


def no_verify_progress(event: VerifyEvent) -> None:
    """The default: report nothing."""


def no_setup_progress(event: SetupEvent) -> None:
    """The default: report nothing."""
