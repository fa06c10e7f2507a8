"""Build into a temp dir, publish by renaming: a step killed half-way is redone, never trusted."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COMPLETE = ".complete"


def is_complete(final: Path) -> bool:
    return (final / COMPLETE).is_file()


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty staging dir next to *final*; on success it becomes *final*."""
    staging = final.with_name(f"{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a run that was killed
    staging.mkdir(parents=True)
    try:
        yield staging
        (staging / COMPLETE).write_text("ok\n")
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
