"""``failmodel check-history FILE --model NAME [--timeout S]``: exit 0 linearizable,
1 not linearizable, 2 unknown (budget ran out) or an error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from invariants.linearizability._check import check_operations
from invariants.linearizability._models import MODELS
from invariants.linearizability._readers import HistoryFormatError, read_operations
from invariants.linearizability._search import ModelError

EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_UNKNOWN = 0, 1, 2
_EXIT = {
    "linearizable": EXIT_LINEARIZABLE,
    "not linearizable": EXIT_NOT_LINEARIZABLE,
    "unknown": EXIT_UNKNOWN,
}


def check_history_file(
    path: Path,
    model_name: str,
    *,
    timeout: float | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Check one history file, print the verdict and its evidence; return the exit code."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    model = MODELS.get(model_name)
    if model is None:
        print(
            f"failmodel check-history: --model must be one of {', '.join(MODELS)} "
            f"(got {model_name!r})",
            file=err,
        )
        return EXIT_UNKNOWN
    if timeout is not None and not timeout > 0:
        print(f"failmodel check-history: --timeout must be > 0 (got {timeout})", file=err)
        return EXIT_UNKNOWN
    try:
        result = check_operations(model, read_operations(path, model), timeout=timeout)
    except (HistoryFormatError, ModelError) as exc:
        print(f"failmodel check-history: {exc}", file=err)
        return EXIT_UNKNOWN
    verdict = result.to_verdict()
    print(f"{path}: {verdict.summary}", file=out)
    for evidence in verdict.evidence:
        print(f"  - {evidence.message}", file=out)
    return _EXIT[result.status]
