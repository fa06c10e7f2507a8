"""Client for the partner service (CONTRACTS.md section 2) with a hard timeout per call."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import aiohttp


class PartnerUnavailable(ConnectionError):
    """The call may or may not have had its effect: no answer, a timeout or a 5xx."""


class PartnerClient:
    """POSTs JSON to the partner; everything but a definite answer is PartnerUnavailable.

    Create it inside the running event loop; close it with `close()` or `async with`.
    """

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self._url = url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def post(
        self, path: str, body: Any, *, idempotency_key: str | None = None
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or raw text) of `POST {url}{path}`."""
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        try:
            async with self._session.post(
                f"{self._url}{path}", json=body, headers=headers
            ) as response:
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise PartnerUnavailable(f"POST {path}: {exc!r}") from exc
        if response.status >= 500:
            raise PartnerUnavailable(f"POST {path}: HTTP {response.status} {text[:200]}")
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text

    async def close(self) -> None:
        """Release the connection pool."""
        await self._session.close()

    async def __aenter__(self) -> PartnerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
