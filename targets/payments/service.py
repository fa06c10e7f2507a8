"""The `serve` role: `POST /payments` and `GET /payments/{payment_id}` over HTTP."""

from __future__ import annotations

from aiohttp import web

from targets.common.config import TargetEnv
from targets.common.web import json_response, param_id, read_json, serve
from targets.payments.deps import Deps
from targets.payments.flows import PaymentIdReused, pay
from targets.payments.store import Payment, find

_PAY_SCHEMA = {"payment_id": str, "order_id": str, "amount": int}
_HTTP_STATUS = {"captured": 200, "declined": 402, "pending": 503}
"""`pending` after a POST means the PSP's answer is unknown: indeterminate to the client."""


async def run_service(env: TargetEnv) -> None:
    """Serve until cancelled."""
    deps = Deps(env)

    async def post_payment(request: web.Request) -> web.Response:
        body = await read_json(request, _PAY_SCHEMA)
        wanted = Payment(
            payment_id=body["payment_id"], order_id=body["order_id"], amount=body["amount"]
        )
        try:
            stored = await pay(env.variant, deps.pool, deps.partner, wanted)
        except PaymentIdReused as exc:
            return json_response(409, {"error": str(exc)})
        answer = stored.to_json()
        if stored.status == "pending":
            answer["error"] = "payment provider did not answer; the payment stays pending"
        return json_response(_HTTP_STATUS[stored.status], answer)

    async def get_payment(request: web.Request) -> web.Response:
        stored = await find(deps.pool, param_id(request, "payment_id"))
        if stored is None:
            return json_response(404, {"error": "no such payment"})
        return json_response(200, stored.to_json())

    await serve(
        env,
        [web.post("/payments", post_payment), web.get("/payments/{payment_id}", get_payment)],
        on_startup=[deps.open],
        on_cleanup=[deps.close],
    )
