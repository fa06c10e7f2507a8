"""``until`` steps on a real target: a batch after one lands at the declared
deadline (the auction's end_time, on the target's clock), and one aimed before
it lands before it: what the temporal-boundary rows rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CLOCK = {"f": "clock", "key": None, "args": {}}


def _step_until(offset_ms: int) -> dict[str, Any]:
    return {"step": "until", "kind": "auction", "key": 0, "offset_ms": offset_ms}


def test_a_batch_after_an_until_step_meets_the_deadline(tmp_path: Path) -> None:
    schedule = {
        "version": 2,
        "workload": "auction",
        "setup": {"values": {"create_auction": [{"ends_in_ms": 1200}]}, "declined": {}},
        "steps": [
            _step_until(-600),
            {"step": "batch", "ops": [CLOCK]},
            _step_until(0),
            {"step": "batch", "ops": [CLOCK]},
        ],
    }
    path = tmp_path / "until.schedule.json"
    path.write_text(json.dumps(schedule), encoding="utf-8")
    out = tmp_path / "replays"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "replay", str(path), "--design",
         str(ROOT / "designs" / "auction.toml"), "--row", "bid-at-deadline", "--times", "1",
         "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (history,) = sorted(out.rglob("00000.jsonl"))
    events = [json.loads(line) for line in history.read_text().splitlines()]
    (end_time,) = [e["value"]["body"]["end_time"] for e in events
                   if e["f"] == "create_auction" and e["type"] == "ok"]
    nows = [e["value"]["body"]["now"] for e in events if e["f"] == "clock" and e["type"] == "ok"]
    assert len(nows) == 2, events
    # The target's clock when each clock request was served, against the deadline:
    # never early (beyond the clock mapping's error), late by a loopback round trip
    # and asyncio's timer granularity (tens of ms; a busy machine adds more). A step
    # that ignored its offset or did not wait would be 600 ms off.
    for now, due in zip(nows, (end_time - 600, end_time), strict=True):
        assert -100 < now - due < 400, (nows, end_time)
    # No fault and every answer definite, but a deadline passing changes the
    # state by itself: the final state is read until two snapshots agree.
    snapshots = {e["value"].get("snapshot") for e in events
                 if e["phase"] == "final" and e["type"] == "invoke"}
    assert len(snapshots) >= 2, snapshots
