"""Hand-written histories for the checker tests: one call per operation.

Each operation function records an invoke and (unless ``outcome="open"``)
its completion in a ``Recorder`` and returns the op id. ``outcome`` is the
Jepsen outcome: ``ok`` (the documented success), ``fail`` (the documented
rejection), ``info`` (a timeout) or ``open`` (no completion at all).
The ``final_*`` functions record the final reads and return the
``FinalState`` built from them; ``UNREAD`` marks a read that was
indeterminate, so its key is absent from the final state.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Literal, TypeAlias

from harness.history import Effect, FinalState, Ledgers, Recorder

Outcome: TypeAlias = Literal["ok", "fail", "info", "open"]


class Read(Enum):
    UNREAD = "unread"


UNREAD = Read.UNREAD


def recorder() -> Recorder:
    """A recorder with a deterministic clock (one second per event), no file."""
    ticks = itertools.count()
    return Recorder(clock=lambda: float(next(ticks)))


def _op(
    rec: Recorder,
    f: str,
    body: Mapping[str, Any],
    outcome: Outcome,
    answers: Mapping[str, tuple[int, Any]],
    *,
    attempt: int = 1,
    process: int = 0,
    node: int = 0,
    snapshot: int | None = None,
) -> int:
    value: dict[str, Any] = {"node": node, "attempt": attempt, "body": dict(body)}
    if snapshot is not None:
        value["snapshot"] = snapshot
    invoke = rec.invoke(process, f, value)
    if outcome == "info":
        rec.complete(invoke, "info", {"status": None, "body": None}, error="timeout")
    elif outcome != "open":
        status, answer = answers[outcome]
        rec.complete(invoke, outcome, {"status": status, "body": answer})
    return invoke.op_id


def set_stock(rec: Recorder, sku: str, available: int, outcome: Outcome = "ok") -> int:
    """A setup-phase ``set_stock``; the recorder goes back to the main phase."""
    rec.set_phase("setup")
    body = {"sku": sku, "available": available}
    op_id = _op(rec, "set_stock", body, outcome, {"ok": (200, body)})
    rec.set_phase("main")
    return op_id


def order(
    rec: Recorder, order_id: str, sku: str, qty: int, outcome: Outcome = "ok", *, attempt: int = 1
) -> int:
    answers = {
        "ok": (200, {"order_id": order_id, "status": "accepted"}),
        "fail": (409, {"order_id": order_id, "status": "rejected", "reason": "out_of_stock"}),
    }
    body = {"order_id": order_id, "sku": sku, "qty": qty}
    return _op(rec, "order", body, outcome, answers, attempt=attempt)


def pay(
    rec: Recorder,
    payment_id: str,
    amount: int,
    outcome: Outcome = "ok",
    *,
    charge_id: str = "",
    attempt: int = 1,
) -> int:
    """A payment; when ok it is answered captured as ``charge_id`` (default ``ch-<id>``)."""
    captured = {
        "payment_id": payment_id,
        "status": "captured",
        "charge_id": charge_id or f"ch-{payment_id}",
    }
    answers = {
        "ok": (200, captured),
        "fail": (402, {"payment_id": payment_id, "status": "declined"}),
    }
    body = {"payment_id": payment_id, "order_id": f"o-{payment_id}", "amount": amount}
    return _op(rec, "pay", body, outcome, answers, attempt=attempt)


def swipe(
    rec: Recorder,
    swipe_id: str,
    swiper: str,
    swipee: str,
    direction: str = "right",
    outcome: Outcome = "ok",
    *,
    match_id: str | None = None,
    attempt: int = 1,
) -> int:
    """A swipe; when ok it is answered matched iff ``match_id`` is given."""
    said = {"swipe_id": swipe_id, "matched": match_id is not None, "match_id": match_id}
    body = {"swipe_id": swipe_id, "swiper": swiper, "swipee": swipee, "direction": direction}
    return _op(rec, "swipe", body, outcome, {"ok": (200, said)}, attempt=attempt)


def read(
    rec: Recorder,
    f: str,
    body: Mapping[str, Any],
    answer: Any,
    *,
    node: int = 0,
    snapshot: int | None = None,
) -> int:
    """A read in the recorder's current phase: ``UNREAD`` times out, ``None`` is a
    404, else a 200 with ``answer``; final-phase reads name their ``snapshot``."""
    if answer is UNREAD:
        return _op(rec, f, body, "info", {}, node=node, snapshot=snapshot)
    status = 404 if answer is None else 200
    return _op(rec, f, body, "ok", {"ok": (status, answer)}, node=node, snapshot=snapshot)


def _read(rec: Recorder, f: str, body: Mapping[str, Any], answer: Any) -> None:
    """A final-phase read of snapshot 0 from replica 0."""
    rec.set_phase("final")
    read(rec, f, body, answer, snapshot=0)


def final_inventory(
    rec: Recorder,
    *,
    stock: Mapping[str, int | Read],
    orders: Mapping[str, str | Read | None],
) -> FinalState:
    """Final reads of stock (sku -> available) and orders (order_id -> status,
    ``None`` for 404); an order's sku and qty are those of its first attempt."""
    asked = {
        e.value["body"]["order_id"]: e.value["body"]
        for e in reversed(rec.history().events)
        if e.f == "order" and e.type == "invoke"
    }
    skus: dict[str, Any] = {}
    for sku, available in stock.items():
        shown: Any = available if available is UNREAD else {"sku": sku, "available": available}
        _read(rec, "read_stock", {"sku": sku}, shown)
        if shown is not UNREAD:
            skus[sku] = shown
    bodies: dict[str, Any] = {}
    for order_id, status in orders.items():
        read: Any = status
        if isinstance(status, str):
            first = asked[order_id]
            read = {
                "order_id": order_id,
                "sku": first["sku"],
                "qty": first["qty"],
                "status": status,
            }
        _read(rec, "read_order", {"order_id": order_id}, read)
        if read is not UNREAD:
            bodies[order_id] = read
    return FinalState(workload="inventory", values={"stock": skus, "orders": bodies})


def final_payments(
    rec: Recorder, payments: Mapping[str, str | tuple[str, str] | Read | None]
) -> FinalState:
    """Final payment reads: a status, ``(status, charge_id)``, ``None`` (404) or ``UNREAD``."""
    bodies: dict[str, Any] = {}
    for payment_id, shown in payments.items():
        read: Any = shown
        if isinstance(shown, str):
            read = {"payment_id": payment_id, "status": shown}
        elif isinstance(shown, tuple):
            read = {"payment_id": payment_id, "status": shown[0], "charge_id": shown[1]}
        _read(rec, "read_payment", {"payment_id": payment_id}, read)
        if read is not UNREAD:
            bodies[payment_id] = read
    return FinalState(workload="payments", values={"payments": bodies})


def final_matching(
    rec: Recorder, matches: Mapping[str, Sequence[tuple[str, str, str]] | Read]
) -> FinalState:
    """Final match lists: user -> ``[(match_id, user_a, user_b), ...]`` or ``UNREAD``."""
    lists: dict[str, Any] = {}
    for user, shown in matches.items():
        if shown is UNREAD:
            _read(rec, "read_matches", {"user": user}, UNREAD)
            continue
        listed = [{"match_id": m, "users": [a, b]} for m, a, b in shown]
        _read(rec, "read_matches", {"user": user}, {"matches": listed})
        lists[user] = {"matches": listed}
    return FinalState(workload="matching", values={"matches": lists})


def charge(reference: str, amount: int, charge_id: str = "") -> Effect:
    return Effect(
        kind="charge",
        effect_id=charge_id or f"ch-{reference}",
        body={"reference": reference, "amount": amount},
    )


def shipment(order_id: str, sku: str, qty: int, shipment_id: str = "") -> Effect:
    return Effect(
        kind="shipment",
        effect_id=shipment_id or f"sh-{order_id}",
        body={"order_id": order_id, "sku": sku, "qty": qty},
    )


def message(match_id: str, a: str, b: str, message_id: str = "") -> Effect:
    return Effect(
        kind="message",
        effect_id=message_id or f"msg-{match_id}",
        body={"match_id": match_id, "users": [a, b]},
    )


def ledgers(*effects: Effect) -> Ledgers:
    return Ledgers(effects)


def read_id(rec: Recorder, key: str) -> int:
    """The op id of the last final read whose body names ``key``."""
    for event in reversed(rec.history().events):
        if (
            event.type == "invoke"
            and event.phase == "final"
            and key in event.value["body"].values()
        ):
            return event.op_id
    raise KeyError(key)
