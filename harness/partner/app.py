"""The partner's aiohttp application: the contract endpoints, with the fault
modes applied around them, and the harness's control API under /_failmodel/.

A request is validated first (a malformed one is answered 400 and spends no
fault), then the endpoint's fault, if any, decides what happens around the
normal handling: ``slow`` waits first, ``fail_before`` answers 503 instead,
``fail_after`` handles it and answers 503, ``fail_after_drop`` handles it and
aborts the connection without answering.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.partner.endpoints import (
    CONTROL_PREFIX,
    SPECS,
    EndpointSpec,
    InvalidRequest,
    validate_idempotency_key,
)
from harness.partner.faults import FaultBoard, InvalidFault, parse_fault
from harness.partner.state import PartnerState

STATE = web.AppKey("state", PartnerState)
FAULTS = web.AppKey("faults", FaultBoard)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _drop(request: web.Request) -> web.Response:
    """Abort the connection without an answer; aiohttp then silently discards the
    placeholder response it is handed back, where raising would log a traceback."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=503)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body must be a JSON object (got invalid JSON: {exc})") from exc


def _contract_handler(spec: EndpointSpec) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        stats = state.stats[spec.name]
        stats.requests += 1
        try:
            key = validate_idempotency_key(request.headers.get("Idempotency-Key"))
            body = spec.validate(await _json_body(request))
        except InvalidRequest as exc:
            stats.invalid += 1
            return _error(400, str(exc))
        fault = request.app[FAULTS].take(spec.name)
        mode = fault.mode if fault is not None else None
        if fault is not None:
            stats.injected[fault.mode] += 1
            if fault.mode == "fail_before":
                return _error(503, "injected failure before the effect (fail_before)")
            if fault.mode == "slow":
                await asyncio.sleep(fault.delay_ms / 1000)
        answer = state.answer(spec, body, key)
        if mode == "fail_after":
            return _error(503, "injected failure after the effect (fail_after)")
        if mode == "fail_after_drop":
            return _drop(request)
        return web.json_response(answer.body, status=answer.status)

    return handle


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _set_fault(request: web.Request) -> web.Response:
    try:
        endpoint, fault = parse_fault(await _json_body(request))
    except (InvalidFault, InvalidRequest) as exc:
        return _error(400, str(exc))
    faults = request.app[FAULTS]
    faults.set(endpoint, fault)
    return web.json_response({"faults": faults.to_json()})


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[FAULTS].to_json()})


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return web.json_response({"faults": {}})


async def _decline(request: web.Request) -> web.Response:
    try:
        data = await _json_body(request)
    except InvalidRequest as exc:
        return _error(400, str(exc))
    references = data.get("references") if isinstance(data, dict) else None
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        return _error(400, f"'references' must be a list of strings (got {references!r})")
    request.app[STATE].decline(references)
    return web.json_response({"declined": len(references)})


async def _ledger(request: web.Request) -> web.Response:
    raw = request.query.get("since", "0")
    try:
        since = int(raw)
    except ValueError:
        return _error(400, f"'since' must be an integer sequence number (got {raw!r})")
    ledger = request.app[STATE].ledger
    return web.json_response({"last_seq": ledger.last_seq, "effects": ledger.since(since)})


async def _last_seq(request: web.Request) -> web.Response:
    return web.json_response({"last_seq": request.app[STATE].ledger.last_seq})


async def _stats(request: web.Request) -> web.Response:
    stats = request.app[STATE].stats
    return web.json_response({name: counters.to_json() for name, counters in stats.items()})


def build_app(*, ledger_path: Path | None = None) -> web.Application:
    """The partner app; with *ledger_path*, effects are also appended to that file."""
    app = web.Application()
    app[FAULTS] = FaultBoard()

    async def own_state(app: web.Application) -> AsyncIterator[None]:
        app[STATE] = PartnerState(ledger_path=ledger_path)
        yield
        app[STATE].ledger.close()

    app.cleanup_ctx.append(own_state)
    for spec in SPECS:
        app.router.add_post(spec.path, _contract_handler(spec))
    app.router.add_get(f"{CONTROL_PREFIX}/health", _health)
    app.router.add_get(f"{CONTROL_PREFIX}/faults", _get_faults)
    app.router.add_post(f"{CONTROL_PREFIX}/faults", _set_fault)
    app.router.add_delete(f"{CONTROL_PREFIX}/faults", _clear_faults)
    app.router.add_post(f"{CONTROL_PREFIX}/declines", _decline)
    app.router.add_get(f"{CONTROL_PREFIX}/ledger", _ledger)
    app.router.add_get(f"{CONTROL_PREFIX}/ledger/last_seq", _last_seq)
    app.router.add_get(f"{CONTROL_PREFIX}/stats", _stats)
    return app
