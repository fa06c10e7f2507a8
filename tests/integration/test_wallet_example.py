"""A design nobody built in: the wallet of examples/wallet, written only through
the public workload API and the invariant library (issue 8).

Its correct variant passes every row of examples/wallet/wallet.toml; each
buggy variant is caught by the row about its bug, with an invariant the bug
breaks, by fresh searches (empty example databases) as in test_detection.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from catching import DETECT, assert_every_row_passes, hunt, violated

from harness.design import load_design

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "examples" / "wallet" / "wallet.toml"
FIRST_SEED = 7

# variant -> (row expected to catch it, invariants any of which it must break)
EXPECTED: dict[str, tuple[str, frozenset[str]]] = {
    "no_idempotency": ("client-retry", frozenset({"transfer_once", "money_conserved"})),
    "check_then_act": ("concurrent-debits", frozenset({"no_negative_balance"})),
    "two_transactions": ("crash-between-debit-and-credit", frozenset({"money_conserved"})),
    "no_owner_check": ("foreign-debit", frozenset({"owner_debits_only"})),
    "notify_in_request": ("notification-lost-or-doubled", frozenset({"transfer_notified"})),
}


def test_correct_wallet_passes_every_row(tmp_path: Path) -> None:
    design = load_design(DESIGN)
    report = assert_every_row_passes(design, tmp_path, seed=20261201)
    assert [r.row_id for r in report.rows] == [r.id for r in design.rows]
    assert report.exit_code == 0


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_buggy_wallet_is_caught_by_its_row(variant: str, tmp_path: Path) -> None:
    row_id, invariants = EXPECTED[variant]
    _, row = hunt(load_design(DESIGN), variant, row_id, tmp_path, first_seed=FIRST_SEED)
    broken = violated(row)
    assert broken & invariants, f"expected one of {sorted(invariants)}; got {sorted(broken)}"
    # The figures of the closing note: searches, examples and seconds to the first
    # failure (none when only the row's late-effects recheck found it).
    found = (
        "on the late recheck"
        if row.first_failure_s is None
        else f"at example {row.first_failure_example} after {row.first_failure_s:.1f} s"
    )
    print(
        f"\nwallet {variant}: caught by {row_id} in search {row.seed - FIRST_SEED + 1} "
        f"of {DETECT.examples} examples (seed {row.seed}) {found}; violated {sorted(broken)}; "
        f"reproduced {row.counterexample.reproduced if row.counterexample else 0}"
    )
