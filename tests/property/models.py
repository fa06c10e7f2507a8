"""Hypothesis strategies for histories of a CORRECT target, one per workload.

Each workload has a small sequential model of a correct target (stock with a
conditional decrement and one stored outcome per order; payments claimed
before the PSP is called with the payment_id as idempotency key; swipes with
a canonical pair and one match per mutual right-swipe pair). Several clients
drive it at once; every HTTP attempt takes effect at linearization points
inside its invoke..completion window, or -- when the answer is lost (timeout,
reset, 5xx) -- inside the window, after the client gave up, or never. The
points are replayed in time order through the model, which gives every
documented answer and every partner effect; the final phase then reads every
touched key from every replica in quiescence rounds, as the runner does.

See README.md beside this file for the list of real-world behaviours.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from draft import READ_FIELD, Draft, Fx, NemesisEvent, Op, Outcome, Run, touched
from hypothesis import strategies as st

from harness.nemesis.faults import (
    Crash,
    Fault,
    LinkToxic,
    Partition,
    PartnerFailure,
    Pause,
    fault_to_dict,
)
from harness.workload.keys import KeySpace

KEYS = KeySpace.for_example("pt0000", 0)
WORKLOADS = ("inventory", "payments", "matching")
TIMEOUT_MS = 1000  # OpSpec's default timeout
FINAL_READ_ATTEMPTS = 3  # harness.workload.final.READ_ATTEMPTS
FINAL_BACKOFF_MS = 50  # harness.workload.final.READ_BACKOFF_S
POLL_MS, QUIET_MS = 100, 400  # the runner's POLL_S and QUIET_S
RETRY_MODES = ("none", "immediate", "concurrent", "delayed")

Answer = tuple[Outcome, int, Any]  # outcome, HTTP status, body
Push = Callable[[float, Callable[[float], None]], None]


# --- indeterminate answers --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lost:
    """How an answer gets lost: what the client records (``status``/``body``
    None for a network failure), and whether the attempt completes at all."""

    error: str
    status: int | None = None
    body: Any = None
    timeout: bool = False
    completes: bool = True


LOST: tuple[Lost, ...] = (
    Lost(f"timeout after {TIMEOUT_MS / 1000}s", timeout=True),
    Lost(f"timeout after {TIMEOUT_MS / 1000}s", timeout=True),
    Lost("ClientOSError: [Errno 104] Connection reset by peer"),
    Lost("ServerDisconnectedError: Server disconnected"),
    Lost(
        "HTTP 500 is neither a documented success nor a refusal: indeterminate",
        500,
        {"error": "internal error"},
    ),
    Lost(
        "HTTP 503 is neither a documented success nor a refusal: indeterminate",
        503,
        {"error": "partner unavailable"},
    ),
    Lost("HTTP 502 body is not JSON: b'Bad Gateway'", 502, None),
    Lost("cancelled"),
    Lost("the run died before the answer", completes=False),
)
# Which effect an attempt whose answer was lost had: none, inside its window,
# or after the client gave up (a paused replica working through its queue).
LostEffect = Literal["none", "inside", "after"]
LOST_EFFECTS: tuple[LostEffect, ...] = ("none", "inside", "after")


# --- the per-run knobs --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Knobs:
    clients: int
    replicas: int
    chaos: int  # percent of attempts whose answer is lost
    min_rounds: int  # quiescence rounds the runner makes at least (1, or 2 when moving)


def knobs(chaos: int | None = None) -> st.SearchStrategy[Knobs]:
    return st.builds(
        Knobs,
        clients=st.integers(1, 4),
        replicas=st.integers(1, 3),
        chaos=st.sampled_from((0, 10, 25, 45)) if chaos is None else st.just(chaos),
        min_rounds=st.integers(1, 2),
    )


# --- logical operations and their attempts ------------------------------------------


@dataclass(slots=True, kw_only=True)
class Logical:
    """One client request with its retries (same body, attempt 1..n)."""

    f: str
    body: dict[str, Any]
    client: int = 0
    node: int = 0
    at: int = 0  # when the client would like to send it (ms into the main phase)
    retry: str = "none"
    retries: int = 0
    delay: int = 0
    attempts: list[Op] = field(default_factory=list)


def _draw_attempt(
    draw: st.DrawFn, kn: Knobs, lg: Logical, steps: int, t_invoke: float, attempt: int
) -> Op:
    """One attempt: its window, its fate and its linearization points."""
    ms = draw(st.integers(1, 250))
    op = Op(
        process=lg.client,
        f=lg.f,
        body=dict(lg.body),
        phase="main",
        t_invoke=t_invoke,
        t_done=t_invoke + ms,
        node=lg.node,
        attempt=attempt,
    )
    lost = kn.chaos and draw(st.integers(0, 99)) >= 100 - kn.chaos
    if not lost:
        op.points = _inside(draw, t_invoke, t_invoke + ms, steps)
        op.note = "answered"
        return op
    how = LOST[draw(st.integers(0, len(LOST) - 1))]
    if not how.completes and steps == 1 and lg.f.startswith("read_"):
        how = LOST[0]
    effect = LOST_EFFECTS[draw(st.integers(0, 2))] if not lg.f.startswith("read_") else "none"
    if how.timeout:
        ms = TIMEOUT_MS
    end = t_invoke + ms
    op.t_done = end if how.completes else None
    op.complete(
        "info" if how.completes else None,
        how.status,
        how.body,
        how.error if how.completes else None,
    )
    if effect == "inside":
        op.points = _inside(draw, t_invoke, end, steps)
        if steps > 1 and draw(st.booleans()):  # the rest by a reconciler, later
            op.points[-1] = end + draw(st.integers(1, 300))
    elif effect == "after":
        first = end + draw(st.integers(1, 300))
        op.points = [first + i * draw(st.integers(1, 50)) for i in range(steps)]
    op.note = f"lost ({how.error}), effect {effect}"
    return op


def _inside(draw: st.DrawFn, start: float, end: float, steps: int) -> list[float]:
    """``steps`` increasing points strictly inside (start, end)."""
    fracs = sorted(draw(st.integers(1, 999)) for _ in range(steps))
    return [start + (end - start) * f / 1000 for f in fracs]


def _lay_out(
    draw: st.DrawFn, kn: Knobs, logicals: list[Logical], steps: Callable[[str], int], start: float
) -> list[Op]:
    """Each client sends its operations one after the other (retries as their
    policy says); different clients overlap freely."""
    cursor = [start] * kn.clients
    ops: list[Op] = []
    for lg in sorted(logicals, key=lambda lg: lg.at):
        t = max(cursor[lg.client], start + lg.at)
        n = steps(lg.f)
        if lg.retry == "concurrent":
            lg.attempts = [
                _draw_attempt(draw, kn, lg, n, t + i, i + 1) for i in range(lg.retries + 1)
            ]
        else:
            lg.attempts = []
            for i in range(lg.retries + 1):
                op = _draw_attempt(draw, kn, lg, n, t, i + 1)
                lg.attempts.append(op)
                t = _end(op) + (lg.delay if lg.retry == "delayed" else 1)
        cursor[lg.client] = max(_end(op) for op in lg.attempts)
        ops.extend(lg.attempts)
    return ops


def _end(op: Op) -> float:
    return op.t_done if op.t_done is not None else op.t_invoke + TIMEOUT_MS


def _logical(draw: st.DrawFn, kn: Knobs, f: str, body: dict[str, Any], span: int) -> Logical:
    retry = draw(st.sampled_from(RETRY_MODES)) if not f.startswith("read_") else "none"
    return Logical(
        f=f,
        body=body,
        client=draw(st.integers(0, kn.clients - 1)),
        node=draw(st.integers(0, kn.replicas - 1)),
        at=draw(st.integers(0, span)),
        retry=retry,
        retries=0 if retry == "none" else draw(st.integers(1, 2)),
        delay=draw(st.integers(10, 200)) if retry == "delayed" else 0,
    )


# --- the models ---------------------------------------------------------------------


class Model(Protocol):
    """A correct target: answers and effects, one linearization step at a time."""

    workload: str

    def steps(self, f: str) -> int: ...

    def step(self, op: Op, k: int, t: float, push: Push) -> Answer | None:
        """Run step ``k`` of ``op`` at ``t``; the documented answer at the last step."""
        ...


def _more(on: bool, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``body``, with fields the contract does not name when ``on`` (they are allowed)."""
    return {**body, **extra} if on else body


def _not_found(what: str) -> tuple[int, Any]:
    return 404, {"error": f"{what} not found"}


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def new(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n:032x}"


@dataclass(slots=True, kw_only=True)
class Inventory:
    """One row per sku, a conditional decrement and the order's outcome in one
    transaction; an outbox relay ships each accepted order once (``Idempotency-Key``
    ``ship-<order_id>``) ``ship_delay`` ms later. Rejections are stored too,
    unless ``store_rejections`` is off (then a retry re-decides, and stock only
    falls, so it is rejected again; reads answer 404)."""

    ship_delay: dict[str, int]
    store_rejections: bool
    effects: list[Fx]
    extras: bool = False  # answers and partner bodies carry fields the contract does not name
    workload: str = "inventory"
    stock: dict[str, int] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: _Ids = field(default_factory=_Ids)

    def steps(self, f: str) -> int:
        return 1

    def step(self, op: Op, k: int, t: float, push: Push) -> Answer | None:
        b = op.body
        if op.f == "set_stock":
            self.stock[b["sku"]] = b["available"]
            return "ok", 200, {"sku": b["sku"], "available": b["available"]}
        if op.f == "read_stock":
            if b["sku"] not in self.stock:
                return ("ok", *_not_found("sku"))
            return "ok", 200, {"sku": b["sku"], "available": self.stock[b["sku"]]}
        if op.f == "read_order":
            order = self.orders.get(b["order_id"])
            if order is None:
                return ("ok", *_not_found("order"))
            return "ok", 200, _more(self.extras, dict(order), created_at="2026-12-01T08:00:00Z")
        oid, sku, qty = b["order_id"], b["sku"], b["qty"]
        stored = self.orders.get(oid)
        if stored is None:
            if sku in self.stock and self.stock[sku] >= qty:
                self.stock[sku] -= qty
                stored = {"order_id": oid, "sku": sku, "qty": qty, "status": "accepted"}
                self.orders[oid] = stored
                push(t + self.ship_delay[oid], lambda at: self._ship(oid, sku, qty, at))
            else:
                stored = {"order_id": oid, "sku": sku, "qty": qty, "status": "rejected"}
                if self.store_rejections:
                    self.orders[oid] = stored
        if stored["status"] == "accepted":
            return (
                "ok",
                200,
                _more(self.extras, {"order_id": oid, "status": "accepted"}, sku=sku, qty=qty),
            )
        return (
            "fail",
            409,
            _more(
                self.extras,
                {"order_id": oid, "status": "rejected", "reason": "out_of_stock"},
                available=0,
            ),
        )

    def _ship(self, oid: str, sku: str, qty: int, at: float) -> None:
        self.effects.append(
            Fx(
                kind="shipment",
                effect_id=self.ids.new("shp_"),
                time=at,
                body=_more(self.extras, {"order_id": oid, "sku": sku, "qty": qty}, carrier="dhl"),
                idempotency_key=f"ship-{oid}",
            )
        )


@dataclass(slots=True, kw_only=True)
class Payments:
    """Step 0 claims the payment (pending) unless it exists; step 1 settles a
    pending payment: the PSP, called with ``Idempotency-Key = payment_id``,
    declines (references declined in setup) or charges once -- a second call
    replays the first charge -- and the payment becomes captured with that
    charge_id. A reconciler settles what a lost request left pending."""

    declined: set[str]
    effects: list[Fx]
    extras: bool = False
    workload: str = "payments"
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    psp: dict[str, str] = field(default_factory=dict)
    ids: _Ids = field(default_factory=_Ids)

    def steps(self, f: str) -> int:
        return 2 if f == "pay" else 1

    def step(self, op: Op, k: int, t: float, push: Push) -> Answer | None:
        b = op.body
        if op.f == "read_payment":
            p = self.payments.get(b["payment_id"])
            if p is None:
                return ("ok", *_not_found("payment"))
            if self.extras and p["status"] != "captured":
                return "ok", 200, {**p, "charge_id": None, "attempts": 1}
            return "ok", 200, _more(self.extras, dict(p), attempts=1)
        pid = b["payment_id"]
        if k == 0:
            self.payments.setdefault(pid, {"payment_id": pid, "status": "pending"})
            return None
        p = self.payments[pid]
        if p["status"] == "pending":
            if pid in self.declined:
                p["status"] = "declined"
            else:
                if pid not in self.psp:
                    self.psp[pid] = self.ids.new("ch_")
                    self.effects.append(
                        Fx(
                            kind="charge",
                            effect_id=self.psp[pid],
                            time=t,
                            body=_more(
                                self.extras,
                                {"reference": pid, "amount": b["amount"]},
                                currency="eur",
                            ),
                            idempotency_key=pid,
                        )
                    )
                p["status"], p["charge_id"] = "captured", self.psp[pid]
        if p["status"] == "captured":
            return (
                "ok",
                200,
                _more(
                    self.extras,
                    {"payment_id": pid, "status": "captured", "charge_id": p["charge_id"]},
                    amount=b["amount"],
                ),
            )
        return (
            "fail",
            402,
            _more(self.extras, {"payment_id": pid, "status": "declined"}, reason="card_declined"),
        )


@dataclass(slots=True, kw_only=True)
class Matching:
    """A swipe is stored once with its answer (a retry gets the stored answer, or
    with ``answer_current`` the pair's match as it is now); a right swipe whose
    reverse right swipe exists creates the pair's match under the canonical
    pair, and an outbox relay announces it ``delay`` ms later -- sometimes
    twice (at-least-once delivery; the contract allows duplicate messages).
    With ``unknown_user_404`` a user no stored swipe names is answered 404."""

    delay: dict[str, tuple[int, bool]]  # swipe_id -> (announce delay, announce twice)
    effects: list[Fx]
    answer_current: bool = False  # a retried swipe answers the pair's match as it is now
    unknown_user_404: bool = False  # a user in no stored swipe is answered 404
    extras: bool = False
    workload: str = "matching"
    swipes: dict[str, dict[str, Any]] = field(default_factory=dict)
    rights: set[tuple[str, str]] = field(default_factory=set)
    matches: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ids: _Ids = field(default_factory=_Ids)

    def steps(self, f: str) -> int:
        return 1

    def step(self, op: Op, k: int, t: float, push: Push) -> Answer | None:
        b = op.body
        if op.f == "read_matches":
            user = b["user"]
            if self.unknown_user_404 and not any(
                user in (sw["swiper"], sw["swipee"]) for sw in self.swipes.values()
            ):
                return ("ok", *_not_found("user"))
            listed = [
                _more(
                    self.extras,
                    {"match_id": m["match_id"], "users": list(m["users"])},
                    since="2026-12-01T08:00:00Z",
                )
                for m in self.matches.values()
                if user in m["users"]
            ]
            return "ok", 200, {"matches": listed}
        sid = b["swipe_id"]
        if sid not in self.swipes:
            swiper, swipee = b["swiper"], b["swipee"]
            match_id = None
            if b["direction"] == "right":
                self.rights.add((swiper, swipee))
                if (swipee, swiper) in self.rights:
                    lo, hi = sorted((swiper, swipee))
                    match = self.matches.get((lo, hi))
                    if match is None:
                        match_id = self.ids.new("m")
                        users = [lo, hi] if len(self.matches) % 2 == 0 else [hi, lo]
                        match = {"match_id": match_id, "users": users}
                        self.matches[(lo, hi)] = match
                        delay, twice = self.delay[sid]
                        for n in range(2 if twice else 1):
                            push(t + delay * (n + 1), self._announcer(match))
                    match_id = match["match_id"]
            self.swipes[sid] = {
                "swipe_id": sid,
                "matched": match_id is not None,
                "match_id": match_id,
                "swiper": b["swiper"],
                "swipee": b["swipee"],
            }
        stored = self.swipes[sid]
        said = {k: stored[k] for k in ("swipe_id", "matched", "match_id")}
        lo, hi = sorted((b["swiper"], b["swipee"]))
        match = self.matches.get((lo, hi))
        if self.answer_current and match is not None:
            said.update(matched=True, match_id=match["match_id"])
        return "ok", 200, _more(self.extras, said, swiper=b["swiper"])

    def _announcer(self, match: dict[str, Any]) -> Callable[[float], None]:
        return lambda at: self._announce(match, at)

    def _announce(self, match: dict[str, Any], at: float) -> None:
        self.effects.append(
            Fx(
                kind="message",
                effect_id=self.ids.new("msg_"),
                time=at,
                body=_more(
                    self.extras,
                    {"match_id": match["match_id"], "users": list(match["users"])},
                    text="It's a match!",
                ),
                idempotency_key=f"match-{match['match_id']}",
            )
        )


# --- playing the points through a model ---------------------------------------------


def _play(model: Model, ops: Sequence[Op]) -> float:
    """Run every op's steps and the background steps they schedule in time
    order; set the documented answers; return the time of the last step."""
    heap: list[tuple[float, int, Callable[[float], None]]] = []
    seq = 0

    def push(t: float, fn: Callable[[float], None]) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, fn))
        seq += 1

    def run_step(op: Op, k: int) -> Callable[[float], None]:
        def go(t: float) -> None:
            said = model.step(op, k, t, push)
            if said is not None and op.note == "answered":
                op.complete(*said)

        return go

    for op in ops:
        for k, point in enumerate(op.points):
            push(point, run_step(op, k))
    last = 0.0
    while heap:
        t, _, fn = heapq.heappop(heap)
        fn(t)
        last = t
    return last


# --- nemesis --------------------------------------------------------------------------

FAULTS: tuple[Fault, ...] = (
    Partition(link="target-0"),
    Crash(process="target-0"),
    Pause(process="postgres"),
    LinkToxic(link="postgres", toxic="latency", attributes={"latency": 300}),
    LinkToxic(link="target-0", toxic="reset_peer", attributes={"timeout": 0}),
    PartnerFailure(endpoint="all", mode="fail_after", count=2),
    PartnerFailure(endpoint="all", mode="fail_after_drop"),
)


def _nemesis(draw: st.DrawFn, start: float, end: float) -> list[NemesisEvent]:
    """Faults started and healed inside the main phase; the rest healed at its end."""
    events: list[NemesisEvent] = []
    span = max(end - start, 1.0)
    for fault_id in range(draw(st.integers(0, 3))):
        fault = fault_to_dict(draw(st.sampled_from(FAULTS)))
        began = start + span * draw(st.integers(0, 999)) / 1000
        healed = began + span * draw(st.integers(1, 1000)) / 1000
        events.append(NemesisEvent(time=began, f="start", fault_id=fault_id, fault=fault))
        events.append(
            NemesisEvent(
                time=min(healed, end + 1 + fault_id), f="heal", fault_id=fault_id, fault=fault
            )
        )
    return events


# --- the final phase --------------------------------------------------------------------


def _final_rounds(
    draw: st.DrawFn, kn: Knobs, draft: Draft, start: float, settled: float
) -> list[Op]:
    """Quiescence rounds, each reading every touched key on every replica with
    up to three attempts; rounds go on until one starts after the last step."""
    rnd = random.Random(draw(st.integers(0, 2**16)))
    keys = touched(draft.workload, draft.history())
    ops: list[Op] = []
    s, n = start, 1
    while True:
        end = s
        for f, ids in keys.items():
            field_name = READ_FIELD[f]
            for key in ids:
                for node in range(kn.replicas):
                    failures = 0
                    if kn.chaos:
                        u = draw(st.integers(0, 99))
                        failures = 0 if u < 100 - kn.chaos // 2 else 1 + u % FINAL_READ_ATTEMPTS
                    t = s + rnd.randint(0, 3)
                    for attempt in range(FINAL_READ_ATTEMPTS):
                        ms = rnd.randint(1, 30)
                        op = Op(
                            process=0,
                            f=f,
                            body={field_name: key},
                            phase="final",
                            t_invoke=t,
                            t_done=t + ms,
                            node=node,
                            final_round=n,
                        )
                        if attempt < failures:
                            how = LOST[rnd.randrange(0, 7)]
                            op.t_done = t + (TIMEOUT_MS * 2 if how.timeout else ms)
                            op.complete("info", how.status, how.body, how.error)
                            op.note = f"lost ({how.error})"
                        else:
                            op.points = [t + ms * rnd.randint(1, 999) / 1000]
                            op.note = "answered"
                        ops.append(op)
                        end = max(end, _end(op))
                        if attempt >= failures:
                            break
                        t = op.t_done + FINAL_BACKOFF_MS * 2**attempt
        # As the runner: read until the target has gone quiet (its settle
        # deadline is far beyond any model's background work).
        if (n >= kn.min_rounds and s > settled) or n >= 200:
            return ops
        s, n = end + (QUIET_MS if rnd.random() < 0.5 else POLL_MS), n + 1


# --- putting a run together -------------------------------------------------------------


def _assemble(
    draw: st.DrawFn, kn: Knobs, model: Model, draft: Draft, setup: list[Op], logicals: list[Logical]
) -> Run:
    main_start = max((_end(op) for op in setup), default=0.0) + 5
    draft.ops = [*setup, *_lay_out(draw, kn, logicals, model.steps, main_start)]
    main_end = max((_end(op) for op in draft.ops), default=main_start)
    draft.nemesis = _nemesis(draw, main_start, main_end)
    state = _fresh(model)
    settled = _play(state, draft.ops)  # first pass: when does the target go quiet?
    quiet = max(main_end, *(e.time for e in draft.nemesis), main_start) + draw(st.integers(1, 100))
    finals = _final_rounds(draw, kn, draft, quiet, settled)
    draft.effects.clear()
    for op in draft.ops:
        if op.note == "answered":
            op.complete(None, None, None)
    draft.ops.extend(finals)
    _play(model, draft.ops)  # second pass, with the final reads
    return draft.freeze()


def _fresh(model: Model) -> Model:
    """A copy of ``model`` in its initial state, sharing nothing mutable."""
    import copy

    return copy.deepcopy(model)


@st.composite
def inventory_runs(draw: st.DrawFn, chaos: int | None = None) -> Run:
    kn = draw(knobs(chaos))
    n_skus = draw(st.integers(1, 3))
    stock = [draw(st.integers(0, 6)) for _ in range(n_skus)]
    # one sku nobody set up (its stock is unknown: only with lost answers, so that a
    # run without them has every datum a checker needs)
    unstocked = kn.chaos > 0 and draw(st.integers(0, 9)) == 9
    effects: list[Fx] = []
    draft = Draft(workload="inventory", replicas=kn.replicas, effects=effects)
    setup: list[Op] = []
    for i, available in enumerate(stock):
        body = {"sku": KEYS.sku(i), "available": available}
        t = float(draw(st.integers(0, 5)))
        if kn.chaos and draw(st.integers(0, 9)) == 9:  # a flaky set-up attempt, sent again
            how = LOST[draw(st.integers(0, 6))]
            op = Op(
                process=0,
                f="set_stock",
                body=dict(body),
                phase="setup",
                t_invoke=t,
                t_done=t + (TIMEOUT_MS if how.timeout else 20),
            )
            op.complete("info", how.status, how.body, how.error)
            if draw(st.booleans()):
                op.points = [t + 10]
            op.note = f"lost ({how.error})"
            setup.append(op)
            t = _end(op) + 200
        op = Op(
            process=0,
            f="set_stock",
            body=dict(body),
            phase="setup",
            t_invoke=t,
            t_done=t + draw(st.integers(1, 50)),
            note="answered",
        )
        op.points = [op.t_invoke + 0.5]
        setup.append(op)
    n_orders = draw(st.integers(1, 10))
    skus = n_skus + (1 if unstocked else 0)
    logicals = [
        _logical(
            draw,
            kn,
            "order",
            {
                "order_id": KEYS.order_id(i),
                "sku": KEYS.sku(draw(st.integers(0, skus - 1))),
                "qty": draw(st.integers(1, 3)),
            },
            200,
        )
        for i in range(n_orders)
    ]
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            body = {"order_id": KEYS.order_id(draw(st.integers(0, n_orders)))}
            logicals.append(_logical(draw, kn, "read_order", body, 400))
        else:
            body = {"sku": KEYS.sku(draw(st.integers(0, skus - 1)))}
            logicals.append(_logical(draw, kn, "read_stock", body, 400))
    model = Inventory(
        ship_delay={KEYS.order_id(i): draw(st.integers(1, 300)) for i in range(n_orders)},
        store_rejections=draw(st.booleans()),
        effects=effects,
        extras=draw(st.booleans()),
    )
    return _assemble(draw, kn, model, draft, setup, logicals)


@st.composite
def payments_runs(draw: st.DrawFn, chaos: int | None = None) -> Run:
    kn = draw(knobs(chaos))
    n = draw(st.integers(1, 8))
    effects: list[Fx] = []
    draft = Draft(workload="payments", replicas=kn.replicas, effects=effects)
    declined = {KEYS.payment_id(i) for i in range(n) if draw(st.integers(0, 4)) == 4}
    logicals = [
        _logical(
            draw,
            kn,
            "pay",
            {
                "payment_id": KEYS.payment_id(i),
                "order_id": KEYS.order_id(i),
                "amount": 100 * draw(st.integers(1, 50)),
            },
            200,
        )
        for i in range(n)
    ]
    for _ in range(draw(st.integers(0, 5))):
        body = {"payment_id": KEYS.payment_id(draw(st.integers(0, n)))}
        logicals.append(_logical(draw, kn, "read_payment", body, 400))
    model = Payments(declined=declined, effects=effects, extras=draw(st.booleans()))
    return _assemble(draw, kn, model, draft, [], logicals)


@st.composite
def matching_runs(draw: st.DrawFn, chaos: int | None = None) -> Run:
    kn = draw(knobs(chaos))
    n_users = draw(st.integers(2, 5))
    users = [KEYS.user(i) for i in range(n_users)]
    effects: list[Fx] = []
    draft = Draft(workload="matching", replicas=kn.replicas, effects=effects)
    logicals: list[Logical] = []
    delays: dict[str, tuple[int, bool]] = {}
    for a in range(n_users):
        for b in range(a + 1, n_users):
            # 0: nobody swipes; 1: a swipes b; 2: b swipes a; 3..5: both (favoured)
            who = draw(st.integers(0, 5))
            pairs = {0: [], 1: [(a, b)], 2: [(b, a)]}.get(who, [(a, b), (b, a)])
            for swiper, swipee in pairs:
                sid = KEYS.swipe_id(len(logicals))
                direction = "left" if draw(st.integers(0, 4)) == 4 else "right"
                logicals.append(
                    _logical(
                        draw,
                        kn,
                        "swipe",
                        {
                            "swipe_id": sid,
                            "swiper": users[swiper],
                            "swipee": users[swipee],
                            "direction": direction,
                        },
                        200,
                    )
                )
                delays[sid] = (draw(st.integers(1, 300)), draw(st.integers(0, 9)) == 9)
    for _ in range(draw(st.integers(0, 5))):
        body = {"user": users[draw(st.integers(0, n_users - 1))]}
        logicals.append(_logical(draw, kn, "read_matches", body, 400))
    model = Matching(
        delay=delays,
        effects=effects,
        answer_current=draw(st.booleans()),
        unknown_user_404=draw(st.booleans()),
        extras=draw(st.booleans()),
    )
    return _assemble(draw, kn, model, draft, [], logicals)


RUNS: dict[str, Callable[..., st.SearchStrategy[Run]]] = {
    "inventory": inventory_runs,
    "payments": payments_runs,
    "matching": matching_runs,
}
