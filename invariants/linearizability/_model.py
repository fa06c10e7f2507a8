"""What the checker checks against: a sequential model, and the operations of a history."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Generic, TypeVar

from harness.history import Operation

State = TypeVar("State", bound=Hashable)
Input = TypeVar("Input")
Output = TypeVar("Output")


class _Unknown(Enum):
    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown.UNKNOWN
"""The output of an indeterminate operation (``info``, or no completion at all).

A model's ``step`` receives it for such operations and must then accept the
operation (``ok`` true) with the state the operation would leave."""


def _describe_operation(input: Any, output: Any) -> str:
    return f"{input!r} -> {output!r}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Model(Generic[State, Input, Output]):
    """A sequential specification: an initial state and a pure ``step``.

    ``step(state, input, output)`` returns ``(ok, new_state)``: whether the
    operation ``input`` could have answered ``output`` in ``state``, and the
    state after it. It must not mutate anything, and states must be hashable
    and compared by ``==`` (ints, strings, tuples, frozensets, frozen
    dataclasses): the checker caches ``(linearized ops, state)`` pairs. For an
    indeterminate operation ``output`` is ``UNKNOWN``: accept it and return
    the state it would leave.

    Optional fields, each one making the checker faster or its report clearer:

    - ``partition(input)``: a key; operations with different keys never
      interact (a key-value store's key), so each key is checked alone.
      ``init`` is then the state of one key.
    - ``read_only(input, output)``: true when the operation never changes the
      state whenever it is legal (a read, a cas that answered "no swap"). The
      checker places such an operation as soon as it fits, without trying
      the alternatives; a wrong ``True`` is reported as an error when the
      checker sees the state change, and may give a wrong verdict before.
    - ``describe_operation(input, output)`` and ``describe_state(state)``:
      words for the evidence.
    - ``from_operation(op)``: how to read one operation of a failmodel
      history (``harness.history.Operation``, request in ``op.request["body"]``)
      as ``(input, output)``; ``None`` skips the operation. Return any output
      for an indeterminate operation: the reader replaces it with ``UNKNOWN``.

    Example, a counter with ``inc`` and ``get``::

        from invariants.linearizability import UNKNOWN, Model

        def step(state: int, input: str, output: int | None) -> tuple[bool, int]:
            if input == "inc":
                return True, state + 1
            return output is UNKNOWN or output == state, state  # "get"

        COUNTER = Model(
            name="counter",
            init=0,
            step=step,
            read_only=lambda input, output: input == "get",
        )
    """

    name: str
    init: State
    step: Callable[[State, Input, Output], tuple[bool, State]]
    partition: Callable[[Input], Hashable] | None = None
    read_only: Callable[[Input, Output], bool] | None = None
    describe_operation: Callable[[Input, Output], str] = field(default=_describe_operation)
    describe_state: Callable[[State], str] = field(default=repr)
    from_operation: Callable[[Operation], tuple[Input, Output] | None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One operation as the checker sees it.

    ``call`` and ``ret`` are the times (any unit; only their order matters)
    of the invoke and of the completion; intervals are closed, so two
    operations that share an instant are concurrent. An indeterminate
    operation has ``output=UNKNOWN``: it may take effect at any time after
    ``call``, or never, whatever its ``ret``. ``id`` names the operation in
    the evidence (failmodel's ``op_id``; the invoke's line number for a file
    in another format).
    """

    id: int
    input: Any
    output: Any
    call: float
    ret: float = math.inf
    process: int | str = 0

    def __post_init__(self) -> None:
        if self.output is not UNKNOWN and not self.ret >= self.call:
            raise ValueError(
                f"op {self.id}: 'ret' must be >= 'call' (got call={self.call}, ret={self.ret})"
            )

    @property
    def indeterminate(self) -> bool:
        return self.output is UNKNOWN
