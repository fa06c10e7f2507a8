"""The `serve` role: `POST /swipes` and `GET /matches?user=` over HTTP."""

from __future__ import annotations

from aiohttp import web

from targets.common.config import TargetEnv
from targets.common.web import bad_request, json_response, param_id, read_json, serve
from targets.matching.store import matches_of, open_store
from targets.matching.swipes import Swipe, SwipeIdReused, swipe

_SWIPE_SCHEMA = {"swipe_id": str, "swiper": str, "swipee": str, "direction": str}


async def run_service(env: TargetEnv) -> None:
    """Serve until cancelled."""
    pool = await open_store(env)

    async def post_swipe(request: web.Request) -> web.Response:
        body = await read_json(request, _SWIPE_SCHEMA)
        direction = body["direction"]
        if direction not in ("right", "left"):
            raise bad_request(f"'direction' must be 'right' or 'left' (got {direction!r})")
        if body["swiper"] == body["swipee"]:
            raise bad_request(f"'swiper' and 'swipee' must differ (both {body['swiper']!r})")
        wanted = Swipe(
            swipe_id=body["swipe_id"], swiper=body["swiper"], swipee=body["swipee"],
            direction=direction,
        )
        try:
            return json_response(200, await swipe(env.variant, pool, wanted))
        except SwipeIdReused as exc:
            return json_response(409, {"error": str(exc)})

    async def get_matches(request: web.Request) -> web.Response:
        user = param_id(request, "user")
        return json_response(200, {"matches": await matches_of(pool, user)})

    try:
        await serve(
            env, [web.post("/swipes", post_swipe), web.get("/matches", get_matches)]
        )
    finally:
        await pool.close()
