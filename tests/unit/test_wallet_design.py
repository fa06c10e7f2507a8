"""The wallet example's design (examples/wallet/wallet.toml) loads, and its own
invariants -- declared only as [[invariants]] tables -- judge hand-written
wallet histories: a correct one valid, each bug's symptom invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from histories import recorder

from harness.design import Design, load_design
from harness.history import FinalState, Ledgers, Recorder
from invariants import check

DESIGN = Path(__file__).resolve().parents[2] / "examples" / "wallet" / "wallet.toml"
OWN = ("money_conserved", "no_negative_balance", "transfer_once", "owner_debits_only",
       "transfer_notified")


@pytest.fixture(scope="module")
def wallet() -> Design:
    return load_design(DESIGN)


def _op(rec: Recorder, f: str, body: dict[str, Any], outcome: str, status: int,
        answer: dict[str, Any]) -> None:
    invoke = rec.invoke(0, f, {"node": 0, "attempt": 1, "body": body})
    rec.complete(invoke, outcome, {"status": status, "body": answer})


def _judge(wallet: Design, *, caller: str, answered: str, balances: tuple[int, int],
           status: str = "completed") -> dict[str, str]:
    """Accounts a (alice, 50) and b (bob, 10); one transfer of 30 from a to b."""
    rec = recorder()
    for account, owner, balance in (("a", "alice", 50), ("b", "bob", 10)):
        body = {"account_id": account, "owner": owner, "balance": balance}
        _op(rec, "open_account", body, "ok", 200, body)
    body = {"transfer_id": "t", "caller": caller, "from": "a", "to": "b", "amount": 30}
    if answered == "ok":
        _op(rec, "transfer", body, "ok", 200, {"transfer_id": "t", "status": "completed"})
    else:
        _op(rec, "transfer", body, "fail", 403,
            {"transfer_id": "t", "status": "rejected", "reason": "forbidden"})
    final = FinalState(
        workload="wallet",
        values={
            "accounts": {"a": {"account_id": "a", "owner": "alice", "balance": balances[0]},
                         "b": {"account_id": "b", "owner": "bob", "balance": balances[1]}},
            "transfers": {"t": {"transfer_id": "t", "status": status, "reason": None}},
        },
    )
    names = [n for n in OWN if n != "transfer_notified"]
    verdicts = check(names, rec.history(), final, Ledgers(), own=wallet.workload.invariants)
    return {v.invariant: v.status for v in verdicts}


def test_the_design_declares_five_invariants_and_every_row_names_its_own(wallet: Design) -> None:
    assert tuple(wallet.workload.invariants) == OWN
    assert len(wallet.rows) == 9
    for row in wallet.rows:
        assert set(row.invariants) <= {*OWN, "consistent_reads"}, row.id
    assert "correct" in wallet.target.variants and len(wallet.target.variants) == 6


def test_a_correct_transfer_is_valid_for_every_invariant(wallet: Design) -> None:
    verdicts = _judge(wallet, caller="alice", answered="ok", balances=(20, 40))
    assert set(verdicts.values()) == {"valid"}, verdicts


def test_money_that_vanished_breaks_money_conserved(wallet: Design) -> None:
    # two_transactions: a debited, b never credited.
    verdicts = _judge(wallet, caller="alice", answered="ok", balances=(20, 10))
    assert verdicts["money_conserved"] == "invalid", verdicts


def test_a_foreign_debit_breaks_owner_debits_only_and_a_refused_one_does_not(
    wallet: Design,
) -> None:
    assert _judge(wallet, caller="bob", answered="ok", balances=(20, 40))[
        "owner_debits_only"
    ] == "invalid"
    refused = _judge(wallet, caller="bob", answered="fail", balances=(50, 10), status="rejected")
    assert set(refused.values()) <= {"valid"}, refused
