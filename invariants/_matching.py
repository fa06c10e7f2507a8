"""Matching invariants (CONTRACTS.md section 5): at most one match per pair.

A match is a (match_id, unordered pair of users). The final state's matches
are the union of every user's final list, deduplicated by match_id. A user's
list is the only place the target must show that user's matches, so when a
user's final read is indeterminate, matches involving them may be unseen:
whatever depends on such a match is undecided, never a violation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import Effect, FinalState, History, Ledgers, Operation
from invariants._common import Findings, answer, body, group_ops, listing, op_ids, ops_text
from invariants.verdict import Verdict

Pair = tuple[str, str]
Match = tuple[str, Pair]


def _pair(users: Iterable[object]) -> Pair:
    a, b = sorted(str(u) for u in users)
    return a, b


@dataclass(frozen=True, slots=True, kw_only=True)
class _Matching:
    """Swipes per directed (swiper, swipee), final reads per user, and the matches
    answered to swipes and shown in the final state (insertion-ordered sets)."""

    directed: dict[Pair, list[Operation]]
    reads: dict[str, list[int]]
    answered: dict[Match, list[int]]
    answered_at: dict[Match, float]
    final: dict[Match, None]
    unread: dict[str, None]

    def ids(self, pair: Pair) -> list[int]:
        """Every swipe between the two users, then their final reads."""
        a, b = pair
        return [
            *op_ids(self.directed.get((a, b), ())),
            *op_ids(self.directed.get((b, a), ())),
            *self.reads.get(a, ()),
            *self.reads.get(b, ()),
        ]

    def unseen(self, pair: Pair) -> list[str]:
        """The users of ``pair`` when neither's final read answered: a match of the
        pair must be in both users' lists, so one list read decides what exists."""
        users = list(dict.fromkeys(pair))
        return users if all(u in self.unread for u in users) else []

    def rights(
        self,
        swiper: str,
        swipee: str,
        outcomes: frozenset[str],
        before: float = float("inf"),
    ) -> list[int]:
        """Op ids of right swipes from swiper on swipee sent before ``before`` that
        completed with ``outcomes``."""
        return [
            op.invoke.op_id
            for op in self.directed.get((swiper, swipee), ())
            if body(op)["direction"] == "right"
            and op.outcome in outcomes
            and op.invoke.time < before
        ]


def _lists(final: FinalState) -> dict[str, tuple[Mapping[str, Any], ...]]:
    """Each read user's final list of matches (the ``matches`` slot's bodies)."""
    return {
        user: tuple(read.get("matches") or ()) if read is not None else ()
        for user, read in final.of("matches").items()
    }


def _index(history: History, final: FinalState) -> _Matching:
    """One pass over the history, one over the final lists."""
    groups = group_ops(history, {"swipe": "swipe_id", "read_matches": "user"})
    directed: dict[Pair, list[Operation]] = {}
    answered: dict[Match, list[int]] = {}
    answered_at: dict[Match, float] = {}
    for ops in groups["swipe"].values():
        for op in ops:
            swipe = body(op)
            directed.setdefault((str(swipe["swiper"]), str(swipe["swipee"])), []).append(op)
            said = answer(op)
            if op.outcome == "ok" and said.get("matched") and said.get("match_id") is not None:
                match = (str(said["match_id"]), _pair((swipe["swiper"], swipe["swipee"])))
                answered.setdefault(match, []).append(op.invoke.op_id)
                answered_at[match] = min(answered_at.get(match, op.end_time), op.end_time)
    shown: dict[Match, None] = {}
    lists = _lists(final)
    for listed in lists.values():
        for entry in listed:
            shown[(str(entry["match_id"]), _pair(entry["users"]))] = None
    users = dict.fromkeys(u for pair in directed for u in pair)
    return _Matching(
        directed=directed,
        reads={user: op_ids(ops) for user, ops in groups["read_matches"].items()},
        answered=answered,
        answered_at=answered_at,
        final=shown,
        unread={u: None for u in users if u not in lists},
    )


def _by_pair(matches: Iterable[Match]) -> dict[Pair, dict[str, None]]:
    out: dict[Pair, dict[str, None]] = {}
    for match_id, pair in matches:
        out.setdefault(pair, {})[match_id] = None
    return out


def _unseen_text(users: Sequence[str]) -> str:
    return f"the final read of {listing(list(users))} was indeterminate"


def _note_unread(index: _Matching, out: Findings) -> None:
    """Users whose final reads were indeterminate may hide matches among
    themselves (a match with a user who was read would be in that user's
    list): undecided, when two or more are unread."""
    if len(index.unread) < 2:
        return
    for user in index.unread:
        out.undecided(
            f"matches of user {user} are unchecked: {_unseen_text([user])}",
            [user],
            index.reads.get(user, ()),
        )


def check_at_most_one_match(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Per unordered pair, at most one distinct match_id across the final lists
    and the match_ids answered to swipes, and each match_id names one pair; a
    pair with an unread user and at most one match seen is undecided (another
    may be unseen)."""
    index = _index(history, final)
    by_pair = _by_pair([*index.final, *index.answered])
    out = Findings("at_most_one_match", "pair")
    pairs_of: dict[str, dict[Pair, None]] = {}
    for match_id, pair in [*index.final, *index.answered]:
        pairs_of.setdefault(match_id, {})[pair] = None
    for match_id, pairs in pairs_of.items():
        if len(pairs) > 1:
            named = listing([f"{a} and {b}" for a, b in pairs])
            out.violation(
                f"match {match_id} is used for {len(pairs)} pairs: {named}",
                [match_id, *(u for pair in pairs for u in pair)],
                [i for pair in pairs for i in index.ids(pair)],
            )
    for pair in dict.fromkeys([*(_pair(d) for d in index.directed), *by_pair]):
        out.checked += 1
        ids = list(by_pair.get(pair, ()))
        unseen = index.unseen(pair)
        if len(ids) > 1:
            out.violation(
                f"users {pair[0]} and {pair[1]} have {len(ids)} matches: {listing(ids)}",
                [*pair, *ids],
                index.ids(pair),
            )
        elif unseen:
            out.undecided(
                f"users {pair[0]} and {pair[1]}: {_unseen_text(unseen)}",
                list(pair),
                index.ids(pair),
            )
    return out.verdict()


def _not_eligible(
    index: _Matching, swiper: str, swipee: str, before: float = float("inf")
) -> str | None:
    """Why swiper may not have swiped right on swipee before ``before``, or None
    if they may have."""
    if index.rights(swiper, swipee, frozenset({"ok", "info"}), before):
        return None
    tried = op_ids(index.directed.get((swiper, swipee), ()))
    seen = "no swipe"
    if tried:
        seen = f"only {ops_text(tried)}, none a right swipe that may have happened"
    if before != float("inf") and index.rights(swiper, swipee, frozenset({"ok", "info"})):
        return f"{swiper} had not swiped right on {swipee} when the match was answered"
    return f"{swiper} never swiped right on {swipee} ({seen})"


def check_match_eligibility(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Every match, in the final state or answered to a swipe, joins two users
    who each may have swiped right on the other (a right swipe invoked and not
    failed; indeterminate ones count, as they may have happened) -- for a match
    answered to a swipe, both right swipes sent before that answer."""
    index = _index(history, final)
    out = Findings("match_eligibility", "match")
    for match in dict.fromkeys([*index.final, *index.answered]):
        match_id, pair = match
        out.checked += 1
        a, b = pair
        by = index.answered_at.get(match, float("inf"))
        reasons = [r for r in (_not_eligible(index, a, b, by), _not_eligible(index, b, a, by)) if r]
        if reasons:
            out.violation(
                f"match {match_id} between {a} and {b} is not eligible: {'; '.join(reasons)}",
                [match_id, *pair],
                [*index.answered.get((match_id, pair), ()), *index.ids(pair)],
            )
    _note_unread(index, out)
    return out.verdict()


def check_mutual_right_swipes_match(
    history: History, final: FinalState, ledgers: Ledgers
) -> Verdict:
    """Every pair with acknowledged right swipes both ways has exactly one match
    in the final state; with both users' final reads indeterminate, a missing
    match may be unseen, so only two or more seen matches are decided."""
    index = _index(history, final)
    by_pair = _by_pair(index.final)
    out = Findings("mutual_right_swipes_match", "mutual pair")
    ok = frozenset({"ok"})
    for a, b in index.directed:
        there, back = index.rights(a, b, ok), index.rights(b, a, ok)
        if a >= b or not there or not back:
            continue  # each unordered pair once, from its sorted direction
        out.checked += 1
        pair = (a, b)
        ids = list(by_pair.get(pair, ()))
        said = f"{a} and {b} both swiped right (acknowledged: {ops_text([*there, *back])})"
        unseen = index.unseen(pair)
        if len(ids) > 1:
            out.violation(
                f"{said} but have {len(ids)} matches: {listing(ids)}",
                [*pair, *ids],
                index.ids(pair),
            )
        elif unseen:
            out.undecided(f"{said}; {_unseen_text(unseen)}", list(pair), index.ids(pair))
        elif not ids:
            # Matching may be asynchronous: no match yet is pending, not wrong.
            out.pending(f"{said} but have no match in the final state", list(pair), index.ids(pair))
    return out.verdict()


def check_every_match_announced(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Every match in the final state has a message naming its match_id and
    its two users; every message names a match of the final state. A message
    for a match not seen is undecided when one of its users was not read."""
    index = _index(history, final)
    users = {u for pair in index.directed for u in pair}
    messages: dict[str, list[Effect]] = {}
    for effect in ledgers.effects:
        if effect.kind == "message" and users.intersection(map(str, effect.body.get("users", ()))):
            messages.setdefault(str(effect.body.get("match_id")), []).append(effect)
    out = Findings("every_match_announced", "match")
    for match_id, pair in index.final:
        out.checked += 1
        sent = messages.get(match_id, [])
        if any(_pair(m.body["users"]) == pair for m in sent):
            continue
        wrong = ""
        if sent:
            wrong = f" (only {listing([m.effect_id for m in sent])}, naming other users)"
        report = out.violation if sent else out.pending
        report(
            f"match {match_id} between {pair[0]} and {pair[1]} was never announced{wrong}",
            [match_id, *pair],
            index.ids(pair),
        )
    shown = {match_id for match_id, _ in index.final}
    for match_id, sent in messages.items():
        if match_id in shown:
            continue
        out.checked += 1
        for message in sent:
            pair = _pair(message.body["users"])
            said = (
                f"message {message.effect_id} announces match {match_id} "
                f"between {pair[0]} and {pair[1]}"
            )
            keys, ids = [match_id, *pair], index.ids(pair)
            unseen = index.unseen(pair)
            if unseen:
                out.undecided(
                    f"{said}, not seen in the final state; {_unseen_text(unseen)}", keys, ids
                )
            else:
                # The match may become visible later (asynchronous matching or reads).
                out.pending(f"{said}, which does not exist in the final state", keys, ids)
    _note_unread(index, out)
    return out.verdict()


def check_acknowledged_matches(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """A swipe answered ``matched`` with a match_id: that match is in the final
    list of both users. An unread user leaves it undecided; a missing entry
    is pending (the lists may lag the answer)."""
    index = _index(history, final)
    out = Findings("acknowledged_writes_survive", "acknowledged match")
    lists = _lists(final)
    for (match_id, pair), ops in index.answered.items():
        out.checked += 1
        said = f"match {match_id} of {pair[0]} and {pair[1]} was answered ({ops_text(ops)})"
        for user in pair:
            if user in index.unread:
                out.undecided(f"{said}; {_unseen_text([user])}", [match_id, user], ops)
            elif not any(str(m.get("match_id")) == match_id for m in lists.get(user, ())):
                out.pending(
                    f"{said} but is missing from {user}'s final list of matches",
                    [match_id, user],
                    [*ops, *index.reads.get(user, ())],
                )
    return out.verdict()
