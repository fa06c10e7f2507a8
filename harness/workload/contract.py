"""The workload contracts (CONTRACTS.md sections 3-5) as data: which HTTP call
each history ``f`` makes, and how an answer is classified.

Classification follows Jepsen's rule and errs towards ``info``: ``ok`` and
``fail`` are claims the checkers trust, so an answer earns them only when its
status *and* its body are exactly what the contract documents for *this*
request (an acceptance naming another ``order_id`` is ``info``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeGuard
from urllib.parse import quote

Workload: TypeAlias = Literal["inventory", "payments", "matching"]
Outcome: TypeAlias = Literal["ok", "fail", "info"]
WORKLOADS: tuple[Workload, ...] = ("inventory", "payments", "matching")
READ_NOT_FOUND = 404


class InvalidOperation(ValueError):
    """An operation the workload's contract does not know, or a body missing a field."""


# A body check gets the request body and the parsed answer and says whether
# the answer is exactly the documented one for that request.
BodyCheck: TypeAlias = Callable[[Mapping[str, Any], Any], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One contract call: how to send it and which answers are ok or fail."""

    method: str
    route: str
    """The documented route, for messages: ``GET /inventory/{sku}``."""
    path: Callable[[Mapping[str, Any]], str]
    fields: tuple[str, ...]
    payload: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
    ok: Mapping[int, BodyCheck]
    fail: Mapping[int, BodyCheck]
    is_read: bool


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_obj(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict)


def _echoes(body: Any, request: Mapping[str, Any], *keys: str) -> bool:
    """``body`` is an object repeating the request's ``keys`` unchanged."""
    return _is_obj(body) and all(body.get(k) == request[k] for k in keys)


def _seg(field: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda req: quote(str(req[field]), safe="")


def _stock_set(req: Mapping[str, Any], body: Any) -> bool:
    return _echoes(body, req, "sku", "available")


def _order_accepted(req: Mapping[str, Any], body: Any) -> bool:
    return _echoes(body, req, "order_id") and body.get("status") == "accepted"


def _order_rejected(req: Mapping[str, Any], body: Any) -> bool:
    return (
        _echoes(body, req, "order_id")
        and body.get("status") == "rejected"
        and body.get("reason") == "out_of_stock"
    )


def _order_read(req: Mapping[str, Any], body: Any) -> bool:
    return (
        _echoes(body, req, "order_id")
        and isinstance(body.get("sku"), str)
        and _is_int(body.get("qty"))
        and isinstance(body.get("status"), str)
    )


def _stock_read(req: Mapping[str, Any], body: Any) -> bool:
    return _echoes(body, req, "sku") and _is_int(body.get("available"))


def _captured(req: Mapping[str, Any], body: Any) -> bool:
    return (
        _echoes(body, req, "payment_id")
        and body.get("status") == "captured"
        and isinstance(body.get("charge_id"), str)
    )


def _declined(req: Mapping[str, Any], body: Any) -> bool:
    return _echoes(body, req, "payment_id") and body.get("status") == "declined"


def _payment_read(req: Mapping[str, Any], body: Any) -> bool:
    if not _echoes(body, req, "payment_id"):
        return False
    status, charge_id = body.get("status"), body.get("charge_id")
    if status == "captured":
        return isinstance(charge_id, str)
    return status in ("declined", "pending") and (charge_id is None or isinstance(charge_id, str))


def _swiped(req: Mapping[str, Any], body: Any) -> bool:
    if not _echoes(body, req, "swipe_id") or not isinstance(body.get("matched"), bool):
        return False
    match_id = body.get("match_id")
    if body["matched"]:
        return isinstance(match_id, str)
    return match_id is None or isinstance(match_id, str)


def _is_match(match: Any) -> bool:
    if not _is_obj(match):
        return False
    users = match.get("users")
    return (
        isinstance(match.get("match_id"), str)
        and isinstance(users, list)
        and len(users) == 2
        and all(isinstance(u, str) for u in users)
    )


def _matches_read(_: Mapping[str, Any], body: Any) -> bool:
    matches = body.get("matches") if _is_obj(body) else None
    return isinstance(matches, list) and all(_is_match(m) for m in matches)


def _any_body(_: Mapping[str, Any], __: Any) -> bool:
    return True


def _json(*fields: str) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    return lambda req: {f: req[f] for f in fields}


def _no_body(_: Mapping[str, Any]) -> None:
    return None


def _read(
    route: str, path: Callable[[Mapping[str, Any]], str], field: str, check: BodyCheck
) -> Call:
    return Call(
        method="GET",
        route=f"GET {route}",
        path=path,
        fields=(field,),
        payload=_no_body,
        ok={200: check, READ_NOT_FOUND: _any_body},
        fail={},
        is_read=True,
    )


CALLS: Mapping[str, Mapping[str, Call]] = {
    "inventory": {
        "set_stock": Call(
            method="PUT",
            route="PUT /inventory/{sku}",
            path=lambda r: "/inventory/" + _seg("sku")(r),
            fields=("sku", "available"),
            payload=_json("available"),
            ok={200: _stock_set},
            fail={},
            is_read=False,
        ),
        "order": Call(
            method="POST",
            route="POST /orders",
            path=lambda _: "/orders",
            fields=("order_id", "sku", "qty"),
            payload=_json("order_id", "sku", "qty"),
            ok={200: _order_accepted},
            fail={409: _order_rejected},
            is_read=False,
        ),
        "read_order": _read(
            "/orders/{order_id}",
            lambda r: "/orders/" + _seg("order_id")(r),
            "order_id",
            _order_read,
        ),
        "read_stock": _read(
            "/inventory/{sku}", lambda r: "/inventory/" + _seg("sku")(r), "sku", _stock_read
        ),
    },
    "payments": {
        "pay": Call(
            method="POST",
            route="POST /payments",
            path=lambda _: "/payments",
            fields=("payment_id", "order_id", "amount"),
            payload=_json("payment_id", "order_id", "amount"),
            ok={200: _captured},
            fail={402: _declined},
            is_read=False,
        ),
        "read_payment": _read(
            "/payments/{payment_id}",
            lambda r: "/payments/" + _seg("payment_id")(r),
            "payment_id",
            _payment_read,
        ),
    },
    "matching": {
        "swipe": Call(
            method="POST",
            route="POST /swipes",
            path=lambda _: "/swipes",
            fields=("swipe_id", "swiper", "swipee", "direction"),
            payload=_json("swipe_id", "swiper", "swipee", "direction"),
            ok={200: _swiped},
            fail={},
            is_read=False,
        ),
        "read_matches": _read(
            "/matches?user={user}",
            lambda r: "/matches?user=" + _seg("user")(r),
            "user",
            _matches_read,
        ),
    },
}


def call_for(workload: str, f: str, body: Mapping[str, Any]) -> Call:
    """The contract call for ``f``; raises `InvalidOperation` naming what is wrong."""
    if workload not in CALLS:
        raise InvalidOperation(f"'workload' must be one of {list(WORKLOADS)} (got {workload!r})")
    calls = CALLS[workload]
    if f not in calls:
        raise InvalidOperation(
            f"'f' must be one of {sorted(calls)} for workload {workload!r} (got {f!r})"
        )
    call = calls[f]
    missing = [name for name in call.fields if name not in body]
    if missing:
        raise InvalidOperation(
            f"body of {f!r} must have {list(call.fields)} (missing {missing}; got {dict(body)!r})"
        )
    return call


def route_of(workload: str, f: str) -> str:
    """The documented route of ``f`` (``GET /inventory/{sku}``), or ``f`` if unknown."""
    call = CALLS.get(workload, {}).get(f)
    return call.route if call is not None else f


def classify(
    call: Call, request: Mapping[str, Any], status: int, body: Any
) -> tuple[Outcome, str | None]:
    """``ok``/``fail``/``info`` for an answer, with an error note when it is ``info``."""
    answers: tuple[tuple[Outcome, Mapping[int, BodyCheck]], ...] = (
        ("ok", call.ok),
        ("fail", call.fail),
    )
    for outcome, checks in answers:
        check = checks.get(status)
        if check is None:
            continue
        if check(request, body):
            return outcome, None
        return "info", f"HTTP {status} body does not match the contract: {body!r}"[:500]
    return "info", f"HTTP {status} is not a documented answer"
