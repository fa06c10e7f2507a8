"""HTTP plumbing: serve on 127.0.0.1:PORT with /health, JSON answers, strict input checks."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from targets.common.config import TargetEnv

Hook = Callable[[], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
REQUEST_TIMEOUT_S = 10.0
"""Upper bound on one request, so a hung store cannot pin a handler forever."""

log = logging.getLogger(__name__)


def json_response(status: int, body: Any) -> web.Response:
    """A JSON answer with the given status."""
    return web.json_response(body, status=status)


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 carrying `{"error": message}`; raise it from a handler."""
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def check_id(name: str, value: Any) -> str:
    """`value` if it is a contract id (`[A-Za-z0-9_-]{1,64}`), else a 400."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise bad_request(
            f"'{name}' must be an id of 1..64 characters [A-Za-z0-9_-] (got {value!r})"
        )
    return value


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """`value` if it is an integer >= `minimum` (booleans excluded), else a 400."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise bad_request(f"'{name}' must be {wanted} (got {value!r})")
    return value


def param_id(request: web.Request, name: str) -> str:
    """An id from the URL path (`{name}`) or, failing that, the query string."""
    value = request.match_info.get(name, request.query.get(name))
    if value is None:
        raise bad_request(f"'{name}' is required")
    return check_id(name, value)


async def read_json(request: web.Request, schema: Mapping[str, type]) -> dict[str, Any]:
    """The JSON object body with every field of `schema` present and valid.

    `str` fields must be ids, `int` fields positive integers, other types are checked
    with isinstance. Unknown extra fields are kept. Anything else is a 400 naming the field.
    """
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request(f"body must be a JSON object (got {type(body).__name__})")
    for name, kind in schema.items():
        if name not in body:
            raise bad_request(f"'{name}' is required")
        if kind is str:
            check_id(name, body[name])
        elif kind is int:
            check_int(name, body[name])
        elif not isinstance(body[name], kind):
            raise bad_request(f"'{name}' must be of type {kind.__name__} (got {body[name]!r})")
    return body


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bound each request in time; an unexpected error becomes a logged 503 JSON answer."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # any store failure: the outcome is indeterminate, say so
        log.warning("%s %s failed: %r", request.method, request.path, exc)
        return json_response(503, {"error": f"{type(exc).__name__}: {exc}"})


async def serve(
    env: TargetEnv,
    routes: Iterable[web.AbstractRouteDef],
    *,
    on_startup: Iterable[Hook] = (),
    on_cleanup: Iterable[Hook] = (),
) -> None:
    """Listen at once, run the start-up hooks, then answer /health 200 until cancelled.

    /health answers 503 while the hooks (schema, pools, topics) are still running, so
    the harness's readiness probe means "ready for traffic". Clean-up hooks run in
    reverse order when the server stops.
    """
    ready = asyncio.Event()

    async def health(_: web.Request) -> web.Response:
        if ready.is_set():
            return json_response(200, {"status": "ok", "instance_id": env.instance_id})
        return json_response(503, {"status": "starting"})

    app = web.Application(middlewares=[_guard])
    app.add_routes([web.get("/health", health), *routes])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    cleanups = list(on_cleanup)
    try:
        await web.TCPSite(runner, "127.0.0.1", env.port).start()
        log.info("listening on 127.0.0.1:%d", env.port)
        for hook in on_startup:
            await hook()
        ready.set()
        log.info("ready")
        await asyncio.Event().wait()
    finally:
        for hook in reversed(cleanups):
            try:
                await hook()
            except Exception:
                log.exception("clean-up hook failed")
        await runner.cleanup()
