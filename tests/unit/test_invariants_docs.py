"""docs/invariants.md says what the library does: every TOML block declares
checkers, the Python block makes one, the whole design of section 12 loads
with docs/workloads.md's counter, and the sample evidence is what the
``balance`` invariant says; its table of words is the code's."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

from histories import recorder

from harness.design import load_design
from harness.history import FinalState, History, Ledgers
from invariants.library import parse_invariants
from invariants.library._vocabulary import WORDS, words_table

ROOT = Path(__file__).parents[2]
DOCS = (ROOT / "docs" / "invariants.md").read_text()


def blocks(language: str, docs: str = DOCS) -> list[str]:
    return [b.split("```", 1)[0] for b in docs.split(f"```{language}\n")[1:]]


def test_every_toml_block_declares_checkers() -> None:
    names = []
    for block in blocks("toml"):
        names += parse_invariants(tomllib.loads(block)["invariants"], "docs/invariants.md")
    assert names == [
        "live_until_deadline",
        "writes_carry_newest_token",
        "one_holder_at_a_time",
        "bid_eligible",
        "bids_increase",
        "balance",
        "no_overdraft",
        "one_active_claim_per_driver",
        "transfer_once",
        "bids_listed",
        "own_accounts_only",
        "own_location_only",
        "members_only",
        "counter_accounting",
    ]


def test_the_python_block_makes_a_checker() -> None:
    (python,) = blocks("python")
    namespace: dict[str, object] = {}
    exec(python, namespace)  # our own documentation
    assert callable(namespace["own_accounts_only"])


def test_the_whole_design_loads_with_the_counter_workload(tmp_path: Path) -> None:
    counter = next(
        b
        for b in blocks("toml", (ROOT / "docs" / "workloads.md").read_text())
        if b.startswith("# counter.toml")
    )
    folder = tmp_path / "designs"
    folder.mkdir()
    (folder / "counter.toml").write_text(textwrap.dedent(counter))
    (folder / "design.toml").write_text(blocks("toml")[-1])
    design = load_design(folder / "design.toml", root=ROOT)
    assert design.rows[0].invariants == ("consistent_reads", "counter_accounting")
    assert list(design.workload.invariants) == ["counter_accounting"]


def balance_history() -> History:
    rec = recorder()
    rec.set_phase("setup")
    for account in ("a-1", "a-2"):
        body = {"account_id": account, "balance": 100}
        invoke = rec.invoke(0, "open_account", {"node": 0, "attempt": 1, "body": body})
        rec.complete(invoke, "ok", {"status": 200, "body": body})
    rec.set_phase("main")
    body = {"transfer_id": "t-1", "from": "a-1", "to": "a-2", "amount": 30}
    invoke = rec.invoke(0, "transfer", {"node": 0, "attempt": 1, "body": body})
    rec.complete(invoke, "ok", {"status": 200, "body": {"transfer_id": "t-1"}})
    return rec.history()


def test_the_sample_evidence_is_what_balance_says() -> None:
    (block,) = [b for b in blocks("toml") if 'name = "balance"' in b]
    checkers = parse_invariants(tomllib.loads(block)["invariants"], "docs")
    final = FinalState(
        workload="wallet",
        values={"accounts": {"a-1": {"balance": 100}, "a-2": {"balance": 130}}},
    )
    verdict = checkers["balance"](balance_history(), final, Ledgers())
    (evidence,) = verdict.evidence
    assert (verdict.status, evidence.pending) == ("invalid", True)
    assert evidence.message == blocks("text")[1].strip()


def test_the_sample_error_is_what_the_loader_says() -> None:
    table = {"name": "balance", "type": "accounting", "final": "accounts", "field": "balance"}
    try:
        parse_invariants(
            [
                {
                    "name": "x",
                    "type": "uniqueness",
                    "items": {"from": "mutual", "op": "swipe", "key": ["a", "b"]},
                },
                table,
            ],
            "designs/wallet.toml",
        )
    except ValueError as exc:
        assert str(exc) == blocks("text")[0].strip()
    else:
        raise AssertionError("a table without flows was accepted")


def test_the_words_table_is_the_codes_and_names_every_field() -> None:
    """Section 11's table, made by ``words_table``: a field added to a words
    record, or a placeholder to a template, changes it."""
    after = DOCS.split("<!-- words table: begin -->\n", 1)[1]
    shown = after.split("\n<!-- words table: end -->")[0]
    assert shown == words_table(), "run: python -m invariants.library._vocabulary"
    rows = shown.splitlines()[2:]
    assert len(rows) == sum(len(record.__dataclass_fields__) for record, _ in WORDS.values())
    assert "| `eligibility` | `subject` | template: `{noun}` `{id}` `{key}` `{reasons}` |" in shown
    assert "| `propagation` | `first` | one of `id`, `key` |" in shown
