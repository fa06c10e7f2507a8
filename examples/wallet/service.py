"""The wallet's HTTP API (its workload: examples/wallet/wallet.toml).

- ``PUT /accounts/{account_id}`` ``{"owner", "balance"}``: 200 the account
  ``{"account_id", "owner", "balance"}`` (set-up: the deposit; a resend is harmless)
- ``POST /transfers`` ``{"transfer_id", "caller", "from", "to", "amount"}``: 200
  ``{"transfer_id", "status": "completed"}``; 403 ``{..., "status": "rejected",
  "reason": "forbidden"}``; 409 ``{..., "status": "rejected", "reason":
  "insufficient_funds"}``
- ``GET /accounts/{account_id}``: 200 the account; 404
- ``GET /transfers/{transfer_id}``: 200 ``{"transfer_id", "status", "reason"}``; 404

A completed transfer is announced once at the partner (``notify``).
``caller`` stands for the authenticated user (the workload API sends no
headers). A transfer_id sent again gets the first outcome and moves nothing.
Anything that fails inside is a 503: the outcome is unknown to the client.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import ClientSession, web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from wallet import notify, store

REQUEST_TIMEOUT_S = 8.0
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATUS = {None: 200, "forbidden": 403, "insufficient_funds": 409}

log = logging.getLogger("wallet")
Pool = AsyncConnectionPool[AsyncConnection[store.Row]]


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f'{{"error": "{message}"}}', content_type="application/json")


def _id(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise _bad(f"{name} must be an id")
    return value


def _int(body: dict[str, Any], name: str, low: int) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(f"{name} must be an integer >= {low}")
    return value


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _transfer_answer(row: store.Row) -> web.Response:
    body = {"transfer_id": row["transfer_id"], "status": row["status"]}
    if row["status"] == "rejected":
        body["reason"] = row["reason"]
        return _answer(STATUS[row["reason"]], body)
    if row["status"] != "completed":  # never visible outside a transaction; say "unknown"
        return _answer(503, body)
    return _answer(200, body)


def routes(
    pool: Pool, variant: str, session: ClientSession, partner_url: str
) -> list[web.RouteDef]:
    """The handlers, bound to the pool, the partner and the variant under test."""

    async def put_account(request: web.Request) -> web.Response:
        account_id = request.match_info["account_id"]
        body = await _body(request)
        try:
            row = await store.open_account(
                pool, account_id, _id(body, "owner"), _int(body, "balance", 0)
            )
        except store.Conflict as exc:
            return _answer(409, {"error": str(exc)})
        return _answer(200, dict(row))

    async def get_account(request: web.Request) -> web.Response:
        row = await store.account(pool, request.match_info["account_id"])
        if row is None:
            return _answer(404, {"error": "no such account"})
        return _answer(200, dict(row))

    async def post_transfer(request: web.Request) -> web.Response:
        body = await _body(request)
        t = store.Transfer(
            transfer_id=_id(body, "transfer_id"),
            caller=_id(body, "caller"),
            from_id=_id(body, "from"),
            to_id=_id(body, "to"),
            amount=_int(body, "amount", 1),
        )
        if t.from_id == t.to_id:
            raise _bad("from and to must differ")
        try:
            outcome = await store.transfer(pool, t, variant)
        except store.Conflict as exc:
            return _answer(422, {"error": str(exc)})
        completed = outcome.record["status"] == "completed"
        if variant == "notify_in_request" and outcome.applied and completed:
            await notify.in_request(session, partner_url, outcome.record, t.amount,
                                    t.from_id, t.to_id)
        return _transfer_answer(outcome.record)

    async def get_transfer(request: web.Request) -> web.Response:
        row = await store.transfer_record(pool, request.match_info["transfer_id"])
        if row is None:
            return _answer(404, {"error": "no such transfer"})
        return _answer(
            200, {"transfer_id": row["transfer_id"], "status": row["status"],
                  "reason": row["reason"]}
        )

    return [
        web.put("/accounts/{account_id}", put_account),
        web.get("/accounts/{account_id}", get_account),
        web.post("/transfers", post_transfer),
        web.get("/transfers/{transfer_id}", get_transfer),
    ]


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bound each request; a store failure is a 503 (the client cannot know the outcome)."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            response: web.StreamResponse = await handler(request)
            return response
    except web.HTTPException:
        raise
    except Exception as exc:
        log.warning("%s %s failed: %r", request.method, request.path, exc)
        return _answer(503, {"error": type(exc).__name__})


async def serve(port: int, database_url: str, partner_url: str, variant: str) -> None:
    """Listen at once; /health answers 200 only once the schema is there."""
    pool = await store.open_pool(database_url)
    session = ClientSession(timeout=notify.TIMEOUT)
    ready = asyncio.Event()

    async def health(_: web.Request) -> web.Response:
        return _answer(200 if ready.is_set() else 503, {"ready": ready.is_set()})

    app = web.Application(middlewares=[_guard])
    app.add_routes([web.get("/health", health), *routes(pool, variant, session, partner_url)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await store.ensure_schema(pool)
        ready.set()
        log.info("ready on 127.0.0.1:%d, variant %s", port, variant)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await session.close()
        await pool.close()
