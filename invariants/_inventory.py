"""Inventory invariants (CONTRACTS.md section 3): checkout without oversell.

The final state decides which orders are accepted; the history says which
orders were attempted (with the sku and qty the client asked for), what each
attempt was answered, and the initial stock (the ``set_stock`` setup ops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.history import Effect, FinalState, History, Ledgers, Operation
from invariants._common import (
    NOT_FOUND,
    Findings,
    body,
    counted,
    final_status,
    group_ops,
    listing,
    op_ids,
    ops_text,
)
from invariants.verdict import Verdict

ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Order:
    """Every attempt at one ``order_id``; ``sku``/``qty`` are what the first one asked for."""

    order_id: str
    sku: str
    qty: int
    ops: tuple[Operation, ...]
    reads: tuple[int, ...]

    def answered(self, outcome: str) -> list[int]:
        """Op ids of the attempts that completed with ``outcome``."""
        return [op.invoke.op_id for op in self.ops if op.outcome == outcome]

    @property
    def ids(self) -> list[int]:
        """Every attempt, then the final reads."""
        return [*op_ids(self.ops), *self.reads]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sku:
    """One sku: its initial stock (``None`` unless every ``set_stock`` was ok) and orders."""

    sku: str
    initial: int | None
    setup: tuple[int, ...]
    reads: tuple[int, ...]
    orders: tuple[_Order, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Inventory:
    skus: dict[str, _Sku]
    orders: dict[str, _Order]


def _index(history: History) -> _Inventory:
    """One pass over the history, then one over its keys."""
    groups = group_ops(
        history,
        {"set_stock": "sku", "order": "order_id", "read_order": "order_id", "read_stock": "sku"},
    )
    orders: dict[str, _Order] = {}
    by_sku: dict[str, list[_Order]] = {}
    for order_id, ops in groups["order"].items():
        first = body(ops[0])
        order = _Order(
            order_id=order_id,
            sku=str(first["sku"]),
            qty=int(first["qty"]),
            ops=tuple(ops),
            reads=tuple(op_ids(groups["read_order"].get(order_id, ()))),
        )
        orders[order_id] = order
        by_sku.setdefault(order.sku, []).append(order)
    skus: dict[str, _Sku] = {}
    for sku in dict.fromkeys([*groups["set_stock"], *by_sku]):
        setup = groups["set_stock"].get(sku, [])
        known = bool(setup) and all(op.outcome == "ok" for op in setup)
        skus[sku] = _Sku(
            sku=sku,
            initial=int(body(setup[-1])["available"]) if known else None,
            setup=tuple(op_ids(setup)),
            reads=tuple(op_ids(groups["read_stock"].get(sku, ()))),
            orders=tuple(by_sku.get(sku, ())),
        )
    return _Inventory(skus=skus, orders=orders)


def _settled(sku: _Sku, final: FinalState) -> tuple[list[_Order], list[_Order]]:
    """The sku's orders accepted in the final state, and those whose final read is absent."""
    accepted = [o for o in sku.orders if final_status(final.of("orders"), o.order_id) == ACCEPTED]
    unread = [o for o in sku.orders if o.order_id not in final.of("orders")]
    return accepted, unread


def _names(orders: Sequence[_Order]) -> list[str]:
    return [o.order_id for o in orders]


def _ids(orders: Sequence[_Order]) -> list[int]:
    return [i for o in orders for i in o.ids]


def _quantities(orders: Sequence[_Order]) -> str:
    """``2 + 2`` for a few orders, ``a total of 40`` for many."""
    if len(orders) > 5:
        return f"a total of {sum(o.qty for o in orders)}"
    return " + ".join(str(o.qty) for o in orders)


def _orders_were(orders: Sequence[_Order]) -> str:
    """``order o-1 was``, ``orders o-1 and o-2 were both``, ``orders ... were all``."""
    names = listing(_names(orders))
    if len(orders) == 1:
        return f"order {names} was"
    return f"orders {names} were {'both' if len(orders) == 2 else 'all'}"


def _available(final: FinalState, sku: str) -> int | None:
    read = final.of("stock").get(sku)
    return None if read is None else int(read["available"])


def check_no_oversell(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Per sku, the quantities of orders accepted in the final state stay within
    the initial stock, and the final available count is not negative.

    An order whose final read is absent may or may not be accepted; it can only
    add to the sum, so a sum already over the stock is a violation, while a sum
    that only such orders could push over is undecided.
    """
    out = Findings("no_oversell", "sku")
    for sku in _index(history).skus.values():
        out.checked += 1
        accepted, unread = _settled(sku, final)
        taken = sum(o.qty for o in accepted)
        available = _available(final, sku.sku)
        if available is not None and available < 0:
            out.violation(
                f"sku {sku.sku} has {available} available in the final state (negative)",
                [sku.sku],
                sku.reads,
            )
        elif available is None:
            out.undecided(
                f"the final stock read of sku {sku.sku} was indeterminate", [sku.sku], sku.reads
            )
        if sku.initial is None:
            out.undecided(
                f"the initial stock of sku {sku.sku} is unknown (no acknowledged set_stock)",
                [sku.sku],
                sku.setup,
            )
        elif taken > sku.initial:
            out.violation(
                f"{_orders_were(accepted)} accepted for sku {sku.sku}: "
                f"{_quantities(accepted)} > initial stock {sku.initial}",
                [sku.sku, *_names(accepted)],
                [*sku.setup, *_ids(accepted)],
            )
        elif taken + sum(o.qty for o in unread) > sku.initial:
            out.undecided(
                f"sku {sku.sku}: {taken} of {sku.initial} accepted; whether orders "
                f"{listing(_names(unread))} (final read indeterminate) oversell it is unknown",
                [sku.sku, *_names(unread)],
                _ids(unread),
            )
    return out.verdict()


def check_stock_accounting(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Per sku, final available == initial - the quantities of orders accepted in
    the final state (each order_id once, whatever its retries).

    Orders whose final read is absent may or may not be accepted, which spans
    a range [initial - accepted - unread, initial - accepted]; outside it is a
    violation, inside it (with such orders) is undecided.
    """
    out = Findings("stock_accounting", "sku")
    for sku in _index(history).skus.values():
        out.checked += 1
        available = _available(final, sku.sku)
        if sku.initial is None or available is None:
            missing = "initial stock" if sku.initial is None else "final stock read"
            out.undecided(
                f"sku {sku.sku} cannot be accounted: its {missing} is unknown",
                [sku.sku],
                [*sku.setup, *sku.reads],
            )
            continue
        accepted, unread = _settled(sku, final)
        high = sku.initial - sum(o.qty for o in accepted)
        low = high - sum(o.qty for o in unread)
        keys = [sku.sku, *_names(accepted), *_names(unread)]
        ids = [*sku.setup, *sku.reads, *_ids(accepted), *_ids(unread)]
        if not low <= available <= high:
            expected = f"{high}" if low == high else f"between {low} and {high}"
            # Too much left may be a decrement not yet visible -- unless the accepted
            # orders already took more than there was: no decrement can fix that.
            # Too little left never heals.
            report = out.pending if available > high >= 0 else out.violation
            report(
                f"sku {sku.sku} has {available} available in the final state, expected "
                f"{expected}: initial {sku.initial} - {counted(len(accepted), 'accepted order')} "
                f"({counted(sum(o.qty for o in accepted), 'unit')})"
                + (f", {counted(len(unread), 'order')} unread" if unread else ""),
                keys,
                ids,
            )
        elif unread:
            out.undecided(
                f"sku {sku.sku}: whether orders {listing(_names(unread))} (final read "
                f"indeterminate) account for {available} available is unknown",
                keys,
                ids,
            )
    return out.verdict()


def check_acknowledged_orders(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """An order answered ``accepted`` is accepted in the final state (not 404 or
    rejected); an indeterminate final read leaves it undecided."""
    out = Findings("acknowledged_writes_survive", "acknowledged order")
    for order in _index(history).orders.values():
        acks = order.answered("ok")
        if not acks:
            continue
        out.checked += 1
        status = final_status(final.of("orders"), order.order_id)
        if status is None:
            out.undecided(
                f"order {order.order_id} was answered accepted ({ops_text(acks)}) but its "
                "final read was indeterminate",
                [order.order_id],
                order.ids,
            )
        elif status != ACCEPTED:
            # Missing may be a write not yet visible; any other status contradicts it.
            report = out.pending if status == NOT_FOUND else out.violation
            report(
                f"order {order.order_id} was answered accepted ({ops_text(acks)}) but is "
                f"{status} in the final state",
                [order.order_id],
                order.ids,
            )
    return out.verdict()


def check_idempotent_retry(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Every determinate answer for one order_id agrees (accepted vs rejected),
    and agrees with the final state (rejected and 404 both mean not accepted).

    Indeterminate attempts agree with anything. A rejection is a definite
    outcome of the order_id, so an order rejected and later accepted (say, by
    an earlier attempt landing late) is a violation: a resend must get the
    same outcome.
    """
    out = Findings("idempotent_retry", "order")
    for order in _index(history).orders.values():
        out.checked += 1
        acks, rejects = order.answered("ok"), order.answered("fail")
        name = order.order_id
        if acks and rejects:
            out.violation(
                f"order {name} was answered both accepted ({ops_text(acks)}) "
                f"and rejected ({ops_text(rejects)})",
                [name],
                order.ids,
            )
            continue
        if not acks and not rejects:
            continue
        said, ids = (ACCEPTED, acks) if acks else ("rejected", rejects)
        status = final_status(final.of("orders"), name)
        if status is None:
            out.undecided(
                f"order {name} was answered {said} ({ops_text(ids)}) but its final read "
                "was indeterminate",
                [name],
                order.ids,
            )
        elif (status == ACCEPTED) != (said == ACCEPTED):
            report = out.pending if status == NOT_FOUND else out.violation
            report(
                f"order {name} was answered {said} ({ops_text(ids)}) but is {status} "
                "in the final state",
                [name],
                order.ids,
            )
    return out.verdict()


def _shipping_error(order: _Order, shipments: Sequence[Effect], accepted: bool) -> str | None:
    """Why the shipments of an order are wrong if it is (or is not) accepted, or None."""
    named = listing([e.effect_id for e in shipments])
    if not accepted:
        return f"it was shipped anyway ({named})" if shipments else None
    if not shipments:
        return "it was never shipped"
    if len(shipments) > 1:
        return f"it was shipped {len(shipments)} times ({named})"
    shipped = shipments[0].body
    if shipped.get("sku") != order.sku or shipped.get("qty") != order.qty:
        return (
            f"shipment {named} carries {shipped.get('qty')} x {shipped.get('sku')}, "
            f"the order {order.qty} x {order.sku}"
        )
    return None


def check_exactly_once_shipment(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """After quiescence, each order accepted in the final state has exactly one
    shipment (matching sku and qty) in the warehouse ledger; other orders none.

    An order whose final read is absent is a violation only if no final state
    would explain its shipments (two or more, or one with the wrong sku/qty);
    otherwise it is undecided.
    """
    shipments: dict[str, list[Effect]] = {}
    for effect in ledgers.effects:
        if effect.kind == "shipment":
            shipments.setdefault(str(effect.body.get("order_id")), []).append(effect)
    out = Findings("exactly_once_shipment", "order")
    for order in _index(history).orders.values():
        out.checked += 1
        name = order.order_id
        shipped = shipments.get(name, [])
        status = final_status(final.of("orders"), name)
        if status is None:
            # Accepted or not, a wrong shipment is wrong; else either outcome may explain it.
            error = _shipping_error(order, shipped, accepted=True)
            if error is not None and shipped:
                out.violation(
                    f"order {name} (final read indeterminate): {error}", [name], order.ids
                )
            else:
                out.undecided(
                    f"order {name} has {len(shipped)} shipments but its final read was "
                    "indeterminate",
                    [name],
                    order.ids,
                )
            continue
        error = _shipping_error(order, shipped, accepted=status == ACCEPTED)
        if error is not None:
            # Never shipped (yet) may still happen: the shipping path is asynchronous.
            report = out.pending if status == ACCEPTED and not shipped else out.violation
            report(f"order {name} is {status} in the final state but {error}", [name], order.ids)
    return out.verdict()
