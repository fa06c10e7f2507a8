"""The `serve` role: the auction workload's HTTP API (docs/contracts.md section 9)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from targets.auction.bids import Bid, UnknownAuction, place_bid
from targets.auction.clock import NOW, bid_now, process_now
from targets.auction.closing import (
    Result,
    acquire_lease,
    close_auction,
    new_holder,
    read_auction,
)
from targets.auction.schema import DDL, SCHEMA_LOCK
from targets.common.config import TargetEnv
from targets.common.db import ensure_schema, open_pool
from targets.common.web import check_int, json_response, param_id, read_json, serve

CLOSE_WAIT_S = 1.0
"""How long `POST /auctions/{id}/close` waits for the closer before answering 503."""
CLOSE_POLL_S = 0.05
MAX_ENDS_IN_MS = 10**9
"""`ends_in_ms` may be negative (an auction that has already ended), within +-10^9."""


class AuctionApi:
    """Handlers over the pool, which `start` opens before /health turns 200."""

    def __init__(self, env: TargetEnv) -> None:
        self._env = env
        self._pool: AsyncConnectionPool | None = None
        self._holder = new_holder(f"replica{env.instance_id}")

    @property
    def pool(self) -> AsyncConnectionPool:
        assert self._pool is not None, "handlers run only after start()"
        return self._pool

    @property
    def variant(self) -> str:
        return self._env.variant

    async def start(self) -> None:
        self._pool = await open_pool(self._env.require("database_url"))
        await ensure_schema(self._pool, DDL, lock_key=SCHEMA_LOCK)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def now_ms(self) -> int:
        """The time this replica decides by: PostgreSQL's clock (its own in `local_clock`)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT {NOW}", {"now": process_now(self.variant)})
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def get_clock(self, _: web.Request) -> web.Response:
        return json_response(200, {"now": await self.now_ms()})

    async def put_auction(self, request: web.Request) -> web.Response:
        """Create an auction ending at ``end_time``, or ``ends_in_ms`` from now on the
        clock authority; a resend answers the end_time first stored."""
        auction_id = param_id(request, "auction_id")
        body = await read_json(request, {})
        if "end_time" in body:
            end_time = check_int("end_time", body["end_time"])
        else:
            ends_in = check_int("ends_in_ms", body.get("ends_in_ms"), minimum=-MAX_ENDS_IN_MS)
            end_time = await self.now_ms() + ends_in
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO auctions (auction_id, end_time_ms) VALUES (%s, %s)"
                " ON CONFLICT (auction_id) DO NOTHING",
                (auction_id, end_time),
            )
            cur = await conn.execute(
                "SELECT end_time_ms FROM auctions WHERE auction_id = %s", (auction_id,)
            )
            row = await cur.fetchone()
        assert row is not None
        if "end_time" in body and row[0] != end_time:
            return json_response(
                409, {"auction_id": auction_id, "error": "auction exists with another end_time"}
            )
        return json_response(200, {"auction_id": auction_id, "end_time": int(row[0])})

    async def post_bid(self, request: web.Request) -> web.Response:
        body = await read_json(
            request, {"bid_id": str, "auction_id": str, "bidder": str, "amount": int}
        )
        if body.get("client_time") is not None:
            check_int("client_time", body["client_time"], minimum=0)
        bid = Bid(body["bid_id"], body["auction_id"], body["bidder"], body["amount"])
        try:
            decision = await place_bid(self.pool, self.variant, bid, bid_now(self.variant, body))
        except UnknownAuction:
            return json_response(404, {"bid_id": bid.bid_id, "error": "unknown auction"})
        answer = {"bid_id": bid.bid_id, "auction_id": bid.auction_id, "status": decision.status}
        if decision.status == "accepted":
            return json_response(200, answer)
        return json_response(409, {**answer, "reason": decision.reason})

    async def close(self, request: web.Request) -> web.Response:
        """The result of an ended auction: the closer's, or -- if the closer's lease
        has lapsed (dead, paused) -- this replica's, closing it under the lease itself."""
        auction_id = param_id(request, "auction_id")
        if request.can_read_body:
            await read_json(request, {})  # no body, or a JSON object (ignored)
        deadline = time.monotonic() + CLOSE_WAIT_S
        while True:
            result = await read_auction(self.pool, auction_id)
            if result is None:
                return json_response(404, {"auction_id": auction_id, "error": "unknown auction"})
            if result.status == "closed":
                return json_response(200, _closed(result))
            if await self.now_ms() < result.end_time_ms:
                return json_response(
                    409, {"auction_id": auction_id, "status": "open", "reason": "not_ended"}
                )
            token = await acquire_lease(self.pool, self._holder, renew=False)
            if token is not None and await close_auction(
                self.pool, self.variant, auction_id, token
            ):
                continue  # read the result back
            if time.monotonic() >= deadline:
                return json_response(
                    503, {"auction_id": auction_id, "error": "the auction is being closed"}
                )
            await asyncio.sleep(CLOSE_POLL_S)

    async def get_auction(self, request: web.Request) -> web.Response:
        auction_id = param_id(request, "auction_id")
        result = await read_auction(self.pool, auction_id)
        if result is None:
            return json_response(404, {"auction_id": auction_id, "error": "unknown auction"})
        return json_response(200, result.to_json())


def _closed(result: Result) -> dict[str, object]:
    return {
        "auction_id": result.auction_id,
        "status": "closed",
        "winner": result.winner,
        "amount": result.amount,
    }


async def serve_role(env: TargetEnv) -> None:
    """Serve the API on 127.0.0.1:PORT until cancelled."""
    api = AuctionApi(env)
    routes = [
        web.get("/clock", api.get_clock),
        web.put("/auctions/{auction_id}", api.put_auction),
        web.get("/auctions/{auction_id}", api.get_auction),
        web.post("/auctions/{auction_id}/close", api.close),
        web.post("/bids", api.post_bid),
    ]
    await serve(env, routes, on_startup=[api.start], on_cleanup=[api.stop])
