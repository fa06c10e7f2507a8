"""Inventory invariants (CONTRACTS.md section 3), as instances of the library.

The final state decides which orders are accepted; the history says which
orders were attempted (with the sku and qty the client asked for), what each
attempt was answered, and the initial stock (the ``set_stock`` setup ops).
"""

from __future__ import annotations

from invariants.library import (
    Accepted,
    AccountWords,
    Effects,
    Final,
    Flow,
    FlowWords,
    IdempotentWords,
    Initial,
    Requests,
    Scope,
    make_accounting,
    make_idempotency,
    make_propagation,
)

ORDERS_READ = Final(slot="orders", read="read_order", key="order_id")
STOCK_READ = Final(slot="stock", read="read_stock", key="sku")
ORDERS = Requests(op="order", id="order_id", final=ORDERS_READ, accepted=("accepted",))
TAKEN = Flow(requests=ORDERS, scope="sku", amount="qty", sign=-1)
INITIAL = Initial(op="set_stock", key="sku", value="available")
_STOCK_WORDS = AccountWords(
    scope="sku",
    value="available",
    event="order",
    initial="stock",
    read="stock",
    below="oversell it",
)
_ORDER_WORDS = IdempotentWords(noun="order", ok="accepted", fail="rejected")

# Per sku, the quantities of orders accepted in the final state stay within the
# initial stock, and the final available count is not negative. An order whose
# final read is absent can only add to the sum: a sum already over the stock is
# a violation, one that only such orders could push over is undecided.
check_no_oversell = make_accounting(
    "no_oversell",
    flows=(TAKEN,),
    final=STOCK_READ,
    field="available",
    initial=INITIAL,
    equal=False,
    floor=0,
    words=_STOCK_WORDS,
)

# Per sku, final available == initial - the quantities of orders accepted in the
# final state (each order_id once, whatever its retries); orders whose final
# read is absent span a range. Stock is never negative: stock left over after
# accepted orders took more than there was is no lagging decrement.
check_stock_accounting = make_accounting(
    "stock_accounting",
    flows=(TAKEN,),
    final=STOCK_READ,
    field="available",
    initial=INITIAL,
    least=0,
    words=_STOCK_WORDS,
)

# An order answered accepted is accepted in the final state (a 404 is pending:
# the write may not be visible yet); an indeterminate final read is undecided.
check_acknowledged_orders = make_idempotency(
    "acknowledged_writes_survive",
    requests=ORDERS,
    refusals=False,
    words=IdempotentWords(noun="order", unit="acknowledged order", ok="accepted", fail="rejected"),
)

# Every determinate answer for one order_id agrees (accepted vs rejected), and
# agrees with the final state (rejected and 404 both mean not accepted).
check_idempotent_retry = make_idempotency(
    "idempotent_retry", requests=ORDERS, refusals=True, words=_ORDER_WORDS
)

# Once the system is quiet, each order accepted in the final state has exactly
# one shipment (its sku and qty) in the warehouse ledger; other orders none.
check_exactly_once_shipment = make_propagation(
    "exactly_once_shipment",
    source=Accepted(requests=ORDERS),
    target=Effects(kind="shipment", key=("order_id",)),
    link="key",
    count="exactly_once",
    carry={"sku": "sku", "qty": "qty"},
    orphans=True,
    scope=Scope(requests=ORDERS),
    words=FlowWords(
        noun="order",
        target_noun="shipment",
        carried="{qty} x {sku}",
        none="it was never shipped",
        many="it was shipped {n} times ({targets})",
        carry="shipment {target} carries {got}, the order {want}",
        orphan="it was shipped anyway ({targets})",
        unknown_open="order {id} has {n} shipments but its final read was indeterminate",
    ),
)
