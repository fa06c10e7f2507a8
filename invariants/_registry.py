"""The checkers by invariant name, the workloads each applies to, and ``check``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from harness.history import FinalState, History, Ledgers
from invariants._auction import (
    make_acknowledged_bids_survive,
    make_bids_open_until_end,
    make_close_is_final,
    make_no_bid_after_close,
    make_single_winner,
    make_winner_is_highest_accepted_bid,
)
from invariants._inventory import (
    check_acknowledged_orders,
    check_exactly_once_shipment,
    check_idempotent_retry,
    check_no_oversell,
    check_stock_accounting,
)
from invariants._kv import check_acknowledged_kv, check_linearizable
from invariants._matching import (
    check_acknowledged_matches,
    check_at_most_one_match,
    check_every_match_announced,
    check_match_eligibility,
    check_mutual_right_swipes_match,
)
from invariants._payments import (
    check_acknowledged_payments,
    check_charge_recorded,
    check_no_duplicate_charge,
    check_no_unrecorded_money,
)
from invariants._processes import check_targets_stay_up
from invariants._reads import ReadConsistency, make_consistent_reads
from invariants.library import sharing
from invariants.verdict import Checker, Verdict, run_checker

_ACKNOWLEDGED: Mapping[str, Checker] = {
    "inventory": check_acknowledged_orders,
    "payments": check_acknowledged_payments,
    "matching": check_acknowledged_matches,
    "kv": check_acknowledged_kv,
    "auction": make_acknowledged_bids_survive(),
}


def check_acknowledged_writes_survive(
    history: History, final: FinalState, ledgers: Ledgers
) -> Verdict:
    """An acknowledged outcome (an order answered accepted, a payment answered
    captured or declined, a swipe answered matched, a kv write answered 200)
    holds in the final state; dispatches on the workload."""
    checker = _ACKNOWLEDGED.get(final.workload)
    if checker is None:
        raise ValueError(
            "acknowledged_writes_survive applies to workloads "
            f"{sorted(_ACKNOWLEDGED)} (got {final.workload!r})"
        )
    return checker(history, final, ledgers)


CHECKERS: Mapping[str, Checker] = MappingProxyType(
    {
        "no_oversell": check_no_oversell,
        "stock_accounting": check_stock_accounting,
        "acknowledged_writes_survive": check_acknowledged_writes_survive,
        "idempotent_retry": check_idempotent_retry,
        "exactly_once_shipment": check_exactly_once_shipment,
        "no_duplicate_charge": check_no_duplicate_charge,
        "charge_recorded": check_charge_recorded,
        "no_unrecorded_money": check_no_unrecorded_money,
        "at_most_one_match": check_at_most_one_match,
        "match_eligibility": check_match_eligibility,
        "mutual_right_swipes_match": check_mutual_right_swipes_match,
        "every_match_announced": check_every_match_announced,
        "linearizable": check_linearizable,
        "no_bid_after_close": make_no_bid_after_close(),
        "bids_open_until_end": make_bids_open_until_end(),
        "single_winner": make_single_winner(),
        "close_is_final": make_close_is_final(),
        "winner_is_highest_accepted_bid": make_winner_is_highest_accepted_bid(),
        "consistent_reads": make_consistent_reads("eventual"),
        "targets_stay_up": check_targets_stay_up,
    }
)
# Checked on every row of every design, listed or not: the contract's reads
# must describe one state, and the target's processes must stay up, whatever
# failure a row is about.
ALWAYS: tuple[str, ...] = ("consistent_reads", "targets_stay_up")

_INVENTORY = frozenset({"inventory"})
_PAYMENTS = frozenset({"payments"})
_MATCHING = frozenset({"matching"})
_KV = frozenset({"kv"})
_AUCTION = frozenset({"auction"})

APPLIES_TO: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "no_oversell": _INVENTORY,
        "stock_accounting": _INVENTORY,
        "acknowledged_writes_survive": frozenset(_ACKNOWLEDGED),
        "idempotent_retry": _INVENTORY,
        "exactly_once_shipment": _INVENTORY,
        "no_duplicate_charge": _PAYMENTS,
        "charge_recorded": _PAYMENTS,
        "no_unrecorded_money": _PAYMENTS,
        "at_most_one_match": _MATCHING,
        "match_eligibility": _MATCHING,
        "mutual_right_swipes_match": _MATCHING,
        "every_match_announced": _MATCHING,
        "linearizable": _KV,
        "no_bid_after_close": _AUCTION,
        "bids_open_until_end": _AUCTION,
        "single_winner": _AUCTION,
        "close_is_final": _AUCTION,
        "winner_is_highest_accepted_bid": _AUCTION,
        "consistent_reads": _INVENTORY | _PAYMENTS | _MATCHING,
        "targets_stay_up": _INVENTORY | _PAYMENTS | _MATCHING | _KV | _AUCTION,
    }
)


def applies(name: str, workload: str) -> bool:
    """Whether invariant ``name`` judges the workload named ``workload``: the
    always-checked ones judge every workload, the others those of ``APPLIES_TO``
    (a workload named after a built-in keeps its operations and final slots)."""
    return name in ALWAYS or workload in APPLIES_TO[name]


def check(
    names: Iterable[str],
    history: History,
    final: FinalState,
    ledgers: Ledgers,
    *,
    reads: ReadConsistency = "eventual",
    own: Mapping[str, Checker] = MappingProxyType({}),
) -> tuple[Verdict, ...]:
    """Run the named checkers in order. Every name must be the workload's own
    (``own``: `Workload.invariants`, judging whatever workload declares them)
    or in ``CHECKERS`` and apply to ``final.workload``; a checker that crashes
    yields ``unknown``. ``reads`` is the design's read promise, which
    ``consistent_reads`` judges. The checkers share one index of the history
    and of the ledger."""
    wanted = tuple(names)
    for name in wanted:
        if name in own:
            continue
        if name not in CHECKERS:
            raise ValueError(
                f"'names' must be invariants from CHECKERS or the workload's own (got {name!r}); "
                f"known: {', '.join(sorted([*CHECKERS, *own]))}"
            )
        if not applies(name, final.workload):
            raise ValueError(
                f"invariant {name!r} applies to {sorted(APPLIES_TO[name])}, "
                f"not to workload {final.workload!r}"
            )
    checkers = {**CHECKERS, **own}
    checkers["consistent_reads"] = make_consistent_reads(reads)
    with sharing():
        return tuple(run_checker(n, checkers[n], history, final, ledgers) for n in wanted)
