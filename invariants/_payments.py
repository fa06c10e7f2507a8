"""Payments invariants (CONTRACTS.md section 4), as instances of the library.

The PSP ledger is the ground truth for money moved: its charges (``reference``
= payment_id) are effective charges, idempotent replays already folded. The
partner records no effect for a declined charge.
"""

from __future__ import annotations

from invariants.library import (
    Accepted,
    Answered,
    Effects,
    Final,
    FlowWords,
    IdempotentWords,
    Requests,
    Scope,
    UniqueWords,
    make_idempotency,
    make_propagation,
    make_uniqueness,
)

PAYMENTS_READ = Final(slot="payments", read="read_payment", key="payment_id")
PAYS = Requests(
    op="pay", id="payment_id", final=PAYMENTS_READ, accepted=("captured",), waiting=("pending",)
)
PAYMENT_SCOPE = Scope(requests=PAYS)
CHARGES = Effects(kind="charge", key=("reference",))
_CHARGE = "{id} ({amount} cents)"

# At most one effective PSP charge per payment_id; the ledger alone decides.
check_no_duplicate_charge = make_uniqueness(
    "no_duplicate_charge",
    items=(CHARGES,),
    scope=PAYMENT_SCOPE,
    words=UniqueWords(
        noun="payment", item=_CHARGE, many="payment {key} was charged {n} times: {items}"
    ),
)

# Every payment answered captured names a PSP charge of it with the requested
# amount, and every payment captured in the final state names a PSP charge of
# it (else the money was never collected).
check_charge_recorded = make_propagation(
    "charge_recorded",
    source=(
        Accepted(requests=PAYS, id="charge_id"),
        Answered(op="pay", id="charge_id", key=("payment_id",)),
    ),
    target=CHARGES,
    link="id",
    count="at_least_once",
    carry={"amount": "amount"},
    orphans=False,
    scope=PAYMENT_SCOPE,
    words=FlowWords(
        noun="payment",
        unit="captured payment",
        target_noun="charge",
        first="key",
        item=_CHARGE,
        carried="{amount} cents",
        request="payment {key} is captured as {id} in the final state{error}",
        answer="payment {key} was answered captured as {id} ({ops}){error}",
        named=", but the PSP has no such charge (its charges for it: {related})",
        carry=" for {want}, but the PSP charged {targets}",
    ),
)

# Once the system is quiet every PSP charge belongs to a payment whose final
# status is captured with that charge_id; an indeterminate final read is undecided.
check_no_unrecorded_money = make_propagation(
    "no_unrecorded_money",
    source=CHARGES,
    target=Accepted(requests=PAYS, id="charge_id"),
    scope=PAYMENT_SCOPE,
    words=FlowWords(
        noun="charge",
        unit="charged payment",
        first="key",
        item=_CHARGE,
        unrecorded="PSP charge {item} of payment {key} is unrecorded: the payment is {status} "
        "in the final state",
        record_unread="PSP charge {item} of payment {key}: the payment's final read was "
        "indeterminate",
    ),
)

# A payment answered captured is captured in the final state with the answered
# charge_id; a payment answered declined (a definite refusal) is not captured.
check_acknowledged_payments = make_idempotency(
    "acknowledged_writes_survive",
    requests=PAYS,
    agree=("charge_id",),
    refusals=True,
    words=IdempotentWords(noun="payment", unit="answered payment", ok="captured", fail="declined"),
)
