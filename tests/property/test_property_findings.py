"""Checker blind spots the properties found, as the minimal histories Hypothesis
shrank them to (ids shortened), kept as regression tests now that the checkers
decide them: match eligibility in time, and one user's list deciding what
matches a pair has.
"""

from __future__ import annotations

from typing import Any

from draft import Draft, Fx, Op, Run
from wellformed import problems

from invariants import CHECKERS

A, B = "usr-a", "usr-b"
M1 = "m-1"


def _swipe(t: float, swipe_id: str, swiper: str, swipee: str, match_id: str | None) -> Op:
    op = Op(
        process=0,
        f="swipe",
        phase="main",
        t_invoke=t,
        t_done=t + 1,
        body={"swipe_id": swipe_id, "swiper": swiper, "swipee": swipee, "direction": "right"},
    )
    op.complete(
        "ok", 200, {"swipe_id": swipe_id, "matched": match_id is not None, "match_id": match_id}
    )
    return op


def _final(t: float, user: str, matches: list[tuple[str, str, str]] | None) -> list[Op]:
    """The final read of ``user``: its list, or (None) three indeterminate attempts."""
    if matches is not None:
        op = Op(
            process=0,
            f="read_matches",
            phase="final",
            t_invoke=t,
            t_done=t + 1,
            body={"user": user},
            final_round=1,
        )
        listed = [{"match_id": m, "users": [a, b]} for m, a, b in matches]
        op.complete("ok", 200, {"matches": listed})
        return [op]
    ops = []
    for n in range(3):
        op = Op(
            process=0,
            f="read_matches",
            phase="final",
            t_invoke=t + 100 * n,
            t_done=t + 100 * n + 1,
            body={"user": user},
            final_round=1,
        )
        op.complete("info", None, None, "ClientOSError: [Errno 104] Connection reset by peer")
        ops.append(op)
    return ops


def _message(t: float, match_id: str, a: str, b: str) -> Fx:
    return Fx(
        kind="message",
        effect_id=f"msg-{match_id}",
        time=t,
        body={"match_id": match_id, "users": [a, b]},
        idempotency_key=f"match-{match_id}",
    )


def _run(ops: list[Op], *effects: Fx) -> Run:
    run = Draft(workload="matching", replicas=1, ops=ops, effects=list(effects)).freeze()
    assert problems(run) == []
    return run


def _judged(name: str, run: Run) -> Any:
    return CHECKERS[name](run.history, run.final, run.ledgers)


def test_a_match_answered_before_the_other_user_swiped_is_not_eligible() -> None:
    run = _run(
        [
            _swipe(0, "w-1", B, A, M1),  # b is told "matched" at t=1 ...
            _swipe(2, "w-0", A, B, None),  # ... a's right swipe on b is sent at t=2
            *_final(10, A, [(M1, A, B)]),
            *_final(10, B, [(M1, A, B)]),
        ],
        _message(1.5, M1, A, B),
    )
    verdict = _judged("match_eligibility", run)
    assert verdict.status == "invalid"
    assert any(M1 in e.keys for e in verdict.evidence)


def test_mutual_right_swipes_without_a_match_in_the_one_list_read_are_invalid() -> None:
    run = _run(
        [
            _swipe(0, "w-0", A, B, None),
            _swipe(2, "w-1", B, A, M1),  # both right swipes acknowledged
            *_final(10, A, []),  # a's list is present and holds no match with b
            *_final(10, B, None),  # b's final read stayed indeterminate
        ],
        _message(3.5, M1, A, B),
    )
    verdict = _judged("mutual_right_swipes_match", run)
    assert verdict.status == "invalid"
    assert any(A in e.keys for e in verdict.evidence)


def test_a_message_for_a_match_missing_from_the_one_list_read_is_invalid() -> None:
    run = _run(
        [
            _swipe(0, "w-0", A, B, None),
            *_final(10, A, []),
            *_final(10, B, None),
        ],
        _message(5, "m-9", A, B),  # announces a match a's list does not have
    )
    verdict = _judged("every_match_announced", run)
    assert verdict.status == "invalid"
    assert any("m-9" in e.keys for e in verdict.evidence)


def test_one_list_read_is_enough_to_decide_at_most_one_match() -> None:
    run = _run(
        [
            _swipe(0, "w-0", A, B, None),
            _swipe(2, "w-1", B, A, M1),
            *_final(10, A, [(M1, A, B)]),
            *_final(10, B, None),
        ],
        _message(3.5, M1, A, B),
    )
    assert _judged("at_most_one_match", run).status == "valid"
