"""Verdicts, the registry and ``check``: ranking, crash handling, argument errors."""

from __future__ import annotations

import pytest
from histories import final_inventory, final_payments, order, recorder, set_stock

from harness.history import FinalState, History, Ledgers
from invariants import (
    APPLIES_TO,
    CHECKERS,
    Evidence,
    Status,
    Verdict,
    check,
    combine,
    run_checker,
    undecided,
)
from invariants._common import counted
from invariants.library._words import say

EMPTY = {
    "inventory": FinalState(workload="inventory"),
    "payments": FinalState(workload="payments"),
    "matching": FinalState(workload="matching"),
    "kv": FinalState(workload="kv"),
    "auction": FinalState(workload="auction"),
}


def _verdict(status: Status) -> Verdict:
    return Verdict(invariant="x", status=status, summary=status)


def test_invalid_outranks_unknown_outranks_valid() -> None:
    assert combine([_verdict("valid"), _verdict("unknown"), _verdict("valid")]) == "unknown"
    assert combine([_verdict("unknown"), _verdict("invalid"), _verdict("valid")]) == "invalid"
    assert combine([_verdict("valid"), _verdict("valid")]) == "valid"


def test_no_verdicts_is_not_a_pass() -> None:
    assert combine([]) == "unknown"


def test_a_crashing_checker_yields_unknown_with_the_error() -> None:
    def broken(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        raise KeyError("sku")

    verdict = run_checker("no_oversell", broken, History(()), EMPTY["inventory"], Ledgers())

    assert (verdict.invariant, verdict.status, verdict.evidence) == ("no_oversell", "unknown", ())
    assert verdict.summary == "checker no_oversell crashed: KeyError: 'sku'"


def test_the_registry_names_every_invariant_of_every_workload() -> None:
    assert dict(APPLIES_TO) == {
        "no_oversell": {"inventory"},
        "stock_accounting": {"inventory"},
        "acknowledged_writes_survive": {"inventory", "payments", "matching", "kv", "auction"},
        "idempotent_retry": {"inventory"},
        "exactly_once_shipment": {"inventory"},
        "no_duplicate_charge": {"payments"},
        "charge_recorded": {"payments"},
        "no_unrecorded_money": {"payments"},
        "at_most_one_match": {"matching"},
        "match_eligibility": {"matching"},
        "mutual_right_swipes_match": {"matching"},
        "every_match_announced": {"matching"},
        "linearizable": {"kv"},
        "no_bid_after_close": {"auction"},
        "bids_open_until_end": {"auction"},
        "single_winner": {"auction"},
        "close_is_final": {"auction"},
        "winner_is_highest_accepted_bid": {"auction"},
        "consistent_reads": {"inventory", "payments", "matching"},
        "targets_stay_up": {"inventory", "payments", "matching", "kv", "auction"},
    }
    assert set(CHECKERS) == set(APPLIES_TO)


@pytest.mark.parametrize(
    ("name", "workload"), [(n, w) for n, ws in sorted(APPLIES_TO.items()) for w in sorted(ws)]
)
def test_an_empty_history_has_nothing_to_check(name: str, workload: str) -> None:
    (verdict,) = check([name], History(()), EMPTY[workload], Ledgers())

    assert (verdict.invariant, verdict.status, verdict.checked) == (name, "valid", 0)
    assert verdict.summary.startswith("no ") and verdict.summary.endswith(" to check")


def test_check_runs_the_named_checkers_in_order() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 1)
    order(rec, "o-1", "s-1", 1)
    order(rec, "o-2", "s-1", 1)
    final = final_inventory(rec, stock={"s-1": 0}, orders={"o-1": "accepted", "o-2": "accepted"})

    verdicts = check(["stock_accounting", "no_oversell"], rec.history(), final, Ledgers())

    assert [(v.invariant, v.status) for v in verdicts] == [
        ("stock_accounting", "invalid"),
        ("no_oversell", "invalid"),
    ]
    assert combine(verdicts) == "invalid"


def test_check_rejects_an_unknown_invariant_by_name() -> None:
    with pytest.raises(
        ValueError,
        match=r"'names' must be invariants from CHECKERS or the workload's own "
        r"\(got 'no_overselling'\)",
    ):
        check(["no_overselling"], History(()), EMPTY["inventory"], Ledgers())


def test_check_rejects_an_invariant_of_another_workload() -> None:
    rec = recorder()
    final = final_payments(rec, {})
    with pytest.raises(
        ValueError, match="'no_oversell' applies to \\['inventory'\\], not to workload 'payments'"
    ):
        check(["no_oversell"], rec.history(), final, Ledgers())


def test_acknowledged_writes_survive_on_an_unknown_workload_is_unknown() -> None:
    rec = recorder()
    final = FinalState(workload="ledger")

    verdict = run_checker(
        "acknowledged_writes_survive",
        CHECKERS["acknowledged_writes_survive"],
        rec.history(),
        final,
        Ledgers(),
    )

    assert verdict.status == "unknown"
    known = "['auction', 'inventory', 'kv', 'matching', 'payments']"
    expected = f"applies to workloads {known} (got 'ledger')"
    assert expected in verdict.summary


def test_a_waiting_verdict_judged_early_is_undecided_not_a_violation() -> None:
    """An example decided by one definite violation is judged before it settles:
    what another invariant still waits for is reported as unknown, with the reason."""
    late = Evidence(message="t-1 not notified yet", keys=("t-1",), op_ids=(3,), pending=True)
    waiting = Verdict(
        invariant="transfer_notified", status="invalid", summary=late.message, evidence=(late,)
    )
    broken = Evidence(message="account a-1 is at -5", keys=("a-1",), op_ids=(4,))
    definite = Verdict(
        invariant="no_negative_balance", status="invalid", summary="", evidence=(broken,)
    )
    set_aside = undecided(waiting, "judged without waiting")
    assert set_aside.status == "unknown" and not set_aside.waiting
    assert set_aside.summary == "undecided: judged without waiting; pending then: " + late.message
    assert set_aside.evidence == waiting.evidence
    assert undecided(definite, "judged without waiting") is definite
    mixed = Verdict(
        invariant="no_negative_balance", status="invalid", summary="", evidence=(late, broken)
    )
    assert undecided(mixed, "x") is mixed


@pytest.mark.parametrize(
    ("noun", "many"),
    [("entry", "entries"), ("key", "keys"), ("match", "matches"), ("box", "boxes"),
     ("journey", "journeys"), ("order", "orders"), ("wish", "wishes")],
)
def test_a_count_of_a_designs_noun_reads_as_english(noun: str, many: str) -> None:
    assert counted(2, noun) == f"2 {many}" and counted(1, noun) == f"1 {noun}"
    # A words template's "{noun}s" is the plural too (a design's own noun).
    assert say("{noun}s {id} and {other} were both accepted", noun=noun, id=1, other=2) == (
        f"{many} 1 and 2 were both accepted"
    )
