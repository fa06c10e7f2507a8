"""Headless Chromium: an optional component, installed by ``failmodel setup --with chromium``.

The HTML report is checked in a real browser by the tests (a screenshot and
the rendered DOM). Debian's ``chromium`` package is the browser; nothing is
downloaded from anywhere else. Without the background-networking flags below
Chromium keeps trying to reach its update and sync services, which a closed
network refuses.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

PACKAGE = "chromium"
INSTALL_COMMAND = "apt-get install -y --no-install-recommends chromium"
"""What installs it by hand (as root); ``failmodel setup --with chromium`` runs it."""
NAMES = ("chromium", "chromium-browser")
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--disable-dev-shm-usage",
)


def find_chromium() -> Path | None:
    for name in NAMES:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    return None


def _run(binary: Path, extra: Sequence[str], url: str, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="failmodel-chromium-") as profile:
        argv = [str(binary), *HEADLESS_FLAGS, f"--user-data-dir={profile}", *extra, url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(
            f"chromium exited with {out.returncode}: {' '.join(argv)}\n{out.stderr[-2000:]}"
        )
    return out.stdout


def screenshot(
    binary: Path,
    page: Path,
    png: Path,
    *,
    width: int = 1400,
    height: int = 2000,
    timeout: float = 120.0,
) -> Path:
    """Render ``page`` (a local file) headless and save a ``width`` x ``height`` PNG."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(
        binary,
        [f"--screenshot={png}", f"--window-size={width},{height}"],
        page.resolve().as_uri(),
        timeout,
    )
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {png}")
    return png


def dump_dom(binary: Path, page: Path, *, timeout: float = 120.0) -> str:
    """The DOM of ``page`` after the browser loaded it and ran its scripts."""
    return _run(binary, ["--dump-dom"], page.resolve().as_uri(), timeout)
