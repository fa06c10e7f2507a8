"""A workload's operations on the wire: which HTTP call each history ``f``
makes, and how an answer is classified.

Classification follows Jepsen's rule and errs towards ``info``: ``ok`` and
``fail`` are claims the checkers trust, so an answer earns them only when its
status *and* its body match one of the operation's documented `Answer`s for
*this* request (an acceptance naming another ``order_id`` is ``info``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias
from urllib.parse import quote

from harness.workload.api import PLACEHOLDER, Answer, Operation, Workload
from harness.workload.builtin import BUILTIN, resolve

Outcome: TypeAlias = Literal["ok", "fail", "info"]
WORKLOADS: tuple[str, ...] = tuple(BUILTIN)
READ_NOT_FOUND = 404

__all__ = [
    "READ_NOT_FOUND",
    "WORKLOADS",
    "InvalidOperation",
    "Outcome",
    "call_for",
    "classify",
    "path_of",
    "payload_of",
    "resolve",
    "route_of",
]


class InvalidOperation(ValueError):
    """An operation the workload does not have, or a body missing a field."""


def call_for(workload: Workload | str, f: str, body: Mapping[str, Any]) -> Operation:
    """The operation ``f`` of ``workload``; raises `InvalidOperation` naming what is wrong."""
    try:
        declared = resolve(workload)
    except ValueError as exc:
        raise InvalidOperation(str(exc)) from exc
    op = next((o for o in declared.operations if o.name == f), None)
    if op is None:
        raise InvalidOperation(
            f"'f' must be one of {sorted(o.name for o in declared.operations)} for workload "
            f"{declared.name!r} (got {f!r})"
        )
    missing = [name for name in op.fields if name not in body]
    if missing:
        raise InvalidOperation(
            f"body of {f!r} must have {list(op.fields)} (missing {missing}; got {dict(body)!r})"
        )
    return op


def route_of(workload: Workload | str, f: str) -> str:
    """The documented route of ``f`` (``GET /inventory/{sku}``), or ``f`` if unknown."""
    try:
        return resolve(workload).operation(f).route
    except ValueError:
        return f


def path_of(op: Operation, body: Mapping[str, Any]) -> str:
    """``op.path`` with each ``{field}`` replaced by the body's value, URL-quoted."""
    return PLACEHOLDER.sub(lambda m: quote(str(body[m.group(1)]), safe=""), op.path)


def payload_of(op: Operation, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON body sent: the ``op.body`` fields, or None when it sends none."""
    return {name: body[name] for name in op.body} if op.body else None


def classify(
    op: Operation, request: Mapping[str, Any], status: int, body: Any
) -> tuple[Outcome, str | None]:
    """``ok``/``fail``/``info`` for an answer, with an error note when it is ``info``."""
    outcomes: tuple[tuple[Outcome, tuple[Answer, ...]], ...] = (("ok", op.ok), ("fail", op.fail))
    documented = False
    for outcome, answers in outcomes:
        for answer in answers:
            if answer.status != status:
                continue
            documented = True
            if answer.matches(request, body):
                return outcome, None
    if documented:  # only now, off the common path: say where each one differs
        because = "; ".join(
            f"not its {outcome} answer: {answer.mismatch(request, body)}"
            for outcome, answers in outcomes
            for answer in answers
            if answer.status == status
        )
        return "info", f"HTTP {status} body does not match the contract ({because}): {body!r}"[:500]
    return "info", f"HTTP {status} is neither a documented success nor a refusal: indeterminate"
