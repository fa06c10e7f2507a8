"""The partner's memory without HTTP: idempotency, declines, and reloading the
ledger file after a crash (including a line torn by the kill)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.partner.endpoints import NOTIFY, PSP
from harness.partner.ledger import LedgerFileError, read_ledger_file
from harness.partner.state import DECLINED, PartnerState


def test_replay_conflict_and_decline_are_counted() -> None:
    state = PartnerState()
    body = {"reference": "p1", "amount": 5}
    first = state.answer(PSP, body, "k1")
    assert state.answer(PSP, body, "k1") == first
    assert state.answer(PSP, {"reference": "p1", "amount": 6}, "k1").status == 422
    state.decline(["p2"])
    assert state.answer(PSP, {"reference": "p2", "amount": 5}, "k2") == DECLINED
    stats = state.stats["psp"]
    assert (stats.effects, stats.replays, stats.conflicts, stats.declines) == (1, 1, 1, 1)
    assert state.ledger.last_seq == 1


def test_restarted_state_keeps_effects_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    before = PartnerState(ledger_path=path)
    body = {"match_id": "m1", "users": ["a", "b"]}
    first = before.answer(NOTIFY, body, "k1")
    before.ledger.close()

    after = PartnerState(ledger_path=path)
    assert after.answer(NOTIFY, body, "k1") == first
    assert after.ledger.effects() == before.ledger.effects()
    assert after.stats["notify"].effects == 0


def test_torn_last_line_is_cut_and_appending_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    state = PartnerState(ledger_path=path)
    state.answer(PSP, {"reference": "p1", "amount": 5}, None)
    state.ledger.close()
    with path.open("a", encoding="utf-8") as file:
        file.write('{"seq": 2, "kind": "cha')

    assert len(read_ledger_file(path)) == 1
    reopened = PartnerState(ledger_path=path)
    reopened.answer(PSP, {"reference": "p2", "amount": 5}, None)
    reopened.ledger.close()
    refs = [effect.body["reference"] for effect in read_ledger_file(path)]
    assert refs == ["p1", "p2"]


def test_corrupt_middle_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    good = {"seq": 2, "kind": "charge", "effect_id": "ch_1", "body": {}, "time": 0.0}
    path.write_text("garbage\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(LedgerFileError, match=r"ledger\.jsonl:1: not a ledger entry"):
        read_ledger_file(path)
