"""Fresh contract ids per example, so examples never share keys and need no reset."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

MAX_ID = 64
# The longest suffix a KeySpace adds: "-" + 3-letter kind + "-" + up to 6 digits.
_SUFFIX_ROOM = 1 + 3 + 1 + 6
MAX_PREFIX = MAX_ID - _SUFFIX_ROOM
MAX_INDEX = 999_999


_KINDS = ("sku", "ord", "pay", "swp", "usr")


def example_prefix(key: str) -> str | None:
    """The prefix of the example a contract id belongs to (``<prefix>-<kind>-<i>``),
    or None for an id no `KeySpace` made: how late side effects find their example."""
    head, _, index = key.rpartition("-")
    prefix, _, kind = head.rpartition("-")
    if prefix and kind in _KINDS and index.isdigit():
        return prefix
    return None


def new_run_id() -> str:
    """A short random id for one harness run (48 bits: collisions are negligible)."""
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Ids of one example: ``<prefix>-<kind>-<i>``, each a valid contract id."""

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

    def _key(self, kind: str, i: int) -> str:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= MAX_INDEX:
            raise ValueError(f"KeySpace: index must be an int in 0..{MAX_INDEX} (got {i!r})")
        return f"{self.prefix}-{kind}-{i}"

    def sku(self, i: int) -> str:
        return self._key("sku", i)

    def order_id(self, i: int) -> str:
        return self._key("ord", i)

    def payment_id(self, i: int) -> str:
        return self._key("pay", i)

    def swipe_id(self, i: int) -> str:
        return self._key("swp", i)

    def user(self, i: int) -> str:
        return self._key("usr", i)
