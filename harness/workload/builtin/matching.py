"""The built-in matching workload (docs/contracts.md section 5): at most one match.

Its ``draw`` hook biases the default strategy towards where matching bugs
live: a swipe often answers an earlier one (mutual right swipes race), a
user swipes another at most once (a later draw of the same pair is a resend
of the same swipe), and most swipes are right swipes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from harness.workload.api import (
    Answer,
    DrawContext,
    FinalRead,
    Key,
    OneOf,
    Operation,
    Workload,
)


def _is_match(match: Any) -> bool:
    if not isinstance(match, Mapping):
        return False
    users = match.get("users")
    return (
        isinstance(match.get("match_id"), str)
        and isinstance(users, list | tuple)
        and len(users) == 2
        and all(isinstance(u, str) for u in users)
    )


def lists_matches(request: Mapping[str, Any], body: Any) -> bool:
    """``{"matches": [{"match_id": str, "users": [str, str]}, ...]}``."""
    return all(_is_match(m) for m in body["matches"])


def answer_open_swipes(ctx: DrawContext) -> Mapping[str, Any] | None:
    """A swipe: mostly one answering an earlier swipe nobody answered yet."""
    swipes: dict[tuple[int, int], Mapping[str, Any]] = {}
    for done in ctx.ops_so_far:
        if done.op == "swipe":
            pair = (done.values["swiper"], done.values["swipee"])
            swipes.setdefault(pair, done.values)
    open_reverse = sorted((b, a) for (a, b) in swipes if (b, a) not in swipes)
    answer: bool = ctx.draw(st.sampled_from((True, True, False))) if open_reverse else False
    if answer:
        # Answer an earlier swipe: mutual swipes are where matching races live.
        swiper, swipee = ctx.draw(st.sampled_from(open_reverse))
    else:
        users = ctx.count("user")
        swiper = ctx.draw(st.integers(0, users - 1))
        swipee = ctx.draw(st.integers(0, users - 2))
        if swipee >= swiper:
            swipee += 1
    earlier = swipes.get((swiper, swipee))
    if earlier is not None:
        return earlier  # a user swipes another at most once: this is a resend
    # Mostly right: a match needs two, and matches are where bugs live.
    direction = ctx.draw(st.sampled_from(("right", "right", "right", "left")))
    return {"swipe_id": len(swipes), "swiper": swiper, "swipee": swipee, "direction": direction}


_SWIPE_ID = ("swipe_id",)

MATCHING = Workload(
    name="matching",
    # Swipe ids are handed out in order by the draw hook, one per (swiper, swipee).
    keys={"user": 4, "swipe": 12},
    operations=(
        Operation(
            name="swipe",
            method="POST",
            path="/swipes",
            body=("swipe_id", "swiper", "swipee", "direction"),
            fields={
                "swipe_id": Key("swipe"),
                "swiper": Key("user"),
                "swipee": Key("user", distinct_from="swiper"),
                "direction": OneOf(("right", "left"), weights=(3, 1)),
            },
            id="swipe_id",
            ok=(
                Answer(200, echo=_SWIPE_ID, equals={"matched": True}, types={"match_id": "str"}),
                Answer(200, echo=_SWIPE_ID, equals={"matched": False},
                       types={"match_id": "str|null"}),
            ),
        ),
        Operation(
            name="read_matches",
            method="GET",
            path="/matches?user={user}",
            fields={"user": Key("user")},
            id="user",
            read=True,
            ok=(Answer(200, types={"matches": "list"}, check=lists_matches), Answer(404)),
        ),
    ),
    # A user's list is read for everyone a swipe named (and everyone a read named).
    final=(
        FinalRead(
            op="read_matches", slot="matches", fields=("swiper", "swipee", "user"),
            not_found="unknown",
        ),
    ),
    effects=("notify",),
    draw=answer_open_swipes,
)
