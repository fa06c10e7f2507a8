"""Invariants declared in TOML: the built-ins as TOML judge as the built-ins do,
and every mistake in a table is an error naming the file, the table and the key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
from histories import (
    UNREAD,
    charge,
    final_inventory,
    final_matching,
    final_payments,
    ledgers,
    message,
    order,
    pay,
    recorder,
    set_stock,
    shipment,
    swipe,
)

from harness.history import FinalState, History, Ledgers, Recorder
from invariants import CHECKERS, Verdict
from invariants._inventory import check_acknowledged_orders
from invariants._matching import check_acknowledged_matches
from invariants._payments import check_acknowledged_payments
from invariants.library import InvalidInvariant, load_invariants, parse_invariants

BUILTINS = Path(__file__).parents[2] / "docs" / "examples" / "builtins.toml"
TOML = load_invariants(BUILTINS)
PYTHON = {
    **CHECKERS,
    "acknowledged_orders": check_acknowledged_orders,
    "acknowledged_payments": check_acknowledged_payments,
    "acknowledged_matches": check_acknowledged_matches,
}
RENAMED = {"acknowledged_orders", "acknowledged_payments", "acknowledged_matches"}


def _same(name: str, history: History, final: FinalState, led: Ledgers) -> None:
    ours: Verdict = TOML[name](history, final, led)
    theirs: Verdict = PYTHON[name](history, final, led)
    if name in RENAMED:
        ours = replace(ours, invariant=theirs.invariant)
    assert ours == theirs


def _inventory() -> tuple[History, FinalState, Ledgers]:
    rec = recorder()
    set_stock(rec, "s-1", 3)
    set_stock(rec, "s-2", 1, "info")
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 2, "fail")
    order(rec, "o-3", "s-1", 1, "info")
    order(rec, "o-4", "s-2", 1, "info")
    order(rec, "o-4", "s-2", 1, attempt=2)
    order(rec, "o-5", "s-1", 1)
    final = final_inventory(
        rec,
        stock={"s-1": 1, "s-2": UNREAD},
        orders={"o-1": "accepted", "o-2": None, "o-3": UNREAD, "o-4": "accepted", "o-5": None},
    )
    shipped = ledgers(
        shipment("o-1", "s-1", 2), shipment("o-2", "s-1", 2), shipment("o-4", "s-2", 3)
    )
    return rec.history(), final, shipped


def _oversold() -> tuple[History, FinalState, Ledgers]:
    """Orders took more than there was, and stock is left: no lag explains it."""
    rec = recorder()
    set_stock(rec, "s-1", 3)
    order(rec, "o-1", "s-1", 2)
    order(rec, "o-2", "s-1", 2)
    final = final_inventory(rec, stock={"s-1": 1}, orders={"o-1": "accepted", "o-2": "accepted"})
    return rec.history(), final, ledgers(shipment("o-1", "s-1", 2), shipment("o-2", "s-1", 2))


def _payments() -> tuple[History, FinalState, Ledgers]:
    rec = recorder()
    pay(rec, "p-1", 500)
    pay(rec, "p-2", 700, "fail")
    pay(rec, "p-3", 900, "info")
    pay(rec, "p-3", 900, charge_id="ch-x", attempt=2)
    pay(rec, "p-4", 100, "info")
    final = final_payments(
        rec, {"p-1": ("captured", "ch-p-1"), "p-2": "captured", "p-3": "pending", "p-4": UNREAD}
    )
    charges = ledgers(
        charge("p-1", 500), charge("p-1", 500, "ch-again"), charge("p-3", 90), charge("p-4", 100)
    )
    return rec.history(), final, charges


def _matching() -> tuple[History, FinalState, Ledgers]:
    rec = recorder()
    swipe(rec, "w-1", "a", "b")
    swipe(rec, "w-2", "b", "a", match_id="m-1")
    swipe(rec, "w-3", "c", "d", outcome="info")
    swipe(rec, "w-4", "d", "c", match_id="m-2")
    swipe(rec, "w-5", "e", "f")
    swipe(rec, "w-6", "f", "e")
    final = final_matching(
        rec,
        {
            "a": [("m-1", "a", "b"), ("m-9", "a", "c")],
            "b": [],
            "c": UNREAD,
            "d": UNREAD,
            "e": [],
            "f": [],
        },
    )
    sent = ledgers(message("m-1", "a", "c"), message("m-7", "e", "f"))
    return rec.history(), final, sent


@pytest.mark.parametrize(
    ("names", "run"),
    [
        (
            [
                "no_oversell",
                "stock_accounting",
                "acknowledged_orders",
                "idempotent_retry",
                "exactly_once_shipment",
            ],
            _inventory,
        ),
        (["no_oversell", "stock_accounting"], _oversold),
        (
            [
                "no_duplicate_charge",
                "charge_recorded",
                "no_unrecorded_money",
                "acknowledged_payments",
            ],
            _payments,
        ),
        (
            [
                "at_most_one_match",
                "match_eligibility",
                "mutual_right_swipes_match",
                "every_match_announced",
                "acknowledged_matches",
            ],
            _matching,
        ),
    ],
)
def test_the_builtins_declared_in_toml_judge_as_the_builtins(names: list[str], run: Any) -> None:
    history, final, led = run()
    judged = {name: PYTHON[name](history, final, led).status for name in names}
    assert "invalid" in judged.values()  # the histories hold violations to compare
    if run is _oversold:  # a definite violation, not pending
        assert not PYTHON["stock_accounting"](history, final, led).waiting
    for name in names:
        _same(name, history, final, led)


def _error(table: dict[str, Any]) -> str:
    with pytest.raises(InvalidInvariant) as caught:
        parse_invariants([table], "wallet.toml")
    return str(caught.value)


REQUESTS = {"op": "transfer", "id": "transfer_id", "final": "transfers"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"name": "x", "type": "nope"},
            "wallet.toml: invariants[0] (name 'x'): 'type' must be one of eligibility, "
            "ordering, accounting, uniqueness, idempotency, propagation, access_control "
            "(got 'nope')",
        ),
        (
            {"type": "uniqueness"},
            "wallet.toml: invariants[0]: 'name' must be a non-empty string "
            "(got nothing (the key is missing))",
        ),
        (
            {"name": "Bad-Name", "type": "uniqueness"},
            "'name' must be lowercase letters, digits and '_' (got 'Bad-Name')",
        ),
        (
            {"name": "x", "type": "idempotency", "requests": REQUESTS, "extra": 1},
            "wallet.toml: invariants[0] (name 'x'): unknown key(s) 'extra'; accepted keys: "
            "name, type, requests, agree, refusals, words",
        ),
        (
            {"name": "x", "type": "idempotency", "requests": {"op": "transfer", "id": "t"}},
            "wallet.toml: invariants[0] (name 'x'): requests: 'final' must be the final read "
            "the answers must agree with",
        ),
        (
            {
                "name": "x",
                "type": "accounting",
                "flows": [{**REQUESTS, "scope": "from", "sign": 2}],
                "final": "accounts",
                "field": "balance",
            },
            "wallet.toml: invariants[0] (name 'x'): flows[0]: 'sign' must be -1 (takes from "
            "the aggregate) or 1 (adds to it) (got 2)",
        ),
        (
            {
                "name": "x",
                "type": "accounting",
                "flows": {**REQUESTS, "scope": "from"},
                "final": "accounts",
                "field": "balance",
                "equal": False,
            },
            "'floor' must be an integer when 'equal' is false",
        ),
        (
            {"name": "x", "type": "uniqueness", "items": [{"from": "ledger"}]},
            "wallet.toml: invariants[0] (name 'x'): items[0]: 'from' must be one of accepted, "
            "answered, listed, effects, mutual (got 'ledger')",
        ),
        (
            {"name": "x", "type": "uniqueness", "items": {"from": "effects", "kind": "audit"}},
            "items: 'key' must be a non-empty list of non-empty strings",
        ),
        (
            {
                "name": "x",
                "type": "eligibility",
                "actions": {"from": "answered", "op": "bid", "id": "bid_id", "key": "auction_id"},
                "require": {"prior": "open", "exceeds": "amount", "key": "auction_id"},
            },
            "require: a condition names exactly one of 'prior', 'no_prior', 'exceeds', 'bound', "
            "'before', 'past', 'newest', 'free' (got prior, exceeds)",
        ),
        (
            {
                "name": "x",
                "type": "propagation",
                "source": {"from": "effects", "kind": "audit", "key": "transfer_id"},
                "target": {"from": "effects", "kind": "audit", "key": "transfer_id"},
                "within": -1,
            },
            "'within' must be a positive number (got -1)",
        ),
        (
            {
                "name": "x",
                "type": "propagation",
                "source": {"from": "effects", "kind": "audit", "key": "transfer_id"},
                "target": {"from": "effects", "kind": "audit", "key": "transfer_id"},
                "words": {"none": "missing {nonsense}"},
            },
            "wallet.toml: invariants[0] (name 'x'): words.none 'missing {nonsense}' uses "
            "unknown field(s) ['nonsense']",
        ),
        (
            {
                "name": "x",
                "type": "access_control",
                "requests": REQUESTS,
                "actor": "actor",
                "object": "from",
                "owners": 3,
            },
            "'owners' must be \"self\", a table { op, object, actor, revoke } or a table of "
            "object -> "
            "owners (got 3)",
        ),
        (
            {
                "name": "x",
                "type": "ordering",
                "items": {"from": "accepted", **REQUESTS, "key": "auction_id"},
                "field": "amount",
                "order": "sideways",
            },
            "'order' must be one of increasing, non_decreasing (got 'sideways')",
        ),
    ],
)
def test_a_mistake_is_an_error_naming_file_table_and_key(
    table: dict[str, Any], message: str
) -> None:
    assert message in _error(table)


def test_a_name_declared_twice_is_an_error() -> None:
    table = {"name": "x", "type": "idempotency", "requests": {**REQUESTS}}
    with pytest.raises(
        InvalidInvariant, match=r"invariants\[1\] \(name 'x'\): 'name' must be unique"
    ):
        parse_invariants([table, table], "wallet.toml")


def test_a_file_that_is_not_toml_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[invariants]\nname = ", encoding="utf-8")
    with pytest.raises(InvalidInvariant, match=r"broken\.toml: cannot be read as TOML"):
        load_invariants(path)


def test_a_wallet_declared_in_toml_catches_an_unauthorised_transfer(tmp_path: Path) -> None:
    """Accounting with two flows and access control, from a file, on a small history."""
    path = tmp_path / "wallet.toml"
    path.write_text(
        """
[[invariants]]
name = "balance"
type = "accounting"
final = { slot = "accounts", read = "read_account", key = "account_id" }
field = "balance"
initial = { op = "open_account", key = "account_id", value = "balance" }
flows = [
  { op = "transfer", id = "transfer_id", scope = "from", amount = "amount", sign = -1 },
  { op = "transfer", id = "transfer_id", scope = "to", amount = "amount", sign = 1 },
]
words = { scope = "account", event = "transfer" }

[[invariants]]
name = "own_accounts_only"
type = "access_control"
requests = { op = "transfer", id = "transfer_id" }
actor = "actor"
object = "from"
owners = { op = "open_account", object = "account_id", actor = "owner" }
""",
        encoding="utf-8",
    )
    checkers = load_invariants(path)
    rec = recorder()
    rec.set_phase("setup")
    for account, owner in (("a-1", "ann"), ("a-2", "bob")):
        body = {"account_id": account, "owner": owner, "balance": 100}
        invoke = rec.invoke(0, "open_account", {"node": 0, "attempt": 1, "body": body})
        rec.complete(invoke, "ok", {"status": 200, "body": body})
    rec.set_phase("main")
    stolen = {"transfer_id": "t-1", "actor": "bob", "from": "a-1", "to": "a-2", "amount": 30}
    invoke = rec.invoke(0, "transfer", {"node": 0, "attempt": 1, "body": stolen})
    rec.complete(invoke, "ok", {"status": 200, "body": {"transfer_id": "t-1"}})
    final = FinalState(
        workload="wallet",
        values={"accounts": {"a-1": {"balance": 70}, "a-2": {"balance": 130}}},
    )
    balance = checkers["balance"](rec.history(), final, Ledgers())
    access = checkers["own_accounts_only"](rec.history(), final, Ledgers())
    assert (balance.status, balance.checked) == ("valid", 2)  # the money adds up ...
    assert access.status == "invalid"  # ... but bob moved ann's money
    assert access.evidence[0].message == (
        "request t-1: actor bob has no right to object a-1 (owned by ann), yet it was "
        "answered ok (op 2)"
    )
    assert access.evidence[0].keys == ("t-1", "bob", "a-1")


def test_no_redemption_after_a_disable_counts_only_what_a_disable_could_have_failed(
    tmp_path: Path,
) -> None:
    """``no_prior`` alone: with no acknowledged disable of a coupon, its
    redemptions could not have failed, so they are not counted as checked
    (valid with nothing examined is vacuous, never a judged PASS); a disable
    acknowledged after a redemption was sent puts that redemption at stake, and
    so does one refused but sent before it: a service that had acknowledged it
    must then have refused the redemption (a confirm and an expiry of one hold,
    which a correct service never both accepts, are judged so)."""
    path = tmp_path / "promo.toml"
    path.write_text(
        """
[[invariants]]
name = "no_redeem_after_disable"
type = "eligibility"
require = { no_prior = "disable", key = "coupon" }

[invariants.actions]
from = "accepted"
op = "redeem"
id = "redemption_id"
key = "coupon"
final = { slot = "redemptions", read = "read_redemption", key = "redemption_id" }
accepted = "redeemed"
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["no_redeem_after_disable"]

    def run(disable: Literal["ok", "fail"] | None, *, first: bool = False) -> Verdict:
        rec = recorder()
        rec.set_phase("main")

        def send_disable() -> None:
            if disable is not None:
                request = {"node": 0, "attempt": 1, "body": {"coupon": "c-1"}}
                sent = rec.invoke(1, "disable", request)
                rec.complete(sent, disable, {"status": 200, "body": {"coupon": "c-1"}})

        if first:
            send_disable()
        body = {"redemption_id": "r-1", "coupon": "c-1", "user": "u-1"}
        invoke = rec.invoke(0, "redeem", {"node": 0, "attempt": 1, "body": body})
        rec.complete(invoke, "ok", {"status": 200, "body": {**body, "status": "redeemed"}})
        if not first:
            send_disable()
        final = FinalState(
            workload="promo",
            values={"redemptions": {"r-1": {**body, "status": "redeemed"}}},
        )
        return check(rec.history(), final, Ledgers())

    assert (run(None).status, run(None).vacuous) == ("valid", True)
    assert (run("fail").status, run("fail").vacuous) == ("valid", True)
    judged = run("ok")  # acknowledged, but after the redemption was sent
    assert (judged.status, judged.checked) == ("valid", 1)
    refused_first = run("fail", first=True)
    assert (refused_first.status, refused_first.checked) == ("valid", 1)
    assert run("ok", first=True).status == "invalid"


def test_an_ordering_counts_a_key_only_with_two_values_to_compare(tmp_path: Path) -> None:
    """One accepted entry, or a listing of one, cannot be out of order: such a
    journal is not counted as checked (valid with nothing examined is vacuous,
    never a judged PASS); a second entry, or a listing of two, is judged."""
    path = tmp_path / "journal.toml"
    path.write_text(
        """
[[invariants]]
name = "entries_in_order"
type = "ordering"
field = "rev"
readers = [{ op = "read_doc", key = "doc", list = "entries", item = "entry_id", value = "rev" }]

[invariants.items]
from = "accepted"
op = "append"
id = "entry_id"
key = "doc"
final = { slot = "entries", read = "read_entry", key = "entry_id" }
accepted = "accepted"
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["entries_in_order"]

    def run(revs: list[int], listed: int) -> Verdict:
        rec = recorder()
        rec.set_phase("main")
        entries: dict[str, Any] = {}
        for n, rev in enumerate(revs):
            body = {"entry_id": f"e-{n}", "doc": "d-1", "rev": rev}
            invoke = rec.invoke(0, "append", {"node": 0, "attempt": 1, "body": body})
            entries[f"e-{n}"] = {**body, "status": "accepted"}
            rec.complete(invoke, "ok", {"status": 200, "body": entries[f"e-{n}"]})
        shown = [{"entry_id": f"e-{n}", "rev": revs[n]} for n in range(listed)]
        invoke = rec.invoke(0, "read_doc", {"node": 0, "attempt": 1, "body": {"doc": "d-1"}})
        rec.complete(invoke, "ok", {"status": 200, "body": {"doc": "d-1", "entries": shown}})
        final = FinalState(workload="j", values={"entries": entries})
        return check(rec.history(), final, Ledgers())

    assert (run([3], 1).status, run([3], 1).vacuous) == ("valid", True)
    assert (run([], 0).status, run([], 0).vacuous) == ("valid", True)
    assert (run([3, 5], 2).status, run([3, 5], 2).checked) == ("valid", 1)
    assert run([5, 3], 1).status == "invalid"  # decided 5, then sent and accepted 3
    listed_only = run([3, 5], 0)  # two entries, no listing: still two to compare
    assert (listed_only.status, listed_only.checked) == ("valid", 1)


def test_an_ordering_by_a_value_the_service_assigns_reads_it_from_the_record(
    tmp_path: Path,
) -> None:
    """A sequence number the service gives each entry is in no request body: it is
    read from the entry's final record, else its ok answer. An entry sent after
    another was acknowledged must get a higher one."""
    path = tmp_path / "journal.toml"
    path.write_text(
        """
[[invariants]]
name = "by_record"
type = "ordering"
field = "seq"
items = { from = "accepted", op = "append", id = "entry_id", key = "doc", final = "entries" }

[[invariants]]
name = "by_answer"
type = "ordering"
field = "seq"
items = { from = "accepted", op = "append", id = "entry_id", key = "doc" }
""",
        encoding="utf-8",
    )
    checkers = load_invariants(path)

    def run(name: str, seqs: list[int]) -> Verdict:
        """Entries appended one after the other, each acknowledged before the next
        is sent; ``by_record`` finds their numbers only in the final records."""
        rec = recorder()
        rec.set_phase("main")
        records: dict[str, Any] = {}
        for n, seq in enumerate(seqs):
            body = {"entry_id": f"e-{n}", "doc": "d-1"}
            invoke = rec.invoke(0, "append", {"node": 0, "attempt": 1, "body": body})
            records[f"e-{n}"] = {**body, "status": "accepted", "seq": seq}
            said = {**body, "status": "accepted"} if name == "by_record" else records[f"e-{n}"]
            rec.complete(invoke, "ok", {"status": 200, "body": said})
        final = FinalState(workload="j", values={"entries": records})
        return checkers[name](rec.history(), final, Ledgers())

    for name in ("by_record", "by_answer"):
        in_order = run(name, [1, 2])
        assert (in_order.status, in_order.checked) == ("valid", 1), name
        backwards = run(name, [2, 1])
        assert backwards.status == "invalid", name
        assert "e-1 of d-1 (seq 1) was accepted after item e-0 (seq 2" in backwards.summary


def test_access_with_revoke_judges_each_request_at_its_time(tmp_path: Path) -> None:
    """With ``revoke``, a right ends once a revocation is acknowledged and comes
    back with a new grant; a request sent after the revocation was acknowledged
    is without the right, one that raced it is not judged, and one decided
    before any grant was sent never had it."""
    path = tmp_path / "journal.toml"
    path.write_text(
        """
[[invariants]]
name = "members_only"
type = "access_control"
requests = { op = "append", id = "entry_id" }
actor = "member"
object = "doc"
owners = { op = "grant", object = "doc", actor = "member", revoke = "revoke" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["members_only"]
    member = {"doc": "d-1", "member": "ann"}

    def run(*steps: tuple[str, str]) -> Verdict:
        """``(op, how)`` in turn: ``done`` (answered before the next is sent),
        ``open`` (answered after the next one), ``lost`` (indeterminate)."""
        rec = recorder()
        rec.set_phase("main")
        waiting = None
        for n, (f, how) in enumerate(steps):
            body = {**member, {"append": "entry_id"}.get(f, f"{f}_id"): f"{f}-{n}"}
            invoke = rec.invoke(n, f, {"node": 0, "attempt": 1, "body": body})
            if waiting is not None:
                rec.complete(waiting, "ok", {"status": 200, "body": {}})
                waiting = None
            if how == "done":
                rec.complete(invoke, "ok", {"status": 200, "body": {}})
            elif how == "lost":
                rec.complete(invoke, "info", {"status": None, "body": None}, error="timeout")
            else:
                waiting = invoke
        if waiting is not None:
            rec.complete(waiting, "ok", {"status": 200, "body": {}})
        return check(rec.history(), FinalState(workload="j"), Ledgers())

    allowed = run(("grant", "done"), ("append", "done"))
    assert (allowed.status, allowed.checked) == ("valid", 0)
    revoked = run(("grant", "done"), ("revoke", "done"), ("append", "done"))
    assert revoked.status == "invalid"
    assert "actor ann has no right to object d-1 (revoked (op 1) before it was sent)" in (
        revoked.summary
    )
    regranted = run(("grant", "done"), ("revoke", "done"), ("grant", "done"), ("append", "done"))
    assert (regranted.status, regranted.checked) == ("valid", 0)
    raced = run(("grant", "done"), ("revoke", "open"), ("append", "done"))
    assert (raced.status, raced.checked) == ("valid", 0)
    early = run(("append", "done"), ("grant", "done"))
    assert early.status == "invalid" and "it was not granted before" in early.summary
    lost_grant = run(("grant", "lost"), ("revoke", "done"), ("append", "done"))
    assert lost_grant.status == "unknown"  # the grant may have landed after the revocation


def test_uniqueness_at_most_n_per_key_counts_distinct_ids_on_a_two_field_key(
    tmp_path: Path,
) -> None:
    """``at_most = 2`` on (coupon, user): a third distinct redemption of one user
    is a violation naming the limit; two are fine; a resend is not another."""
    path = tmp_path / "promo.toml"
    table = """
[[invariants]]
name = "two_per_user"
type = "uniqueness"
items = {{ from = "answered", op = "redeem", id = "redemption_id", key = ["coupon", "user"] }}
at_most = {at_most}
words = {{ many = "{{key}} redeemed {{n}} times, at most {{most}}: {{items}}" }}
"""
    path.write_text(table.format(at_most=2), encoding="utf-8")
    check = load_invariants(path)["two_per_user"]

    def run(*ids: str) -> Verdict:
        rec = recorder()
        rec.set_phase("main")
        for rid in ids:
            body = {"redemption_id": rid, "coupon": "c-1", "user": "u-1"}
            invoke = rec.invoke(0, "redeem", {"node": 0, "attempt": 1, "body": body})
            rec.complete(invoke, "ok", {"status": 200, "body": body})
        return check(rec.history(), FinalState(workload="promo", values={}), Ledgers())

    assert run("r-1", "r-2", "r-2").status == "valid"
    over = run("r-1", "r-2", "r-3")
    assert over.status == "invalid"
    assert over.evidence[0].message == "c-1 and u-1 redeemed 3 times, at most 2: r-1, r-2 and r-3"
    path.write_text(table.format(at_most=0), encoding="utf-8")
    with pytest.raises(InvalidInvariant, match=r"'at_most' must be an integer of at least 1"):
        load_invariants(path)


def test_before_a_deadline_judges_when_an_action_was_sent_against_its_keys_deadline(
    tmp_path: Path,
) -> None:
    """``before``: the deadline the set-up op fixed ``expires_in_ms`` after it
    arrived (at the latest its answer, 0.51 s here). A confirm sent at 0.7 s is
    190 ms late; one sent within epsilon of it, or before, is on time; a hold no
    op set a deadline for is not judged by it."""
    path = tmp_path / "holds.toml"
    path.write_text(
        """
[[invariants]]
name = "confirmed_in_time"
type = "eligibility"
require = { before = "place_hold", key = "hold_id", after = "expires_in_ms" }

[invariants.actions]
from = "accepted"
op = "confirm"
id = "hold_id"
key = "hold_id"
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["confirmed_in_time"]

    def run(hold: str, sent_s: float) -> Verdict:
        now = [0.0]
        rec = Recorder(clock=lambda: now[0])
        rec.set_phase("setup")
        body = {"hold_id": "h-1", "expires_in_ms": 500}
        invoke = rec.invoke(0, "place_hold", {"node": 0, "attempt": 1, "body": body})
        now[0] = 0.01
        rec.complete(invoke, "ok", {"status": 200, "body": {"hold_id": "h-1"}})
        rec.set_phase("main")
        now[0] = sent_s
        invoke = rec.invoke(0, "confirm", {"node": 0, "attempt": 1, "body": {"hold_id": hold}})
        now[0] = sent_s + 0.01
        rec.complete(invoke, "ok", {"status": 200, "body": {"hold_id": hold}})
        return check(rec.history(), FinalState(workload="holds", values={}), Ledgers())

    assert (run("h-1", 0.3).status, run("h-1", 0.3).checked) == ("valid", 1)
    assert run("h-1", 0.55).status == "valid"  # 40 ms past the latest moment: within epsilon
    late = run("h-1", 0.7)
    assert late.status == "invalid"
    assert "first sent 190 ms after the deadline of h-1" in late.evidence[0].message
    assert "set 500 ms after it arrived (epsilon 50 ms)" in late.evidence[0].message
    assert run("h-2", 0.7).vacuous


def test_a_deadline_condition_needs_its_fields_and_a_non_negative_epsilon() -> None:
    table = {
        "name": "x",
        "type": "eligibility",
        "actions": {"from": "accepted", "op": "confirm", "id": "hold_id", "key": "hold_id"},
        "require": {"before": "place_hold", "key": "hold_id", "epsilon_ms": -1, "after": "ms"},
    }
    assert "'epsilon_ms' must be a number of ms, 0 or more (got -1" in _error(table)
    del table["require"]["after"]  # type: ignore[attr-defined]
    table["require"]["epsilon_ms"] = 5  # type: ignore[index]
    assert "'after' must be a non-empty string" in _error(table)


def test_a_key_field_named_key_does_not_clash_with_the_reasons_placeholders(
    tmp_path: Path,
) -> None:
    """kv's key field is ``key``: a ``no_prior`` on it names the key in its reason
    (a clash of keyword arguments used to crash the checker into ``unknown``)."""
    path = tmp_path / "kv.toml"
    path.write_text(
        """
[[invariants]]
name = "no_put_after_freeze"
type = "eligibility"
require = { no_prior = "freeze", key = "key" }
actions = { from = "accepted", op = "put", id = "put_id", key = "key" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["no_put_after_freeze"]
    rec = recorder()
    rec.set_phase("main")
    frozen = rec.invoke(0, "freeze", {"node": 0, "attempt": 1, "body": {"key": "k-1"}})
    rec.complete(frozen, "ok", {"status": 200, "body": {}})
    body = {"put_id": "p-1", "key": "k-1"}
    put = rec.invoke(0, "put", {"node": 0, "attempt": 1, "body": body})
    rec.complete(put, "ok", {"status": 200, "body": body})
    verdict = check(rec.history(), FinalState(workload="kv", values={}), Ledgers())
    assert verdict.status == "invalid"
    assert "freeze on k-1 was acknowledged (op 0)" in verdict.evidence[0].message


def test_each_condition_of_a_rule_is_counted_apart_so_a_prior_cannot_hide_a_vacuous_one(
    tmp_path: Path,
) -> None:
    """A ``prior`` always puts a confirm at stake, so the rule counts it checked
    even when no expiry was ever asked for; ``parts`` counts each condition on
    its own (labels as the design writes them, ``where`` included), so the row
    can tell that "no confirm after an expiry" was never judged."""
    path = tmp_path / "holds.toml"
    path.write_text(
        """
[[invariants]]
name = "no_confirm_after_expiry"
type = "eligibility"
actions = { from = "accepted", op = "confirm", id = "hold_id", key = "hold_id" }
require = [
  { prior = "place_hold", key = "hold_id", acknowledged = true },
  { no_prior = "expire", key = "hold_id" },
  { no_prior = "release", key = "hold_id", where = { why = "user" } },
]

[[invariants]]
name = "only_after_expiry"
type = "eligibility"
actions = { from = "accepted", op = "confirm", id = "hold_id", key = "hold_id" }
require = { no_prior = "expire", key = "hold_id" }
""",
        encoding="utf-8",
    )
    loaded = load_invariants(path)

    def run(*, expire_first: bool) -> tuple[Verdict, Verdict]:
        rec = recorder()
        rec.set_phase("main")
        ops = [("place_hold", "ok"), ("expire", "fail"), ("confirm", "ok")]
        for f, outcome in ops if expire_first else [ops[0], ops[2]]:
            sent = rec.invoke(0, f, {"node": 0, "attempt": 1, "body": {"hold_id": "h-1"}})
            rec.complete(sent, outcome, {"status": 200, "body": {"hold_id": "h-1"}})
        history = rec.history()
        final = FinalState(workload="holds", values={})
        return (
            loaded["no_confirm_after_expiry"](history, final, Ledgers()),
            loaded["only_after_expiry"](history, final, Ledgers()),
        )

    rule, alone = run(expire_first=False)
    assert (rule.status, rule.checked) == ("valid", 1)  # the prior judged the confirm
    assert rule.parts == (
        ("prior place_hold", 1),
        ("no_prior expire", 0),
        ("no_prior release (why=user)", 0),
    )
    assert alone.parts == ()  # one condition: the verdict's own count says it
    rule, _ = run(expire_first=True)  # an expiry asked for first, refused
    assert dict(rule.parts)["no_prior expire"] == 1


def test_a_refusal_as_expired_is_judged_against_the_earliest_its_deadline_could_pass(
    tmp_path: Path,
) -> None:
    """``from = "refused"`` with ``past``: the hold's deadline falls 500 ms after
    it arrived, so not before 0.5 s (the place was sent at 0). A confirm refused
    as expired by an answer at 0.3 s was refused 200 ms early; at 0.46 s within
    epsilon; at 0.6 s rightly. A refusal for another reason is not an action,
    nor a confirm accepted on a resend."""
    path = tmp_path / "holds.toml"
    path.write_text(
        """
[[invariants]]
name = "live_until_deadline"
type = "eligibility"
actions = { from = "refused", op = "confirm", id = "hold_id", when = { reason = "expired" } }
require = { past = "place_hold", key = "hold_id", after = "expires_in_ms" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["live_until_deadline"]

    def run(answered_s: float, reason: str = "expired", *, resent: bool = False) -> Verdict:
        now = [0.0]
        rec = Recorder(clock=lambda: now[0])
        rec.set_phase("setup")
        body = {"hold_id": "h-1", "expires_in_ms": 500}
        invoke = rec.invoke(0, "place_hold", {"node": 0, "attempt": 1, "body": body})
        now[0] = 0.01
        rec.complete(invoke, "ok", {"status": 200, "body": {"hold_id": "h-1"}})
        rec.set_phase("main")
        now[0] = answered_s - 0.01
        confirm = {"node": 0, "attempt": 1, "body": {"hold_id": "h-1"}}
        invoke = rec.invoke(0, "confirm", confirm)
        now[0] = answered_s
        refusal = {"hold_id": "h-1", "status": "refused", "reason": reason}
        rec.complete(invoke, "fail", {"status": 409, "body": refusal})
        if resent:
            invoke = rec.invoke(0, "confirm", {**confirm, "attempt": 2})
            rec.complete(invoke, "ok", {"status": 200, "body": {"hold_id": "h-1"}})
        return check(rec.history(), FinalState(workload="holds", values={}), Ledgers())

    early = run(0.3)
    assert early.status == "invalid"
    assert early.evidence[0].message == (
        "action h-1 of h-1 is not eligible: it was decided 200 ms before the deadline of h-1 "
        "could have passed, which place_hold (op 0) set 500 ms after it arrived (epsilon 50 ms)"
    )
    assert early.evidence[0].op_ids[:1] == (1,)  # the refused confirm
    assert (run(0.46).status, run(0.46).checked) == ("valid", 1)  # within epsilon
    assert (run(0.6).status, run(0.6).checked) == ("valid", 1)
    assert run(0.3, "sold_out").vacuous  # refused, but not as expired
    assert run(0.3, resent=True).vacuous  # accepted after all: not a refusal


def test_a_write_is_fenced_by_the_newest_token_answered_before_it_was_sent(
    tmp_path: Path,
) -> None:
    """``newest``: a grant answered token 2 at 0.2 s. A write with token 1
    sent at 0.3 s and accepted is stale; one sent at 0.1 s (before the grant
    was answered) is not held against it; token 2 is current. A grant on
    another lock, refused grants and an indeterminate one do not count; with
    no grant answered before it the write has nothing to be judged by. A
    write refused with a stale token counts as judged: the rule held."""
    path = tmp_path / "leases.toml"
    path.write_text(
        """
[[invariants]]
name = "writes_fenced"
type = "eligibility"
actions = { from = "accepted", op = "write", id = "write_id", key = "lock" }
require = { newest = "acquire", key = "lock", field = "token" }
words = { noun = "write" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["writes_fenced"]

    def run(
        token: int, sent_s: float, lock: str = "l-1", refused: tuple[int, ...] = ()
    ) -> Verdict:
        now = [0.0]
        rec = Recorder(clock=lambda: now[0])
        for n, (outcome, got, at) in enumerate(
            (("ok", 1, 0.05), ("ok", 2, 0.2), ("fail", 3, 0.25), ("info", 4, 0.25))
        ):
            now[0] = at - 0.01
            body = {"acquire_id": f"a-{n}", "lock": lock, "holder": "h"}
            invoke = rec.invoke(0, "acquire", {"node": 0, "attempt": 1, "body": body})
            now[0] = at
            rec.complete(invoke, outcome, {"status": 200, "body": {**body, "token": got}})
        now[0] = sent_s
        body = {"write_id": "w-1", "lock": "l-1", "token": token}
        invoke = rec.invoke(1, "write", {"node": 0, "attempt": 1, "body": body})
        now[0] = sent_s + 0.01
        rec.complete(invoke, "ok", {"status": 200, "body": {**body, "status": "accepted"}})
        now[0] = 0.3
        for n, stale in enumerate(refused):
            body = {"write_id": f"w-r{n}", "lock": "l-1", "token": stale}
            invoke = rec.invoke(1, "write", {"node": 0, "attempt": 1, "body": body})
            answer = {"write_id": f"w-r{n}", "status": "stale_token"}
            rec.complete(invoke, "fail", {"status": 409, "body": answer})
        return check(rec.history(), FinalState(workload="leases", values={}), Ledgers())

    stale = run(1, 0.3)
    assert stale.status == "invalid"
    assert stale.evidence[0].message == (
        "write w-1 of l-1 is not eligible: its token 1 is below token 2 that acquire "
        "answered (op 1) before it was sent"
    )
    assert (run(2, 0.3).status, run(2, 0.3).checked) == ("valid", 1)
    assert (run(1, 0.1).status, run(1, 0.1).checked) == ("valid", 1)  # only token 1 was known
    assert run(1, 0.01).vacuous  # sent before any grant was answered
    assert run(1, 0.3, lock="l-2").vacuous  # the grants were of another lock
    assert run(3, 0.3).status == "valid"  # the refused grant's token counts for nothing
    # A stale write refused was put to the rule, and held: checked, as an
    # accepted one is; one refused with the newest token was not.
    assert (run(1, 0.01, refused=(1, 2)).status, run(1, 0.01, refused=(1, 2)).checked) == (
        "valid", 1
    )
    assert run(1, 0.01, refused=(2, 3)).vacuous


Timed = tuple[str, dict[str, Any], float, float, Literal["ok", "fail", "info"]]


def _timed(ops: list[Timed]) -> History:
    """A history of ``(f, body, sent, answered, outcome)`` operations, their
    events in time order (an indeterminate one ends with a timeout)."""
    now = [0.0]
    rec = Recorder(clock=lambda: now[0])
    events = sorted(
        [(sent, 0, n) for n, (_, _, sent, _, _) in enumerate(ops)]
        + [(answered, 1, n) for n, (_, _, _, answered, _) in enumerate(ops)]
    )
    invokes = {}
    for at, end, n in events:
        f, body, _, _, outcome = ops[n]
        now[0] = at
        if not end:
            invokes[n] = rec.invoke(n, f, {"node": 0, "attempt": 1, "body": body})
        elif outcome == "info":
            rec.complete(invokes[n], "info", {"status": None, "body": None}, error="timeout")
        else:
            status = {"ok": "granted", "fail": "held"}[outcome]
            answer = {"status": 200 if outcome == "ok" else 409, "body": {**body, "status": status}}
            rec.complete(invokes[n], outcome, answer)
    return rec.history()


def test_free_finds_a_grant_while_another_holder_surely_held_the_lock(tmp_path: Path) -> None:
    """``free``: alice was granted l-1 for 1000 ms (sent at 0, answered at
    0.05 s). A grant to bob decided by 0.35 s came while alice surely held it;
    one decided after her lease could have ended, or after she may have
    released it, or shortened it by a renew, did not. A renew answered ok
    extends what is sure; an answer replayed to a resend dates from the first
    sending. A grant to bob refused while she held it was judged; the same
    holder again, or a grant long after, had nothing to be judged by."""
    path = tmp_path / "leases.toml"
    path.write_text(
        """
[[invariants]]
name = "one_holder"
type = "eligibility"
actions = { from = "accepted", op = "acquire", id = "acquire_id", key = "lock" }
require = { free = ["acquire", "seed"], key = "lock", holder = "holder", after = "ttl_ms", \
renew = "renew", release = "release" }
words = { noun = "grant" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["one_holder"]
    alice: Timed = ("acquire", _lease("a-1", "alice", 1000), 0.0, 0.05, "ok")

    def run(*ops: Timed, first: Timed = alice) -> Verdict:
        history = _timed([first, *ops])
        return check(history, FinalState(workload="leases", values={}), Ledgers())

    def bob(sent: float, answered: float, outcome: Any = "ok", holder: str = "bob") -> Timed:
        return ("acquire", _lease("a-2", holder, 1000), sent, answered, outcome)

    def by_alice(f: str, sent: float, answered: float, outcome: Any, ttl: int = 0) -> Timed:
        body = {f"{f}_id": f"{f}-1", "lock": "l-1", "holder": "alice"}
        return (f, {**body, "ttl_ms": ttl} if ttl else body, sent, answered, outcome)

    twice = run(bob(0.3, 0.35))
    assert twice.status == "invalid"
    assert twice.evidence[0].message == (
        "grant a-2 of l-1 is not eligible: it was decided while alice held l-1: acquire "
        "(op 0) gave alice a lease of 1000 ms that surely had 650 ms left (epsilon 50 ms)"
    )
    seeded: Timed = ("seed", _lease("s-1", "seeder", 1000), 0, 0.05, "ok")
    assert run(bob(0.3, 0.35), first=seeded).status == "invalid"
    assert (run(bob(1.0, 1.02)).status, run(bob(1.0, 1.02)).checked) == ("valid", 1)
    assert run(bob(0.9, 0.96)).status == "valid"  # 40 ms left: within epsilon
    assert run(bob(0.3, 2.0)).status == "valid"  # may have been decided after it expired
    # Granted together: whichever came first, the other was granted while it
    # was live -- unless bob's own lease was short enough to end before alice's
    # grant may have been decided.
    assert run(bob(0.01, 0.06)).status == "invalid"
    short: Timed = ("acquire", _lease("a-2", "bob", 20), 0.01, 0.06, "ok")
    assert run(short).status == "valid"
    assert run(bob(1.2, 1.25)).vacuous  # long after: the lock was surely free again
    assert run(bob(0.3, 0.35, holder="alice")).vacuous  # her own lock again
    # A release she sent before bob's grant was decided may have freed it,
    # answered or not; one refused, or sent after, did not.
    assert run(by_alice("release", 0.2, 0.25, "ok"), bob(0.3, 0.35)).status == "valid"
    assert run(by_alice("release", 0.2, 0.25, "info"), bob(0.3, 0.35)).status == "valid"
    assert run(by_alice("release", 0.2, 0.25, "fail"), bob(0.3, 0.35)).status == "invalid"
    assert run(by_alice("release", 0.5, 0.55, "ok"), bob(0.3, 0.35)).status == "invalid"
    # A renew answered ok holds the lease 2000 ms from its sending; a renew
    # of 100 ms may have cut the first lease short.
    assert run(by_alice("renew", 0.4, 0.45, "ok", 2000), bob(1.5, 1.55)).status == "invalid"
    assert run(by_alice("renew", 0.1, 0.15, "ok", 100), bob(0.3, 0.35)).status == "valid"
    # Her grant's first sending was lost; the resend's answer was the stored
    # one, decided at the first sending: sure only until 1.0 s.
    lost: Timed = ("acquire", _lease("a-1", "alice", 1000), 0.0, 0.5, "info")
    resent: Timed = ("acquire", _lease("a-1", "alice", 1000), 0.6, 0.62, "ok")
    assert run(resent, bob(1.1, 1.15), first=lost).status == "valid"
    assert run(resent, bob(0.7, 0.75), first=lost).status == "invalid"
    assert run(resent, bob(1.1, 1.15)).status == "valid"  # resent though answered
    # Refused while she held it: the rule was put to the service, and held.
    refused = run(bob(0.3, 0.35, "fail"))
    assert (refused.status, refused.checked) == ("valid", 1)


def _lease(acquire_id: str, holder: str, ttl_ms: int) -> dict[str, Any]:
    return {"acquire_id": acquire_id, "lock": "l-1", "holder": holder, "ttl_ms": ttl_ms}


def test_free_needs_its_fields() -> None:
    table = {
        "name": "x",
        "type": "eligibility",
        "actions": {"from": "accepted", "op": "acquire", "id": "acquire_id", "key": "lock"},
        "require": {"free": "acquire", "key": "lock", "after": "ttl_ms"},
    }
    assert "'holder' must be a non-empty string (got nothing" in _error(table)
    table["require"] = {**table["require"], "holder": "holder", "epsilon_ms": -1}
    assert "'epsilon_ms' must be a number of ms, 0 or more (got -1.0)" in _error(table)
    table["require"] = {**table["require"], "epsilon_ms": 10, "renews": "renew"}
    assert "unknown key(s) 'renews'" in _error(table)


def test_newest_may_name_several_grant_ops(tmp_path: Path) -> None:
    """A set-up grant and a main-phase grant both fence a write: the newest
    token either answered counts, and the sentence names the op that gave it."""
    path = tmp_path / "leases.toml"
    path.write_text(
        """
[[invariants]]
name = "fenced"
type = "eligibility"
actions = { from = "accepted", op = "write", id = "write_id", key = "lock" }
require = { newest = ["acquire", "seed"], key = "lock", field = "token" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["fenced"]

    def run(token: int) -> Verdict:
        ops: list[Timed] = [
            ("seed", {"acquire_id": "s-1", "lock": "l-1", "token": 5}, 0.0, 0.05, "ok"),
            ("acquire", {"acquire_id": "a-1", "lock": "l-1", "token": 3}, 0.1, 0.15, "ok"),
            ("write", {"write_id": "w-1", "lock": "l-1", "token": token}, 0.2, 0.25, "ok"),
        ]
        return check(_timed(ops), FinalState(workload="leases", values={}), Ledgers())

    stale = run(4)
    assert stale.status == "invalid"
    assert "its token 4 is below token 5 that seed answered (op 0)" in stale.evidence[0].message
    assert (run(5).status, run(5).checked) == ("valid", 1)


def test_an_ordering_may_span_the_items_of_several_ops(tmp_path: Path) -> None:
    """A set-up grant's token and the main phase's grants' tokens in one order:
    a grant after the seeded one must have a larger token."""
    path = tmp_path / "tokens.toml"
    path.write_text(
        """
[[invariants]]
name = "tokens_increase"
type = "ordering"
items = [
  { from = "accepted", op = "seed", id = "acquire_id", key = "lock" },
  { from = "accepted", op = "acquire", id = "acquire_id", key = "lock" },
]
field = "token"
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["tokens_increase"]

    def run(token: int) -> Verdict:
        ops: list[Timed] = [
            ("seed", {"acquire_id": "s-1", "lock": "l-1", "token": 5}, 0.0, 0.05, "ok"),
            ("acquire", {"acquire_id": "a-1", "lock": "l-1", "token": token}, 0.1, 0.15, "ok"),
        ]
        return check(_timed(ops), FinalState(workload="leases", values={}), Ledgers())

    assert run(3).status == "invalid"
    assert (run(6).status, run(6).checked) == ("valid", 1)
    with pytest.raises(InvalidInvariant, match="'items' must be a table with from = 'accepted'"):
        parse_invariants(
            [{"name": "x", "type": "ordering", "field": "token",
              "items": [{"from": "effects", "kind": "charge", "key": "lock"}]}],
            "tokens.toml",
        )


def test_a_refusal_as_frozen_needs_a_freeze_that_may_have_happened_before_it(
    tmp_path: Path,
) -> None:
    """``from = "refused"`` with ``prior``: a transfer refused as frozen is
    justified by a freeze of its account sent before the refusal came back,
    acknowledged or not; with none, the account was refused while open."""
    path = tmp_path / "wallet.toml"
    path.write_text(
        """
[[invariants]]
name = "frozen_only_when_frozen"
type = "eligibility"
require = { prior = "freeze", key = "account_id" }

[invariants.actions]
from = "refused"
op = "transfer"
id = "transfer_id"
key = "from"
when = { reason = "frozen" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["frozen_only_when_frozen"]

    def run(freeze: Literal["ok", "info"] | None) -> Verdict:
        rec = recorder()
        rec.set_phase("main")
        if freeze is not None:
            sent = rec.invoke(1, "freeze", {"node": 0, "attempt": 1, "body": {"account_id": "a"}})
            if freeze == "ok":
                rec.complete(sent, "ok", {"status": 200, "body": {"account_id": "a"}})
        body = {"transfer_id": "t-1", "from": "a", "to": "b", "amount": 5}
        invoke = rec.invoke(0, "transfer", {"node": 0, "attempt": 1, "body": body})
        rec.complete(invoke, "fail", {"status": 409, "body": {"reason": "frozen"}})
        return check(rec.history(), FinalState(workload="wallet", values={}), Ledgers())

    assert run("ok").status == run("info").status == "valid"
    unjustified = run(None)
    assert unjustified.status == "invalid"
    assert "no freeze on a may have happened (no freeze)" in unjustified.evidence[0].message


def test_refused_actions_are_only_an_eligibility_source() -> None:
    table = {
        "name": "x",
        "type": "uniqueness",
        "items": {"from": "refused", "op": "confirm", "id": "hold_id"},
    }
    assert "('refused' only in an eligibility's actions)" in _error(table)


def test_a_refused_request_is_no_action_of_an_accepted_source(tmp_path: Path) -> None:
    """Only a ``Refused`` source makes refusals actions: a confirm refused as
    expired after its deadline is not judged by ``before`` as if accepted.
    It counts as checked: the rule was put to the service, and it held."""
    path = tmp_path / "holds.toml"
    path.write_text(
        """
[[invariants]]
name = "confirmed_in_time"
type = "eligibility"
actions = { from = "accepted", op = "confirm", id = "hold_id", key = "hold_id" }
require = { before = "place_hold", key = "hold_id", after = "expires_in_ms" }
""",
        encoding="utf-8",
    )
    check = load_invariants(path)["confirmed_in_time"]
    now = [0.0]
    rec = Recorder(clock=lambda: now[0])
    rec.set_phase("setup")
    body = {"hold_id": "h-1", "expires_in_ms": 100}
    invoke = rec.invoke(0, "place_hold", {"node": 0, "attempt": 1, "body": body})
    rec.complete(invoke, "ok", {"status": 200, "body": {"hold_id": "h-1"}})
    rec.set_phase("main")
    now[0] = 1.0
    invoke = rec.invoke(0, "confirm", {"node": 0, "attempt": 1, "body": {"hold_id": "h-1"}})
    rec.complete(invoke, "fail", {"status": 409, "body": {"reason": "expired"}})
    verdict = check(rec.history(), FinalState(workload="holds", values={}), Ledgers())
    assert (verdict.status, verdict.checked, verdict.evidence) == ("valid", 1, ())
    early = Recorder(clock=lambda: 0.01)  # refused before the deadline: nothing it forbids
    early.set_phase("setup")
    invoke = early.invoke(0, "place_hold", {"node": 0, "attempt": 1, "body": body})
    early.complete(invoke, "ok", {"status": 200, "body": {"hold_id": "h-1"}})
    early.set_phase("main")
    invoke = early.invoke(0, "confirm", {"node": 0, "attempt": 1, "body": {"hold_id": "h-1"}})
    early.complete(invoke, "fail", {"status": 409, "body": {"reason": "expired"}})
    assert check(early.history(), FinalState(workload="holds", values={}), Ledgers()).vacuous


def test_a_misspelt_field_in_a_conditions_sentence_is_refused_when_loaded() -> None:
    """A reason that names a field its condition does not offer would crash
    the checker when it first words a violation; it is refused at load,
    saying which fields it may use (the op's key fields by name too)."""
    table = {
        "name": "x",
        "type": "eligibility",
        "actions": {"from": "accepted", "op": "redeem", "id": "redemption_id", "key": "coupon"},
        "require": {"no_prior": "disable", "key": "coupon", "reason": "{cupon} was disabled"},
    }
    assert (
        "condition no_prior disable: reason '{cupon} was disabled' uses unknown field(s) "
        "['cupon']; it may use ['coupon', 'key', 'op', 'ops']"
    ) in _error(table)
    table["require"] = {"past": "place", "key": "coupon", "after": "ms", "reason": "{late_ms}"}
    assert "condition past place: reason '{late_ms}' uses unknown field(s)" in _error(table)
