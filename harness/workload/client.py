"""Async workload clients: every HTTP attempt is one recorded operation.

One ``aiohttp.ClientSession`` per run keeps connections pooled, so an
operation costs one request, not a TCP handshake through Toxiproxy. An
attempt records its invoke before sending and exactly one completion
afterwards, whatever happens -- including cancellation, which records
``info`` and re-raises. No client exception escapes to the runner: anything
the network or the target does becomes an ``info`` completion with the
error attached (Jepsen's rule).

aiohttp resends an idempotent request (GET, PUT, DELETE) once when a pooled
connection turns out to be closed; the resend falls inside the recorded
invoke-completion window, so the history stays truthful (a workload's PUT
and DELETE must be idempotent, as HTTP says they are).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import aiohttp

from harness.history import Event, Recorder
from harness.workload.api import FromAnswer, Operation, Workload, answer_leaders
from harness.workload.contract import (
    InvalidOperation,
    Outcome,
    call_for,
    classify,
    path_of,
    payload_of,
    resolve,
)
from harness.workload.ops import OpSpec

MAX_CONNECTIONS = 256
_ERROR_CHARS = 300


class WorkloadClient:
    """Clients of one workload against replicas ``urls`` (index = node).

    ``session``: a session to borrow (its warm connections are reused, and it
    stays open on exit); without one the client opens and closes its own.
    """

    def __init__(
        self,
        workload: Workload | str,
        urls: Sequence[str],
        recorder: Recorder,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        declared = resolve(workload)
        if isinstance(urls, str) or not urls:
            raise ValueError(f"'urls' must be a non-empty sequence of base URLs (got {urls!r})")
        for url in urls:
            if not isinstance(url, str) or not url.startswith("http://"):
                raise ValueError(f"'urls' entries must be http:// base URLs (got {url!r})")
        self.workload = declared
        self.urls = tuple(u.rstrip("/") for u in urls)
        self.recorder = recorder
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = None
        self._answers = _Answers(declared)

    async def __aenter__(self) -> WorkloadClient:
        self._session = self._borrowed or new_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None and self._borrowed is None:
            await self._session.close()
        self._session = None

    def _check(self, spec: OpSpec) -> Operation:
        if not 0 <= spec.node < len(self.urls):
            raise InvalidOperation(
                f"'node' must be a replica index in 0..{len(self.urls) - 1} (got {spec.node})"
            )
        return call_for(self.workload, spec.f, spec.body)

    async def execute(self, spec: OpSpec) -> list[Event]:
        """Run ``spec`` with its retries; the completions of all attempts, in attempt order."""
        call = self._check(spec)
        spec = self._answers.taken(call, spec)
        retry = spec.retry
        if retry.mode == "concurrent":
            return list(
                await asyncio.gather(
                    *(self._attempt(call, spec, n) for n in range(1, retry.attempts + 1))
                )
            )
        events = [await self._attempt(call, spec, 1)]
        for n in range(2, retry.attempts + 1):
            if retry.delay_s:
                await asyncio.sleep(retry.delay_s)
            events.append(await self._attempt(call, spec, n))
        return events

    async def execute_batch(self, specs: Sequence[OpSpec]) -> list[list[Event]]:
        """Run ``specs`` concurrently; every spec is checked before any is sent."""
        for spec in specs:
            self._check(spec)
        return list(await asyncio.gather(*(self.execute(spec) for spec in specs)))

    async def _attempt(self, call: Operation, spec: OpSpec, attempt: int) -> Event:
        session = self._session
        if session is None:
            raise RuntimeError("WorkloadClient used outside 'async with'")
        value: dict[str, Any] = {"node": spec.node, "attempt": attempt, "body": spec.body}
        if spec.snapshot is not None:
            value["snapshot"] = spec.snapshot
        invoke = self.recorder.invoke(spec.process, spec.f, value)
        status: int | None
        body: Any
        try:
            status, body, outcome, error = await _send(session, self.urls[spec.node], call, spec)
        except asyncio.CancelledError:
            self.recorder.complete(invoke, "info", _answer(None, None), error="cancelled")
            raise
        except TimeoutError:
            status, body, outcome, error = None, None, "info", f"timeout after {spec.timeout_s}s"
        except Exception as exc:  # any client failure is an indeterminate outcome
            status, body = None, None
            outcome, error = "info", f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        if outcome == "ok":
            self._answers.heard(spec, body)
        return self.recorder.complete(invoke, outcome, _answer(status, body), error=error)


class _Answers:
    """The ok answers an example's `FromAnswer` fields take their values from,
    in the order they came, and the body each such request was first sent
    with: a resend, in this step or a later one, carries the same values."""

    def __init__(self, workload: Workload) -> None:
        self._wanted = {
            op
            for declared in workload.operations
            for source in declared.fields.values()
            if isinstance(source, FromAnswer)
            for op in source.ops
        }
        self._heard: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = []
        self._first: dict[tuple[str, Any], Mapping[str, Any]] = {}

    def heard(self, spec: OpSpec, body: Any) -> None:
        if spec.f in self._wanted and isinstance(body, Mapping):
            self._heard.append((spec.f, spec.body, body))

    def taken(self, call: Operation, spec: OpSpec) -> OpSpec:
        """``spec`` with its `FromAnswer` fields filled in (the first sending's, for a resend)."""
        if not spec.answered:
            return spec
        first = (spec.f, spec.body[call.id]) if call.id is not None else None
        body = self._first.get(first) if first is not None else None
        if body is None:
            body = {**spec.body}
            leaders = answer_leaders({n: source for n, (source, _) in spec.answered.items()})
            together: dict[str, list[str]] = {}
            for name, leader in leaders.items():
                together.setdefault(leader, []).append(name)
            for names in together.values():
                sources = [spec.answered[n][0] for n in names]
                said = self._values(sources, spec.answered[names[0]][1], spec.body)
                for name, source, value in zip(names, sources, said, strict=True):
                    body[name] = source.default if value is None else value
            if first is not None:
                self._first[first] = body
        return replace(spec, body=body, answered={})

    def _values(
        self, sources: list[FromAnswer], back: int, request: Mapping[str, Any]
    ) -> tuple[Any, ...]:
        """The fields of the ``back``-th newest answer distinct in all of them (the
        oldest there is, if fewer); Nones when none came."""
        first = sources[0]
        found: list[tuple[Any, ...]] = []
        for f, asked, said in reversed(self._heard):
            values = tuple(said.get(source.field) for source in sources)
            if (
                f in first.ops
                and all(v is not None and not isinstance(v, Mapping | list) for v in values)
                and all(asked.get(m) == request.get(m) for m in first.match)
                and not any(_same(values, other) for other in found)
            ):
                found.append(values)
                if len(found) > back:
                    break
        return found[min(back, len(found) - 1)] if found else (None,) * len(sources)


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal values of equal types (1 is not True), field by field."""
    return all(type(x) is type(y) and x == y for x, y in zip(a, b, strict=True))


def new_session() -> aiohttp.ClientSession:
    """A session whose pooled keep-alive connections serve many operations
    (call inside the event loop that will use it)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, force_close=False)
    )


async def _send(
    session: aiohttp.ClientSession, base_url: str, call: Operation, spec: OpSpec
) -> tuple[int, Any, Outcome, str | None]:
    """One HTTP exchange and its classification; network errors propagate."""
    async with session.request(
        call.method,
        base_url + path_of(call, spec.body),
        json=payload_of(call, spec.body),
        timeout=aiohttp.ClientTimeout(total=spec.timeout_s),
    ) as response:
        status = response.status
        raw = await response.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    outcome, error = classify(call, spec.body, status, body)
    if outcome == "info" and raw and body is None:
        error = f"HTTP {status} body is not JSON: {raw[:_ERROR_CHARS]!r}"
    return status, body, outcome, error


def _answer(status: int | None, body: Any) -> Mapping[str, Any]:
    return {"status": status, "body": body}
