"""What a client is asked to do: one logical operation and how it is retried."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from harness.limits import MAX_SECONDS, is_seconds
from harness.workload.api import FromAnswer

RetryMode: TypeAlias = Literal["none", "immediate", "concurrent", "delayed"]
RETRY_MODES: tuple[RetryMode, ...] = ("none", "immediate", "concurrent", "delayed")


def _check_seconds(owner: str, name: str, value: object, *, positive: bool) -> None:
    bound = "> 0" if positive else ">= 0"
    if not is_seconds(value, positive=positive):
        raise ValueError(
            f"{owner}: {name!r} must be a finite number {bound} and <= {MAX_SECONDS}"
            f" (got {value!r})"
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Resend the same body (same idempotency key) ``count`` more times.

    ``immediate``: each retry right after the previous attempt completes;
    ``concurrent``: all retries at once, alongside the first attempt;
    ``delayed``: each retry ``delay_s`` after the previous attempt completes.
    Retries are unconditional: resending after a success is how a client
    that lost the answer behaves, and what idempotency must survive.
    """

    mode: RetryMode = "none"
    count: int = 0
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in RETRY_MODES:
            raise ValueError(
                f"RetryPolicy: 'mode' must be one of {list(RETRY_MODES)} (got {self.mode!r})"
            )
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"RetryPolicy: 'count' must be an int >= 0 (got {self.count!r})")
        if (self.mode == "none") != (self.count == 0):
            raise ValueError(
                f"RetryPolicy: mode {self.mode!r} needs 'count' "
                f"{'== 0' if self.mode == 'none' else '>= 1'} (got {self.count})"
            )
        _check_seconds("RetryPolicy", "delay_s", self.delay_s, positive=self.mode == "delayed")
        if self.mode != "delayed" and self.delay_s != 0:
            raise ValueError(
                f"RetryPolicy: 'delay_s' is only for mode 'delayed' (got {self.delay_s} "
                f"with mode {self.mode!r})"
            )

    @property
    def attempts(self) -> int:
        return 1 + self.count


NO_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class OpSpec:
    """One logical operation: history ``f`` and body, sent by client ``process``
    to replica ``node``, each attempt bounded by ``timeout_s``."""

    f: str
    body: Mapping[str, Any]
    process: int
    node: int = 0
    timeout_s: float = 1.0
    retry: RetryPolicy = field(default=NO_RETRY)
    snapshot: int | None = None
    """For a final read: which settle snapshot it belongs to (recorded in the history)."""
    answered: Mapping[str, tuple[FromAnswer, int]] = field(default_factory=dict)
    """Fields the client takes from earlier answers when it first sends the
    request (the body holds their defaults until then): field -> (source,
    how many distinct values back)."""

    def __post_init__(self) -> None:
        for name in ("process", "node"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"OpSpec: {name!r} must be an int >= 0 (got {value!r})")
        if not isinstance(self.body, Mapping):
            raise ValueError(f"OpSpec: 'body' must be a mapping (got {type(self.body).__name__})")
        _check_seconds("OpSpec", "timeout_s", self.timeout_s, positive=True)
        if not isinstance(self.retry, RetryPolicy):
            raise ValueError(f"OpSpec: 'retry' must be a RetryPolicy (got {self.retry!r})")
