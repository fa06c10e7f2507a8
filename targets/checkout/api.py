"""The `serve` role: the inventory workload's HTTP API (CONTRACTS.md section 3)."""

from __future__ import annotations

from aiohttp import web

from targets.checkout.orders import (
    PUBLISH_TIMEOUT_S,
    REDIS_TRUTH_STOCK_QUERY,
    STOCK_QUERY,
    Order,
    Stores,
    place_order,
    redis_stock_key,
)
from targets.checkout.schema import DDL, SCHEMA_LOCK, TOPIC
from targets.common.config import TargetEnv
from targets.common.db import ensure_schema, open_pool
from targets.common.kafka import ensure_topic, start_producer
from targets.common.kv import open_redis
from targets.common.web import check_int, json_response, param_id, read_json, serve


class CheckoutApi:
    """Handlers over the stores, which are opened by `start` before /health turns 200."""

    def __init__(self, env: TargetEnv) -> None:
        self._env = env
        self._stores: Stores | None = None

    @property
    def stores(self) -> Stores:
        assert self._stores is not None, "handlers run only after start()"
        return self._stores

    async def start(self) -> None:
        env = self._env
        pool = await open_pool(env.require("database_url"))
        await ensure_schema(pool, DDL, lock_key=SCHEMA_LOCK)
        redis = producer = None
        if env.variant == "redis_truth":
            redis = await open_redis(env.require("redis_url"))
        if env.variant == "dual_write":
            bootstrap = env.require("kafka_bootstrap")
            await ensure_topic(bootstrap, TOPIC)
            # A publisher with a delivery timeout, like any production
            # producer: an event that cannot leave within it is dropped.
            producer = await start_producer(
                bootstrap, request_timeout_ms=int(PUBLISH_TIMEOUT_S * 1000)
            )
        self._stores = Stores(env.variant, pool, redis=redis, producer=producer)

    async def stop(self) -> None:
        if self._stores is None:
            return
        if self._stores.producer is not None:
            await self._stores.producer.stop()
        if self._stores.redis is not None:
            await self._stores.redis.aclose()
        await self._stores.pool.close()

    async def post_order(self, request: web.Request) -> web.Response:
        body = await read_json(request, {"order_id": str, "sku": str, "qty": int})
        order = Order(body["order_id"], body["sku"], body["qty"])
        if await place_order(self.stores, order) == "accepted":
            return json_response(200, {"order_id": order.order_id, "status": "accepted"})
        return json_response(
            409, {"order_id": order.order_id, "status": "rejected", "reason": "out_of_stock"}
        )

    async def get_order(self, request: web.Request) -> web.Response:
        order_id = param_id(request, "order_id")
        async with self.stores.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT sku, qty, status FROM orders WHERE order_id = %s ORDER BY id LIMIT 1",
                (order_id,),
            )
            row = await cur.fetchone()
        if row is None:
            return json_response(404, {"order_id": order_id, "error": "unknown order"})
        sku, qty, status = row
        return json_response(200, {"order_id": order_id, "sku": sku, "qty": qty, "status": status})

    async def put_inventory(self, request: web.Request) -> web.Response:
        sku = param_id(request, "sku")
        body = await read_json(request, {})
        available = check_int("available", body.get("available"), minimum=0)
        async with self.stores.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO inventory (sku, available) VALUES (%s, %s)"
                " ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available",
                (sku, available),
            )
        if self.stores.redis is not None:
            await self.stores.redis.set(redis_stock_key(sku), available)
        return json_response(200, {"sku": sku, "available": available})

    async def get_inventory(self, request: web.Request) -> web.Response:
        sku = param_id(request, "sku")
        async with self.stores.pool.connection() as conn:
            query = REDIS_TRUTH_STOCK_QUERY if self.stores.redis is not None else STOCK_QUERY
            cur = await conn.execute(query, (sku,))
            row = await cur.fetchone()
        if row is None:
            return json_response(404, {"sku": sku, "error": "unknown sku"})
        return json_response(200, {"sku": sku, "available": row[0]})


async def serve_role(env: TargetEnv) -> None:
    """Serve the API on 127.0.0.1:PORT until cancelled."""
    api = CheckoutApi(env)
    routes = [
        web.post("/orders", api.post_order),
        web.get("/orders/{order_id}", api.get_order),
        web.put("/inventory/{sku}", api.put_inventory),
        web.get("/inventory/{sku}", api.get_inventory),
    ]
    await serve(env, routes, on_startup=[api.start], on_cleanup=[api.stop])
