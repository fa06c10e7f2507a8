"""Shipments: POST {PARTNER_URL}/warehouse/shipments for every accepted order.

An accepted order is shipped right after its outcome is stored (in the
background, whatever happens to the client), and every replica sweeps the
orders still owed a shipment, so a crash, a partner outage or a lost answer
only delays it. Every call for one order sends the same body with the same
Idempotency-Key, so the warehouse acts at most once per order however many
calls reach it (resends, two replicas sweeping the same order).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid

import aiohttp

from .options import Options
from .store import Order, Store, Unavailable

log = logging.getLogger("py-shop.shipper")

CALL_TIMEOUT_S = 3.0        # one warehouse call, connection included
FIRST_TRIES = 3             # calls made right after acceptance
BACKOFF_S = (0.2, 0.5)      # between those calls
SWEEP_EVERY_S = 0.5
SWEEP_AFTER_S = 2.0         # an order older than this and still owed is swept
SWEEP_BATCH = 32


class ShipFailed(Exception):
    """The warehouse did not confirm the shipment (it may still have made it)."""


class Shipper:
    def __init__(self, partner_url: str, store: Store, options: Options) -> None:
        self._url = partner_url.rstrip("/") + "/warehouse/shipments"
        self._store = store
        self._options = options
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=32, force_close=True),
        )
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        for task in [self._sweeper, *self._tasks]:
            if task is not None:
                task.cancel()
        if self._session is not None:
            await self._session.close()

    def _key(self, order_id: str) -> str:
        if self._options.ship_key == "call":
            return f"pyshop-ship-{uuid.uuid4().hex}"
        return f"pyshop-ship-{order_id}"

    async def call(self, order_id: str, sku: str, qty: int) -> str:
        """One warehouse call; the shipment_id, or ShipFailed."""
        assert self._session is not None
        body = {"order_id": order_id, "sku": sku, "qty": qty}
        try:
            async with self._session.post(
                self._url, json=body, headers={"Idempotency-Key": self._key(order_id)}
            ) as resp:
                if resp.status == 200:
                    data = await resp.json(content_type=None)
                    shipment_id = data.get("shipment_id") if isinstance(data, dict) else None
                    if isinstance(shipment_id, str) and shipment_id:
                        return shipment_id
                text = (await resp.text())[:200]
                raise ShipFailed(f"HTTP {resp.status}: {text}")
        except ShipFailed:
            raise
        except Exception as exc:
            raise ShipFailed(repr(exc)) from exc

    def kick(self, order: Order) -> None:
        """Ship a just-accepted order in the background."""
        self._spawn(order, FIRST_TRIES)

    def _spawn(self, order: Order, tries: int) -> None:
        if order.order_id in self._inflight:
            return
        self._inflight.add(order.order_id)
        task = asyncio.create_task(self._ship(order, tries))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ship(self, order: Order, tries: int) -> None:
        try:
            for attempt in range(tries):
                if attempt:
                    await asyncio.sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
                try:
                    shipment_id = await self.call(order.order_id, order.sku, order.qty)
                except ShipFailed as exc:
                    log.info("shipment of %s not confirmed: %s", order.order_id, exc)
                    continue
                try:
                    await self._store.mark_shipped(order.order_id, shipment_id)
                except Unavailable as exc:
                    # the sweep sends it again later; the warehouse replays its answer
                    log.info("shipment %s of %s not recorded: %s", shipment_id, order.order_id, exc)
                return
        finally:
            self._inflight.discard(order.order_id)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S * random.uniform(0.8, 1.2))
            try:
                owed = await self._store.owed_shipments(SWEEP_AFTER_S, SWEEP_BATCH)
            except Unavailable as exc:
                log.info("sweep: store unavailable: %s", exc)
                continue
            except Exception:
                log.exception("sweep failed")
                continue
            for order in owed:
                self._spawn(order, 1)
