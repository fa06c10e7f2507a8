"""The random baseline (``--strategy random``) is a real search: against a real
target it catches an easy bug, reports the first failing schedule as found
(nothing shrinks it) and says how to replay it with the same strategy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from catching import hunt, violated

from harness.design import load_design

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_random_baseline_catches_a_lost_update(tmp_path: Path) -> None:
    design = load_design(ROOT / "designs" / "kv.toml")
    report, row = hunt(design, "read_then_write", "cas-race", tmp_path, strategy="random")
    assert report.strategy == "random"
    assert violated(row) & {"linearizable", "acknowledged_writes_survive"}, violated(row)
    assert row.counterexample is not None
    # Unshrunk: the failing schedule is the first one, with no smaller original.
    assert row.counterexample.original_schedule_path is None
    assert "--strategy random" in row.replay_command
    seed_dir = tmp_path / f"seed-{row.seed}"
    data = json.loads((seed_dir / "report.json").read_text(encoding="utf-8"))
    assert data["strategy"] == "random"
    assert "strategy: `random`" in (seed_dir / "report.md").read_text(encoding="utf-8")
