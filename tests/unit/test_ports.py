"""Port claims across harness processes (pytest-xdist workers, parallel runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.provision import procfs
from harness.provision.ports import claim_port


def test_a_port_is_claimed_once_per_live_process(tmp_path: Path) -> None:
    assert claim_port(40001, tmp_path)
    assert claim_port(40001, tmp_path), "the owner may claim its own port again"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = procfs.start_ticks(other.pid)
        (tmp_path / "40002").write_text(f"{other.pid} {started}")
        assert not claim_port(40002, tmp_path), "a live process holds it"
    finally:
        other.kill()
        other.wait()
    assert claim_port(40002, tmp_path), "its owner is dead: the claim is taken over"


def test_a_reused_pid_does_not_hold_a_claim(tmp_path: Path) -> None:
    (tmp_path / "40003").write_text("1 999999999")  # pid 1 lives, but started at another time
    assert claim_port(40003, tmp_path)
    (tmp_path / "40004").write_text("garbage")
    assert claim_port(40004, tmp_path), "an unreadable claim holds nothing"
