"""Matching invariants (CONTRACTS.md section 5), as instances of the library.

A match is a (match_id, unordered pair of users). The final state's matches
are the union of every user's final list, deduplicated by match_id. A user's
list is the only place the target must show that user's matches, so when a
user's final read is indeterminate, matches involving them may be unseen:
whatever depends on such a match is undecided, never a violation.
"""

from __future__ import annotations

from invariants.library import (
    Answered,
    Effects,
    EligibleWords,
    Final,
    FlowWords,
    Listed,
    Mutual,
    Prior,
    Requests,
    Scope,
    UniqueWords,
    make_eligibility,
    make_propagation,
    make_uniqueness,
)

MATCHES_READ = Final(slot="matches", read="read_matches", key="user")
SWIPES = Requests(op="swipe", id="swipe_id")
PAIRS = Scope(requests=SWIPES, key=("swiper", "swipee"), unordered=True)
LISTED = Listed(final=MATCHES_READ, id="match_id", key="users", entries="matches")
ANSWERED = Answered(
    op="swipe", id="match_id", key=("swiper", "swipee"), unordered=True, when={"matched": True}
)
_HIDDEN = "matches of user {member} are unchecked: the final read of {member} was indeterminate"

# Per unordered pair, at most one distinct match_id across the final lists and
# the match_ids answered to swipes, and each match_id names one pair; a pair
# with neither user read and at most one match seen is undecided.
check_at_most_one_match = make_uniqueness(
    "at_most_one_match",
    items=(LISTED, ANSWERED),
    scope=PAIRS,
    one_key_per_id=True,
    words=UniqueWords(
        noun="pair",
        many="users {key} have {n} matches: {items}",
        shared="match {id} is used for {n} pairs: {keys}",
        unseen="users {key}: the final read of {unread} was indeterminate",
    ),
)

# Every match, in the final state or answered to a swipe, joins two users who
# each may have swiped right on the other (a right swipe invoked and not
# failed) -- for a match answered to a swipe, both sent before that answer.
check_match_eligibility = make_eligibility(
    "match_eligibility",
    actions=(LISTED, ANSWERED),
    require=(
        Prior(
            op="swipe",
            key=("swiper", "swipee"),
            where={"direction": "right"},
            each_way=True,
            never="{swiper} never swiped right on {swipee} ({seen})",
            late="{swiper} had not swiped right on {swipee} when the match was answered",
            what="a right swipe",
            nothing="no swipe",
        ),
    ),
    scope=PAIRS,
    words=EligibleWords(
        noun="match", subject="match {id} between {key} is not eligible: {reasons}", hidden=_HIDDEN
    ),
)

# Every pair with acknowledged right swipes both ways has exactly one match in
# the final state (none yet is pending: matching may be asynchronous).
check_mutual_right_swipes_match = make_propagation(
    "mutual_right_swipes_match",
    source=Mutual(op="swipe", key=("swiper", "swipee"), where={"direction": "right"}),
    target=LISTED,
    link="key",
    count="exactly_once",
    orphans=False,
    scope=PAIRS,
    words=FlowWords(
        noun="mutual pair",
        target_noun="match",
        pair="{key} both swiped right (acknowledged: {ops}){error}",
        none=" but have no match in the final state",
        many=" but have {n} matches: {targets}",
        unseen="; the final read of {unread} was indeterminate",
    ),
)

# Every match of the final state has a message naming its match_id and both
# users; every message names a match of the final state.
check_every_match_announced = make_propagation(
    "every_match_announced",
    source=LISTED,
    target=Effects(kind="message", key=("users",), unordered=True, id="match_id"),
    link="id",
    count="at_least_once",
    orphans=True,
    scope=PAIRS,
    words=FlowWords(
        noun="match",
        target_noun="message",
        final="match {id} between {key} {error}",
        none="was never announced",
        misplaced="was never announced (only {others}, naming other users)",
        stray="message {target} announces match {id} between {key}, which does not exist in "
        "the final state",
        stray_unseen="message {target} announces match {id} between {key}, not seen in the "
        "final state; {error}",
        hidden=_HIDDEN,
    ),
)

# A swipe answered matched with a match_id: that match is in the final list of
# both users (an unread user is undecided; a missing entry pending).
check_acknowledged_matches = make_propagation(
    "acknowledged_writes_survive",
    source=ANSWERED,
    target=LISTED,
    link="id",
    count="any",
    orphans=False,
    everywhere=True,
    scope=PAIRS,
    words=FlowWords(
        noun="match",
        unit="acknowledged match",
        answer="match {id} of {key} was answered ({ops}){error}",
        missing_in=" but is missing from {member}'s final list of matches",
        unread_in="; the final read of {member} was indeterminate",
    ),
)
