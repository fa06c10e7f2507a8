"""Running the installers' commands: own process group, bounded, output kept for errors."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

STEP_TIMEOUT = 1800.0


class SetupError(RuntimeError):
    """An installation step failed; the message names the step and how to fix it."""


def run(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = STEP_TIMEOUT,
) -> str:
    """Run *argv* to completion and return its output; raise `SetupError` with its tail.

    The command gets its own process group, killed if we are interrupted or it
    overruns *timeout*, so a Ctrl-C leaves no half-running build behind.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise SetupError(f"{what}: {argv[0]!r} is not installed") from exc
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: '{' '.join(argv)}' took longer than {timeout:g}s") from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = output.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-30:])
        raise SetupError(
            f"{what}: '{' '.join(argv)}' failed with exit code {proc.returncode}:\n{tail}"
        )
    return text
