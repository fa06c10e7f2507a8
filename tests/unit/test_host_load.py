"""The CPU stall an example ran under, from pressure stall information or the load
average, and when it makes the host too busy to judge a time by."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import host_load
from harness.host_load import Mark, Stall, saturated, since

PSI = (
    "some avg10=1.00 avg60=2.00 avg300=3.00 total={total}\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
)


def test_the_stall_is_the_pressure_total_gained_over_the_time_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pressure = tmp_path / "cpu"
    pressure.write_text(PSI.format(total=5_000_000))
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(host_load.time, "monotonic", lambda: next(clock))
    start = host_load.mark(pressure)
    assert start == Mark(100.0, 5_000_000)
    pressure.write_text(PSI.format(total=6_500_000))
    stall = since(start, pressure, tmp_path / "no-loadavg")
    assert stall == Stall(1.5, 2.0, "cpu pressure")


def test_without_pressure_information_the_load_average_stands_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loadavg = tmp_path / "loadavg"
    cpus = len(host_load.os.sched_getaffinity(0))
    loadavg.write_text(f"{cpus * 4:.2f} 1.00 1.00 3/200 1234\n")
    clock = iter([10.0, 14.0, 15.0])
    monkeypatch.setattr(host_load.time, "monotonic", lambda: next(clock))
    missing = tmp_path / "no-pressure"
    stall = since(host_load.mark(missing), missing, loadavg)
    assert stall is not None and stall.source == "load average"
    assert stall.stalled_s == pytest.approx(3.0)  # 3 of 4 runnable tasks had no CPU
    assert since(Mark(0.0, None), missing, tmp_path / "none") is None


def test_the_host_is_saturated_when_three_quarters_of_the_examples_time_stalled() -> None:
    # 64 %: what the CI suite's integration tests reach at their busiest.
    busy_ci = [Stall(2.7, 3.0, "cpu pressure"), Stall(0.5, 2.0, "cpu pressure")]
    assert saturated(busy_ci) is None
    assert saturated([]) is None
    overloaded = [Stall(2.9, 3.0, "cpu pressure"), Stall(1.5, 2.0, "cpu pressure")]
    why = saturated(overloaded)
    assert why is not None and "88%" in why and "cpu pressure" in why
