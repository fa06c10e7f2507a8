"""Services in other languages, validated end to end, each written from the
documentation alone: the Go payments, checkout and kv targets of
examples/go-payments, examples/go-checkout and examples/go-kv, and the
Node.js auction and matching targets of examples/node-auction and
examples/node-matching.

Each correct variant passes every row of its design; each bug fails a row
with the invariant it breaks: the payments' (a fresh Idempotency-Key on
every PSP call) the row about lost PSP answers, the auction's (deciding a bid by the
client's clock) the row where clients lie about the time, the matching's
(check-then-insert of a match, no pair lock) the row of concurrent mutual
swipes, the kv's (each replica serving reads from its own cache) the row of
racing writes, with ``linearizable``, the checkout's (stock read, then
written back in another statement) the row of interleaved orders. Each search starts from an
empty example database, so a catch is a fresh find. Binaries and packages
are built or installed first (cached by digest), so a cold build does not
count against the target's start timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from catching import assert_every_row_passes, hunt, shard_rows, violated

from harness.design import load_design
from harness.verify import Profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go-payments"
DESIGN = EXAMPLE / "design.toml"
PASS_ALL = Profile(name="third-party", examples=6, shrink_s=20.0, replays=2)
BUG = "key_per_attempt"
CAUGHT_BY = ("psp-answer-lost", frozenset({"no_duplicate_charge", "no_unrecorded_money"}))
BUILD_TIMEOUT_S = 600


NODE_EXAMPLE = ROOT / "examples" / "node-auction"
NODE_BUG = "client_clock"
NODE_CAUGHT_BY = ("client-clock-lies", frozenset({"no_bid_after_close"}))
CHECKOUT_EXAMPLE = ROOT / "examples" / "go-checkout"
CHECKOUT_BUG = "read_then_write"
CHECKOUT_CAUGHT_BY = ("orders-interleave", frozenset({"no_oversell", "stock_accounting"}))
KV_EXAMPLE = ROOT / "examples" / "go-kv"
KV_BUG = "stale_cache"
KV_CAUGHT_BY = ("cas-race", frozenset({"linearizable"}))
MATCHING_EXAMPLE = ROOT / "examples" / "node-matching"
MATCHING_BUG = "no_pair_lock"
MATCHING_CAUGHT_BY = ("mutual-swipe-race", frozenset({"at_most_one_match"}))


def _prepared(example: Path, flag: str) -> Path:
    """``run <flag>`` (build or install, cached): the path it prints last."""
    build = subprocess.Popen(
        [str(example / "run"), flag],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = build.communicate(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        pytest.fail(f"preparing {example} took more than {BUILD_TIMEOUT_S} s")
    text = output.decode(errors="replace")
    assert build.returncode == 0, f"preparing {example} failed:\n{text}"
    return Path(text.strip().splitlines()[-1])


def _built(example: Path) -> Path:
    """A Go target's binary (built on first use, in its own group)."""
    binary = _prepared(example, "--build-only")
    assert binary.is_file() and os.access(binary, os.X_OK), binary
    return binary


@pytest.fixture(scope="module")
def go_binary() -> Path:
    return _built(EXAMPLE)


@pytest.fixture(scope="module")
def kv_binary() -> Path:
    return _built(KV_EXAMPLE)


@pytest.fixture(scope="module")
def checkout_binary() -> Path:
    return _built(CHECKOUT_EXAMPLE)


def _installed(example: Path) -> Path:
    """A Node target's packages (installed on first use with npm ci)."""
    modules = _prepared(example, "--install-only")
    assert (modules / "pg" / "package.json").is_file(), modules
    return modules


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return _installed(NODE_EXAMPLE)


@pytest.fixture(scope="module")
def matching_modules() -> Path:
    return _installed(MATCHING_EXAMPLE)


def test_correct_go_target_passes_every_row(go_binary: Path, tmp_path: Path) -> None:
    design = load_design(DESIGN)
    report = assert_every_row_passes(design, tmp_path, profile=PASS_ALL, seed=20261201)
    assert [r.row_id for r in report.rows] == [r.id for r in design.rows]


def test_buggy_go_target_fails_its_row_with_the_invariant_it_breaks(
    go_binary: Path, tmp_path: Path
) -> None:
    design = load_design(DESIGN)
    row_id, invariants = CAUGHT_BY
    _, row = hunt(design, BUG, row_id, tmp_path, searches=2, first_seed=11)
    broken = violated(row)
    assert "no_duplicate_charge" in broken, f"expected no_duplicate_charge; got {broken}"
    assert broken <= invariants | {"charge_recorded", "consistent_reads"}, broken


NODE_SHARDS = 4
"""Its rows ask for 290 examples in all (four of them 60, for rare timings): on
four stacks side by side, as the reference auction design's run is split."""


@pytest.mark.parametrize("shard", range(NODE_SHARDS))
def test_correct_node_target_passes_every_row(
    node_modules: Path, tmp_path: Path, shard: int
) -> None:
    design = load_design(NODE_EXAMPLE / "design.toml")
    rows = shard_rows(design, NODE_SHARDS)[shard]
    report = assert_every_row_passes(design, tmp_path, profile=PASS_ALL, seed=20261202, rows=rows)
    assert [r.row_id for r in report.rows] == rows


def test_buggy_node_target_fails_its_row_with_the_invariant_it_breaks(
    node_modules: Path, tmp_path: Path
) -> None:
    design = load_design(NODE_EXAMPLE / "design.toml")
    row_id, invariants = NODE_CAUGHT_BY
    _, row = hunt(design, NODE_BUG, row_id, tmp_path, searches=2, first_seed=11)
    broken = violated(row)
    assert invariants <= broken, f"expected {sorted(invariants)}; got {sorted(broken)}"


MATCHING_SHARDS = 2
"""Its rows ask for 56 examples in all (20 of them on the mutual-swipe race)."""


@pytest.mark.parametrize("shard", range(MATCHING_SHARDS))
def test_correct_node_matching_target_passes_every_row(
    matching_modules: Path, tmp_path: Path, shard: int
) -> None:
    design = load_design(MATCHING_EXAMPLE / "design.toml")
    rows = shard_rows(design, MATCHING_SHARDS)[shard]
    report = assert_every_row_passes(design, tmp_path, profile=PASS_ALL, seed=20261203, rows=rows)
    assert [r.row_id for r in report.rows] == rows


def test_buggy_node_matching_target_fails_its_row_with_the_invariant_it_breaks(
    matching_modules: Path, tmp_path: Path
) -> None:
    design = load_design(MATCHING_EXAMPLE / "design.toml")
    row_id, invariants = MATCHING_CAUGHT_BY
    _, row = hunt(design, MATCHING_BUG, row_id, tmp_path, searches=2, first_seed=11)
    broken = violated(row)
    assert invariants <= broken, f"expected {sorted(invariants)}; got {sorted(broken)}"


def test_correct_go_kv_target_passes_every_row(kv_binary: Path, tmp_path: Path) -> None:
    design = load_design(KV_EXAMPLE / "design.toml")
    report = assert_every_row_passes(design, tmp_path, profile=PASS_ALL, seed=20261204)
    assert [r.row_id for r in report.rows] == [r.id for r in design.rows]


def test_buggy_go_kv_target_fails_its_row_with_the_invariant_it_breaks(
    kv_binary: Path, tmp_path: Path
) -> None:
    design = load_design(KV_EXAMPLE / "design.toml")
    row_id, invariants = KV_CAUGHT_BY
    _, row = hunt(design, KV_BUG, row_id, tmp_path, searches=2, first_seed=11)
    broken = violated(row)
    assert invariants <= broken, f"expected {sorted(invariants)}; got {sorted(broken)}"


CHECKOUT_SHARDS = 2


@pytest.mark.parametrize("shard", range(CHECKOUT_SHARDS))
def test_correct_go_checkout_target_passes_every_row(
    checkout_binary: Path, tmp_path: Path, shard: int
) -> None:
    design = load_design(CHECKOUT_EXAMPLE / "design.toml")
    rows = shard_rows(design, CHECKOUT_SHARDS)[shard]
    report = assert_every_row_passes(design, tmp_path, profile=PASS_ALL, seed=20261205, rows=rows)
    assert [r.row_id for r in report.rows] == rows


def test_buggy_go_checkout_target_fails_its_row_with_the_invariant_it_breaks(
    checkout_binary: Path, tmp_path: Path
) -> None:
    design = load_design(CHECKOUT_EXAMPLE / "design.toml")
    row_id, invariants = CHECKOUT_CAUGHT_BY
    _, row = hunt(design, CHECKOUT_BUG, row_id, tmp_path, searches=2, first_seed=11)
    broken = violated(row)
    assert "no_oversell" in broken, f"expected no_oversell; got {sorted(broken)}"
    assert broken <= invariants | {"consistent_reads"}, sorted(broken)
