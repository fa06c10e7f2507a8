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
from harness.workload.api import FinalRead, Key, Workload
from harness.workload.client import WorkloadClient
from harness.workload.contract import READ_NOT_FOUND, resolve
from harness.workload.ops import OpSpec

READ_ATTEMPTS = 3
READ_BACKOFF_S = 0.05
READ_TIMEOUT_S = 2.0


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


def _sources(workload: Workload, read: FinalRead) -> dict[str, tuple[str, ...]]:
    """Per operation ``f``, the body fields whose values are keys ``read`` reads."""
    if read.fields:
        return {op.name: read.fields for op in workload.operations}
    out: dict[str, tuple[str, ...]] = {}
    for op in workload.operations:
        named = tuple(
            name
            for name, source in op.fields.items()
            if isinstance(source, Key) and source.kind == read.keys
        )
        if named:
            out[op.name] = named
    return out


def touched_keys(workload: Workload | str, history: History) -> dict[str, list[str]]:
    """Per final read ``op``, the ids the operations of ``history`` named, sorted."""
    declared = resolve(workload)
    keys: dict[str, set[str]] = {read.op: set() for read in declared.final}
    sources = {read.op: _sources(declared, read) for read in declared.final}
    for event in history:
        body = event.value.get("body") if event.type == "invoke" else None
        if not isinstance(body, Mapping):
            continue
        for read in declared.final:
            names = sources[read.op].get(event.f, ())
            keys[read.op].update(body[n] for n in names if isinstance(body.get(n), str))
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
    workload = client.workload
    keys = touched_keys(workload, client.recorder.history())
    client.recorder.set_phase("final")
    plan = [
        (read, key, node)
        for read in workload.final
        for key in keys[read.op]
        for node in range(len(client.urls))
    ]
    completions = await asyncio.gather(
        *(
            _settled_read(
                client,
                OpSpec(
                    f=read.op,
                    body=_read_body(workload, read, key),
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
    slots: dict[str, dict[str, Any]] = {read.slot: {} for read in workload.final}
    answered: set[tuple[str, str]] = set()
    failures: dict[tuple[str, str], str] = {}
    answers: list[tuple[str, str, int, Any]] = []
    for (read, key, node), completion in zip(plan, completions, strict=True):
        if completion.type != "ok":
            failures.setdefault((read.op, key), _failure(completion))
            answers.append((read.op, key, node, None))
            continue
        status, body = completion.value["status"], thaw(completion.value["body"])
        answers.append((read.op, key, node, (status, repr(body))))
        if (read.op, key) in answered:
            continue
        if status != READ_NOT_FOUND:
            answered.add((read.op, key))
            slots[read.slot][key] = body
        elif read.not_found == "absent":
            answered.add((read.op, key))
            slots[read.slot][key] = None
        else:
            failures.setdefault((read.op, key), f"HTTP {status}")
    unread: Counter[tuple[str, str]] = Counter(
        (f, how) for (f, key), how in failures.items() if (f, key) not in answered
    )
    reasons: dict[str, list[str]] = {}
    for (f, how), n in sorted(unread.items()):
        reasons.setdefault(f, []).append(f"{how} ({n} key{'s' if n > 1 else ''})")
    return Snapshot(
        number=number,
        final=FinalState(workload=workload.name, values=slots),
        answers=tuple(answers),
        unread={
            f: f"{workload.operation(f).route} answered {', '.join(how)}"
            for f, how in reasons.items()
        },
    )


def _read_body(workload: Workload, read: FinalRead, key: str) -> dict[str, Any]:
    """The body of a final read of ``key``: its id field, and its constants."""
    op = workload.operation(read.op)
    assert op.id is not None  # FinalRead ops have an id (Workload checks it)
    body: dict[str, Any] = {}
    for name, source in op.fields.items():
        body[name] = key if name == op.id else getattr(source, "value", None)
    return body
