"""The partner's aiohttp application: the contract endpoints, with the fault
modes applied around them, and the harness's control API under /_failmodel/.

A request is validated first (a malformed one is answered 400 and spends no
fault), then the endpoint's fault, if any, decides what happens around the
normal handling: ``slow`` waits first, ``fail_before`` answers 503 instead,
``fail_after`` handles it and answers 503, ``fail_after_drop`` handles it and
aborts the connection without answering. A call may also be held in flight
(`harness.partner.holds`): before all that (and dropped unseen if its caller
dies meanwhile), or between its effect and its answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from harness.partner.holds import HoldBoard, parse_hold
from harness.partner.state import PartnerState

STATE = web.AppKey("state", PartnerState)
FAULTS = web.AppKey("faults", FaultBoard)
HOLDS = web.AppKey("holds", HoldBoard)
CALLERS = web.AppKey("callers", dict[int, str])
MAX_WAIT_MS = 10_000

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
        holds = request.app[HOLDS]
        hold = holds.take(spec.name, _caller(request))
        if hold is not None:
            stats.held += 1
            if not hold.after_effect:
                await holds.hold(hold)
                if _caller_gone(request):
                    stats.abandoned += 1
                    return _drop(request)
        fault = request.app[FAULTS].take(spec.name)
        mode = fault.mode if fault is not None else None
        if fault is not None:
            stats.injected[fault.mode] += 1
            if fault.mode == "fail_before":
                return _error(503, "injected failure before the effect (fail_before)")
            if fault.mode == "slow":
                await asyncio.sleep(fault.delay_ms / 1000)
        answer = state.answer(spec, body, key)
        if hold is not None and hold.after_effect:
            await holds.hold(hold)  # the effect is done; its answer waits
        if mode == "fail_after":
            return _error(503, "injected failure after the effect (fail_after)")
        if mode == "fail_after_drop":
            return _drop(request)
        return web.json_response(answer.body, status=answer.status)

    return handle


def _caller(request: web.Request) -> str | None:
    """The process whose own link the call came through (by the port it reached)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return request.app[CALLERS].get(sockname[1]) if sockname else None


def _caller_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


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
    """Every fault, holds included: the nemesis's sweep after a schedule."""
    request.app[FAULTS].clear()
    request.app[HOLDS].clear()
    return web.json_response({"faults": {}})


async def _arm_hold(request: web.Request) -> web.Response:
    try:
        endpoint, hold, count = parse_hold(await _json_body(request))
        callers = sorted(request.app[CALLERS].values())
        if hold.caller is not None and hold.caller not in callers:
            raise InvalidFault(
                f"'caller' must be one of {callers} (got {hold.caller!r}): "
                "a process with a port of its own (--caller)"
            )
    except (InvalidFault, InvalidRequest) as exc:
        return _error(400, str(exc))
    holds = request.app[HOLDS]
    holds.arm(endpoint, hold, count)
    return web.json_response(holds.to_json())


async def _get_holds(request: web.Request) -> web.Response:
    return web.json_response(request.app[HOLDS].to_json())


async def _clear_holds(request: web.Request) -> web.Response:
    holds = request.app[HOLDS]
    holds.clear()
    return web.json_response(holds.to_json())


async def _wait_holding(request: web.Request) -> web.Response:
    raw = request.query.get("timeout_ms", "0")
    if not raw.isdigit() or int(raw) > MAX_WAIT_MS:
        return _error(400, f"'timeout_ms' must be an integer in 0..{MAX_WAIT_MS} (got {raw!r})")
    holding = await request.app[HOLDS].wait_holding(int(raw) / 1000)
    return web.json_response({"holding": holding})


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


def build_app(
    *, ledger_path: Path | None = None, callers: Mapping[int, str] | None = None
) -> web.Application:
    """The partner app; with *ledger_path*, effects are also appended to that file;
    ``callers`` names the process whose own link leads to each extra port."""
    app = web.Application()
    app[CALLERS] = dict(callers or {})
    app[FAULTS] = FaultBoard()
    app[HOLDS] = HoldBoard()

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
    app.router.add_get(f"{CONTROL_PREFIX}/holds", _get_holds)
    app.router.add_post(f"{CONTROL_PREFIX}/holds", _arm_hold)
    app.router.add_delete(f"{CONTROL_PREFIX}/holds", _clear_holds)
    app.router.add_get(f"{CONTROL_PREFIX}/holds/wait", _wait_holding)
    app.router.add_post(f"{CONTROL_PREFIX}/declines", _decline)
    app.router.add_get(f"{CONTROL_PREFIX}/ledger", _ledger)
    app.router.add_get(f"{CONTROL_PREFIX}/ledger/last_seq", _last_seq)
    app.router.add_get(f"{CONTROL_PREFIX}/stats", _stats)
    return app
