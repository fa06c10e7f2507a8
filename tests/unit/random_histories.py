"""Seeded random histories of the built-in workloads, valid or not.

Few keys, so operations collide; every outcome (ok, fail, info, open);
reads in the main phase and final reads over several settle snapshots and
replicas, answering anything (right, stale, phantom, 404, timeout); ledgers
with missing, duplicated and altered effects. For tests that compare two
ways of checking one history: what matters is that every code path of the
checkers is walked, valid or invalid.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from harness.history import Effect, FinalState, History, Ledgers
from tests.unit.histories import (
    UNREAD,
    Outcome,
    charge,
    message,
    order,
    pay,
    read,
    recorder,
    set_stock,
    shipment,
    swipe,
)

Example = tuple[History, FinalState, Ledgers]
_OUTCOMES: tuple[Outcome, ...] = ("ok", "ok", "ok", "fail", "info", "open")


def _keys(rnd: random.Random, prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(rnd.randint(1, n))]


def _maybe(rnd: random.Random, answer: Any) -> Any:
    """The answer, or now and then a 404 or a timeout instead."""
    roll = rnd.random()
    return None if roll < 0.1 else UNREAD if roll < 0.2 else answer


def _finals(
    rnd: random.Random,
    rec: Any,
    f: str,
    field: str,
    keys: list[str],
    answer: Callable[[str], Any],
) -> dict[str, Any]:
    """Final reads of every key over 1-2 snapshots on 1-2 replicas; the final
    state is what replica 0 answered in the last snapshot."""
    rec.set_phase("final")
    snapshots, nodes = rnd.randint(1, 2), rnd.randint(1, 2)
    shown: dict[str, Any] = {}
    for snapshot in range(snapshots):
        for key in keys:
            for node in range(nodes):
                said = _maybe(rnd, answer(key))
                read(rec, f, {field: key}, said, node=node, snapshot=snapshot)
                if snapshot == snapshots - 1 and node == 0 and said is not UNREAD:
                    shown[key] = said
    return shown


def inventory(seed: int) -> Example:
    rnd, rec = random.Random(seed), recorder()
    skus, orders = _keys(rnd, "s", 3), _keys(rnd, "o", 8)
    for sku in skus:
        set_stock(rec, sku, rnd.randint(0, 6), rnd.choice(("ok", "ok", "info")))
    asked: dict[str, tuple[str, int]] = {}
    for _ in range(rnd.randint(0, 16)):
        order_id = rnd.choice(orders)
        sku, qty = asked.setdefault(order_id, (rnd.choice(skus), rnd.randint(1, 3)))
        if rnd.random() < 0.1:
            qty += 1  # a retry that asks for something else
        order(rec, order_id, sku, qty, rnd.choice(_OUTCOMES), attempt=rnd.randint(1, 2))
        if rnd.random() < 0.3:
            key = rnd.choice(orders)
            said = {"order_id": key, "sku": sku, "qty": qty, "status": "accepted"}
            read(rec, "read_order", {"order_id": key}, _maybe(rnd, said), node=rnd.randint(0, 1))
        if rnd.random() < 0.3:
            said = {"sku": sku, "available": rnd.randint(0, 6)}
            read(rec, "read_stock", {"sku": sku}, _maybe(rnd, said), node=rnd.randint(0, 1))

    def order_answer(key: str) -> Any:
        sku, qty = asked.get(key, (skus[0], 1))
        status = rnd.choice(("accepted", "rejected", "pending"))
        return {"order_id": key, "sku": sku, "qty": qty, "status": status}

    stock = _finals(
        rnd, rec, "read_stock", "sku", skus, lambda s: {"sku": s, "available": rnd.randint(0, 6)}
    )
    final_orders = _finals(rnd, rec, "read_order", "order_id", list(asked), order_answer)
    effects = [
        shipment(o, sku if rnd.random() < 0.9 else skus[0], qty, f"sh-{o}-{i}")
        for i, (o, (sku, qty)) in enumerate(asked.items())
        for _ in range(rnd.choice((0, 1, 1, 1, 2)))
    ]
    final = FinalState(workload="inventory", values={"stock": stock, "orders": final_orders})
    return rec.history(), final, Ledgers(tuple(effects))


def payments(seed: int) -> Example:
    rnd, rec = random.Random(seed), recorder()
    ids = _keys(rnd, "p", 8)
    amounts: dict[str, int] = {}
    for _ in range(rnd.randint(0, 16)):
        payment_id = rnd.choice(ids)
        amount = amounts.setdefault(payment_id, rnd.randint(1, 5) * 100)
        charge_id = f"ch-{payment_id}" if rnd.random() < 0.9 else f"ch-x-{payment_id}"
        pay(rec, payment_id, amount, rnd.choice(_OUTCOMES), charge_id=charge_id)
        if rnd.random() < 0.3:
            key = rnd.choice(ids)
            said = {"payment_id": key, "status": "captured", "charge_id": f"ch-{key}"}
            read(rec, "read_payment", {"payment_id": key}, _maybe(rnd, said))

    def payment_answer(key: str) -> Any:
        status = rnd.choice(("captured", "declined", "pending"))
        said = {"payment_id": key, "status": status}
        return said | {"charge_id": f"ch-{key}"} if status == "captured" else said

    shown = _finals(rnd, rec, "read_payment", "payment_id", list(amounts), payment_answer)
    effects: list[Effect] = [
        charge(
            p, amount + (100 if rnd.random() < 0.1 else 0), f"ch-{p}" if i == 0 else f"ch-{p}-{i}"
        )
        for p, amount in amounts.items()
        for i in range(rnd.choice((0, 1, 1, 1, 2)))
    ]
    final = FinalState(workload="payments", values={"payments": shown})
    return rec.history(), final, Ledgers(tuple(effects))


def matching(seed: int) -> Example:
    rnd, rec = random.Random(seed), recorder()
    users = _keys(rnd, "u", 5)
    if len(users) < 2:
        users.append("u-x")
    matches: dict[str, tuple[str, str]] = {}
    for i in range(rnd.randint(0, 16)):
        a, b = rnd.sample(users, 2)
        direction = rnd.choice(("right", "right", "left"))
        match_id = f"m-{i}" if rnd.random() < 0.4 else None
        if match_id is not None:
            matches[match_id] = (a, b)
        outcome = rnd.choice(tuple(o for o in _OUTCOMES if o != "fail"))  # no refusals
        swipe(rec, f"w-{a}-{b}", a, b, direction, outcome, match_id=match_id)
        if rnd.random() < 0.3:
            listed = [{"match_id": m, "users": list(p)} for m, p in matches.items() if a in p]
            read(rec, "read_matches", {"user": a}, _maybe(rnd, {"matches": listed}))

    def listing(user: str) -> Any:
        mine = [m for m, p in matches.items() if user in p and rnd.random() < 0.9]
        return {"matches": [{"match_id": m, "users": list(matches[m])} for m in mine]}

    lists = _finals(rnd, rec, "read_matches", "user", users, listing)
    effects = [
        message(m, a, b, f"msg-{m}-{i}")
        for m, (a, b) in matches.items()
        for i in range(rnd.choice((0, 1, 1, 2)))
    ]
    final = FinalState(workload="matching", values={"matches": lists})
    return rec.history(), final, Ledgers(tuple(effects))


WORKLOADS: dict[str, Callable[[int], Example]] = {
    "inventory": inventory,
    "payments": payments,
    "matching": matching,
}
