"""Fresh contract ids per example, so examples never share keys and need no reset."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.limits import MAX_ID, MAX_KIND_CHARS

MAX_INDEX = 999_999
# The longest suffix a KeySpace adds: "-" + kind + "-" + up to 6 digits.
_SUFFIX_ROOM = 1 + MAX_KIND_CHARS + 1 + len(str(MAX_INDEX))
MAX_PREFIX = MAX_ID - _SUFFIX_ROOM
_KIND = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_KIND_CHARS - 1}}}")

__all__ = [
    "MAX_ID",
    "MAX_INDEX",
    "MAX_PREFIX",
    "KeySpace",
    "example_ids",
    "example_prefix",
    "new_run_id",
]


def example_prefix(key: str, kinds: Collection[str] | None = None) -> str | None:
    """The prefix of the example a contract id belongs to (``<prefix>-<kind>-<i>``,
    the kind one of ``kinds`` if given), or None for an id no `KeySpace` made:
    how late side effects find their example."""
    head, _, index = key.rpartition("-")
    prefix, _, kind = head.rpartition("-")
    if (
        prefix
        and index.isdigit()
        and _KIND.fullmatch(kind)
        and (kinds is None or kind in kinds)
    ):
        return prefix
    return None


def example_ids(value: Any, kinds: Collection[str] | None = None) -> Iterator[str]:
    """Every contract id (see `example_prefix`) in a JSON value, at any depth: the ids
    a request or a side effect names, whatever its shape."""
    if isinstance(value, str):
        if example_prefix(value, kinds) is not None:
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from example_ids(v, kinds)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from example_ids(v, kinds)


def new_run_id() -> str:
    """A short random id for one harness run (48 bits: collisions are negligible)."""
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Ids of one example: ``<prefix>-<kind>-<i>``, each a valid contract id
    (at most 64 characters of ``[A-Za-z0-9_-]``) for any key kind."""

    prefix: str

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not re.fullmatch(
            rf"[A-Za-z0-9_-]{{1,{MAX_PREFIX}}}", self.prefix
        ):
            raise ValueError(
                f"KeySpace: 'prefix' must be 1..{MAX_PREFIX} characters [A-Za-z0-9_-] "
                f"(got {self.prefix!r})"
            )

    @classmethod
    def for_example(cls, run_id: str, example: int) -> KeySpace:
        """The key space of example number ``example`` of run ``run_id``."""
        if isinstance(example, bool) or not isinstance(example, int) or example < 0:
            raise ValueError(f"KeySpace: 'example' must be an int >= 0 (got {example!r})")
        return cls(f"{run_id}-{example}")

    def id(self, kind: str, i: int) -> str:
        """The id of key ``i`` of ``kind`` in this example."""
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise ValueError(
                f"KeySpace: kind must be 1..{MAX_KIND_CHARS} characters [a-z0-9_] starting "
                f"with a letter (got {kind!r})"
            )
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= MAX_INDEX:
            raise ValueError(f"KeySpace: index must be an int in 0..{MAX_INDEX} (got {i!r})")
        return f"{self.prefix}-{kind}-{i}"

    # Shorthands for the built-in workloads' kinds (tests and examples use them).

    def sku(self, i: int) -> str:
        return self.id("sku", i)

    def order_id(self, i: int) -> str:
        return self.id("order", i)

    def payment_id(self, i: int) -> str:
        return self.id("payment", i)

    def swipe_id(self, i: int) -> str:
        return self.id("swipe", i)

    def user(self, i: int) -> str:
        return self.id("user", i)
