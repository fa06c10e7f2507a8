"""The `serve` role: the kv workload's HTTP API (docs/contracts.md, workload `kv`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from targets.common.config import TargetEnv
from targets.common.db import ensure_schema, open_pool
from targets.common.web import bad_request, json_response, param_id, read_json, serve
from targets.kv.store import DDL, SCHEMA_LOCK, Store

MAX_VALUE = 256
"""The longest value accepted, in characters."""


def _value(name: str, value: Any, *, nullable: bool = False) -> str | None:
    """`value` if it is a string of at most MAX_VALUE characters (or null if allowed)."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        wanted = "a string" + (" or null" if nullable else "")
        raise bad_request(
            f"'{name}' must be {wanted} of at most {MAX_VALUE} characters (got {value!r:.80})"
        )
    return value


class KvApi:
    """Handlers over the store, which `start` opens before /health turns 200."""

    def __init__(self, env: TargetEnv) -> None:
        self._env = env
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        assert self._store is not None, "handlers run only after start()"
        return self._store

    async def start(self) -> None:
        pool = await open_pool(self._env.require("database_url"))
        try:
            await ensure_schema(pool, DDL, lock_key=SCHEMA_LOCK)
        except BaseException:
            await pool.close()
            raise
        self._store = Store(self._env.variant, pool)

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.pool.close()

    async def put(self, request: web.Request) -> web.Response:
        key = param_id(request, "key")
        body = await read_json(request, {"value": object})
        value = _value("value", body["value"])
        assert value is not None
        await self.store.put(key, value)
        return json_response(200, {"key": key, "value": value})

    async def get(self, request: web.Request) -> web.Response:
        key = param_id(request, "key")
        value = await self.store.get(key)
        if value is None:
            return json_response(404, {"key": key, "error": "no value"})
        return json_response(200, {"key": key, "value": value})

    async def cas(self, request: web.Request) -> web.Response:
        key = param_id(request, "key")
        body = await read_json(request, {"expected": object, "new": object})
        expected = _value("expected", body["expected"], nullable=True)
        new = _value("new", body["new"])
        assert new is not None
        swapped, value = await self.store.cas(key, expected, new)
        return json_response(200 if swapped else 409, {"key": key, "value": value})


async def run_service(env: TargetEnv) -> None:
    """Serve the API on 127.0.0.1:PORT until cancelled."""
    api = KvApi(env)
    routes = [
        web.put("/kv/{key}", api.put),
        web.get("/kv/{key}", api.get),
        web.post("/kv/{key}/cas", api.cas),
    ]
    await serve(env, routes, on_startup=[api.start], on_cleanup=[api.stop])
