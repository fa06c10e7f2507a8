"""A workload's own invariants: ``[[invariants]]`` tables (the invariant
library's TOML form) in the design file, in a workload file or under
``[workload]``, or ``Workload(invariants=...)`` in Python. Rows name them like
the built-in ones, ``invariants.check`` runs them, and every mistake is a
one-line error naming the file and the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from histories import recorder
from test_design_workloads import TABLE, design, error, inline

from harness.design import load_design
from harness.history import FinalState, Ledgers, Recorder
from harness.listing import describe_design
from harness.workload import Answer, InvalidWorkload, Key, Operation, Workload
from invariants import check
from invariants.library import Requests, UniqueWords, make_uniqueness

BALANCE = """\
[[invariants]]
name = "balance"
type = "accounting"
final = { slot = "accounts", read = "read_account", key = "account_id" }
field = "balance"
initial = 100
flows = [
  { op = "transfer", id = "transfer_id", scope = "from", amount = "amount", sign = -1 },
  { op = "transfer", id = "transfer_id", scope = "to", amount = "amount", sign = 1 },
]
words = { scope = "account", event = "transfer" }
"""
WALLET = TABLE.replace('"from", "to"]', '"from", "to", "amount"]').replace(
    '"from" } }', '"from" }, amount = { ints = [1, 20] } }'
)


def transfer(rec: Recorder, transfer_id: str, src: str, dst: str, amount: int) -> None:
    body = {"transfer_id": transfer_id, "from": src, "to": dst, "amount": amount}
    invoke = rec.invoke(0, "transfer", {"node": 0, "attempt": 1, "body": body})
    rec.complete(invoke, "ok", {"status": 200, "body": {"transfer_id": transfer_id}})


def judge(workload: Workload, balances: dict[str, int]) -> str:
    """The verdict of ``balance`` on one transfer of 30 from a-1 to a-2."""
    rec = recorder()
    transfer(rec, "t-1", "a-1", "a-2", 30)
    final = FinalState(
        workload=workload.name,
        values={"accounts": {a: {"balance": b} for a, b in balances.items()}},
    )
    (verdict,) = check(["balance"], rec.history(), final, Ledgers(), own=workload.invariants)
    return verdict.status


def test_a_design_declares_its_workload_and_invariants_with_no_python(tmp_path: Path) -> None:
    path = design(tmp_path, "", '["consistent_reads", "balance"]')
    path.write_text(path.read_text() + "\n" + BALANCE + "\n" + inline(WALLET), encoding="utf-8")
    loaded = load_design(path)
    assert loaded.rows[0].invariants == ("consistent_reads", "balance")
    assert list(loaded.workload.invariants) == ["balance"]
    assert judge(loaded.workload, {"a-1": 70, "a-2": 130}) == "valid"
    assert judge(loaded.workload, {"a-1": 70, "a-2": 100}) == "invalid"  # money vanished
    assert "  the workload's own invariants: balance\n" in describe_design(loaded)


def test_a_workload_file_carries_its_own_invariants(tmp_path: Path) -> None:
    path = design(tmp_path, 'workload = { file = "w.toml" }', '["balance"]')
    (path.parent / "w.toml").write_text(WALLET + "\n" + BALANCE, encoding="utf-8")
    assert list(load_design(path).workload.invariants) == ["balance"]
    # ... as a [workload] table does under [[workload.invariants]].
    path = design(tmp_path, "", '["balance"]')
    path.write_text(path.read_text() + "\n" + inline(WALLET + "\n" + BALANCE), encoding="utf-8")
    assert judge(load_design(path).workload, {"a-1": 70, "a-2": 130}) == "valid"


def test_a_python_workload_declares_checkers_made_by_the_factories() -> None:
    unique = make_uniqueness(
        "one_transfer_per_id",
        items=(Requests(op="transfer", id="transfer_id"),),
        words=UniqueWords(noun="transfer"),
    )
    op = Operation(
        name="transfer",
        method="POST",
        path="/transfers",
        body=("transfer_id",),
        id="transfer_id",
        fields={"transfer_id": Key("transfer")},
        ok=(Answer(200),),
    )
    workload = Workload(
        name="wallet",
        keys={"transfer": 4},
        operations=(op,),
        invariants={"one_transfer_per_id": unique},
    )
    assert workload.invariants["one_transfer_per_id"] is unique
    with pytest.raises(InvalidWorkload, match=r"'invariants' must be names of \[a-z\]"):
        Workload(name="w", keys={"t": 1}, operations=(op,), invariants={"Bad": unique})
    with pytest.raises(InvalidWorkload, match=r"'invariants\['x'\]' must be a checker"):
        Workload(name="w", keys={"t": 1}, operations=(op,), invariants={"x": 3})  # type: ignore[dict-item]


def test_rows_name_only_invariants_that_exist(tmp_path: Path) -> None:
    path = design(tmp_path, "", '["balanse"]')
    path.write_text(path.read_text() + "\n" + BALANCE + "\n" + inline(WALLET), encoding="utf-8")
    assert error(path).endswith(
        "unknown: ['balanse']; known: consistent_reads, targets_stay_up, balance"
    )


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        (
            BALANCE.replace('name = "balance"', 'name = "no_oversell"'),
            "'invariants' must be names that are not built-in invariants' (got ['no_oversell'])",
        ),
        (
            BALANCE.replace('field = "balance"', 'field = "balance"\nfloor = "zero"'),
            "invariants[0] (name 'balance'): 'floor' must be an integer",
        ),
        (
            BALANCE.replace('type = "accounting"', 'type = "accountancy"'),
            "invariants[0] (name 'balance'): 'type' must be one of",
        ),
        ('invariants = "balance"', "'invariants' must be an array of tables ([[invariants]])"),
    ],
)
def test_bad_invariant_tables_name_the_file_and_the_table(
    tmp_path: Path, tables: str, expected: str
) -> None:
    path = design(tmp_path, "", '["consistent_reads"]')
    text = path.read_text()
    if tables.startswith("invariants ="):  # a top-level key: before the first table
        text = tables + "\n" + text
        tables = ""
    path.write_text(text + "\n" + tables + "\n" + inline(WALLET), encoding="utf-8")
    assert error(path).startswith(f"{path}: "), error(path)
    assert expected in error(path), error(path)


def test_an_invariant_declared_twice_is_refused(tmp_path: Path) -> None:
    path = design(tmp_path, 'workload = { file = "w.toml" }', '["balance"]')
    (path.parent / "w.toml").write_text(WALLET + "\n" + BALANCE, encoding="utf-8")
    path.write_text(path.read_text() + "\n" + BALANCE, encoding="utf-8")
    assert "'invariants' must be names the workload does not declare already" in error(path)
