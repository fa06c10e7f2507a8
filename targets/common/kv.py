"""Redis: a client whose every call is bounded in time, checked reachable at start-up."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

CALL_TIMEOUT_S = 2.0
START_WAIT_S = 20.0


async def open_redis(url: str) -> aioredis.Redis:
    """A client for `url`; waits (bounded) until Redis answers PING."""
    client = aioredis.from_url(
        url,
        socket_timeout=CALL_TIMEOUT_S,
        socket_connect_timeout=CALL_TIMEOUT_S,
        # A pooled connection to a Redis that restarted is dead: reconnect and
        # retry instead of failing the request.
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    deadline = time.monotonic() + START_WAIT_S
    while True:
        try:
            await client.ping()
            return client
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                await client.aclose()
                raise ConnectionError(
                    f"Redis at {url} not reachable within {START_WAIT_S:.0f} s: {exc!r}"
                ) from exc
            await asyncio.sleep(0.2)
