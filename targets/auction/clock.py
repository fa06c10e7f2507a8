"""Which clock a process decides by, as one SQL expression for every variant.

Statements take `%(now)s`: NULL means "PostgreSQL's clock, read in this statement"
(the correct design's single clock authority); a number is a time some other clock
gave -- the process's own (`local_clock`) or the client's (`client_clock`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from targets.auction.schema import DB_NOW

NOW = f"COALESCE(%(now)s::bigint, {DB_NOW})"
"""The decision time inside a statement."""


def local_ms() -> int:
    """This process's own wall clock in epoch milliseconds (skewable: never the authority)."""
    return int(time.time() * 1000)


def process_now(variant: str) -> int | None:
    """The `now` parameter of this process's statements: its own clock only when the
    variant trusts it, else None (PostgreSQL's clock)."""
    return local_ms() if variant == "local_clock" else None


def bid_now(variant: str, body: Mapping[str, Any]) -> int | None:
    """The `now` a bid is judged at: the client's claim in `client_clock` (when it sent
    one), the replica's own clock in `local_clock`, else PostgreSQL's."""
    claimed = body.get("client_time")
    if variant == "client_clock" and isinstance(claimed, int) and not isinstance(claimed, bool):
        return claimed
    return process_now(variant)
