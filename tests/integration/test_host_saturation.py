"""The runner's measure of a saturated host, on this machine's real CPUs: busy
processes beyond the cores make runnable tasks queue, and the stall says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import host_load

BUSY_S = 30
"""Each burner stops by itself after this long, whatever happens to the test."""


def test_busy_processes_beyond_the_cores_saturate_the_host() -> None:
    if host_load.mark().stalled_us is None:
        pytest.skip("no /proc/pressure/cpu here: the load average moves over a minute")
    cpus = len(os.sched_getaffinity(0))
    burn = f"import time\nend = time.monotonic() + {BUSY_S}\nwhile time.monotonic() < end: pass"
    burners = [
        subprocess.Popen([sys.executable, "-c", burn], start_new_session=True)
        for _ in range(3 * cpus)
    ]
    try:
        time.sleep(0.5)
        start = host_load.mark()
        time.sleep(2.0)
        stall = host_load.since(start)
    finally:
        for burner in burners:
            os.killpg(burner.pid, signal.SIGKILL)
            burner.wait()
    assert stall is not None and stall.source == "cpu pressure"
    assert stall.stalled_s / stall.seconds >= host_load.SATURATED, stall
    assert host_load.saturated([stall]) is not None
