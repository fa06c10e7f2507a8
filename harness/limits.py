"""Limits on every number a user gives (docs/design-files.md, "Limits"): a typo
like ``replicas = 10**30`` must be an error, not a hang. A module of its own,
importing nothing of the harness, so the command line can check its arguments cheaply."""

import math
import sys
from typing import TypeGuard

MAX_REPLICAS = 16
MAX_EXAMPLES = 100_000
MAX_SECONDS = 600
MAX_ID = 64
# Argv strings and cwd reach execve(2): no NUL, and far below its size limits.
MAX_ARG_CHARS = 4096
MAX_ARGS = 256

# Workloads (docs/workloads.md, "Limits"): what a workload declares, in Python or TOML.
MAX_KEY_KINDS = 16
MAX_KIND_CHARS = 12  # a kind is the tag in ids <prefix>-<kind>-<i>, which stay within MAX_ID
MAX_KEYS = 1000  # keys of one kind in one example
MAX_OPERATIONS = 50
MAX_FIELDS = 32
MAX_ANSWERS = 16
MAX_CHOICES = 100
MAX_WEIGHT = 1000
MAX_VALUE = 10**9  # every drawn or constant integer is within -MAX_VALUE..MAX_VALUE
MAX_TEXT = 1000  # characters of a string value, a path, a route
MAX_SETUP = 16
MAX_FINAL = 16
MAX_INVARIANTS = 64  # a workload's own invariants
MAX_NAME = 64  # names of operations, fields and slots


def is_seconds(value: object, *, positive: bool) -> bool:
    """A finite number of seconds, >= 0 (> 0 if ``positive``), at most ``MAX_SECONDS``.

    ``True`` is an int to Python but never a duration to a user, and an int
    too large for a float (TOML has no bound) is simply too large."""
    if not is_finite_number(value):
        return False
    return (value > 0 if positive else value >= 0) and value <= MAX_SECONDS


def is_finite_number(value: object) -> TypeGuard[int | float]:
    """An int or float that a float holds: not a bool, nan or inf, and not an int
    too large for a float (TOML's integers have no bound; ``math.isfinite`` of
    one raises OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) <= sys.float_info.max
    return math.isfinite(value)

MAX_BUDGET_S = 7 * 24 * 3600  # a week: a time budget beyond it is a typo
MIN_BUDGET_S = 1
MAX_JOBS = 16
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``10m``, ``1h`` or ``1h30m`` (a bare
    number is seconds), within ``MIN_BUDGET_S..MAX_BUDGET_S``; ValueError says why not."""
    rest, total, units = text.strip().lower(), 0.0, ""
    if not rest:
        raise ValueError(f"a duration must not be empty (e.g. 90s, 10m, 1h; got {text!r})")
    if rest.replace(".", "", 1).isdigit():
        rest += "s"
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789."))
        number, unit, rest = rest[:digits], rest[digits : digits + 1], rest[digits + 1 :]
        if not number.strip(".") or number.count(".") > 1 or unit not in _UNITS or unit in units:
            raise ValueError(
                f"a duration is a number with a unit s, m or h, each at most once "
                f"(e.g. 90s, 10m, 1h30m; got {text!r})"
            )
        units += unit
        total += float(number) * _UNITS[unit]
    if not MIN_BUDGET_S <= total <= MAX_BUDGET_S:
        raise ValueError(
            f"a duration must be {MIN_BUDGET_S} s to {MAX_BUDGET_S // 3600} h (got {text!r})"
        )
    return total
