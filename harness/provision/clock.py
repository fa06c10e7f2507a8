"""A process's wall clock under the harness's control: libfaketime and a control file.

A process named by a ``clock:`` fault family runs from its first start with
libfaketime preloaded and ``FAKETIME_TIMESTAMP_FILE`` pointing at a control file that
holds ``+0`` (the true time). The nemesis skews, steps or drifts the clock by
rewriting that file; healing writes ``+0`` again. No restart is needed: with
``FAKETIME_NO_CACHE=1`` libfaketime reads the file on every clock read, so a change
is seen by the very next one (measured by bench/clock_faults.py: within 1.3 ms with a
probe reading every millisecond; a clock read costs 6-8 microseconds instead of 0.2).

Only the wall clock (``CLOCK_REALTIME``: ``time.time()``, ``datetime.now()``,
``System.currentTimeMillis()``) is faked; the monotonic clock stays true, as on a
host whose clock is wrong (NTP steps and skew do not move ``CLOCK_MONOTONIC``), so
timers and timeouts keep working. Runtimes that read the clock without libc's
``clock_gettime`` -- Go's runtime reads the vDSO itself -- do not see it at all.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from harness.setup.faketime import FakeTime

DRIFT_STEP_S = 0.02
"""How often a drifting clock's offset is advanced (a drift is a sequence of small steps)."""
MAX_OFFSET_MS = 24 * 3600 * 1000


class ClockControl:
    """One process's clock: its preload environment and its control file."""

    def __init__(self, name: str, path: Path, faketime: FakeTime) -> None:
        self.name = name
        self.path = path
        self._faketime = faketime
        self._lock = threading.Lock()
        self._offset_ms = 0.0
        self._drift: threading.Thread | None = None
        self._stop_drift = threading.Event()
        self._write(0.0)

    def env(self) -> Mapping[str, str]:
        """What the process's environment gets so that this control applies to it."""
        return {
            "LD_PRELOAD": self._faketime.preload,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    @property
    def offset_ms(self) -> float:
        """How far the process's clock is from the true time now (positive: ahead)."""
        with self._lock:
            return self._offset_ms

    def set_offset(self, offset_ms: float) -> None:
        """Step the clock to ``offset_ms`` from the true time (stops a drift)."""
        self._halt_drift()
        self._write(offset_ms)

    def drift(self, rate_ms_per_s: float) -> None:
        """From now on the clock gains ``rate_ms_per_s`` per second (loses, if negative),
        in steps of ``DRIFT_STEP_S``, from wherever it is now."""
        self._halt_drift()
        start, base = time.monotonic(), self.offset_ms
        stop = self._stop_drift = threading.Event()

        def run() -> None:
            while not stop.wait(DRIFT_STEP_S):
                self._write(base + rate_ms_per_s * (time.monotonic() - start))

        self._drift = threading.Thread(target=run, name=f"clock-drift-{self.name}", daemon=True)
        self._drift.start()

    def reset(self) -> None:
        """Back to the true time."""
        self.set_offset(0.0)

    def _halt_drift(self) -> None:
        thread, self._drift = self._drift, None
        if thread is not None:
            self._stop_drift.set()
            thread.join()

    def _write(self, offset_ms: float) -> None:
        offset_ms = max(-MAX_OFFSET_MS, min(MAX_OFFSET_MS, offset_ms))
        with self._lock:
            self._offset_ms = offset_ms
            partial = self.path.with_name(f".{self.path.name}.partial")
            # libfaketime reads seconds with a fraction; renaming makes the change atomic
            partial.write_text(f"{offset_ms / 1000:+.3f}\n", encoding="ascii")
            os.replace(partial, self.path)
