"""`failmodel setup` is cached, its binaries run, and a half-done step is redone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.progress import SetupEvent
from harness.setup import Binaries, setup
from harness.setup.binaries import KAFKA_VERSION
from harness.setup.staging import is_complete, staged_dir

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_cached_setup_does_no_work_and_finds_everything(binaries: Binaries) -> None:
    events: list[SetupEvent] = []
    again = setup(progress=events.append)
    assert again == binaries
    assert events and {event.state for event in events} == {"ready"}, events


def test_the_cli_setup_prints_one_line_per_step_and_succeeds() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness", "setup"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    steps = ["PostgreSQL, Redis, Java", "clock faults", "Toxiproxy server", "Kafka broker"]
    assert len(lines) == len(steps), lines
    for line, step in zip(lines, steps, strict=True):
        assert line.startswith(f"failmodel setup: {step}") and line.endswith(")"), line
        assert ": ok (" in line, line


def test_the_installed_binaries_run(binaries: Binaries) -> None:
    version = subprocess.run(
        [str(binaries.toxiproxy_server), "-version"],
        capture_output=True, text=True, timeout=10, check=True, start_new_session=True,
    )
    assert "toxiproxy" in version.stdout + version.stderr
    assert (binaries.kafka_libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()
    assert any(binaries.kafka_libs.glob("log4j-slf4j-impl-*.jar"))
    assert "<Root level=\"INFO\">" in binaries.kafka_log_config.read_text()
    assert (binaries.postgres_bin / "initdb").is_file()


def test_a_step_killed_half_way_is_redone_not_trusted(tmp_path: Path) -> None:
    final = tmp_path / "tool-1.0"
    with pytest.raises(KeyboardInterrupt), staged_dir(final) as staging:
        (staging / "half-built").write_text("x")
        raise KeyboardInterrupt  # as if Ctrl-C hit mid-build
    assert not final.exists() and not is_complete(final)
    assert list(tmp_path.iterdir()) == []  # the partial build is gone too

    with staged_dir(final) as staging:
        (staging / "built").write_text("ok")
    assert is_complete(final) and (final / "built").read_text() == "ok"
