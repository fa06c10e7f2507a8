"""Final reads: once the faults are healed, read back every key an example
touched, from every replica, as one numbered snapshot.

The keys come from the recorded history itself, so nothing else has to keep
a list in step with what the workload really sent. A key's value in the
`FinalState` is the first replica's determinate answer; what each replica
said is kept too, so the runner can tell a settled system (two equal
snapshots, replicas agreeing) from one still moving, and ``consistent_reads``
can judge replicas that disagree. A read that stays indeterminate after a
few bounded retries leaves its key absent from the `FinalState`: checkers
treat absent as unknown, never as missing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.history import Event, FinalState, History, thaw
from harness.workload.client import WorkloadClient
from harness.workload.contract import route_of
from harness.workload.ops import OpSpec

READ_ATTEMPTS = 3
READ_BACKOFF_S = 0.05
READ_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Read:
    """A final read: ``f`` with ``field`` = each id found under ``sources``,
    stored in the `FinalState` attribute ``slot``."""

    f: str
    field: str
    sources: tuple[str, ...]
    slot: str
    not_found_known: bool  # a 404 means "does not exist" (None), not unknown


_READS: Mapping[str, tuple[_Read, ...]] = {
    "inventory": (
        _Read(f="read_stock", field="sku", sources=("sku",), slot="stock", not_found_known=False),
        _Read(
            f="read_order",
            field="order_id",
            sources=("order_id",),
            slot="orders",
            not_found_known=True,
        ),
    ),
    "payments": (
        _Read(
            f="read_payment",
            field="payment_id",
            sources=("payment_id",),
            slot="payments",
            not_found_known=True,
        ),
    ),
    "matching": (
        _Read(
            f="read_matches",
            field="user",
            sources=("swiper", "swipee", "user"),
            slot="matches",
            not_found_known=False,
        ),
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One round of final reads: the merged `FinalState`, every replica's
    answers (for equality between snapshots), and why unread keys are unread."""

    number: int
    final: FinalState
    answers: tuple[tuple[str, str, int, Any], ...] = ()
    unread: Mapping[str, str] = field(default_factory=dict)
    """Per read ``f`` that some key could not get from any replica: how it
    failed, e.g. ``GET /inventory/{sku} answered HTTP 500 (2 keys)``."""


def touched_keys(workload: str, history: History) -> dict[str, list[str]]:
    """Per read ``f``, the ids the client operations of ``history`` named, sorted."""
    if workload not in _READS:
        raise ValueError(f"'workload' must be one of {sorted(_READS)} (got {workload!r})")
    keys: dict[str, set[str]] = {read.f: set() for read in _READS[workload]}
    for event in history:
        body = event.value.get("body") if event.type == "invoke" else None
        if not isinstance(body, Mapping):
            continue
        for read in _READS[workload]:
            keys[read.f].update(body[s] for s in read.sources if isinstance(body.get(s), str))
    return {f: sorted(ids) for f, ids in keys.items()}


async def _settled_read(
    client: WorkloadClient, spec: OpSpec, *, attempts: int, backoff_s: float
) -> Event:
    """The first ``ok`` answer within ``attempts`` reads, else the last completion."""
    completion: Event | None = None
    for n in range(attempts):
        if n:
            await asyncio.sleep(backoff_s * 2 ** (n - 1))
        (completion,) = await client.execute(spec)
        if completion.type == "ok":
            break
    assert completion is not None
    return completion


def _failure(completion: Event) -> str:
    """How a read failed, in a few words: ``HTTP 500``, ``timeout after 2.0s``."""
    status = completion.value.get("status")
    if status is not None:
        return f"HTTP {status}"
    return (completion.error or "no answer").split(":")[0]


async def read_snapshot(
    client: WorkloadClient,
    *,
    number: int = 0,
    process: int = 0,
    timeout_s: float = READ_TIMEOUT_S,
    attempts: int = READ_ATTEMPTS,
    backoff_s: float = READ_BACKOFF_S,
) -> Snapshot:
    """Read every key the recorder's history touched from every replica (phase
    ``final``, each read tagged with snapshot ``number``)."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"'attempts' must be an int >= 1 (got {attempts!r})")
    keys = touched_keys(client.workload, client.recorder.history())
    client.recorder.set_phase("final")
    plan = [
        (read, key, node)
        for read in _READS[client.workload]
        for key in keys[read.f]
        for node in range(len(client.urls))
    ]
    completions = await asyncio.gather(
        *(
            _settled_read(
                client,
                OpSpec(
                    f=read.f,
                    body={read.field: key},
                    process=process,
                    node=node,
                    timeout_s=timeout_s,
                    snapshot=number,
                ),
                attempts=attempts,
                backoff_s=backoff_s,
            )
            for read, key, node in plan
        )
    )
    slots: dict[str, dict[str, Any]] = {read.slot: {} for read in _READS[client.workload]}
    answered: set[tuple[str, str]] = set()
    failures: dict[tuple[str, str], str] = {}
    answers: list[tuple[str, str, int, Any]] = []
    for (read, key, node), completion in zip(plan, completions, strict=True):
        if completion.type != "ok":
            failures.setdefault((read.f, key), _failure(completion))
            answers.append((read.f, key, node, None))
            continue
        status, body = completion.value["status"], thaw(completion.value["body"])
        answers.append((read.f, key, node, (status, repr(body))))
        if (read.f, key) in answered:
            continue
        if status == 200:
            answered.add((read.f, key))
            slots[read.slot][key] = tuple(body["matches"]) if read.slot == "matches" else body
        elif read.not_found_known:
            answered.add((read.f, key))
            slots[read.slot][key] = None
        else:
            failures.setdefault((read.f, key), f"HTTP {status}")
    unread: Counter[tuple[str, str]] = Counter(
        (f, how) for (f, key), how in failures.items() if (f, key) not in answered
    )
    reasons: dict[str, list[str]] = {}
    for (f, how), n in sorted(unread.items()):
        reasons.setdefault(f, []).append(f"{how} ({n} key{'s' if n > 1 else ''})")
    return Snapshot(
        number=number,
        final=FinalState(workload=client.workload, **slots),
        answers=tuple(answers),
        unread={
            f: f"{route_of(client.workload, f)} answered {', '.join(how)}"
            for f, how in reasons.items()
        },
    )
