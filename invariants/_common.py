"""Helpers every checker shares: an operation's request and answer, evidence in
words, and folding per-key findings into a verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.history import Operation
from invariants.verdict import Evidence, Status, Verdict

NOT_FOUND = "missing (404)"
_LISTED = 5


def body(op: Operation) -> Mapping[str, Any]:
    """The request body of an operation (the invoke value's ``body``)."""
    value: Mapping[str, Any] = op.request["body"]
    return value


def answer(op: Operation) -> Mapping[str, Any]:
    """The response body of a completed operation (empty when there is none)."""
    value: Mapping[str, Any] | None = op.response.get("body")
    return value if value is not None else {}


def snapshot(op: Operation) -> int:
    """The settle snapshot a final read belongs to (0 when it names none)."""
    return int(op.request.get("snapshot") or 0)


def op_ids(ops: Iterable[Operation]) -> list[int]:
    return [op.invoke.op_id for op in ops]


def listing(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``; long lists end with ``and N more``."""
    if len(names) > _LISTED:
        return f"{', '.join(names[:_LISTED])} and {len(names) - _LISTED} more"
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def ops_text(ids: Sequence[int]) -> str:
    """``op 3`` or ``ops 3, 7``."""
    return ("op " if len(ids) == 1 else "ops ") + listing([str(i) for i in ids])


def plural(noun: str) -> str:
    """English plural of a design's noun: entry -> entries, match -> matches."""
    if noun.endswith("y") and noun[-2:-1] not in ("", "a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s")


def counted(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 else plural(noun)}"


class Findings:
    """One checker's results, key by key, folded into a verdict at the end.

    ``checked`` counts the keys examined; a key may add violations (no outcome
    of the indeterminate operations explains it), pending findings (something
    the system may still do: a missing effect, a write not yet visible) or
    undecided notes (the data needed is missing). Any violation or pending
    finding makes the verdict invalid, else any undecided note makes it unknown.
    """

    __slots__ = ("_invalid", "_invariant", "_noun", "_unknown", "checked")

    def __init__(self, invariant: str, noun: str) -> None:
        self._invariant = invariant
        self._noun = noun
        self._invalid: list[Evidence] = []
        self._unknown: list[Evidence] = []
        self.checked = 0

    def violation(self, message: str, keys: Iterable[str], ids: Iterable[int]) -> None:
        self._invalid.append(_evidence(message, keys, ids))

    def pending(self, message: str, keys: Iterable[str], ids: Iterable[int]) -> None:
        """Not yet true, and time may fix it: a violation only if it outlasts settling."""
        self._invalid.append(_evidence(message, keys, ids, pending=True))

    def undecided(self, message: str, keys: Iterable[str], ids: Iterable[int]) -> None:
        self._unknown.append(_evidence(message, keys, ids))

    def verdict(self) -> Verdict:
        among = counted(self.checked, self._noun)
        if self._invalid:
            more = f" ({len(self._unknown)} more undecided)" if self._unknown else ""
            head = counted(len(self._invalid), "violation")
            return self._make("invalid", f"{head} among {among}{more}", self._invalid)
        if self._unknown:
            head = f"{len(self._unknown)} undecided among {among}"
            return self._make("unknown", head, self._unknown)
        nothing = f"no {plural(self._noun)} to check"
        return Verdict(
            invariant=self._invariant,
            status="valid",
            summary=f"holds for all {among}" if self.checked else nothing,
            checked=self.checked,
        )

    def _make(self, status: Status, head: str, evidence: list[Evidence]) -> Verdict:
        # A definite violation is the news; pending ones may still pass.
        first = next((e for e in evidence if not e.pending), evidence[0])
        return Verdict(
            invariant=self._invariant,
            status=status,
            summary=f"{head}; first: {first.message}",
            evidence=tuple(evidence),
            checked=self.checked,
        )


def _evidence(
    message: str, keys: Iterable[str], ids: Iterable[int], *, pending: bool = False
) -> Evidence:
    return Evidence(
        message=message,
        keys=tuple(dict.fromkeys(keys)),
        op_ids=tuple(dict.fromkeys(ids)),
        pending=pending,
    )
