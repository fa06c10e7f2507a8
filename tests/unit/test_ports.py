"""Port claims across harness processes (pytest-xdist workers, parallel runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.provision import procfs
from harness.provision.ports import (
    LOWEST,
    claim_port,
    ephemeral_range,
    free_port,
    unclaimable_ranges,
)


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


def test_ports_are_handed_out_outside_the_ephemeral_range(tmp_path: Path) -> None:
    """Outgoing connections take their source ports from the ephemeral range; a port
    handed out from it could be taken before its service binds it (a CI run saw a Go
    target and Kafka fail with "address already in use")."""
    ephemeral = ephemeral_range()
    assert ephemeral is not None, "Linux names its ephemeral range in /proc"
    low, high = ephemeral
    for _ in range(20):
        port = free_port()
        assert LOWEST <= port < low or high < port <= 65535, port


def test_the_ranges_left_outside_the_ephemeral_one(tmp_path: Path) -> None:
    (tmp_path / "range").write_text("32768\t60999\n")
    ephemeral = ephemeral_range(tmp_path / "range")
    assert ephemeral == (32768, 60999)
    assert unclaimable_ranges(ephemeral) == [(10_000, 32767), (61000, 65535)]
    assert unclaimable_ranges((1024, 65000)) == [], "too little room: the kernel picks"
    assert unclaimable_ranges(None) == []
    (tmp_path / "range").write_text("garbage")
    assert ephemeral_range(tmp_path / "range") is None
