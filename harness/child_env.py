"""The environment of a ``python -m harness...`` child process.

The harness starts some of its own modules as processes (the watchdog, the
engine guard, the partner service, a ``--jobs`` job). Each must import this
checkout's ``harness``, whatever the cwd and whatever PYTHONPATH the user set,
so the package's root goes first on PYTHONPATH.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, plus ``extra``, with the root of this
    checkout's ``harness`` package first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **(extra or {}), "PYTHONPATH": path}
