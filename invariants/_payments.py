"""Payments invariants (CONTRACTS.md section 4): no duplicate charge.

The PSP ledger is the ground truth for money moved: its charges (``reference``
= payment_id) are effective charges, idempotent replays already folded. The
partner records no effect for a declined charge.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.history import Effect, FinalState, History, Ledgers, Operation
from invariants._common import (
    NOT_FOUND,
    Findings,
    answer,
    body,
    final_status,
    group_ops,
    listing,
    op_ids,
    ops_text,
)
from invariants.verdict import Verdict

CAPTURED = "captured"
PENDING = "pending"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Payment:
    """Every attempt at one ``payment_id``, its final reads and its PSP charges."""

    payment_id: str
    ops: tuple[Operation, ...]
    reads: tuple[int, ...]
    charges: tuple[Effect, ...]

    @property
    def captures(self) -> list[Operation]:
        """The attempts answered ``captured``."""
        return [op for op in self.ops if op.outcome == "ok"]

    @property
    def ids(self) -> list[int]:
        return [*op_ids(self.ops), *self.reads]


def _index(history: History, ledgers: Ledgers) -> list[_Payment]:
    """One pass over the history and one over the ledger; only paid ids count."""
    groups = group_ops(history, {"pay": "payment_id", "read_payment": "payment_id"})
    charges: dict[str, list[Effect]] = {}
    for effect in ledgers.effects:
        if effect.kind == "charge":
            charges.setdefault(str(effect.body.get("reference")), []).append(effect)
    return [
        _Payment(
            payment_id=payment_id,
            ops=tuple(ops),
            reads=tuple(op_ids(groups["read_payment"].get(payment_id, ()))),
            charges=tuple(charges.get(payment_id, ())),
        )
        for payment_id, ops in groups["pay"].items()
    ]


def _charge_text(charge: Effect) -> str:
    return f"{charge.effect_id} ({charge.body.get('amount')} cents)"


def check_no_duplicate_charge(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """At most one effective PSP charge per payment_id; the ledger alone decides."""
    out = Findings("no_duplicate_charge", "payment")
    for payment in _index(history, ledgers):
        out.checked += 1
        if len(payment.charges) > 1:
            out.violation(
                f"payment {payment.payment_id} was charged {len(payment.charges)} times: "
                f"{listing([_charge_text(c) for c in payment.charges])}",
                [payment.payment_id, *(c.effect_id for c in payment.charges)],
                payment.ids,
            )
    return out.verdict()


def check_charge_recorded(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Every payment answered ``captured`` names a PSP charge with that reference,
    the requested amount and the answered charge_id; and every payment captured
    in the final state names a PSP charge of it (else the money was never collected)."""
    out = Findings("charge_recorded", "captured payment")
    for payment in _index(history, ledgers):
        captures = payment.captures
        read = final.of("payments").get(payment.payment_id)
        captured = read is not None and read.get("status") == CAPTURED
        recorded = read.get("charge_id") if read is not None and captured else None
        if not captures and recorded is None:
            continue
        out.checked += 1
        by_id = {c.effect_id: c for c in payment.charges}
        if recorded is not None and str(recorded) not in by_id:
            found = listing([_charge_text(c) for c in payment.charges]) or "none"
            out.violation(
                f"payment {payment.payment_id} is captured as {recorded} in the final state, "
                f"but the PSP has no such charge (money never collected; its charges: {found})",
                [payment.payment_id, str(recorded)],
                payment.ids,
            )
        for op in captures:
            charge_id = str(answer(op).get("charge_id"))
            amount = body(op)["amount"]
            charge = by_id.get(charge_id)
            said = (
                f"payment {payment.payment_id} was answered captured as {charge_id} "
                f"(op {op.invoke.op_id})"
            )
            if charge is None:
                found = listing([_charge_text(c) for c in payment.charges]) or "none"
                out.violation(
                    f"{said}, but the PSP has no such charge (its charges for it: {found})",
                    [payment.payment_id, charge_id],
                    payment.ids,
                )
            elif charge.body.get("amount") != amount:
                out.violation(
                    f"{said} for {amount} cents, but the PSP charged {_charge_text(charge)}",
                    [payment.payment_id, charge_id],
                    payment.ids,
                )
    return out.verdict()


def check_no_unrecorded_money(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """After quiescence every PSP charge belongs to a payment whose final status
    is ``captured`` with that charge_id; an indeterminate final read is undecided."""
    out = Findings("no_unrecorded_money", "charged payment")
    for payment in _index(history, ledgers):
        if not payment.charges:
            continue
        out.checked += 1
        name = payment.payment_id
        status = final_status(final.of("payments"), name)
        read = final.of("payments").get(name)
        recorded = None if read is None else read.get("charge_id")
        for charge in payment.charges:
            keys = [name, charge.effect_id]
            if status is None:
                out.undecided(
                    f"PSP charge {_charge_text(charge)} of payment {name}: the payment's final "
                    "read was indeterminate",
                    keys,
                    payment.ids,
                )
            elif status != CAPTURED:
                # Missing or pending may still be recorded (a reconciler); declined never.
                report = out.pending if status in (NOT_FOUND, PENDING) else out.violation
                report(
                    f"PSP charge {_charge_text(charge)} of payment {name} is unrecorded: the "
                    f"payment is {status} in the final state",
                    keys,
                    payment.ids,
                )
            elif recorded != charge.effect_id:
                out.violation(
                    f"PSP charge {_charge_text(charge)} of payment {name} is unrecorded: the "
                    f"payment is captured as {recorded} in the final state",
                    keys,
                    payment.ids,
                )
    return out.verdict()


def check_acknowledged_payments(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """A payment answered ``captured`` is captured in the final state with the
    answered charge_id; a payment answered ``declined`` (a definite refusal) is
    not captured. An indeterminate final read leaves it undecided."""
    out = Findings("acknowledged_writes_survive", "answered payment")
    for payment in _index(history, ledgers):
        captures = payment.captures
        declines = [op for op in payment.ops if op.outcome == "fail"]
        if not captures and not declines:
            continue
        out.checked += 1
        name = payment.payment_id
        status = final_status(final.of("payments"), name)
        read = final.of("payments").get(name)
        if status is None:
            out.undecided(
                f"payment {name} was answered {'captured' if captures else 'declined'} "
                f"({ops_text(op_ids(captures or declines))}) but its final read was indeterminate",
                [name],
                payment.ids,
            )
            continue
        if declines and status == CAPTURED:
            out.violation(
                f"payment {name} was answered declined ({ops_text(op_ids(declines))}) but is "
                "captured in the final state",
                [name],
                payment.ids,
            )
        for op in captures:
            answered = str(answer(op).get("charge_id"))
            said = f"payment {name} was answered captured as {answered} (op {op.invoke.op_id})"
            if status != CAPTURED:
                report = out.pending if status in (NOT_FOUND, PENDING) else out.violation
                report(f"{said} but is {status} in the final state", [name], payment.ids)
            elif read is not None and read.get("charge_id") != answered:
                out.violation(
                    f"{said} but is captured as {read.get('charge_id')} in the final state",
                    [name, answered],
                    payment.ids,
                )
    return out.verdict()
