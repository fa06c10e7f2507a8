"""The built-in payments workload (docs/contracts.md section 4): no duplicate charge."""

from __future__ import annotations

from harness.workload.api import (
    Answer,
    FinalRead,
    FromKey,
    Key,
    Operation,
    PartnerDecline,
    Workload,
)


def amount(index: int) -> int:
    """A payment's amount in cents, a function of its key: a resend is the same request."""
    return 100 * (index + 1)


_ID = ("payment_id",)

PAYMENTS = Workload(
    name="payments",
    keys={"payment": 8, "order": 8},
    # The PSP declines up to two of an example's payments (402, no effect).
    setup=(PartnerDecline(kind="payment", at_most=2),),
    operations=(
        Operation(
            name="pay",
            method="POST",
            path="/payments",
            body=("payment_id", "order_id", "amount"),
            fields={
                "payment_id": Key("payment"),
                "order_id": Key("order", same_as="payment_id"),
                "amount": FromKey(amount),
            },
            id="payment_id",
            ok=(Answer(200, echo=_ID, equals={"status": "captured"}, types={"charge_id": "str"}),),
            fail=(Answer(402, echo=_ID, equals={"status": "declined"}),),
        ),
        Operation(
            name="read_payment",
            method="GET",
            path="/payments/{payment_id}",
            fields={"payment_id": Key("payment")},
            id="payment_id",
            read=True,
            ok=(
                Answer(200, echo=_ID, equals={"status": "captured"}, types={"charge_id": "str"}),
                Answer(200, echo=_ID, equals={"status": "declined"},
                       types={"charge_id": "str|null"}),
                Answer(200, echo=_ID, equals={"status": "pending"},
                       types={"charge_id": "str|null"}),
                Answer(404),
            ),
        ),
    ),
    final=(FinalRead(op="read_payment", slot="payments", keys="payment", not_found="absent"),),
    effects=("psp",),
)
