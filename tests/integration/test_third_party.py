"""A service in another language, validated end to end: the Go payments target
of examples/go-payments, written from docs/contracts.md alone.

Its correct variant passes every row of its design; its bug (a fresh
Idempotency-Key on every PSP call) fails the row about lost PSP answers with
the invariant it breaks. Each search starts from an empty example database,
so a catch is a fresh find. The binary is built first (cached by source
digest), so a cold build does not count against the target's start timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from catching import assert_every_row_passes, hunt, violated

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


@pytest.fixture(scope="module")
def go_binary() -> Path:
    """``run --build-only``: the binary's path (built on first use, in its own group)."""
    build = subprocess.Popen(
        [str(EXAMPLE / "run"), "--build-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = build.communicate(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        pytest.fail(f"building {EXAMPLE} took more than {BUILD_TIMEOUT_S} s")
    text = output.decode(errors="replace")
    assert build.returncode == 0, f"building {EXAMPLE} failed:\n{text}"
    binary = Path(text.strip().splitlines()[-1])
    assert binary.is_file() and os.access(binary, os.X_OK), text
    return binary


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
