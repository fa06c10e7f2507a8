"""Correct targets for the invariant library's types, their invariants, and the
mutations those invariants must catch.

Two small workloads the contract does not have, built with the same
machinery as models.py (clients, retries, lost answers with effects inside,
after or never, faults, replicas, quiescence rounds of final reads):

- **auction**: ``open_auction`` (set-up: the seller), ``bid`` (accepted only
  while the auction is open and above its highest accepted bid; the outcome
  is stored, so a resend gets it again), ``close_auction`` (only the seller
  may close: anyone else is refused 403), ``read_auction`` (status, highest,
  and the accepted bids in order) and ``read_bid``.
- **wallet**: ``open_account`` (set-up: owner and balance), ``transfer``
  (refused 403 unless the actor owns the source account, 409 without the
  funds; else it moves the money, and a relay sends one audit message),
  ``read_account`` and ``read_transfer``.

The invariants cover the six types: eligibility, ordering, idempotency,
access control and propagation to a list view (auction); accounting with two
flows and a floor, access control, idempotency, propagation to partner
effects and their uniqueness (wallet).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from draft import Draft, Fx, Op, Run
from hypothesis import strategies as st
from models import LOST, TIMEOUT_MS, Answer, Knobs, Push, _assemble, _end, _logical, knobs
from mutations import Pick, _add_final_reads, _add_write, fresh

from harness.history import thaw
from invariants import Checker
from invariants.library import (
    Accepted,
    Effects,
    Exceeds,
    Final,
    FlowWords,
    IdempotentWords,
    Listed,
    NoPrior,
    Owners,
    Prior,
    Reader,
    Requests,
    Scope,
    UniqueWords,
    make_access_control,
    make_eligibility,
    make_idempotency,
    make_ordering,
    make_propagation,
    make_uniqueness,
    parse_invariants,
)

PREFIX = "pt0000"


def _id(kind: str, i: int) -> str:
    return f"{PREFIX}-{kind}-{i}"


# --- auction --------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Auction:
    """Auctions with a seller, a status and the accepted bids in order; stored
    outcomes per bid and per close request."""

    effects: list[Fx]
    workload: str = "auction"
    auctions: dict[str, dict[str, Any]] = field(default_factory=dict)
    bids: dict[str, dict[str, Any]] = field(default_factory=dict)
    closes: dict[str, bool] = field(default_factory=dict)

    def steps(self, f: str) -> int:
        return 1

    def step(self, op: Op, k: int, t: float, push: Push) -> Answer | None:
        b = op.body
        if op.f == "open_auction":
            self.auctions.setdefault(
                b["auction_id"],
                {"seller": b["seller"], "status": "open", "highest": None, "bids": []},
            )
            return "ok", 200, {"auction_id": b["auction_id"], "status": "open"}
        if op.f == "read_auction":
            a = self.auctions.get(b["auction_id"])
            if a is None:
                return "ok", 404, {"error": "no such auction"}
            listed = [dict(bid) for bid in a["bids"]]
            said = {"auction_id": b["auction_id"], "status": a["status"], "highest": a["highest"]}
            return "ok", 200, {**said, "bids": listed}
        if op.f == "read_bid":
            bid = self.bids.get(b["bid_id"])
            if bid is None:
                return "ok", 404, {"error": "no such bid"}
            return "ok", 200, {"bid_id": b["bid_id"], "status": bid["status"]}
        if op.f == "close_auction":
            if b["close_id"] not in self.closes:
                a = self.auctions[b["auction_id"]]
                allowed = a["seller"] == b["by"]
                if allowed:
                    a["status"] = "closed"
                self.closes[b["close_id"]] = allowed
            if self.closes[b["close_id"]]:
                return "ok", 200, {"close_id": b["close_id"], "status": "closed"}
            return "fail", 403, {"close_id": b["close_id"], "status": "forbidden"}
        bid = self.bids.get(b["bid_id"])
        if bid is None:
            a = self.auctions.get(b["auction_id"])
            fits = a is not None and a["status"] == "open"
            fits = fits and (a["highest"] is None or b["amount"] > a["highest"])
            bid = {"status": "accepted" if fits else "rejected"}
            self.bids[b["bid_id"]] = bid
            if fits:
                assert a is not None
                a["highest"] = b["amount"]
                a["bids"].append(
                    {"bid_id": b["bid_id"], "auction_id": b["auction_id"], "amount": b["amount"]}
                )
        if bid["status"] == "accepted":
            return "ok", 200, {"bid_id": b["bid_id"], "status": "accepted"}
        return "fail", 409, {"bid_id": b["bid_id"], "status": "rejected"}


def _setup(draw: st.DrawFn, kn: Knobs, f: str, body: dict[str, Any]) -> list[Op]:
    """A set-up step as the runner sends it: retried until ok (sometimes a lost
    attempt first, which may or may not have taken effect)."""
    ops = []
    t = float(draw(st.integers(0, 5)))
    if kn.chaos and draw(st.integers(0, 9)) == 9:
        how = LOST[draw(st.integers(0, 6))]
        op = Op(
            process=0,
            f=f,
            body=dict(body),
            phase="setup",
            t_invoke=t,
            t_done=t + (TIMEOUT_MS if how.timeout else 20),
        )
        op.complete("info", how.status, how.body, how.error)
        if draw(st.booleans()):
            op.points = [t + 10]
        op.note = f"lost ({how.error})"
        ops.append(op)
        t = _end(op) + 200
    op = Op(
        process=0,
        f=f,
        body=dict(body),
        phase="setup",
        t_invoke=t,
        t_done=t + draw(st.integers(1, 50)),
        note="answered",
    )
    op.points = [op.t_invoke + 0.5]
    return [*ops, op]


@st.composite
def auction_runs(draw: st.DrawFn, chaos: int | None = None) -> Run:
    kn = draw(knobs(chaos))
    users = [_id("user", i) for i in range(3)]
    auctions = [_id("auction", i) for i in range(draw(st.integers(1, 2)))]
    sellers = {a: draw(st.sampled_from(users)) for a in auctions}
    effects: list[Fx] = []
    draft = Draft(workload="auction", replicas=kn.replicas, effects=effects)
    setup = [
        op
        for a in auctions
        for op in _setup(draw, kn, "open_auction", {"auction_id": a, "seller": sellers[a]})
    ]
    logicals = []
    for i in range(draw(st.integers(1, 10))):
        body = {
            "bid_id": _id("bid", i),
            "auction_id": draw(st.sampled_from(auctions)),
            "bidder": draw(st.sampled_from(users)),
            "amount": draw(st.integers(1, 12)),
        }
        logicals.append(_logical(draw, kn, "bid", body, 300))
    for i in range(draw(st.integers(0, 2))):
        a = draw(st.sampled_from(auctions))
        by = sellers[a] if draw(st.booleans()) else draw(st.sampled_from(users))
        body = {"close_id": _id("close", i), "auction_id": a, "by": by}
        logical = _logical(draw, kn, "close_auction", body, 300)
        logical.at = 100 + logical.at // 2  # rather late: bids come first
        logicals.append(logical)
    for _ in range(draw(st.integers(0, 4))):
        body = {"auction_id": draw(st.sampled_from(auctions))}
        logicals.append(_logical(draw, kn, "read_auction", body, 400))
    return _assemble(draw, kn, Auction(effects=effects), draft, setup, logicals)


AUCTIONS_READ = Final(slot="auctions", read="read_auction", key="auction_id")
BIDS = Requests(op="bid", id="bid_id", final=Final(slot="bids", read="read_bid", key="bid_id"))
ACCEPTED_BIDS = Accepted(requests=BIDS, key=("auction_id",))
CLOSES = Requests(op="close_auction", id="close_id")

AUCTION: dict[str, Checker] = {
    "bid_eligible": make_eligibility(
        "bid_eligible",
        actions=ACCEPTED_BIDS,
        require=(
            Prior(op="open_auction", key=("auction_id",), acknowledged=True),
            NoPrior(
                op="close_auction",
                key=("auction_id",),
                reason="auction {key} was closed ({ops}) before it was sent",
            ),
            Exceeds(field="amount"),
        ),
    ),
    "bids_increase": make_ordering(
        "bids_increase",
        items=ACCEPTED_BIDS,
        field="amount",
        order="increasing",
        readers=(
            Reader(op="read_auction", key="auction_id", value="highest"),
            Reader(op="read_auction", key="auction_id", list="bids", item="bid_id", value="amount"),
        ),
    ),
    "bid_once": make_idempotency(
        "bid_once", requests=BIDS, words=IdempotentWords(noun="bid", ok="accepted", fail="rejected")
    ),
    "only_seller_closes": make_access_control(
        "only_seller_closes",
        requests=CLOSES,
        actor="by",
        object="auction_id",
        owners=Owners(op="open_auction", object="auction_id", actor="seller"),
    ),
    "bids_listed": make_propagation(
        "bids_listed",
        source=ACCEPTED_BIDS,
        target=Listed(final=AUCTIONS_READ, id="bid_id", key="auction_id", entries="bids"),
        link="id",
        count="exactly_once",
        scope=Scope(requests=BIDS),
        words=FlowWords(noun="bid", target_noun="listing"),
    ),
}


# --- wallet ----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Wallet:
    """Accounts with an owner and a balance; a transfer is decided once (its
    outcome stored) and an accepted one is audited once by a relay."""

    audit_delay: dict[str, int]
    effects: list[Fx]
    workload: str = "wallet"
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, str] = field(default_factory=dict)
    n: int = 0

    def steps(self, f: str) -> int:
        return 1

    def step(self, op: Op, k: int, t: float, push: Push) -> Answer | None:
        b = op.body
        if op.f == "open_account":
            self.accounts.setdefault(
                b["account_id"], {"owner": b["owner"], "balance": b["balance"]}
            )
            return "ok", 200, {"account_id": b["account_id"], **self.accounts[b["account_id"]]}
        if op.f == "read_account":
            a = self.accounts.get(b["account_id"])
            if a is None:
                return "ok", 404, {"error": "no such account"}
            return "ok", 200, {"account_id": b["account_id"], **a}
        if op.f == "read_transfer":
            status = self.transfers.get(b["transfer_id"])
            if status is None:
                return "ok", 404, {"error": "no such transfer"}
            return "ok", 200, {"transfer_id": b["transfer_id"], "status": status}
        tid = b["transfer_id"]
        if tid not in self.transfers:
            source, target = self.accounts[b["from"]], self.accounts[b["to"]]
            if source["owner"] != b["actor"]:
                self.transfers[tid] = "forbidden"
            elif source["balance"] < b["amount"]:
                self.transfers[tid] = "insufficient"
            else:
                source["balance"] -= b["amount"]
                target["balance"] += b["amount"]
                self.transfers[tid] = "done"
                push(t + self.audit_delay[tid], lambda at: self._audit(dict(b), at))
        status = self.transfers[tid]
        if status == "done":
            return "ok", 200, {"transfer_id": tid, "status": "done"}
        return "fail", 403 if status == "forbidden" else 409, {"transfer_id": tid, "status": status}

    def _audit(self, body: dict[str, Any], at: float) -> None:
        self.n += 1
        self.effects.append(
            Fx(
                kind="message",
                effect_id=f"audit_{self.n:032x}",
                time=at,
                body={k: body[k] for k in ("transfer_id", "from", "to", "amount")},
                idempotency_key=f"audit-{body['transfer_id']}",
            )
        )


@st.composite
def wallet_runs(draw: st.DrawFn, chaos: int | None = None) -> Run:
    kn = draw(knobs(chaos))
    users = [_id("user", i) for i in range(3)]
    accounts = [_id("account", i) for i in range(draw(st.integers(2, 3)))]
    owners = {a: users[i] for i, a in enumerate(accounts)}
    effects: list[Fx] = []
    draft = Draft(workload="wallet", replicas=kn.replicas, effects=effects)
    setup = [
        op
        for a in accounts
        for op in _setup(
            draw,
            kn,
            "open_account",
            {"account_id": a, "owner": owners[a], "balance": draw(st.integers(0, 40))},
        )
    ]
    logicals, delays = [], {}
    for i in range(draw(st.integers(1, 8))):
        source, target = draw(st.permutations(accounts))[:2]
        actor = owners[source] if draw(st.integers(0, 3)) else draw(st.sampled_from(users))
        body = {
            "transfer_id": _id("transfer", i),
            "actor": actor,
            "from": source,
            "to": target,
            "amount": draw(st.integers(1, 30)),
        }
        logicals.append(_logical(draw, kn, "transfer", body, 300))
        delays[body["transfer_id"]] = draw(st.integers(1, 300))
    for _ in range(draw(st.integers(0, 3))):
        body = {"account_id": draw(st.sampled_from(accounts))}
        logicals.append(_logical(draw, kn, "read_account", body, 400))
    return _assemble(draw, kn, Wallet(audit_delay=delays, effects=effects), draft, setup, logicals)


TRANSFERS = Requests(
    op="transfer",
    id="transfer_id",
    final=Final(slot="transfers", read="read_transfer", key="transfer_id"),
    accepted=("done",),
)
AUDITS = Effects(kind="message", key=("transfer_id",))

# The common forms in TOML, as a design file would declare them.
WALLET_TOML = """
[[invariants]]
name = "balance"
type = "accounting"
final = { slot = "accounts", read = "read_account", key = "account_id" }
field = "balance"
initial = { op = "open_account", key = "account_id", value = "balance" }
words = { scope = "account", event = "transfer", initial = "balance", read = "account" }

[[invariants.flows]]
op = "transfer"
id = "transfer_id"
final = { slot = "transfers", read = "read_transfer", key = "transfer_id" }
accepted = "done"
scope = "from"
amount = "amount"
sign = -1
noun = "outgoing transfer"

[[invariants.flows]]
op = "transfer"
id = "transfer_id"
final = { slot = "transfers", read = "read_transfer", key = "transfer_id" }
accepted = "done"
scope = "to"
amount = "amount"
sign = 1
noun = "incoming transfer"

[[invariants]]
name = "no_overdraft"
type = "accounting"
final = { slot = "accounts", read = "read_account", key = "account_id" }
field = "balance"
initial = { op = "open_account", key = "account_id", value = "balance" }
equal = false
floor = 0

[invariants.words]
scope = "account"
event = "transfer"
initial = "balance"
read = "account"
below = "overdraw it"

[[invariants.flows]]
op = "transfer"
id = "transfer_id"
final = { slot = "transfers", read = "read_transfer", key = "transfer_id" }
accepted = "done"
scope = "from"
amount = "amount"
sign = -1

[[invariants.flows]]
op = "transfer"
id = "transfer_id"
final = { slot = "transfers", read = "read_transfer", key = "transfer_id" }
accepted = "done"
scope = "to"
amount = "amount"
sign = 1

[[invariants]]
name = "own_accounts_only"
type = "access_control"
actor = "actor"
object = "from"
owners = { op = "open_account", object = "account_id", actor = "owner" }
effects = { kind = "message", key = "transfer_id" }
words = { noun = "transfer", actor = "user", object = "account" }

[invariants.requests]
op = "transfer"
id = "transfer_id"
final = { slot = "transfers", read = "read_transfer", key = "transfer_id" }
accepted = "done"

[[invariants]]
name = "transfer_once"
type = "idempotency"
words = { noun = "transfer", fail = "refused" }

[invariants.requests]
op = "transfer"
id = "transfer_id"
final = { slot = "transfers", read = "read_transfer", key = "transfer_id" }
accepted = "done"
"""
WALLET: dict[str, Checker] = {
    **parse_invariants(tomllib.loads(WALLET_TOML)["invariants"], "wallet.toml"),
    "audited": make_propagation(
        "audited",
        source=Accepted(requests=TRANSFERS),
        target=AUDITS,
        count="exactly_once",
        carry={"amount": "amount", "from": "from", "to": "to"},
        scope=Scope(requests=TRANSFERS),
        words=FlowWords(noun="transfer", target_noun="audit message"),
    ),
    "one_audit_per_transfer": make_uniqueness(
        "one_audit_per_transfer",
        items=(AUDITS,),
        scope=Scope(requests=TRANSFERS),
        words=UniqueWords(noun="transfer", many="transfer {key} has {n} audit messages: {items}"),
    ),
}

LIBRARY_RUNS: dict[str, Callable[..., st.SearchStrategy[Run]]] = {
    "auction": auction_runs,
    "wallet": wallet_runs,
}
LIBRARY_CHECKERS: Mapping[str, Mapping[str, Checker]] = {"auction": AUCTION, "wallet": WALLET}


# --- mutations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryMutation:
    """Edits a copy of a run's draft into a violation; returns the key it is about."""

    name: str
    workload: str
    expect: tuple[str, ...]
    apply: Callable[[Draft, Run, Pick], str | None]


def _final(run: Run, slot: str, key: str) -> Any:
    """A present final record (None for a 404), or ``...`` when it was not read."""
    records = run.final.of(slot)
    return records.get(key, ...)


def _ok(d: Draft, f: str) -> list[Op]:
    return [op for op in d.select(f, phase="main") if op.outcome == "ok"]


def _failed(d: Draft, f: str) -> list[Op]:
    return [op for op in d.select(f, phase="main") if op.outcome == "fail"]


def accept_low_bid(d: Draft, run: Run, pick: Pick) -> str | None:
    """A bid rejected (answer and final read) though not above a bid acknowledged
    before it was sent is answered and read accepted."""
    acked = _ok(d, "bid")
    candidates = [
        op
        for op in _failed(d, "bid")
        if _final(run, "bids", op.key) is not ...
        and any(
            a.body["auction_id"] == op.body["auction_id"]
            and a.t_done is not None
            and a.t_done < min(o.t_invoke for o in d.attempts("bid", op.key))
            and a.body["amount"] >= op.body["amount"]
            for a in acked
        )
    ]
    if not candidates:
        return None
    op = pick(candidates)
    for attempt in d.attempts("bid", op.key):
        if attempt.outcome == "fail":
            attempt.complete("ok", 200, {"bid_id": op.key, "status": "accepted"})
    d.set_final_answer("read_bid", op.key, 200, {"bid_id": op.key, "status": "accepted"})
    return op.key


def bid_after_close(d: Draft, run: Run, pick: Pick) -> str | None:
    """A bid sent after its auction's close was acknowledged is accepted."""
    closed = {op.body["auction_id"]: op.t_done for op in _ok(d, "close_auction")}
    candidates = [
        op
        for op in _failed(d, "bid")
        if op.body["auction_id"] in closed
        and min(o.t_invoke for o in d.attempts("bid", op.key))
        > (closed[op.body["auction_id"]] or 0)
        and _final(run, "bids", op.key) is not ...
    ]
    if not candidates:
        return None
    op = pick(candidates)
    for attempt in d.attempts("bid", op.key):
        if attempt.outcome == "fail":
            attempt.complete("ok", 200, {"bid_id": op.key, "status": "accepted"})
    d.set_final_answer("read_bid", op.key, 200, {"bid_id": op.key, "status": "accepted"})
    return op.key


def highest_goes_back(d: Draft, run: Run, pick: Pick) -> str | None:
    """A replica's read of an auction shows a lower highest bid than one of its
    reads that had answered before."""
    reads = sorted(
        (
            op
            for op in d.select("read_auction", phase="main")
            if op.outcome == "ok" and op.status == 200
        ),
        key=lambda op: op.t_invoke,
    )
    candidates = [
        later
        for n, later in enumerate(reads)
        if any(
            earlier.node == later.node
            and earlier.key == later.key
            and earlier.answer["highest"] is not None
            and earlier.t_done is not None
            and earlier.t_done < later.t_invoke
            for earlier in reads[:n]
        )
    ]
    if not candidates:
        return None
    op = pick(candidates)
    highest = max(
        e.answer["highest"]
        for e in reads
        if e.node == op.node
        and e.key == op.key
        and e.answer["highest"] is not None
        and e.t_done is not None
        and e.t_done < op.t_invoke
    )
    op.answer = {**op.answer, "highest": highest - 1}
    return op.key


def bids_listed_out_of_order(d: Draft, run: Run, pick: Pick) -> str | None:
    """The final read of an auction lists its first two accepted bids swapped."""
    candidates = [
        key
        for key, record in run.final.of("auctions").items()
        if record is not None and len(record["bids"]) >= 2
    ]
    if not candidates:
        return None
    key = pick(candidates)
    record = thaw(run.final.of("auctions")[key])
    record["bids"][0], record["bids"][1] = record["bids"][1], record["bids"][0]
    d.set_final_answer("read_auction", key, 200, record)
    return key


def non_seller_closes(d: Draft, run: Run, pick: Pick) -> str | None:
    """A close by someone who is not the seller is answered closed."""
    candidates = _failed(d, "close_auction")
    if not candidates:
        return None
    op = pick(candidates)
    op.complete("ok", 200, {"close_id": op.key, "status": "closed"})
    return op.key


def flip_bid_answer(d: Draft, run: Run, pick: Pick) -> str | None:
    """A bid accepted in the final state was answered rejected."""
    candidates = [
        op
        for op in _ok(d, "bid")
        if (r := _final(run, "bids", op.key)) not in (..., None) and r["status"] == "accepted"
    ]
    if not candidates:
        return None
    op = pick(candidates)
    op.complete("fail", 409, {"bid_id": op.key, "status": "rejected"})
    return op.key


def drop_listed_bid(d: Draft, run: Run, pick: Pick) -> str | None:
    """A bid accepted in the final state is missing from its auction's final list."""
    auctions = run.final.of("auctions")
    candidates = [
        (key, bid["bid_id"])
        for key, record in auctions.items()
        if record is not None
        for bid in record["bids"]
        if (r := _final(run, "bids", bid["bid_id"])) not in (..., None)
        and r["status"] == "accepted"
    ]
    if not candidates:
        return None
    key, bid_id = pick(candidates)
    record = thaw(auctions[key])
    record["bids"] = [b for b in record["bids"] if b["bid_id"] != bid_id]
    d.set_final_answer("read_auction", key, 200, record)
    return bid_id


def _known_accounts(run: Run) -> dict[str, int]:
    """Accounts opened with every set-up attempt ok, read at the end, all of whose
    transfers were read too: their balance is exactly determined."""
    d = run.draft
    out = {}
    for a in sorted({op.key for op in d.select("open_account")}):
        setup = [op for op in d.select("open_account") if op.key == a]
        transfers = [op for op in d.select("transfer") if a in (op.body["from"], op.body["to"])]
        if (
            all(op.outcome == "ok" for op in setup)
            and _final(run, "accounts", a) not in (..., None)
            and all(_final(run, "transfers", op.key) is not ... for op in transfers)
        ):
            out[a] = int(setup[-1].body["balance"])
    return out


def miscount_balance(d: Draft, run: Run, pick: Pick) -> str | None:
    """An account's final balance is off by a few units from what its transfers make."""
    candidates = sorted(_known_accounts(run))
    if not candidates:
        return None
    a = pick(candidates)
    record = dict(run.final.of("accounts")[a])
    d.set_final_answer(
        "read_account", a, 200, {**record, "balance": record["balance"] + pick([-2, 1, 3])}
    )
    return a


def overdraw(d: Draft, run: Run, pick: Pick) -> str | None:
    """A new transfer by the owner, for more than the account holds, is accepted,
    read done, and moves the money."""
    known = _known_accounts(run)
    candidates = [(a, b) for a in sorted(known) for b in sorted(known) if a != b]
    if not candidates:
        return None
    a, b = pick(candidates)
    accounts = run.final.of("accounts")
    have = int(accounts[a]["balance"])
    tid = _id("transfer", 900)
    body = {
        "transfer_id": tid,
        "actor": accounts[a]["owner"],
        "from": a,
        "to": b,
        "amount": have + 1,
    }
    _add_write(d, "transfer", body, 200, {"transfer_id": tid, "status": "done"})
    _add_final_reads(
        d, "read_transfer", {"transfer_id": tid}, 200, {"transfer_id": tid, "status": "done"}
    )
    d.set_final_answer("read_account", a, 200, {**dict(accounts[a]), "balance": -1})
    d.set_final_answer(
        "read_account",
        b,
        200,
        {**dict(accounts[b]), "balance": int(accounts[b]["balance"]) + have + 1},
    )
    return a


def unauthorised_transfer(d: Draft, run: Run, pick: Pick) -> str | None:
    """A transfer by someone who does not own the source account is answered done."""
    candidates = [op for op in _failed(d, "transfer") if op.answer["status"] == "forbidden"]
    if not candidates:
        return None
    op = pick(candidates)
    op.complete("ok", 200, {"transfer_id": op.key, "status": "done"})
    return op.key


def duplicate_audit(d: Draft, run: Run, pick: Pick) -> str | None:
    """An audited transfer is audited a second time."""
    audits = [fx for fx in d.effects if fx.kind == "message"]
    if not audits:
        return None
    fx = pick(audits)
    d.effects.append(
        Fx(kind="message", effect_id=fresh("audit_"), body=dict(fx.body), time=fx.time)
    )
    return str(fx.body["transfer_id"])


def audit_refused(d: Draft, run: Run, pick: Pick) -> str | None:
    """A transfer refused in the final state is audited."""
    candidates = [
        op
        for op in _failed(d, "transfer")
        if (r := _final(run, "transfers", op.key)) not in (..., None) and r["status"] != "done"
    ]
    if not candidates:
        return None
    op = pick(candidates)
    body = {k: op.body[k] for k in ("transfer_id", "from", "to", "amount")}
    d.effects.append(
        Fx(kind="message", effect_id=fresh("audit_"), body=body, time=op.t_invoke + 0.01)
    )
    return op.key


def flip_transfer_answer(d: Draft, run: Run, pick: Pick) -> str | None:
    """A transfer done in the final state was answered refused."""
    candidates = [
        op
        for op in _ok(d, "transfer")
        if (r := _final(run, "transfers", op.key)) not in (..., None) and r["status"] == "done"
    ]
    if not candidates:
        return None
    op = pick(candidates)
    op.complete("fail", 409, {"transfer_id": op.key, "status": "insufficient"})
    return op.key


def _lm(name: str, workload: str, expect: Sequence[str], apply: Any) -> LibraryMutation:
    return LibraryMutation(name=name, workload=workload, expect=tuple(expect), apply=apply)


LIBRARY_MUTATIONS: tuple[LibraryMutation, ...] = (
    _lm("accept_low_bid", "auction", ("bid_eligible", "bids_increase"), accept_low_bid),
    _lm("bid_after_close", "auction", ("bid_eligible",), bid_after_close),
    _lm("highest_goes_back", "auction", ("bids_increase",), highest_goes_back),
    _lm("bids_listed_out_of_order", "auction", ("bids_increase",), bids_listed_out_of_order),
    _lm("non_seller_closes", "auction", ("only_seller_closes",), non_seller_closes),
    _lm("flip_bid_answer", "auction", ("bid_once",), flip_bid_answer),
    _lm("drop_listed_bid", "auction", ("bids_listed",), drop_listed_bid),
    _lm("miscount_balance", "wallet", ("balance",), miscount_balance),
    _lm("overdraw", "wallet", ("no_overdraft",), overdraw),
    _lm("unauthorised_transfer", "wallet", ("own_accounts_only",), unauthorised_transfer),
    _lm("duplicate_audit", "wallet", ("audited", "one_audit_per_transfer"), duplicate_audit),
    _lm("audit_refused", "wallet", ("audited",), audit_refused),
    _lm("flip_transfer_answer", "wallet", ("transfer_once",), flip_transfer_answer),
)
