"""The per-run watchdog: ``python -m harness.provision.watchdog <run record>``.

It runs in its own process group, so killing the harness (even with SIGKILL)
leaves it alive to kill every group the run record names.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.provision.reaper import clean_up, harness_alive

POLL_SECONDS = 0.25


def watch(record_path: Path) -> None:
    """Return when the record is gone (clean exit) or after cleaning up a dead harness."""
    while record_path.exists():
        if not harness_alive(record_path):
            clean_up(record_path)
            return
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m harness.provision.watchdog <run record path>")
    watch(Path(sys.argv[1]))
