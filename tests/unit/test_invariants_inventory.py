"""Inventory checkers on hand-written histories with known verdicts."""

from __future__ import annotations

import pytest
from histories import (
    UNREAD,
    final_inventory,
    ledgers,
    order,
    read_id,
    recorder,
    set_stock,
    shipment,
)

from harness.history import Ledgers
from invariants import CHECKERS, Evidence

INVENTORY = (
    "no_oversell",
    "stock_accounting",
    "acknowledged_writes_survive",
    "idempotent_retry",
    "exactly_once_shipment",
)
NO_SHIPMENTS = Ledgers()


def test_a_correct_run_with_rejections_and_indeterminate_orders_is_valid_for_every_checker() -> (
    None
):
    rec = recorder()
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 2, "fail")  # rejected: surely no effect, qty not counted
    order(rec, "o-3", "s-1", 1, "info")  # may have happened; the final state says it did
    order(rec, "o-4", "s-1", 1, "open")  # never completed; the final state says it did not
    final = final_inventory(
        rec,
        stock={"s-1": 0},
        orders={"o-1": "accepted", "o-2": "rejected", "o-3": "accepted", "o-4": None},
    )
    shipped = ledgers(shipment("o-1", "s-1", 2), shipment("o-3", "s-1", 1))
    checked = {}
    for name in INVENTORY:
        verdict = CHECKERS[name](rec.history(), final, shipped)
        assert (verdict.invariant, verdict.status, verdict.evidence) == (name, "valid", ())
        checked[name] = verdict.checked
    assert checked == {
        "no_oversell": 1,
        "stock_accounting": 1,
        "acknowledged_writes_survive": 1,
        # Only orders with a definite answer have answers to agree: o-3 (info) and
        # o-4 (open) give idempotency nothing to examine.
        "idempotent_retry": 2,
        "exactly_once_shipment": 4,
    }


# --- no_oversell ---------------------------------------------------------------


def test_two_accepted_orders_over_the_initial_stock_are_an_oversell() -> None:
    rec = recorder()
    stock = set_stock(rec, "s-3", 3)
    first = order(rec, "o-17", "s-3", 2)
    second = order(rec, "o-18", "s-3", 2, "info")
    final = final_inventory(rec, stock={"s-3": -1}, orders={"o-17": "accepted", "o-18": "accepted"})

    verdict = CHECKERS["no_oversell"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert verdict.evidence == (
        Evidence(
            message="sku s-3 has -1 available in the final state (negative)",
            keys=("s-3",),
            op_ids=(read_id(rec, "s-3"),),
        ),
        Evidence(
            message="orders o-17 and o-18 were both accepted for sku s-3: 2 + 2 > initial stock 3",
            keys=("s-3", "o-17", "o-18"),
            op_ids=(stock, first, read_id(rec, "o-17"), second, read_id(rec, "o-18")),
        ),
    )
    assert verdict.summary == (
        "2 violations among 1 sku; first: sku s-3 has -1 available in the final state (negative)"
    )


def test_an_oversell_stands_whatever_the_unread_orders_turn_out_to_be() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 1)
    order(rec, "o-1", "s-1", 2, "info")
    order(rec, "o-2", "s-1", 1, "info")
    final = final_inventory(rec, stock={"s-1": 0}, orders={"o-1": "accepted", "o-2": UNREAD})

    verdict = CHECKERS["no_oversell"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert [e.keys for e in verdict.evidence] == [("s-1", "o-1")]
    assert verdict.evidence[0].message == "order o-1 was accepted for sku s-1: 2 > initial stock 1"


def test_an_unread_order_that_could_tip_the_sku_over_is_unknown_not_invalid() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2)
    unread = order(rec, "o-2", "s-1", 2, "info")
    final = final_inventory(rec, stock={"s-1": 1}, orders={"o-1": "accepted", "o-2": UNREAD})

    verdict = CHECKERS["no_oversell"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "unknown"
    assert [(e.keys, e.op_ids) for e in verdict.evidence] == [
        (("s-1", "o-2"), (unread, read_id(rec, "o-2")))
    ]
    assert "o-2 (final read indeterminate)" in verdict.summary


def test_an_unread_order_that_fits_in_the_stock_either_way_is_valid() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 5)
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 2, "info")
    final = final_inventory(rec, stock={"s-1": 3}, orders={"o-1": "accepted", "o-2": UNREAD})

    assert CHECKERS["no_oversell"](rec.history(), final, NO_SHIPMENTS).status == "valid"


def test_no_oversell_is_unknown_without_an_acknowledged_initial_stock_or_a_stock_read() -> None:
    rec = recorder()
    setup = set_stock(rec, "s-1", 3, "info")
    set_stock(rec, "s-2", 3)
    order(rec, "o-1", "s-1", 1)
    final = final_inventory(rec, stock={"s-1": 2, "s-2": UNREAD}, orders={"o-1": "accepted"})

    verdict = CHECKERS["no_oversell"](rec.history(), final, NO_SHIPMENTS)

    assert (verdict.status, verdict.checked) == ("unknown", 2)
    assert [(e.keys, e.op_ids) for e in verdict.evidence] == [
        (("s-1",), (setup,)),
        (("s-2",), (read_id(rec, "s-2"),)),
    ]
    assert verdict.evidence[0].message == (
        "the initial stock of sku s-1 is unknown (no acknowledged set_stock)"
    )


# --- stock_accounting ------------------------------------------------------------


def test_stock_that_does_not_add_up_is_invalid() -> None:
    rec = recorder()
    stock = set_stock(rec, "s-1", 3)
    accepted = order(rec, "o-1", "s-1", 2)
    final = final_inventory(rec, stock={"s-1": 2}, orders={"o-1": "accepted"})

    verdict = CHECKERS["stock_accounting"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert verdict.evidence == (
        Evidence(
            message=(
                "sku s-1 has 2 available in the final state, expected 1: "
                "initial 3 - 1 accepted order (2 units)"
            ),
            keys=("s-1", "o-1"),
            op_ids=(stock, read_id(rec, "s-1"), accepted, read_id(rec, "o-1")),
            pending=True,  # too much left: the decrement may not be visible yet
        ),
    )


def test_stock_below_what_the_accepted_orders_took_is_a_definite_violation() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2)
    final = final_inventory(rec, stock={"s-1": 0}, orders={"o-1": "accepted"})

    verdict = CHECKERS["stock_accounting"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert not verdict.waiting
    assert [e.pending for e in verdict.evidence] == [False]


def test_stock_left_after_orders_took_more_than_there_was_is_a_definite_violation() -> None:
    # No lagging decrement explains it: the stock would have to go negative.
    rec = recorder()
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 2)
    final = final_inventory(rec, stock={"s-1": 0}, orders={"o-1": "accepted", "o-2": "accepted"})

    verdict = CHECKERS["stock_accounting"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert [e.pending for e in verdict.evidence] == [False]
    assert "expected -1" in verdict.evidence[0].message


def test_a_retried_order_counts_once() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2, "info")
    order(rec, "o-1", "s-1", 2, attempt=2)
    final = final_inventory(rec, stock={"s-1": 1}, orders={"o-1": "accepted"})

    verdict = CHECKERS["stock_accounting"](rec.history(), final, NO_SHIPMENTS)

    assert (verdict.status, verdict.checked) == ("valid", 1)


def test_an_unread_order_leaves_accounting_unknown_inside_the_possible_range() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 5)
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 1, "info")
    final = final_inventory(rec, stock={"s-1": 2}, orders={"o-1": "accepted", "o-2": UNREAD})

    verdict = CHECKERS["stock_accounting"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "unknown"
    assert [e.keys for e in verdict.evidence] == [("s-1", "o-1", "o-2")]


def test_stock_outside_every_resolution_of_unread_orders_is_invalid() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 5)
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 1, "info")
    final = final_inventory(rec, stock={"s-1": 4}, orders={"o-1": "accepted", "o-2": UNREAD})

    verdict = CHECKERS["stock_accounting"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert verdict.evidence[0].message == (
        "sku s-1 has 4 available in the final state, expected between 2 and 3: "
        "initial 5 - 1 accepted order (2 units), 1 order unread"
    )


# --- acknowledged_writes_survive (inventory) -------------------------------------


def test_an_accepted_order_that_is_gone_or_rejected_in_the_final_state_is_lost() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 9)
    lost = order(rec, "o-1", "s-1", 1)
    flipped = order(rec, "o-2", "s-1", 1)
    order(rec, "o-3", "s-1", 1, "info")  # not acknowledged: a 404 is allowed
    final = final_inventory(
        rec, stock={"s-1": 9}, orders={"o-1": None, "o-2": "rejected", "o-3": None}
    )

    verdict = CHECKERS["acknowledged_writes_survive"](rec.history(), final, NO_SHIPMENTS)

    assert (verdict.status, verdict.checked) == ("invalid", 2)
    assert verdict.evidence == (
        Evidence(
            message=(
                "order o-1 was answered accepted (op 1) but is missing (404) in the final state"
            ),
            keys=("o-1",),
            op_ids=(lost, read_id(rec, "o-1")),
            pending=True,  # missing may be a write not yet visible; rejected never heals
        ),
        Evidence(
            message="order o-2 was answered accepted (op 2) but is rejected in the final state",
            keys=("o-2",),
            op_ids=(flipped, read_id(rec, "o-2")),
        ),
    )


def test_an_accepted_order_with_an_unread_final_state_is_unknown() -> None:
    rec = recorder()
    accepted = order(rec, "o-1", "s-1", 1)
    final = final_inventory(rec, stock={}, orders={"o-1": UNREAD})

    verdict = CHECKERS["acknowledged_writes_survive"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "unknown"
    assert verdict.evidence == (
        Evidence(
            message=("order o-1 was answered accepted (op 0) but its final read was indeterminate"),
            keys=("o-1",),
            op_ids=(accepted, read_id(rec, "o-1")),
        ),
    )


# --- idempotent_retry --------------------------------------------------------------


def test_a_retry_after_an_indeterminate_attempt_agrees() -> None:
    rec = recorder()
    order(rec, "o-1", "s-1", 1, "info")
    order(rec, "o-1", "s-1", 1, attempt=2)
    order(rec, "o-2", "s-1", 1, "info")
    order(rec, "o-2", "s-1", 1, "fail", attempt=2)
    final = final_inventory(rec, stock={}, orders={"o-1": "accepted", "o-2": None})

    verdict = CHECKERS["idempotent_retry"](rec.history(), final, NO_SHIPMENTS)

    assert (verdict.status, verdict.checked) == ("valid", 2)


def test_a_retry_answered_differently_is_invalid() -> None:
    rec = recorder()
    first = order(rec, "o-1", "s-1", 1)
    second = order(rec, "o-1", "s-1", 1, "fail", attempt=2)
    final = final_inventory(rec, stock={}, orders={"o-1": "accepted"})

    verdict = CHECKERS["idempotent_retry"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert verdict.evidence == (
        Evidence(
            message="order o-1 was answered both accepted (op 0) and rejected (op 1)",
            keys=("o-1",),
            op_ids=(first, second, read_id(rec, "o-1")),
        ),
    )


def test_a_rejected_order_accepted_in_the_final_state_is_invalid_even_after_a_lost_attempt() -> (
    None
):
    rec = recorder()
    lost = order(rec, "o-1", "s-1", 1, "info")
    rejected = order(rec, "o-1", "s-1", 1, "fail", attempt=2)
    final = final_inventory(rec, stock={}, orders={"o-1": "accepted"})

    verdict = CHECKERS["idempotent_retry"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "invalid"
    assert verdict.evidence[0].message == (
        "order o-1 was answered rejected (op 1) but is accepted in the final state"
    )
    assert verdict.evidence[0].op_ids == (lost, rejected, read_id(rec, "o-1"))


def test_idempotent_retry_is_unknown_when_the_final_read_of_an_answered_order_is_absent() -> None:
    rec = recorder()
    order(rec, "o-1", "s-1", 1)
    order(rec, "o-2", "s-1", 1, "info")  # no determinate answer: nothing to compare
    final = final_inventory(rec, stock={}, orders={"o-1": UNREAD, "o-2": UNREAD})

    verdict = CHECKERS["idempotent_retry"](rec.history(), final, NO_SHIPMENTS)

    assert verdict.status == "unknown"
    assert [e.keys for e in verdict.evidence] == [("o-1",)]


# --- exactly_once_shipment ----------------------------------------------------------


def test_shipping_mistakes_are_each_named() -> None:
    rec = recorder()
    never = order(rec, "o-1", "s-1", 1)
    twice = order(rec, "o-2", "s-1", 1)
    rejected = order(rec, "o-3", "s-1", 1, "fail")
    wrong = order(rec, "o-4", "s-1", 2)
    final = final_inventory(
        rec,
        stock={},
        orders={"o-1": "accepted", "o-2": "accepted", "o-3": "rejected", "o-4": "accepted"},
    )
    shipped = ledgers(
        shipment("o-2", "s-1", 1, "sh-a"),
        shipment("o-2", "s-1", 1, "sh-b"),
        shipment("o-3", "s-1", 1),
        shipment("o-4", "s-1", 1),
    )

    verdict = CHECKERS["exactly_once_shipment"](rec.history(), final, shipped)

    assert (verdict.status, verdict.checked) == ("invalid", 4)
    assert [(e.message, e.keys, e.op_ids) for e in verdict.evidence] == [
        (
            "order o-1 is accepted in the final state but it was never shipped",
            ("o-1",),
            (never, read_id(rec, "o-1")),
        ),
        (
            "order o-2 is accepted in the final state but it was shipped 2 times (sh-a and sh-b)",
            ("o-2",),
            (twice, read_id(rec, "o-2")),
        ),
        (
            "order o-3 is rejected in the final state but it was shipped anyway (sh-o-3)",
            ("o-3",),
            (rejected, read_id(rec, "o-3")),
        ),
        (
            "order o-4 is accepted in the final state but shipment sh-o-4 carries 1 x s-1, "
            "the order 2 x s-1",
            ("o-4",),
            (wrong, read_id(rec, "o-4")),
        ),
    ]


def test_an_unread_order_is_unknown_unless_no_final_state_explains_its_shipments() -> None:
    rec = recorder()
    order(rec, "o-1", "s-1", 1, "info")  # one good shipment: fine if accepted
    order(rec, "o-2", "s-1", 1, "info")  # no shipment: fine if not accepted
    order(rec, "o-3", "s-1", 1, "info")  # two shipments: wrong either way
    final = final_inventory(rec, stock={}, orders={"o-1": UNREAD, "o-2": UNREAD, "o-3": UNREAD})
    shipped = ledgers(
        shipment("o-1", "s-1", 1),
        shipment("o-3", "s-1", 1, "sh-a"),
        shipment("o-3", "s-1", 1, "sh-b"),
    )

    verdict = CHECKERS["exactly_once_shipment"](rec.history(), final, shipped)

    assert verdict.status == "invalid"
    assert [(e.keys, e.message) for e in verdict.evidence] == [
        (("o-3",), "order o-3 (final read indeterminate): it was shipped 2 times (sh-a and sh-b)")
    ]
    assert verdict.summary.startswith("1 violation among 3 orders (2 more undecided)")


@pytest.mark.parametrize("status", ["rejected", None])
def test_an_order_not_accepted_and_never_shipped_is_valid(status: str | None) -> None:
    rec = recorder()
    order(rec, "o-1", "s-1", 1, "info")
    final = final_inventory(rec, stock={}, orders={"o-1": status})

    verdict = CHECKERS["exactly_once_shipment"](rec.history(), final, NO_SHIPMENTS)

    assert (verdict.status, verdict.checked) == ("valid", 1)
