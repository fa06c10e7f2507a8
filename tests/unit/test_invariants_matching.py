"""Matching checkers on hand-written histories with known verdicts."""

from __future__ import annotations

from histories import UNREAD, final_matching, ledgers, message, read_id, recorder, swipe

from harness.history import Ledgers
from invariants import CHECKERS, Evidence

MATCHING = (
    "at_most_one_match",
    "match_eligibility",
    "mutual_right_swipes_match",
    "every_match_announced",
)
AB = ("m-1", "a", "b")


def test_a_correct_run_is_valid_for_every_checker() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a", match_id="m-1")
    swipe(rec, "w-3", "c", "a", "left")
    swipe(rec, "w-4", "c", "d", outcome="info")  # may have happened; d never swiped back
    swipe(rec, "w-5", "e", "f", outcome="info")
    swipe(rec, "w-6", "f", "e")  # e's swipe may have happened: the match is eligible
    final = final_matching(
        rec,
        {
            "a": [AB],
            "b": [AB],
            "c": [],
            "d": [],
            "e": [("m-2", "f", "e")],
            "f": [("m-2", "e", "f")],
        },
    )
    announced = ledgers(message("m-1", "b", "a"), message("m-2", "e", "f"))
    checked = {}
    for name in MATCHING:
        verdict = CHECKERS[name](rec.history(), final, announced)
        assert (verdict.invariant, verdict.status, verdict.evidence) == (name, "valid", ())
        checked[name] = verdict.checked
    assert checked == {
        "at_most_one_match": 4,
        "match_eligibility": 2,
        "mutual_right_swipes_match": 1,
        "every_match_announced": 2,
    }


# --- at_most_one_match ---------------------------------------------------------


def test_two_match_ids_for_one_pair_are_invalid_across_lists_and_answers() -> None:
    rec = recorder()
    there = swipe(rec, "w-1", "a", "b", match_id="m-1")
    back = swipe(rec, "w-2", "b", "a", match_id="m-3")
    final = final_matching(rec, {"a": [AB], "b": [("m-2", "b", "a")]})

    verdict = CHECKERS["at_most_one_match"](rec.history(), final, Ledgers())

    assert verdict.status == "invalid"
    assert verdict.evidence == (
        Evidence(
            message="users a and b have 3 matches: m-1, m-2 and m-3",
            keys=("a", "b", "m-1", "m-2", "m-3"),
            op_ids=(there, back, read_id(rec, "a"), read_id(rec, "b")),
        ),
    )
    assert verdict.summary == (
        "1 violation among 1 pair; first: users a and b have 3 matches: m-1, m-2 and m-3"
    )


def test_one_match_listed_by_both_users_counts_once() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a", "right", "info")
    final = final_matching(rec, {"a": [AB], "b": [("m-1", "b", "a")]})

    verdict = CHECKERS["at_most_one_match"](rec.history(), final, Ledgers())

    assert (verdict.status, verdict.checked) == ("valid", 1)


def test_a_pair_is_unknown_only_when_neither_user_was_read() -> None:
    """A match of a pair must be in both users' lists, so one list read decides."""
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    one = final_matching(rec, {"a": UNREAD, "b": []})
    assert CHECKERS["at_most_one_match"](rec.history(), one, Ledgers()).status == "valid"

    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    neither = final_matching(rec, {"a": UNREAD, "b": UNREAD})

    verdict = CHECKERS["at_most_one_match"](rec.history(), neither, Ledgers())

    assert verdict.status == "unknown"
    assert [(e.keys, e.message) for e in verdict.evidence] == [
        (("a", "b"), "users a and b: the final read of a and b was indeterminate")
    ]


# --- match_eligibility ----------------------------------------------------------


def test_a_match_after_a_left_swipe_or_no_swipe_is_not_eligible() -> None:
    rec = recorder()
    right = swipe(rec, "w-1", "a", "c")
    left = swipe(rec, "w-2", "c", "a", "left", match_id="m-9")
    final = final_matching(
        rec, {"a": [("m-9", "a", "c"), ("m-7", "a", "z")], "c": [("m-9", "c", "a")]}
    )

    verdict = CHECKERS["match_eligibility"](rec.history(), final, Ledgers())

    assert (verdict.status, verdict.checked) == ("invalid", 2)
    assert verdict.evidence == (
        Evidence(
            message=(
                "match m-9 between a and c is not eligible: c never swiped right on a "
                "(only op 1, none a right swipe that may have happened)"
            ),
            keys=("m-9", "a", "c"),
            op_ids=(left, right, read_id(rec, "a"), read_id(rec, "c")),
        ),
        Evidence(
            message=(
                "match m-7 between a and z is not eligible: a never swiped right on z "
                "(no swipe); z never swiped right on a (no swipe)"
            ),
            keys=("m-7", "a", "z"),
            op_ids=(read_id(rec, "a"),),
        ),
    )


def test_a_right_swipe_that_never_completed_may_have_happened_so_the_match_is_eligible() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b", outcome="open")
    swipe(rec, "w-2", "b", "a", match_id="m-1")
    final = final_matching(rec, {"a": [AB], "b": [AB]})

    verdict = CHECKERS["match_eligibility"](rec.history(), final, Ledgers())

    assert (verdict.status, verdict.checked) == ("valid", 1)


def test_eligibility_is_unknown_only_when_two_users_are_unread() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    one = final_matching(rec, {"a": [], "b": UNREAD})
    assert CHECKERS["match_eligibility"](rec.history(), one, Ledgers()).status == "valid"

    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    both = final_matching(rec, {"a": UNREAD, "b": UNREAD})

    verdict = CHECKERS["match_eligibility"](rec.history(), both, Ledgers())

    assert verdict.status == "unknown"
    assert verdict.evidence[1] == Evidence(
        message="matches of user b are unchecked: the final read of b was indeterminate",
        keys=("b",),
        op_ids=(read_id(rec, "b"),),
    )


# --- mutual_right_swipes_match ---------------------------------------------------


def test_acknowledged_mutual_right_swipes_without_a_match_are_invalid() -> None:
    rec = recorder()
    there = swipe(rec, "w-1", "a", "b")
    back = swipe(rec, "w-2", "b", "a")
    swipe(rec, "w-3", "c", "d")
    swipe(rec, "w-4", "d", "c", outcome="info")  # not acknowledged: no match required
    final = final_matching(rec, {"a": [], "b": [], "c": [], "d": []})

    verdict = CHECKERS["mutual_right_swipes_match"](rec.history(), final, Ledgers())

    assert (verdict.status, verdict.checked) == ("invalid", 1)
    assert verdict.evidence == (
        Evidence(
            message=(
                "a and b both swiped right (acknowledged: ops 0 and 1) "
                "but have no match in the final state"
            ),
            keys=("a", "b"),
            op_ids=(there, back, read_id(rec, "a"), read_id(rec, "b")),
            pending=True,  # matching may be asynchronous
        ),
    )


def test_mutual_right_swipes_with_two_matches_are_invalid_even_with_an_unread_user() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a")
    final = final_matching(rec, {"a": [AB, ("m-2", "a", "b")], "b": UNREAD})

    verdict = CHECKERS["mutual_right_swipes_match"](rec.history(), final, Ledgers())

    assert verdict.status == "invalid"
    assert verdict.evidence[0].keys == ("a", "b", "m-1", "m-2")


def test_mutual_right_swipes_are_unknown_only_when_neither_list_was_read() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a")
    one = final_matching(rec, {"a": [], "b": UNREAD})
    seen = CHECKERS["mutual_right_swipes_match"](rec.history(), one, Ledgers())
    assert seen.status == "invalid" and seen.waiting  # a's list decides: no match yet

    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a")
    neither = final_matching(rec, {"a": UNREAD, "b": UNREAD})

    verdict = CHECKERS["mutual_right_swipes_match"](rec.history(), neither, Ledgers())

    assert verdict.status == "unknown"
    assert verdict.evidence[0].message == (
        "a and b both swiped right (acknowledged: ops 0 and 1); "
        "the final read of a and b was indeterminate"
    )


# --- every_match_announced -------------------------------------------------------


def test_unannounced_misannounced_and_phantom_matches_are_invalid() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a", match_id="m-1")
    swipe(rec, "w-3", "c", "d")
    swipe(rec, "w-4", "d", "c", match_id="m-2")
    final = final_matching(
        rec, {"a": [AB], "b": [AB], "c": [("m-2", "c", "d")], "d": [("m-2", "c", "d")]}
    )
    sent = ledgers(message("m-2", "c", "a"), message("m-5", "a", "d", "msg-x"))

    verdict = CHECKERS["every_match_announced"](rec.history(), final, sent)

    assert (verdict.status, verdict.checked) == ("invalid", 3)
    assert [(e.message, e.keys) for e in verdict.evidence] == [
        ("match m-1 between a and b was never announced", ("m-1", "a", "b")),
        (
            "match m-2 between c and d was never announced (only msg-m-2, naming other users)",
            ("m-2", "c", "d"),
        ),
        (
            "message msg-x announces match m-5 between a and d, "
            "which does not exist in the final state",
            ("m-5", "a", "d"),
        ),
    ]
    assert verdict.evidence[0].op_ids == (0, 1, read_id(rec, "a"), read_id(rec, "b"))


def test_a_message_for_a_match_only_unread_users_may_hold_is_unknown() -> None:
    rec = recorder()
    swipe(rec, "w-1", "a", "b", outcome="info")
    swipe(rec, "w-2", "b", "a", outcome="info")
    one = final_matching(rec, {"a": UNREAD, "b": []})
    seen = CHECKERS["every_match_announced"](rec.history(), one, ledgers(message("m-1", "a", "b")))
    assert seen.status == "invalid" and seen.waiting  # b's list shows no m-1 (yet)

    rec = recorder()
    swipe(rec, "w-1", "a", "b", outcome="info")
    swipe(rec, "w-2", "b", "a", outcome="info")
    neither = final_matching(rec, {"a": UNREAD, "b": UNREAD})

    verdict = CHECKERS["every_match_announced"](
        rec.history(), neither, ledgers(message("m-1", "a", "b"))
    )

    assert verdict.status == "unknown"
    assert [e.keys for e in verdict.evidence] == [("m-1", "a", "b"), ("a",), ("b",)]
    assert verdict.evidence[0].message == (
        "message msg-m-1 announces match m-1 between a and b, not seen in the final state; "
        "the final read of a and b was indeterminate"
    )
