"""consistent_reads, and the contract promises added to the named invariants:
every case is a hand-written history with the verdict it must get."""

from __future__ import annotations

from typing import Any

from histories import (
    UNREAD,
    charge,
    final_matching,
    final_payments,
    ledgers,
    order,
    pay,
    read,
    recorder,
    set_stock,
    swipe,
)

from harness.history import FinalState, Ledgers, Recorder
from invariants import CHECKERS, Verdict, check, expire_pending


def order_body(order_id: str, sku: str, qty: int, status: str) -> dict[str, Any]:
    return {"order_id": order_id, "sku": sku, "qty": qty, "status": status}


def settle(rec: Recorder, snapshot: int, reads: list[tuple[str, dict[str, Any], Any, int]]) -> None:
    """Final-phase reads of one snapshot: (f, body, answer, node)."""
    rec.set_phase("final")
    for f, body, answer, node in reads:
        read(rec, f, body, answer, node=node, snapshot=snapshot)


def consistent(rec: Recorder, workload: str, *, reads: str = "eventual") -> Verdict:
    (verdict,) = check(
        ["consistent_reads"],
        rec.history(),
        FinalState(workload=workload),
        Ledgers(),
        reads=reads,  # type: ignore[arg-type]
    )
    return verdict


def shop(rec: Recorder) -> None:
    """Stock 3 of s-1, and order o-1 (2 units) accepted."""
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2)


def test_reads_that_agree_everywhere_are_valid() -> None:
    rec = recorder()
    shop(rec)
    read(rec, "read_order", {"order_id": "o-1"}, order_body("o-1", "s-1", 2, "accepted"))
    read(rec, "read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 1})
    for snapshot in (0, 1):
        settle(
            rec,
            snapshot,
            [
                ("read_order", {"order_id": "o-1"}, order_body("o-1", "s-1", 2, "accepted"), node)
                for node in (0, 1)
            ]
            + [
                ("read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 1}, node)
                for node in (0, 1)
            ],
        )

    verdict = consistent(rec, "inventory", reads="strong")

    assert (verdict.status, verdict.checked) == ("valid", 2)


def test_replicas_that_disagree_after_settling_are_pending_with_both_answers() -> None:
    rec = recorder()
    shop(rec)
    settle(
        rec,
        0,
        [
            ("read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 1}, 0),
            ("read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 3}, 1),
        ],
    )

    verdict = consistent(rec, "inventory")

    assert verdict.status == "invalid" and verdict.waiting
    assert verdict.evidence[0].message == (
        "the replicas disagree about sku s-1 after settling: "
        "target-0 says 1 available; target-1 says 3 available"
    )
    late = expire_pending(verdict, 30)
    assert late.evidence[0].message.endswith("(still so 30 s after every fault was healed)")
    assert not late.waiting and late.status == "invalid"


def test_a_replica_that_loses_an_order_between_settled_snapshots_is_a_violation() -> None:
    rec = recorder()
    shop(rec)
    accepted = order_body("o-1", "s-1", 2, "accepted")
    settle(rec, 0, [("read_order", {"order_id": "o-1"}, accepted, 0)])
    settle(rec, 1, [("read_order", {"order_id": "o-1"}, None, 0)])

    verdict = consistent(rec, "inventory")

    assert verdict.status == "invalid" and not verdict.waiting
    assert "final snapshot 1 of target-0 shows missing (404)" in verdict.summary


def test_an_order_read_as_accepted_must_stay_accepted() -> None:
    for settled, pending in ((None, True), (order_body("o-1", "s-1", 2, "rejected"), False)):
        rec = recorder()
        shop(rec)
        seen = read(rec, "read_order", {"order_id": "o-1"}, order_body("o-1", "s-1", 2, "accepted"))
        settle(rec, 0, [("read_order", {"order_id": "o-1"}, settled, 0)])

        verdict = consistent(rec, "inventory")

        assert verdict.status == "invalid"
        assert verdict.evidence[0].pending is pending
        assert verdict.evidence[0].op_ids[0] == seen
        assert verdict.evidence[0].message.startswith(
            f"order o-1 read accepted (2 x s-1) (op {seen}), then the settled state shows"
        )


def test_stock_that_goes_up_without_a_put_is_a_violation() -> None:
    rec = recorder()
    shop(rec)
    read(rec, "read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 1})
    settle(rec, 0, [("read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 3}, 0)])

    verdict = consistent(rec, "inventory")

    assert verdict.status == "invalid" and not verdict.waiting
    assert verdict.summary.endswith("stock went up without a PUT")


def test_an_order_read_with_another_sku_or_qty_than_requested_is_a_violation() -> None:
    rec = recorder()
    shop(rec)
    settle(
        rec, 0, [("read_order", {"order_id": "o-1"}, order_body("o-1", "s-1", 1, "accepted"), 0)]
    )

    verdict = consistent(rec, "inventory")

    assert verdict.status == "invalid"
    assert "order o-1 reads 1 x s-1, but was sent as 2 x s-1" in verdict.summary


def test_phantoms_are_violations_an_order_before_it_was_sent_and_impossible_stock() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 3)
    read(rec, "read_order", {"order_id": "o-1"}, order_body("o-1", "s-1", 2, "accepted"))
    read(rec, "read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 0})
    order(rec, "o-1", "s-1", 2)

    verdict = consistent(rec, "inventory")

    messages = [e.message for e in verdict.evidence]
    assert "order o-1 reads accepted (2 x s-1) but was never sent by then" in messages
    assert (
        "sku s-1 reads 0 available, but the orders sent by then could take at most 0 of 3"
        in messages
    )


def test_a_stale_read_is_allowed_unless_the_design_promises_strong_reads() -> None:
    rec = recorder()
    shop(rec)  # o-1 accepted before the reads below were sent
    read(rec, "read_order", {"order_id": "o-1"}, None)  # stale: not yet visible
    read(rec, "read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 1})
    read(rec, "read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 3}, node=1)  # older
    settle(
        rec,
        0,
        [
            ("read_order", {"order_id": "o-1"}, order_body("o-1", "s-1", 2, "accepted"), 0),
            ("read_stock", {"sku": "s-1"}, {"sku": "s-1", "available": 1}, 0),
        ],
    )

    assert consistent(rec, "inventory").status == "valid"
    strong = consistent(rec, "inventory", reads="strong")
    assert strong.status == "invalid"
    messages = " | ".join(e.message for e in strong.evidence)
    assert "order o-1 was acknowledged accepted before, but reads missing (404)" in messages
    assert "sent after op" in messages and "stock went up without a PUT" in messages


def test_a_captured_payment_read_must_keep_its_charge() -> None:
    rec = recorder()
    pay(rec, "p-1", 500)
    read(
        rec,
        "read_payment",
        {"payment_id": "p-1"},
        {"payment_id": "p-1", "status": "captured", "charge_id": "ch-p-1"},
    )
    settle(
        rec,
        0,
        [
            (
                "read_payment",
                {"payment_id": "p-1"},
                {"payment_id": "p-1", "status": "captured", "charge_id": "ch-other"},
                0,
            )
        ],
    )

    verdict = consistent(rec, "payments")

    assert verdict.status == "invalid" and not verdict.waiting
    assert "a definite outcome changed" in verdict.summary


def test_match_lists_must_name_the_user_and_agree_with_each_other() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a", match_id="m-1")
    entry = {"match_id": "m-1", "users": ["a", "b"]}
    settle(
        rec,
        0,
        [
            ("read_matches", {"user": "a"}, {"matches": [entry]}, 0),
            ("read_matches", {"user": "b"}, {"matches": []}, 0),
            ("read_matches", {"user": "c"}, {"matches": [entry]}, 0),
        ],
    )

    verdict = consistent(rec, "matching")

    messages = [e.message for e in verdict.evidence]
    assert "the matches of c list m-1 between a and b" in messages
    assert "user a lists match m-1 with b, but b's settled list does not" in messages
    assert [e.pending for e in verdict.evidence] == [False, True]


def test_final_reads_no_replica_answered_leave_the_verdict_unknown() -> None:
    rec = recorder()
    shop(rec)
    settle(
        rec,
        0,
        [("read_stock", {"sku": "s-1"}, UNREAD, 0), ("read_stock", {"sku": "s-1"}, UNREAD, 1)],
    )

    verdict = consistent(rec, "inventory")

    assert verdict.status == "unknown"
    assert "no replica answered the final read of sku s-1" in verdict.summary


# --- the contract's other promises, in the named invariants --------------------


def test_a_declined_payment_that_ends_captured_is_not_an_acknowledged_outcome() -> None:
    rec = recorder()
    pay(rec, "p-1", 500, "fail")
    final = final_payments(rec, {"p-1": ("captured", "ch-p-1")})

    verdict = CHECKERS["acknowledged_writes_survive"](
        rec.history(), final, ledgers(charge("p-1", 500))
    )

    assert verdict.status == "invalid"
    assert "payment p-1 was answered declined (op 0) but is captured" in verdict.summary


def test_a_captured_payment_with_another_charge_id_than_answered_is_a_violation() -> None:
    rec = recorder()
    pay(rec, "p-1", 500, charge_id="ch-a")
    final = final_payments(rec, {"p-1": ("captured", "ch-b")})

    verdict = CHECKERS["acknowledged_writes_survive"](
        rec.history(), final, ledgers(charge("p-1", 500, "ch-b"))
    )

    assert verdict.status == "invalid"
    assert "answered captured as ch-a (op 0) but is captured as ch-b" in verdict.summary


def test_a_payment_captured_without_a_psp_charge_collected_no_money() -> None:
    rec = recorder()
    pay(rec, "p-1", 500, "info")
    final = final_payments(rec, {"p-1": ("captured", "ch-ghost")})

    verdict = CHECKERS["charge_recorded"](rec.history(), final, ledgers())

    assert verdict.status == "invalid"
    assert (
        "captured as ch-ghost in the final state, but the PSP has no such charge" in verdict.summary
    )


def test_one_match_id_for_two_pairs_is_a_violation() -> None:
    rec = recorder()
    for i, (x, y) in enumerate((("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"))):
        swipe(rec, f"w-{i}", x, y)
    final = final_matching(
        rec,
        {
            "a": [("m-1", "a", "b")],
            "b": [("m-1", "a", "b")],
            "c": [("m-1", "c", "d")],
            "d": [("m-1", "c", "d")],
        },
    )

    verdict = CHECKERS["at_most_one_match"](rec.history(), final, Ledgers())

    assert verdict.status == "invalid"
    assert "match m-1 is used for 2 pairs: a and b and c and d" in verdict.summary


def test_an_acknowledged_match_missing_from_a_users_list_is_pending() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a", match_id="m-1")
    final = final_matching(rec, {"a": [("m-1", "a", "b")], "b": []})

    verdict = CHECKERS["acknowledged_writes_survive"](rec.history(), final, Ledgers())

    assert verdict.status == "invalid" and verdict.waiting
    assert "match m-1 of a and b was answered (op 1) but is missing from b's final list" in (
        verdict.summary
    )


def test_a_recheck_numbers_its_snapshots_after_the_examples_own() -> None:
    """A payment left pending (its answer lost) is settled as pending; a reconciler
    charges it later, and the recheck reads it captured. Numbered after the
    example's snapshots, the recheck's reads are the settled state: valid."""
    from harness.schedule.runner import next_snapshot

    rec = recorder()
    pay(rec, "p-1", 100, "info")
    pending = {"payment_id": "p-1", "status": "pending"}
    captured = {"payment_id": "p-1", "status": "captured", "charge_id": "ch-1"}
    assert next_snapshot(rec.history()) == 0
    for snapshot in (0, 1):
        settle(rec, snapshot, [("read_payment", {"payment_id": "p-1"}, pending, n) for n in (0, 1)])
    first = next_snapshot(rec.history())
    assert first == 2
    for snapshot in (first, first + 1):
        settle(
            rec, snapshot, [("read_payment", {"payment_id": "p-1"}, captured, n) for n in (0, 1)]
        )

    assert consistent(rec, "payments").status == "valid"
