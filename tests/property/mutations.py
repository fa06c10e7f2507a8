"""Mutations of a correct run that the contract says are violations.

Each `Mutation` edits a copy of a run's `Draft` and returns the key (an id)
the violation is about, or None when the run offers nothing to mutate. It is
built so the result is a violation whatever the indeterminate operations did:
it only targets answers that were definite (``ok``/``fail``) and final reads
that are present, as the checkers read them. ``expect`` names the invariants
that must then judge the run ``invalid`` with evidence naming the key.

To add one: write ``def _name(d: Draft, run: Run, pick: Pick) -> str | None``
and add a row to ``MUTATIONS``. A row with ``pending`` set is built and
checked for well-formedness but not yet enforced (a check being written
elsewhere): fill ``expect`` and delete ``pending`` to enforce it. ``reads``
is the design's read promise the row is judged under (``strong`` for stale
reads, which an eventual-read design allows).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from draft import Draft, Fx, Op, Run
from models import KEYS

T = TypeVar("T")


class Pick(Protocol):
    """Chooses one of ``options`` (drawn by Hypothesis in the properties)."""

    def __call__(self, options: Sequence[T], /) -> T: ...


Apply = Callable[[Draft, Run, Pick], "str | None"]

_fresh = itertools.count(900)


def fresh(prefix: str) -> str:
    """An id no model hands out (models count up from 1)."""
    return f"{prefix}{0xFEED0000 + next(_fresh):032x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mutation:
    name: str
    workload: str
    expect: tuple[str, ...]
    apply: Apply
    doc: str
    pending: str = ""  # not enforced yet: why (which check is still being written)
    reads: str = "eventual"  # the design's read promise the checkers judge it under

    @property
    def enforced(self) -> bool:
        return not self.pending


# --- what a run shows ---------------------------------------------------------------------


def _status(run: Run, slot: str, key: str) -> str | None:
    """The final status of an order/payment: None when the read is absent, '404' for None."""
    reads = run.final.of(slot)
    if key not in reads:
        return None
    return "404" if reads[key] is None else str(reads[key]["status"])


def _answered(d: Draft, f: str, outcome: str) -> list[Op]:
    return [op for op in d.select(f, phase="main") if op.outcome == outcome]


def _keys(ops: Iterable[Op]) -> list[str]:
    return sorted({op.key for op in ops})


def _main_window(d: Draft) -> tuple[float, float]:
    """A gap after the main phase and before the final reads, for added operations."""
    main = [t for op in d.ops if op.phase != "final" for t in (op.t_invoke, op.t_done) if t]
    main += [e.time for e in d.nemesis]
    first_final = min(op.t_invoke for op in d.ops if op.phase == "final")
    return max(main, default=0.0), first_final


def _add_write(
    d: Draft, f: str, body: dict[str, Any], status: int, answer: Any, outcome: str = "ok"
) -> Op:
    """A definite main-phase attempt squeezed in after everything else of the main phase."""
    after, before = _main_window(d)
    t = after + (before - after) / 3
    op = Op(
        process=0,
        f=f,
        body=body,
        phase="main",
        t_invoke=t,
        t_done=t + (before - after) / 3,
        note="added by a mutation",
    )
    op.complete("ok" if outcome == "ok" else "fail", status, answer)
    d.ops.append(op)
    return op


def _add_final_reads(d: Draft, f: str, body: dict[str, Any], status: int, answer: Any) -> None:
    """Final reads of a new key, answered ok, in every round on every node."""
    for r in sorted({op.final_round for op in d.ops if op.phase == "final"}):
        start = min(op.t_invoke for op in d.ops if op.final_round == r)
        for node in range(d.replicas):
            op = Op(
                process=0,
                f=f,
                body=dict(body),
                phase="final",
                t_invoke=start,
                t_done=start + 1,
                node=node,
                final_round=r,
                note="added by a mutation",
            )
            op.complete("ok", status, copy.deepcopy(answer))
            d.ops.append(op)


def _effect_time(d: Draft, f: str, key: str) -> float:
    """Just after the first write ``f`` at ``key`` was sent (a partner effect it caused)."""
    return d.attempts(f, key)[0].t_invoke + 0.01


# --- inventory ----------------------------------------------------------------------------


def _shipments(d: Draft, order_id: str) -> list[Fx]:
    return [fx for fx in d.effects if fx.kind == "shipment" and fx.body["order_id"] == order_id]


def _orders_with_status(run: Run, *statuses: str) -> list[str]:
    return [
        k
        for k in _keys(run.draft.select("order", phase="main"))
        if _status(run, "orders", k) in statuses
    ]


def drop_shipment(d: Draft, run: Run, pick: Pick) -> str | None:
    """An order accepted in the final state loses its shipment."""
    candidates = [k for k in _orders_with_status(run, "accepted") if _shipments(d, k)]
    if not candidates:
        return None
    oid = pick(candidates)
    d.effects = [fx for fx in d.effects if fx not in _shipments(d, oid)]
    return oid


def duplicate_shipment(d: Draft, run: Run, pick: Pick) -> str | None:
    """A shipped order is shipped a second time (no idempotency key)."""
    candidates = _keys(op for op in d.select("order") if _shipments(d, op.key))
    if not candidates:
        return None
    oid = pick(candidates)
    first = _shipments(d, oid)[0]
    d.effects.append(
        Fx(kind="shipment", effect_id=fresh("shp_"), body=dict(first.body), time=first.time)
    )
    return oid


def ship_unaccepted(d: Draft, run: Run, pick: Pick) -> str | None:
    """An order the final state shows rejected or missing (404) is shipped."""
    candidates = _orders_with_status(run, "rejected", "404")
    if not candidates:
        return None
    oid = pick(candidates)
    asked = d.attempts("order", oid)[0].body
    d.effects.append(
        Fx(
            kind="shipment",
            effect_id=fresh("shp_"),
            body=dict(asked),
            time=_effect_time(d, "order", oid),
        )
    )
    return oid


def ship_wrong_quantity(d: Draft, run: Run, pick: Pick) -> str | None:
    """A shipment carries more units than its order asked for."""
    candidates = _keys(op for op in d.select("order") if _shipments(d, op.key))
    if not candidates:
        return None
    oid = pick(candidates)
    shipped = _shipments(d, oid)[0]
    shipped.body = {**shipped.body, "qty": shipped.body["qty"] + pick([1, 2])}
    return oid


def _definite(d: Draft, outcome: str, run: Run, *final: str) -> list[Op]:
    """Order attempts answered ``outcome`` whose order's final status is in ``final``."""
    return [op for op in _answered(d, "order", outcome) if _status(run, "orders", op.key) in final]


def accept_rejected(d: Draft, run: Run, pick: Pick) -> str | None:
    """Flip a definite rejection to an acceptance; the final state still says not accepted."""
    candidates = _definite(d, "fail", run, "rejected", "404")
    if not candidates:
        return None
    op = pick(candidates)
    op.complete("ok", 200, {"order_id": op.key, "status": "accepted"})
    return op.key


def reject_accepted(d: Draft, run: Run, pick: Pick) -> str | None:
    """Flip an acceptance to a rejection; the final state still says accepted."""
    candidates = _definite(d, "ok", run, "accepted")
    if not candidates:
        return None
    op = pick(candidates)
    op.complete("fail", 409, {"order_id": op.key, "status": "rejected", "reason": "out_of_stock"})
    return op.key


def lose_acked_order(d: Draft, run: Run, pick: Pick) -> str | None:
    """An order answered accepted is missing (404) or rejected in the final state."""
    candidates = _keys(_definite(d, "ok", run, "accepted"))
    if not candidates:
        return None
    oid = pick(candidates)
    read = run.final.of("orders")[oid]
    assert read is not None
    if pick([True, False]):
        d.set_final_answer("read_order", oid, 404, {"error": "order not found"})
    else:
        d.set_final_answer("read_order", oid, 200, {**read, "status": "rejected"})
    return oid


def _known_skus(run: Run) -> list[tuple[str, int]]:
    """Skus whose initial stock the checkers can know (every set_stock ok) and whose
    final stock read is present, with that initial stock."""
    out = []
    for sku in _keys(run.draft.select("set_stock")):
        setup = [op for op in run.draft.select("set_stock") if op.key == sku]
        if all(op.outcome == "ok" for op in setup) and sku in run.final.of("stock"):
            out.append((sku, int(setup[-1].body["available"])))
    return out


def _accepted_qty(run: Run, sku: str) -> int:
    oids = {op.key: op.body for op in run.draft.select("order") if op.body["sku"] == sku}
    return sum(
        body["qty"] for oid, body in oids.items() if _status(run, "orders", oid) == "accepted"
    )


def oversell(d: Draft, run: Run, pick: Pick) -> str | None:
    """A new order, accepted, read accepted and shipped, one unit more than the sku had left."""
    candidates = _known_skus(run)
    if not candidates:
        return None
    sku, initial = pick(candidates)
    oid = KEYS.order_id(900)
    qty = initial - _accepted_qty(run, sku) + 1
    body = {"order_id": oid, "sku": sku, "qty": qty}
    op = _add_write(d, "order", body, 200, {"order_id": oid, "status": "accepted"})
    _add_final_reads(d, "read_order", {"order_id": oid}, 200, {**body, "status": "accepted"})
    assert op.t_done is not None
    d.effects.append(
        Fx(
            kind="shipment",
            effect_id=fresh("shp_"),
            body=dict(body),
            time=op.t_done + 0.01,
            idempotency_key=f"ship-{oid}",
        )
    )
    return sku


def miscount_stock(d: Draft, run: Run, pick: Pick) -> str | None:
    """More stock left than the initial stock less what the final state shows accepted."""
    candidates = _known_skus(run)
    if not candidates:
        return None
    sku, initial = pick(candidates)
    available = initial - _accepted_qty(run, sku) + pick([1, 2, 3])
    d.set_final_answer("read_stock", sku, 200, {"sku": sku, "available": available})
    return sku


def negative_stock(d: Draft, run: Run, pick: Pick) -> str | None:
    """The final stock read of a sku shows a negative count."""
    candidates = sorted(run.final.of("stock"))
    if not candidates:
        return None
    sku = pick(candidates)
    d.set_final_answer("read_stock", sku, 200, {"sku": sku, "available": -pick([1, 2])})
    return sku


def contradict_acceptance(d: Draft, run: Run, pick: Pick) -> str | None:
    """Another attempt of an order answered accepted is answered rejected: the definite
    answers disagree, whatever the final read says (even when it is absent)."""
    candidates = [
        op
        for op in d.select("order", phase="main")
        if op.outcome != "ok" and any(o.outcome == "ok" for o in d.attempts("order", op.key))
    ]
    if not candidates:
        return None
    op = pick(candidates)
    if op.t_done is None:
        op.t_done = op.t_invoke + 1
    op.complete("fail", 409, {"order_id": op.key, "status": "rejected", "reason": "out_of_stock"})
    return op.key


def lose_stock(d: Draft, run: Run, pick: Pick) -> str | None:
    """Fewer units left than even accepting every unread order would explain."""
    candidates = _known_skus(run)
    if not candidates:
        return None
    sku, initial = pick(candidates)
    unread = sum(
        {
            op.key: op.body["qty"]
            for op in d.select("order")
            if op.body["sku"] == sku and op.key not in run.final.of("orders")
        }.values()
    )
    available = initial - _accepted_qty(run, sku) - unread - pick([1, 2])
    d.set_final_answer("read_stock", sku, 200, {"sku": sku, "available": available})
    return sku


# --- payments -----------------------------------------------------------------------------


def _charges(d: Draft, payment_id: str) -> list[Fx]:
    return [fx for fx in d.effects if fx.kind == "charge" and fx.body["reference"] == payment_id]


def duplicate_charge(d: Draft, run: Run, pick: Pick) -> str | None:
    """A charged payment is charged a second time."""
    candidates = _keys(op for op in d.select("pay") if _charges(d, op.key))
    if not candidates:
        return None
    pid = pick(candidates)
    first = _charges(d, pid)[0]
    d.effects.append(
        Fx(kind="charge", effect_id=fresh("ch_"), body=dict(first.body), time=first.time + 0.01)
    )
    return pid


def charge_unpaid(d: Draft, run: Run, pick: Pick) -> str | None:
    """A PSP charge for a payment the final state shows declined or missing."""
    candidates = [
        k
        for k in _keys(d.select("pay", phase="main"))
        if _status(run, "payments", k) in ("declined", "404")
    ]
    if not candidates:
        return None
    pid = pick(candidates)
    amount = d.attempts("pay", pid)[0].body["amount"]
    d.effects.append(
        Fx(
            kind="charge",
            effect_id=fresh("ch_"),
            time=_effect_time(d, "pay", pid),
            body={"reference": pid, "amount": amount},
        )
    )
    return pid


def answer_unknown_charge(d: Draft, run: Run, pick: Pick) -> str | None:
    """A captured answer names a charge_id the PSP never issued."""
    candidates = _answered(d, "pay", "ok")
    if not candidates:
        return None
    op = pick(candidates)
    op.answer = {**op.answer, "charge_id": fresh("ch_")}
    return op.key


def charge_wrong_amount(d: Draft, run: Run, pick: Pick) -> str | None:
    """The PSP charge of a captured payment is for another amount."""
    candidates = _keys(op for op in _answered(d, "pay", "ok") if _charges(d, op.key))
    if not candidates:
        return None
    pid = pick(candidates)
    charge = _charges(d, pid)[0]
    charge.body = {**charge.body, "amount": charge.body["amount"] + 100 * pick([1, 2])}
    return pid


def answer_others_charge(d: Draft, run: Run, pick: Pick) -> str | None:
    """A captured answer names the PSP charge of another payment."""
    charges = [fx for fx in d.effects if fx.kind == "charge"]
    candidates = [
        (op, fx)
        for op in _answered(d, "pay", "ok")
        for fx in charges
        if fx.body["reference"] != op.key
    ]
    if not candidates:
        return None
    op, fx = pick(candidates)
    op.answer = {**op.answer, "charge_id": fx.effect_id}
    return op.key


def lose_acked_payment(d: Draft, run: Run, pick: Pick) -> str | None:
    """A payment answered captured is missing, declined or pending at the end."""
    candidates = [
        k for k in _keys(_answered(d, "pay", "ok")) if _status(run, "payments", k) == "captured"
    ]
    if not candidates:
        return None
    pid = pick(candidates)
    if pick([True, False]):
        d.set_final_answer("read_payment", pid, 404, {"error": "payment not found"})
    else:
        d.set_final_answer(
            "read_payment", pid, 200, {"payment_id": pid, "status": pick(["declined", "pending"])}
        )
    return pid


def record_other_charge(d: Draft, run: Run, pick: Pick) -> str | None:
    """The final state shows the payment captured under a charge_id the PSP never issued."""
    candidates = [
        k for k in _keys(d.select("pay", phase="main")) if _status(run, "payments", k) == "captured"
    ]
    if not candidates:
        return None
    pid = pick(candidates)
    d.set_final_answer(
        "read_payment",
        pid,
        200,
        {"payment_id": pid, "status": "captured", "charge_id": fresh("ch_")},
    )
    return pid


def _declined_then_captured(d: Draft, run: Run, pick: Pick) -> str | None:
    """Pending: a payment answered declined ends captured (with a real PSP charge)."""
    candidates = [
        k for k in _keys(_answered(d, "pay", "fail")) if _status(run, "payments", k) == "declined"
    ]
    if not candidates:
        return None
    pid = pick(candidates)
    charge = fresh("ch_")
    amount = d.attempts("pay", pid)[0].body["amount"]
    d.effects.append(
        Fx(
            kind="charge",
            effect_id=charge,
            time=_effect_time(d, "pay", pid),
            body={"reference": pid, "amount": amount},
            idempotency_key=pid,
        )
    )
    d.set_final_answer(
        "read_payment", pid, 200, {"payment_id": pid, "status": "captured", "charge_id": charge}
    )
    return pid


def _captured_without_charge(d: Draft, run: Run, pick: Pick) -> str | None:
    """Pending: the final state shows a payment captured that the PSP never charged
    (no attempt was answered captured, so charge_recorded has nothing to compare)."""
    candidates = [
        k
        for k in _keys(d.select("pay", phase="main"))
        if _status(run, "payments", k) == "captured"
        and not any(op.key == k for op in _answered(d, "pay", "ok"))
    ]
    if not candidates:
        return None
    pid = pick(candidates)
    d.effects = [fx for fx in d.effects if fx not in _charges(d, pid)]
    return pid


def final_charge_differs(d: Draft, run: Run, pick: Pick) -> str | None:
    """Answered captured as one charge_id, captured as another in the final state."""
    candidates = [
        op for op in _answered(d, "pay", "ok") if _status(run, "payments", op.key) == "captured"
    ]
    if not candidates:
        return None
    op = pick(candidates)
    other = fresh("ch_")
    d.set_final_answer(
        "read_payment",
        op.key,
        200,
        {"payment_id": op.key, "status": "captured", "charge_id": other},
    )
    return op.key


# --- matching -----------------------------------------------------------------------------


def _shown(run: Run) -> dict[str, tuple[str, str]]:
    """match_id -> sorted pair, over every present final list."""
    out: dict[str, tuple[str, str]] = {}
    for listed in run.final.of("matches").values():
        for m in listed["matches"]:
            a, b = sorted(m["users"])
            out[m["match_id"]] = (a, b)
    return out


def _users(d: Draft) -> list[str]:
    return sorted({u for op in d.select("swipe") for u in (op.body["swiper"], op.body["swipee"])})


def _edit_lists(
    d: Draft,
    run: Run,
    users: Iterable[str],
    edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    for user in users:
        if user in run.final.of("matches"):
            listed = [dict(m) for m in run.final.of("matches")[user]["matches"]]
            d.set_final_answer("read_matches", user, 200, {"matches": edit(listed)})


def _announce(d: Draft, match_id: str, pair: Sequence[str]) -> None:
    """A message for ``pair``, sent once the main phase is over (before quiescence)."""
    after, before = _main_window(d)
    d.effects.append(
        Fx(
            kind="message",
            effect_id=fresh("msg_"),
            time=(after + before) / 2,
            body={"match_id": match_id, "users": list(pair)},
        )
    )


def drop_announcement(d: Draft, run: Run, pick: Pick) -> str | None:
    """A match of the final state loses every message announcing it."""
    candidates = sorted(_shown(run))
    if not candidates:
        return None
    mid = pick(candidates)
    d.effects = [
        fx for fx in d.effects if not (fx.kind == "message" and fx.body["match_id"] == mid)
    ]
    return mid


def announce_wrong_users(d: Draft, run: Run, pick: Pick) -> str | None:
    """The messages of a listed match are replaced by one naming another pair of users."""
    shown = _shown(run)
    users = _users(d)
    candidates = [
        (mid, (a, b))
        for mid, pair in sorted(shown.items())
        for a in users
        for b in users
        if a < b and (a, b) != pair
    ]
    if not candidates:
        return None
    mid, pair = pick(candidates)
    d.effects = [
        fx for fx in d.effects if not (fx.kind == "message" and fx.body["match_id"] == mid)
    ]
    _announce(d, mid, pair)
    return mid


def announce_unknown_match(d: Draft, run: Run, pick: Pick) -> str | None:
    """A message announces a match no final list shows (both users read)."""
    read = [u for u in _users(d) if u in run.final.of("matches")]
    pairs = [(a, b) for a in read for b in read if a < b]
    if not pairs:
        return None
    mid = fresh("m")
    _announce(d, mid, pick(pairs))
    return mid


def second_match_for_pair(d: Draft, run: Run, pick: Pick) -> str | None:
    """A listed pair gets a second match_id in the final lists."""
    candidates = sorted(_shown(run).items())
    if not candidates:
        return None
    _, pair = pick(candidates)
    mid = fresh("m")
    _edit_lists(d, run, pair, lambda ms: [*ms, {"match_id": mid, "users": list(pair)}])
    return mid


def _pair_of(op: Op) -> tuple[str, str]:
    a, b = sorted((op.body["swiper"], op.body["swipee"]))
    return a, b


def answer_other_match(d: Draft, run: Run, pick: Pick) -> str | None:
    """A matched answer names a new match_id while the pair's match is seen elsewhere
    (in the final state or in another matched answer)."""
    matched = [op for op in _answered(d, "swipe", "ok") if op.answer["matched"]]
    shown = set(_shown(run).items())

    def seen_elsewhere(op: Op) -> bool:
        mine = (op.answer["match_id"], _pair_of(op))
        return mine in shown or any(
            o is not op and (o.answer["match_id"], _pair_of(o)) == mine for o in matched
        )

    candidates = [op for op in matched if seen_elsewhere(op)]
    if not candidates:
        return None
    op = pick(candidates)
    mid = fresh("m")
    op.answer = {**op.answer, "match_id": mid}
    return mid


def _rights(d: Draft, swiper: str, swipee: str) -> list[Op]:
    return [
        op
        for op in d.select("swipe")
        if op.body["direction"] == "right"
        and (op.body["swiper"], op.body["swipee"]) == (swiper, swipee)
    ]


def ineligible_match(d: Draft, run: Run, pick: Pick) -> str | None:
    """A match (listed and announced) between users one of whom never swiped right on
    the other -- not even with an indeterminate swipe."""
    users, lists = _users(d), run.final.of("matches")
    candidates = [
        (a, b)
        for a in users
        for b in users
        if a != b and not _rights(d, a, b) and (a in lists or b in lists)
    ]
    if not candidates:
        return None
    pair = pick(candidates)
    mid = fresh("m")
    _edit_lists(d, run, pair, lambda ms: [*ms, {"match_id": mid, "users": list(pair)}])
    _announce(d, mid, pair)
    return mid


def drop_mutual_match(d: Draft, run: Run, pick: Pick) -> str | None:
    """Both right swipes acknowledged, both users read, and no match listed."""

    def acked(a: str, b: str) -> bool:
        return any(op.outcome == "ok" for op in _rights(d, a, b))

    users = [u for u in _users(d) if u in run.final.of("matches")]
    candidates = [(a, b) for a in users for b in users if a < b and acked(a, b) and acked(b, a)]
    if not candidates:
        return None
    pair = pick(candidates)
    _edit_lists(d, run, pair, lambda ms: [m for m in ms if sorted(m["users"]) != list(pair)])
    return pair[0]


def drop_mutual_match_half_read(d: Draft, run: Run, pick: Pick) -> str | None:
    """Both right swipes acknowledged; one user's final read is absent, the other's is
    present and does not list the pair's match -- which it must, as the match is that
    user's too."""

    def acked(a: str, b: str) -> bool:
        return any(op.outcome == "ok" for op in _rights(d, a, b))

    users, lists = _users(d), run.final.of("matches")
    candidates = [
        (a, b)
        for a in users
        for b in users
        if a in lists and b not in lists and acked(a, b) and acked(b, a)
    ]
    if not candidates:
        return None
    read, unread = pick(candidates)
    _edit_lists(d, run, [read], lambda ms: [m for m in ms if unread not in m["users"]])
    return read


def announce_unlisted_match_half_read(d: Draft, run: Run, pick: Pick) -> str | None:
    """A message announces a new match between a user whose final list is present (and
    does not show it) and a user whose final read is absent."""
    users, lists = _users(d), run.final.of("matches")
    candidates = [(a, b) for a in users for b in users if a in lists and b not in lists]
    if not candidates:
        return None
    mid = fresh("m")
    _announce(d, mid, pick(candidates))
    return mid


def matched_before_reverse_swipe(d: Draft, run: Run, pick: Pick) -> str | None:
    """Reorder: a swipe answered matched completes before the other user's right swipe
    is even sent (every attempt of the reverse swipe, and its effect, moved later)."""
    candidates = [
        op
        for op in _answered(d, "swipe", "ok")
        if op.answer["matched"] and _rights(d, op.body["swipee"], op.body["swiper"])
    ]
    if not candidates:
        return None
    op = pick(candidates)
    back = _rights(d, op.body["swipee"], op.body["swiper"])
    assert op.t_done is not None
    shift = op.t_done + 0.01 - min(o.t_invoke for o in back)
    for o in back:
        o.t_invoke += shift
        o.points = [p + shift for p in o.points]
        if o.t_done is not None:
            o.t_done += shift
    _, first_final = _main_window(d)
    if max(o.t_done or o.t_invoke for o in back) >= first_final:
        return None  # no room before the final phase: leave this run alone
    return str(op.answer["match_id"])


def _one_match_id_two_pairs(d: Draft, run: Run, pick: Pick) -> str | None:
    """Pending: two pairs' matches under one match_id (lists, answers and messages)."""
    shown = sorted(_shown(run).items())
    if len(shown) < 2:
        return None
    (keep, _), (drop, _) = pick([(a, b) for a in shown for b in shown if a[1] != b[1]])
    for op in d.ops:
        if op.f == "swipe" and op.outcome == "ok" and op.answer["match_id"] == drop:
            op.answer = {**op.answer, "match_id": keep}
        if op.f == "read_matches" and op.outcome == "ok" and op.status == 200:
            op.answer = {
                "matches": [
                    {**m, "match_id": keep if m["match_id"] == drop else m["match_id"]}
                    for m in op.answer["matches"]
                ]
            }
    for fx in d.effects:
        if fx.kind == "message" and fx.body["match_id"] == drop:
            fx.body = {**fx.body, "match_id": keep}
    return keep


# --- reads (consistent_reads and the order-read check, being written) ---------------------


def _order_read_wrong_item(d: Draft, run: Run, pick: Pick) -> str | None:
    """Pending: the final read of an accepted order names another quantity."""
    candidates = _orders_with_status(run, "accepted")
    if not candidates:
        return None
    oid = pick(candidates)
    read = dict(run.final.of("orders")[oid] or {})
    d.set_final_answer("read_order", oid, 200, {**read, "qty": read["qty"] + 1})
    return oid


def _stale_read_after_ack(d: Draft, run: Run, pick: Pick) -> str | None:
    """Pending: a main-phase read, sent after a write was acknowledged, does not see it
    (order 404 / payment 404 / user's list without the answered match)."""
    acked: dict[str, float] = {}
    for op in d.ops:
        if op.phase == "main" and op.outcome == "ok" and op.t_done is not None:
            if op.f in ("order", "pay"):
                keys = [op.key]
            elif op.f == "swipe" and op.answer["matched"]:
                keys = [op.body["swiper"], op.body["swipee"]]
            else:
                continue
            for k in keys:
                acked[k] = min(acked.get(k, op.t_done), op.t_done)
    reads = [
        op
        for op in d.select("read_order", "read_payment", "read_matches", phase="main")
        if op.outcome == "ok" and op.key in acked and op.t_invoke > acked[op.key]
    ]
    if not reads:
        return None
    op = pick(reads)
    if op.f == "read_matches":
        op.status, op.answer = 200, {"matches": []}
    else:
        op.status, op.answer = 404, {"error": "not found"}
    return op.key


def _replicas_disagree(d: Draft, run: Run, pick: Pick) -> str | None:
    """After quiescence another replica answers a final read differently from the
    others (an order or payment missing there, a user's list emptied)."""
    last = [
        op
        for op in d.ops
        if op.phase == "final" and op.final_round == d.last_round() and op.outcome == "ok"
    ]
    answered = {(op.f, op.key, op.node) for op in last}
    # Only where another replica answered the same read: else nothing disagrees.
    reads = [
        op
        for op in last
        if op.node > 0
        and op.status == 200
        and op.f in ("read_order", "read_payment", "read_matches")
        and (op.f != "read_matches" or op.answer["matches"])
        and any((op.f, op.key, n) in answered for n in range(d.replicas) if n != op.node)
    ]
    if not reads:
        return None
    op = pick(reads)
    if op.f == "read_matches":
        op.answer = {"matches": []}
    else:
        op.status, op.answer = 404, {"error": "not found"}
    return op.key


def _spurious_rejection(d: Draft, run: Run, pick: Pick) -> str | None:
    """No invariant: an accepted order turned into a rejection everywhere (answers, final
    read, stock given back, shipment gone) although the stock had room for it all along
    -- a target that rejects every order passes every inventory row."""
    known = dict(_known_skus(run))
    candidates = [
        k
        for k in _keys(_definite(d, "ok", run, "accepted"))
        if d.attempts("order", k)[0].body["sku"] in known
    ]
    if not candidates:
        return None
    oid = pick(candidates)
    for o in d.attempts("order", oid):
        if o.outcome == "ok":
            o.complete(
                "fail", 409, {"order_id": oid, "status": "rejected", "reason": "out_of_stock"}
            )
    read = dict(run.final.of("orders")[oid] or {})
    d.set_final_answer("read_order", oid, 200, {**read, "status": "rejected"})
    stock = dict(run.final.of("stock")[read["sku"]])
    d.set_final_answer(
        "read_stock", read["sku"], 200, {**stock, "available": stock["available"] + read["qty"]}
    )
    d.effects = [fx for fx in d.effects if fx not in _shipments(d, oid)]
    return oid


# --- the table ------------------------------------------------------------------------------


def _m(name: str, workload: str, expect: tuple[str, ...], apply: Apply, **kw: str) -> Mutation:
    """A table row; ``reads="strong"`` for mutations only a strong-read design forbids."""
    return Mutation(
        name=name,
        workload=workload,
        expect=expect,
        apply=apply,
        doc=(apply.__doc__ or "").strip().split("\n")[0],
        **kw,
    )


ACK = "acknowledged_writes_survive"
MUTATIONS: tuple[Mutation, ...] = (
    # inventory
    _m("drop_shipment", "inventory", ("exactly_once_shipment",), drop_shipment),
    _m("duplicate_shipment", "inventory", ("exactly_once_shipment",), duplicate_shipment),
    _m("ship_unaccepted", "inventory", ("exactly_once_shipment",), ship_unaccepted),
    _m("ship_wrong_quantity", "inventory", ("exactly_once_shipment",), ship_wrong_quantity),
    _m("accept_rejected", "inventory", ("idempotent_retry", ACK), accept_rejected),
    _m("reject_accepted", "inventory", ("idempotent_retry",), reject_accepted),
    _m("lose_acked_order", "inventory", (ACK, "idempotent_retry"), lose_acked_order),
    _m("contradict_acceptance", "inventory", ("idempotent_retry",), contradict_acceptance),
    _m("lose_stock", "inventory", ("stock_accounting",), lose_stock),
    _m("oversell", "inventory", ("no_oversell", "stock_accounting"), oversell),
    _m("miscount_stock", "inventory", ("stock_accounting",), miscount_stock),
    _m("negative_stock", "inventory", ("no_oversell",), negative_stock),
    _m("order_read_wrong_item", "inventory", ("consistent_reads",), _order_read_wrong_item),
    _m(
        "stale_order_read",
        "inventory",
        ("consistent_reads",),
        _stale_read_after_ack,
        reads="strong",
    ),
    _m("replicas_disagree_on_order", "inventory", ("consistent_reads",), _replicas_disagree),
    _m("spurious_rejection", "inventory", ("consistent_reads",), _spurious_rejection),
    # payments
    _m("duplicate_charge", "payments", ("no_duplicate_charge",), duplicate_charge),
    _m("charge_unpaid", "payments", ("no_unrecorded_money",), charge_unpaid),
    _m("answer_unknown_charge", "payments", ("charge_recorded",), answer_unknown_charge),
    _m("charge_wrong_amount", "payments", ("charge_recorded",), charge_wrong_amount),
    _m("answer_others_charge", "payments", ("charge_recorded",), answer_others_charge),
    _m("lose_acked_payment", "payments", (ACK,), lose_acked_payment),
    _m("record_other_charge", "payments", ("no_unrecorded_money",), record_other_charge),
    _m("declined_then_captured", "payments", (ACK,), _declined_then_captured),
    _m("final_charge_differs", "payments", ("no_unrecorded_money", ACK), final_charge_differs),
    _m("captured_without_charge", "payments", ("charge_recorded",), _captured_without_charge),
    _m(
        "stale_payment_read",
        "payments",
        ("consistent_reads",),
        _stale_read_after_ack,
        reads="strong",
    ),
    _m("replicas_disagree_on_payment", "payments", ("consistent_reads",), _replicas_disagree),
    # matching
    _m("drop_announcement", "matching", ("every_match_announced",), drop_announcement),
    _m("announce_wrong_users", "matching", ("every_match_announced",), announce_wrong_users),
    _m("announce_unknown_match", "matching", ("every_match_announced",), announce_unknown_match),
    _m("second_match_for_pair", "matching", ("at_most_one_match",), second_match_for_pair),
    _m("answer_other_match", "matching", ("at_most_one_match",), answer_other_match),
    _m("ineligible_match", "matching", ("match_eligibility",), ineligible_match),
    _m("drop_mutual_match", "matching", ("mutual_right_swipes_match",), drop_mutual_match),
    _m(
        "drop_mutual_match_half_read",
        "matching",
        ("mutual_right_swipes_match",),
        drop_mutual_match_half_read,
    ),
    _m(
        "announce_unlisted_match_half_read",
        "matching",
        ("every_match_announced",),
        announce_unlisted_match_half_read,
    ),
    _m(
        "matched_before_reverse_swipe",
        "matching",
        ("match_eligibility",),
        matched_before_reverse_swipe,
    ),
    _m("one_match_id_two_pairs", "matching", ("at_most_one_match",), _one_match_id_two_pairs),
    _m(
        "stale_matches_read",
        "matching",
        ("consistent_reads",),
        _stale_read_after_ack,
        reads="strong",
    ),
    _m("replicas_disagree_on_matches", "matching", ("consistent_reads",), _replicas_disagree),
)
BY_NAME = {m.name: m for m in MUTATIONS}
