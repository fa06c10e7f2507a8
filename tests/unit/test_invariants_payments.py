"""Payments checkers on hand-written histories with known verdicts."""

from __future__ import annotations

from histories import UNREAD, charge, final_payments, ledgers, pay, read_id, recorder

from invariants import CHECKERS, Evidence

PAYMENTS = (
    "no_duplicate_charge",
    "charge_recorded",
    "no_unrecorded_money",
    "acknowledged_writes_survive",
)


def test_a_correct_run_with_declines_and_indeterminate_payments_is_valid_for_every_checker() -> (
    None
):
    rec = recorder()
    pay(rec, "p-1", 500)
    pay(rec, "p-2", 700, "fail")  # declined: no charge
    pay(rec, "p-3", 900, "info")  # may have happened: it did, once
    pay(rec, "p-3", 900, attempt=2)  # the retry is answered with the same charge
    pay(rec, "p-4", 100, "open")  # never completed, never charged
    final = final_payments(
        rec,
        {
            "p-1": ("captured", "ch-p-1"),
            "p-2": "declined",
            "p-3": ("captured", "ch-p-3"),
            "p-4": None,
        },
    )
    charges = ledgers(charge("p-1", 500), charge("p-3", 900))
    checked = {}
    for name in PAYMENTS:
        verdict = CHECKERS[name](rec.history(), final, charges)
        assert (verdict.invariant, verdict.status, verdict.evidence) == (name, "valid", ())
        checked[name] = verdict.checked
    assert checked == {
        "no_duplicate_charge": 4,
        "charge_recorded": 2,
        "no_unrecorded_money": 2,
        "acknowledged_writes_survive": 3,  # two captured, one declined
    }


def test_an_intent_whose_charge_never_reached_the_psp_may_stay_pending_for_good() -> None:
    """docs/contracts.md: a payment answered 202 pending and never charged may be
    read pending in the final state; only charges made and answers given are judged."""
    rec = recorder()
    pay(rec, "p-1", 500, "info")
    final = final_payments(rec, {"p-1": "pending"})
    for name in (*PAYMENTS, "consistent_reads"):
        verdict = CHECKERS[name](rec.history(), final, ledgers())
        assert verdict.status == "valid", (name, verdict.summary)


# --- no_duplicate_charge -------------------------------------------------------


def test_two_charges_for_one_payment_are_a_duplicate_charge() -> None:
    rec = recorder()
    first = pay(rec, "p-1", 500, "info")
    retry = pay(rec, "p-1", 500, charge_id="ch-b", attempt=2)
    charges = ledgers(charge("p-1", 500, "ch-a"), charge("p-1", 500, "ch-b"))
    final = final_payments(rec, {"p-1": ("captured", "ch-b")})

    verdict = CHECKERS["no_duplicate_charge"](rec.history(), final, charges)

    assert verdict.status == "invalid"
    assert verdict.evidence == (
        Evidence(
            message="payment p-1 was charged 2 times: ch-a (500 cents) and ch-b (500 cents)",
            keys=("p-1", "ch-a", "ch-b"),
            op_ids=(first, retry, read_id(rec, "p-1")),
        ),
    )
    assert verdict.summary == (
        "1 violation among 1 payment; first: payment p-1 was charged 2 times: "
        "ch-a (500 cents) and ch-b (500 cents)"
    )


def test_charges_for_payments_not_in_the_history_are_not_counted() -> None:
    rec = recorder()
    pay(rec, "p-1", 500)
    charges = ledgers(charge("p-1", 500), charge("p-9", 1), charge("p-9", 1, "ch-again"))
    final = final_payments(rec, {"p-1": ("captured", "ch-p-1")})

    verdict = CHECKERS["no_duplicate_charge"](rec.history(), final, charges)

    assert (verdict.status, verdict.checked) == ("valid", 1)


# --- charge_recorded -----------------------------------------------------------


def test_a_capture_without_its_charge_or_with_another_amount_is_invalid() -> None:
    rec = recorder()
    missing = pay(rec, "p-1", 500, charge_id="ch-x")
    cheap = pay(rec, "p-2", 700)
    pay(rec, "p-3", 100, "info")  # not answered captured: no charge needed
    charges = ledgers(charge("p-1", 500, "ch-y"), charge("p-2", 70))
    final = final_payments(rec, {})

    verdict = CHECKERS["charge_recorded"](rec.history(), final, charges)

    assert (verdict.status, verdict.checked) == ("invalid", 2)
    assert verdict.evidence == (
        Evidence(
            message=(
                "payment p-1 was answered captured as ch-x (op 0), but the PSP has no such "
                "charge (its charges for it: ch-y (500 cents))"
            ),
            keys=("p-1", "ch-x"),
            op_ids=(missing,),
        ),
        Evidence(
            message=(
                "payment p-2 was answered captured as ch-p-2 (op 1) for 700 cents, "
                "but the PSP charged ch-p-2 (70 cents)"
            ),
            keys=("p-2", "ch-p-2"),
            op_ids=(cheap,),
        ),
    )


# --- no_unrecorded_money -------------------------------------------------------


def test_a_charge_whose_payment_is_not_captured_with_it_is_unrecorded_money() -> None:
    rec = recorder()
    declined = pay(rec, "p-1", 500, "info")
    gone = pay(rec, "p-2", 600, "info")
    other = pay(rec, "p-3", 700)
    charges = ledgers(charge("p-1", 500), charge("p-2", 600), charge("p-3", 700, "ch-z"))
    final = final_payments(rec, {"p-1": "declined", "p-2": None, "p-3": ("captured", "ch-p-3")})

    verdict = CHECKERS["no_unrecorded_money"](rec.history(), final, charges)

    assert (verdict.status, verdict.checked) == ("invalid", 3)
    assert [(e.message, e.keys, e.op_ids) for e in verdict.evidence] == [
        (
            "PSP charge ch-p-1 (500 cents) of payment p-1 is unrecorded: "
            "the payment is declined in the final state",
            ("p-1", "ch-p-1"),
            (declined, read_id(rec, "p-1")),
        ),
        (
            "PSP charge ch-p-2 (600 cents) of payment p-2 is unrecorded: "
            "the payment is missing (404) in the final state",
            ("p-2", "ch-p-2"),
            (gone, read_id(rec, "p-2")),
        ),
        (
            "PSP charge ch-z (700 cents) of payment p-3 is unrecorded: "
            "the payment is captured as ch-p-3 in the final state",
            ("p-3", "ch-z"),
            (other, read_id(rec, "p-3")),
        ),
    ]


def test_a_charge_whose_payment_was_not_read_is_unknown_not_invalid() -> None:
    rec = recorder()
    attempt = pay(rec, "p-1", 500, "info")
    final = final_payments(rec, {"p-1": UNREAD})

    verdict = CHECKERS["no_unrecorded_money"](rec.history(), final, ledgers(charge("p-1", 500)))

    assert verdict.status == "unknown"
    assert verdict.evidence == (
        Evidence(
            message=(
                "PSP charge ch-p-1 (500 cents) of payment p-1: the payment's final read "
                "was indeterminate"
            ),
            keys=("p-1", "ch-p-1"),
            op_ids=(attempt, read_id(rec, "p-1")),
        ),
    )


# --- acknowledged_writes_survive (payments) -------------------------------------


def test_a_captured_payment_that_is_not_captured_in_the_final_state_is_lost() -> None:
    rec = recorder()
    captured = pay(rec, "p-1", 500)
    unread = pay(rec, "p-2", 500)
    final = final_payments(rec, {"p-1": "pending", "p-2": UNREAD})

    verdict = CHECKERS["acknowledged_writes_survive"](
        rec.history(), final, ledgers(charge("p-1", 500), charge("p-2", 500))
    )

    assert (verdict.status, verdict.checked) == ("invalid", 2)
    assert [(e.message, e.keys, e.op_ids) for e in verdict.evidence] == [
        (
            "payment p-1 was answered captured as ch-p-1 (op 0) but is pending in the final state",
            ("p-1",),
            (captured, read_id(rec, "p-1")),
        ),
    ]
    assert verdict.summary.startswith("1 violation among 2 answered payments (1 more undecided)")
    assert verdict.waiting  # pending may still become captured: only the deadline decides
    assert unread not in verdict.evidence[0].op_ids
