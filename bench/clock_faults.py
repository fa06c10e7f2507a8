"""What a controllable clock costs and how fast a change is seen: ``python bench/clock_faults.py``.

1. The cost of one wall-clock read (``time.time()`` in CPython, 200 000 reads) in a
   plain process, under libfaketime with its default cache (the control file read
   at most every 10 s: too slow to follow a fault), and with ``FAKETIME_NO_CACHE=1``
   (the file read on every call: what clock faults use).
2. How long after the harness rewrites the control file a running process sees the
   new offset: a probe reads the clock in a tight loop (every 1 ms) and reports the
   monotonic time of the first read showing each of 20 changes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.provision.clock import ClockControl
from harness.setup import setup
from harness.setup.cache import cache_dir
from harness.setup.faketime import find_faketime

COST = """
import time
n = 200_000
t = time.perf_counter()
for _ in range(n):
    time.time()
print((time.perf_counter() - t) / n * 1e9)
"""
PROBE = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
last = None
while time.monotonic() < end:
    off = round((time.time() * 1000 - (time.monotonic() * 1000 + float(sys.argv[2]))) / 100)
    if off != last:
        print(time.monotonic(), off, flush=True)
        last = off
    time.sleep(0.001)
"""


def cost(env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", COST], env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


def main() -> None:
    setup(quiet=True)
    faketime = find_faketime(cache_dir())
    assert faketime is not None
    with tempfile.TemporaryDirectory() as tmp:
        clock = ClockControl("bench", Path(tmp) / "bench.rc", faketime)
        plain = dict(os.environ)
        cached = {**plain, **clock.env()}
        del cached["FAKETIME_NO_CACHE"]
        live = {**plain, **clock.env()}
        print("one time.time() call:")
        for label, env in (("plain", plain), ("libfaketime, cached", cached),
                           ("libfaketime, FAKETIME_NO_CACHE=1", live)):
            print(f"  {label:<34} {cost(env):7.0f} ns")
        base = time.time() * 1000 - time.monotonic() * 1000
        probe = subprocess.Popen(
            [sys.executable, "-c", PROBE, "6", str(base)], env=live, stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        changes = []
        for i in range(20):
            target = 1000 * (1 + i % 3) * (-1 if i % 2 else 1)
            changes.append((time.monotonic(), round(target / 100)))
            clock.set_offset(target)
            time.sleep(0.2)
        clock.reset()
        out, _ = probe.communicate(timeout=30)
        seen = [(float(t), int(o)) for t, o in (line.split() for line in out.splitlines())]
        delays = []
        for at, wanted in changes:
            first = next((t for t, o in seen if t >= at and o == wanted), None)
            if first is not None:
                delays.append((first - at) * 1000)
        print(f"a change of the control file seen by the next clock read: {len(delays)} of "
              f"{len(changes)} changes, after median {statistics.median(delays):.1f} ms, "
              f"max {max(delays):.1f} ms (the probe reads every ~1 ms)")


if __name__ == "__main__":
    main()
