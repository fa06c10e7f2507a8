"""The harness earns its keep: it catches every buggy variant of the reference
designs with the invariant the bug breaks, and passes every correct design.

Real targets, real PostgreSQL/Redis/Kafka/Toxiproxy, real faults. The budget
is the ``detect`` profile of catching.py, sized so the matrix fits in CI. Every
search starts from an empty example database (a temporary directory), so a
catch here is a fresh find, not a stored counterexample found again.

On the containers backend (the stores, Toxiproxy and the partner in
containers) CI runs the correct variant of each design and one buggy variant
per design (``CONTAINER_BUGGY``), plus the checkout target itself built from
examples/checkout-container/Dockerfile: the whole matrix again would double
this file's time, and these already show that every fault works through
containers. The container part of CI is budgeted at 10-15 minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from catching import (
    PASS_ALL,
    SEARCHES,
    assert_every_row_passes,
    describe,
    hunt,
    search_until,
    shard_rows,
    violated,
)

from harness.design import Design, load_design

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

# variant -> (row expected to catch it, invariants any of which it must break)
EXPECTED: dict[str, dict[str, tuple[str, frozenset[str]]]] = {
    "checkout": {
        # A lost update can also show as stock going up between two reads with no PUT
        # (consistent_reads), which decides the example before stock_accounting's wait.
        "read_then_write": (
            "orders-interleave",
            frozenset({"no_oversell", "stock_accounting", "consistent_reads"}),
        ),
        "no_idempotency": ("client-retry", frozenset({"idempotent_retry", "stock_accounting"})),
        "dual_write": ("event-not-published", frozenset({"exactly_once_shipment"})),
        # With a cache as the source of truth, what orders may take (Redis) and
        # the stock clients read (PostgreSQL) part ways; shrinking may keep only
        # that symptom, a read or a refusal the other contradicts.
        "redis_truth": (
            "cache-loss",
            frozenset({"no_oversell", "stock_accounting", "consistent_reads"}),
        ),
        "non_idempotent_consumer": ("duplicate-event", frozenset({"exactly_once_shipment"})),
    },
    "payments": {
        "psp_retry_without_key": ("psp-answer-lost", frozenset({"no_duplicate_charge"})),
        "check_then_act": ("duplicate-request", frozenset({"no_duplicate_charge"})),
        "no_idempotency": ("client-retry", frozenset({"no_duplicate_charge"})),
        "dual_write": ("charge-not-recorded", frozenset({"no_unrecorded_money"})),
    },
    "matching": {
        "no_canonical_key": ("mutual-swipe-race", frozenset({"at_most_one_match"})),
        "no_pair_lock": ("mutual-swipe-race", frozenset({"mutual_right_swipes_match"})),
        "at_most_once_consumer": ("announcement-lost", frozenset({"every_match_announced"})),
    },
    # A read the store cannot explain, or a lost update, shows first as an order
    # of operations no register allows; a lost write may also end in the final state.
    "kv": {
        "stale_cache": (
            "stale-read",
            frozenset({"linearizable", "acknowledged_writes_survive"}),
        ),
        "read_then_write": (
            "cas-race",
            frozenset({"linearizable", "acknowledged_writes_survive"}),
        ),
    },
    "auction": {
        "client_clock": ("client-clock-lies", frozenset({"no_bid_after_close"})),
        # A replica whose clock is behind accepts late bids; one ahead refuses early.
        "local_clock": (
            "replica-clock-skew",
            frozenset({"no_bid_after_close", "bids_open_until_end"}),
        ),
        # A bid checked before the close lands after it, or a lower bid overwrites a
        # higher one: either way the winner is not the highest accepted bid.
        "check_then_act": (
            "concurrent-bids",
            frozenset({"winner_is_highest_accepted_bid", "no_bid_after_close", "close_is_final"}),
        ),
        # A closing write without token or version, blocked behind a bid decided before
        # end_time and committing after the closer's read, overwrites it with the winner
        # it read: the winner is not the highest accepted bid (or a read saw it change).
        "unfenced_lease": (
            "bid-commit-slow-link",
            frozenset({"winner_is_highest_accepted_bid", "close_is_final", "single_winner"}),
        ),
    },
}


# Bugs a search of 20 examples finds less than half the time, with the searches
# their test may spend. auction unfenced_lease needs a bid on the slowed replica sent
# 5 to 7 of its round trips before end_time: fresh searches of 60 examples found it 3
# of 6 times, each find failing again on replay (docs/search-power.md, "Aimed
# batches"). payments dual_write, which needs a replica killed after a PSP charge and
# before its record, had 8 searches until its row had crash_in_call: fresh searches
# then found it with seeds 101-103 (3 of 3, at examples 20, 10 and 9), which had
# found nothing before, also with 40 examples.
MORE_SEARCHES: dict[tuple[str, str], int] = {
    ("auction", "unfenced_lease"): 6,
}
TEST_TIMEOUT_S = 600
"""pyproject.toml's per-test timeout."""


# Buggy variants no fresh search catches yet, and why: not in the matrix (a search
# that cannot succeed would only spend CI's time), but listed, so that none is
# silently left out (test_every_variant_is_in_the_matrix). None at the moment: the
# last, auction unfenced_lease, is in EXPECTED since the search aims its batches
# (docs/search-power.md has the history of the tries before that).
UNCAUGHT: dict[str, dict[str, str]] = {}


# Degraded variants: correct, but too slow for the SLO row of their design:
# variant -> (the SLO row, the SLO line it must miss).
DEGRADED: dict[str, dict[str, tuple[str, str]]] = {
    "checkout": {"slow_relay": ("shipment-freshness", "exactly_once_shipment within 5 s")},
    "payments": {"inline_psp_retry": ("psp-latency-budget", "p95(pay) < 300 ms")},
    "matching": {"slow_relay": ("announcement-freshness", "every_match_announced within 2 s")},
    "auction": {"lazy_closer": ("close-freshness", "auction_closed within 2 s")},
}


# One buggy variant per design, also caught with the services in containers.
CONTAINER_BUGGY = {
    "checkout": "read_then_write",
    "payments": "no_idempotency",
    "matching": "no_canonical_key",
    "kv": "stale_cache",
}


@pytest.mark.parametrize("design_name", sorted(EXPECTED))
def test_every_variant_is_in_the_matrix(design_name: str) -> None:
    """Each variant the design declares is the correct one, caught, degraded or listed
    as not caught yet with its reason: a new variant cannot escape the matrix."""
    design = load_design(ROOT / "designs" / f"{design_name}.toml")
    listed = (
        {"correct"}
        | set(EXPECTED[design_name])
        | set(DEGRADED.get(design_name, {}))
        | set(UNCAUGHT.get(design_name, {}))
    )
    assert set(design.target.variants) == listed


SHARDS: dict[str, int] = {"auction": 5}
"""Designs whose no-false-alarm run is split over stacks run side by side: auction's
rows ask for 60 examples each (rare timings); on three stacks one took 510 s in CI,
on four 446 s (the test timeout is 600 s)."""
SHARD_TIMEOUT_S = 900
"""A shard of one 60-example row cannot be split further: concurrent-bids alone took
284 s in one CI run and 458 s in the next, so its test gets more than 600 s."""


def _shard(design_name: str, backend: str, shard: int) -> Any:
    marks = [pytest.mark.timeout(SHARD_TIMEOUT_S)] if design_name in SHARDS else []
    return pytest.param(design_name, backend, shard, marks=marks)


def test_shards_hold_every_row_once() -> None:
    design = load_design(ROOT / "designs" / "auction.toml")
    groups = shard_rows(design, SHARDS["auction"])
    assert len(groups) == SHARDS["auction"]
    assert sorted(r for g in groups for r in g) == sorted(r.id for r in design.rows)


@pytest.mark.parametrize(
    ("design_name", "backend", "shard"),
    [_shard(d, "local", k) for d in sorted(EXPECTED) for k in range(SHARDS.get(d, 1))]
    + [_shard(d, "containers", 0) for d in sorted(CONTAINER_BUGGY)],
)
def test_correct_variant_passes_every_row(
    design_name: str, backend: str, shard: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "containers":
        request.getfixturevalue("container_binaries")
    design = load_design(ROOT / "designs" / f"{design_name}.toml")
    rows = shard_rows(design, SHARDS.get(design_name, 1) if backend == "local" else 1)[shard]
    report = assert_every_row_passes(design, tmp_path, backend=backend, rows=rows)
    assert [r.row_id for r in report.rows] == rows


def _hunted(design_name: str, variant: str, backend: str) -> Any:
    """One case of the matrix; a bug given more searches gets their time too
    (the configured per-test timeout is for ``SEARCHES`` of them)."""
    searches = MORE_SEARCHES.get((design_name, variant), SEARCHES)
    if searches == SEARCHES:
        return (design_name, variant, backend)
    timeout = pytest.mark.timeout(TEST_TIMEOUT_S * searches // SEARCHES)
    return pytest.param(design_name, variant, backend, marks=timeout)


@pytest.mark.parametrize(
    ("design_name", "variant", "backend"),
    [_hunted(d, v, "local") for d, variants in sorted(EXPECTED.items()) for v in sorted(variants)]
    + [_hunted(d, v, "containers") for d, v in sorted(CONTAINER_BUGGY.items())],
)
def test_buggy_variant_is_caught(
    design_name: str, variant: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "containers":
        request.getfixturevalue("container_binaries")
    design = load_design(ROOT / "designs" / f"{design_name}.toml")
    row_id, invariants = EXPECTED[design_name][variant]
    searches = MORE_SEARCHES.get((design_name, variant), SEARCHES)
    _, row = hunt(design, variant, row_id, tmp_path, backend=backend, searches=searches)
    assert violated(row) & invariants, f"expected one of {sorted(invariants)}; got {violated(row)}"
    assert "--seed" in row.replay_command


@pytest.mark.parametrize(
    ("design_name", "variant"),
    [(d, v) for d, variants in sorted(DEGRADED.items()) for v in sorted(variants)],
)
def test_degraded_variant_misses_its_slo(design_name: str, variant: str, tmp_path: Path) -> None:
    """The SLO row fails the degraded variant on its promise, with the measurement;
    the correct variant meets it (test_correct_variant_passes_every_row). Up to
    ``SEARCHES`` fresh searches, as a bug gets: a search whose few examples send
    few requests into the faults measures too little of the slow path (a seed's
    draws are fixed, so one unlucky seed would miss every time). A search goes
    on until the row misses this promise, not another: on a loaded machine a
    search may first miss a looser one (p99 beside p95)."""
    design = load_design(ROOT / "designs" / f"{design_name}.toml")
    row_id, line = DEGRADED[design_name][variant]
    report, tries = search_until(
        lambda r: r.status == "FAIL" and any(s.text == line and s.met is False for s in r.slos),
        design,
        variant,
        row_id,
        tmp_path,
        seeds=range(20261121, 20261121 + SEARCHES),
        profile=PASS_ALL,
    )
    row = tries[-1]
    assert row.status == "FAIL", "\n\n".join(describe(r) for r in tries)
    assert row.counterexample is None, "slow, not wrong: no invariant is violated"
    missed = {slo.text: slo for slo in row.slos if slo.met is False}
    assert line in missed, [slo.line() for slo in row.slos]
    assert (row.reason or "").startswith("SLO not met: ")
    assert report.exit_code == 1


# The checkout target as containers built from a Dockerfile, the stores in containers
# too: two rows whose faults hit the target's own containers (kill, pause) pass with
# the correct variant, and the oversell bug is caught.
CONTAINER_TARGET_ROWS = ("node-crash", "orders-interleave")


def test_a_target_built_from_a_dockerfile_passes_and_its_bug_is_caught(
    tmp_path: Path, container_binaries: object
) -> None:
    design = load_design(ROOT / "examples" / "checkout-container.toml")
    assert_every_row_passes(
        design, tmp_path / "correct", rows=CONTAINER_TARGET_ROWS, backend="containers"
    )
    row_id, invariants = EXPECTED["checkout"]["read_then_write"]
    _, row = hunt(design, "read_then_write", row_id, tmp_path / "buggy", backend="containers")
    assert violated(row) & invariants
    assert "--backend containers" in row.replay_command


BID_BEFORE_END = """
[[invariants]]
name = "bid_before_end"
type = "eligibility"
actions = { from = "accepted", op = "bid", id = "bid_id", key = "auction_id" }
require = { before = "create_auction", key = "auction_id", after = "ends_in_ms" }
words = { noun = "bid" }

[[invariants]]
name = "open_until_end"
type = "eligibility"
require = { past = "create_auction", key = "auction_id", after = "ends_in_ms" }
words = { noun = "bid" }

[invariants.actions]
from = "refused"
op = "bid"
id = "bid_id"
key = "auction_id"
when = { reason = "closed" }
"""


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_a_deadline_in_toml_passes_the_correct_auction_and_catches_a_replicas_own_clock(
    tmp_path: Path,
) -> None:
    """The library's deadline conditions, in a design's TOML, judge bids against
    each auction's deadline from the set-up request alone, as the built-ins do
    on the target's clock: ``before`` on accepted bids (``no_bid_after_close``),
    ``past`` on bids refused as closed (``bids_open_until_end``). The correct
    target passes the replica-clock-skew row judged by them alone, and a
    replica deciding by its own skewed clock is caught by each on its own."""
    text = (ROOT / "designs" / "auction.toml").read_text(encoding="utf-8")
    row_invariants = (
        'invariants = ["no_bid_after_close", "bids_open_until_end", '
        '"winner_is_highest_accepted_bid"]'
    )
    assert text.count(row_invariants) == 1

    def design_judged_by(*names: str) -> Design:
        path = tmp_path / f"auction-{len(names)}-{names[0]}.toml"
        listed = ", ".join(f'"{n}"' for n in names)
        path.write_text(
            text.replace(row_invariants, f"invariants = [{listed}]") + BID_BEFORE_END,
            encoding="utf-8",
        )
        return load_design(path, root=ROOT)

    both = design_judged_by("bid_before_end", "open_until_end")
    report = assert_every_row_passes(both, tmp_path / "correct", rows=["replica-clock-skew"])
    (judged,) = report.rows
    assert judged.judged["bid_before_end"].valid > 0
    assert judged.judged["open_until_end"].valid > 0
    for name in ("bid_before_end", "open_until_end"):
        _, row = hunt(
            design_judged_by(name), "local_clock", "replica-clock-skew", tmp_path / name
        )
        assert violated(row) == {name}
