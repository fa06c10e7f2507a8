"""A design nobody built in: the wallet of examples/wallet, written only through
the public workload API and the invariant library (issue 8).

Its correct variant passes every row of examples/wallet/wallet.toml; each
buggy variant is caught by the row about its bug, with an invariant the bug
breaks. Every search starts from an empty example database, so a catch here
is a fresh find, as in test_detection.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.design import load_design
from harness.report import RowResult
from harness.verify import Profile, verify_design

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "examples" / "wallet" / "wallet.toml"
DETECT = Profile(name="detect", examples=20, shrink_s=20.0, replays=3)
SEARCHES = 4
PASS_ALL = Profile(name="ci", examples=8, shrink_s=20.0, replays=2)

# variant -> (row expected to catch it, invariants any of which it must break)
EXPECTED: dict[str, tuple[str, frozenset[str]]] = {
    "no_idempotency": ("client-retry", frozenset({"transfer_once", "money_conserved"})),
    "check_then_act": ("concurrent-debits", frozenset({"no_negative_balance"})),
    "two_transactions": ("crash-between-debit-and-credit", frozenset({"money_conserved"})),
    "no_owner_check": ("foreign-debit", frozenset({"owner_debits_only"})),
    "notify_in_request": ("notification-lost-or-doubled", frozenset({"transfer_notified"})),
}


def _describe(row: RowResult) -> str:
    lines = [f"{row.row_id}: {row.status} after {row.examples} examples; coverage {row.coverage}"]
    if row.reason:
        lines.append(row.reason)
    if row.error:
        lines.append(row.error[-3000:])
    if row.counterexample:
        lines += [v.summary for v in row.counterexample.verdicts]
        lines += row.counterexample.schedule_lines
    return "\n".join(lines)


def test_correct_wallet_passes_every_row(tmp_path: Path) -> None:
    design = load_design(DESIGN)
    report = verify_design(
        design,
        variant="correct",
        profile=PASS_ALL,
        seed_=20261201,
        out_dir=tmp_path,
        database=tmp_path / "examples-db",
        log=False,
    )
    assert [r.row_id for r in report.rows] == [r.id for r in design.rows]
    bad = [r for r in report.rows if r.status != "PASS"]
    assert not bad, "\n\n".join(_describe(r) for r in bad)
    assert report.exit_code == 0


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_buggy_wallet_is_caught_by_its_row(variant: str, tmp_path: Path) -> None:
    design = load_design(DESIGN)
    row_id, invariants = EXPECTED[variant]
    tries: list[RowResult] = []
    for seed in range(7, 7 + SEARCHES):
        report = verify_design(
            design,
            variant=variant,
            profile=DETECT,
            rows=[row_id],
            seed_=seed,
            out_dir=tmp_path / f"seed-{seed}",
            database=tmp_path / f"examples-db-{seed}",
            log=False,
        )
        (row,) = report.rows
        tries.append(row)
        if row.counterexample is not None and row.counterexample.reproduced >= 1:
            break
    assert row.status == "FAIL", "\n\n".join(_describe(r) for r in tries)
    assert row.counterexample is not None
    violated = {v.invariant for v in row.counterexample.verdicts}
    assert violated & invariants, f"expected one of {sorted(invariants)}; got {sorted(violated)}"
    assert row.counterexample.reproduced >= 1, "a caught bug must reproduce at least once"
    assert report.exit_code == 1
    # The figures of the closing note: searches, examples and seconds to the first failure
    # (none when only the row's late-effects recheck found it).
    found = (
        "on the late recheck"
        if row.first_failure_s is None
        else f"at example {row.first_failure_example} after {row.first_failure_s:.1f} s"
    )
    print(
        f"\nwallet {variant}: caught by {row_id} in search {len(tries)} (seed {seed}) {found}; "
        f"violated {sorted(violated)}; reproduced {row.counterexample.reproduced}"
    )
