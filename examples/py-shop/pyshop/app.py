"""The HTTP side: failmodel's inventory contract (docs/contracts.md section 3)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web

from .options import Options
from .shipper import Shipper
from .store import Order, Store, Unavailable

log = logging.getLogger("py-shop.http")

ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ORDER_DEADLINE_S = 1.5   # an order not decided by then is answered without its outcome


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def _unavailable(**ids: Any) -> web.Response:
    return _json(503, {**ids, "error": "unavailable", "status": "unknown"})


def _is_count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class Shop:
    def __init__(self, store: Store, shipper: Shipper, options: Options) -> None:
        self.store = store
        self.shipper = shipper
        self.options = options
        self._work: set[asyncio.Task] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/health", self.health),
            web.put("/inventory/{sku}", self.put_stock),
            web.get("/inventory/{sku}", self.get_stock),
            web.post("/orders", self.post_order),
            web.get("/orders/{order_id}", self.get_order),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    async def put_stock(self, request: web.Request) -> web.Response:
        sku = request.match_info["sku"]
        body = await _body(request)
        available = body.get("available") if body is not None else None
        if not ID.match(sku) or not _is_count(available, 0):
            return _json(400, {"error": "expected {\"available\": int >= 0} and an id"})
        try:
            stored = await self.store.set_stock(sku, available)
        except Unavailable as exc:
            log.info("PUT /inventory/%s: %s", sku, exc)
            return _unavailable(sku=sku)
        return _json(200, {"sku": sku, "available": stored})

    async def get_stock(self, request: web.Request) -> web.Response:
        sku = request.match_info["sku"]
        try:
            available = await self.store.read_stock(sku)
        except Unavailable as exc:
            log.info("GET /inventory/%s: %s", sku, exc)
            return _unavailable(sku=sku)
        if available is None:
            return _json(404, {"sku": sku, "error": "unknown sku"})
        return _json(200, {"sku": sku, "available": available})

    async def get_order(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        try:
            order = await self.store.read_order(order_id)
        except Unavailable as exc:
            log.info("GET /orders/%s: %s", order_id, exc)
            return _unavailable(order_id=order_id)
        if order is None:
            return _json(404, {"order_id": order_id, "error": "unknown order"})
        return _json(200, _order_body(order))

    async def post_order(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None:
            return _json(400, {"error": "expected a JSON object"})
        order_id, sku, qty = body.get("order_id"), body.get("sku"), body.get("qty")
        if not (isinstance(order_id, str) and ID.match(order_id)
                and isinstance(sku, str) and ID.match(sku) and _is_count(qty, 1)):
            return _json(400, {"error": "expected order_id, sku (ids) and qty (int > 0)"})

        # The decision runs as a task of its own: it finishes (and the order is
        # shipped) even when the client goes away or the answer below times out.
        task = asyncio.create_task(self._place(order_id, sku, qty))
        self._work.add(task)
        task.add_done_callback(self._finished)
        try:
            order = await asyncio.wait_for(asyncio.shield(task), ORDER_DEADLINE_S)
        except TimeoutError:
            log.info("POST /orders %s: not decided within %.1f s", order_id, ORDER_DEADLINE_S)
            if self.options.deadline_status == 409:
                return _json(409, {"order_id": order_id, "status": "rejected",
                                   "reason": "out_of_stock"})
            return _unavailable(order_id=order_id)
        except Unavailable as exc:
            log.info("POST /orders %s: %s", order_id, exc)
            return _unavailable(order_id=order_id)

        if order.sku != sku or order.qty != qty:
            return _json(409, {"order_id": order_id, "error": "order_id reused with another body"})
        if order.status == "accepted":
            return _json(200, {"order_id": order_id, "status": "accepted"})
        return _json(409, {"order_id": order_id, "status": "rejected", "reason": "out_of_stock"})

    def _finished(self, task: asyncio.Task) -> None:
        self._work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("order work ended with %r", task.exception())

    async def _place(self, order_id: str, sku: str, qty: int) -> Order:
        order = await self.store.place_order(order_id, sku, qty, self.shipper.call)
        if order.status == "accepted" and order.shipment_id is None:
            self.shipper.kick(order)
        return order


def _order_body(order: Order) -> dict[str, Any]:
    return {"order_id": order.order_id, "sku": order.sku, "qty": order.qty,
            "status": order.status}


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except Exception:
        return None
    return body if isinstance(body, dict) else None
