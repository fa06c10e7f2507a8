"""Starting and stopping a stack's services side by side, and giving up on a
start promptly.

A stack starts its stores at once (PostgreSQL, Redis and Kafka each take
seconds). Waiting for that start is where a Ctrl-C or a CI's SIGTERM most
often lands; a plain thread pool would then hold the run until every start
had finished or timed out (a minute under load). Here an interrupt kills
what has started, which makes the other starts fail at once (readiness
waits stop when their process dies), and returns.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

WAKE_S = 0.5
"""The main thread waits in slices this long: a signal handled just before a
wait begins does not interrupt it, so an unbounded wait would act on it only
when the wait ends (CPython's handlers run between bytecodes)."""
GIVE_UP_S = 30.0
"""How long an interrupted start is waited for while its processes are killed
(each round kills what was launched since the last one)."""


class Startable(Protocol):
    def start(self) -> None: ...

    def crash(self) -> None: ...


def start_together(
    services: Mapping[str, Startable], timed: Callable[[str, Callable[[], None]], None]
) -> None:
    """Run ``timed(name, service.start)`` for every service at once; raise the
    first start's error. Interrupted, kill them all before raising."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(services)))
    futures = [pool.submit(timed, name, service.start) for name, service in services.items()]
    try:
        while wait(futures, timeout=WAKE_S).not_done:
            pass
    except BaseException:
        _give_up(services, futures)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)  # every start has ended
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error


def _give_up(services: Mapping[str, Startable], futures: list[Future[None]]) -> None:
    """Kill every service until no start is left running (bounded by ``GIVE_UP_S``)."""
    deadline = time.monotonic() + GIVE_UP_S
    while True:
        for service in services.values():
            with contextlib.suppress(Exception):  # not launched yet, or already gone
                service.crash()
        _, running = wait(futures, timeout=WAKE_S)
        if not running or time.monotonic() > deadline:
            return


def stop_in_stages(stages: Sequence[Sequence[Callable[[], None]]]) -> None:
    """Run each stage's stops side by side, the stages one after another, and
    raise the first error once all have run. Side by side, a stack's stop takes
    as long as its slowest service (PostgreSQL's and Kafka's shutdowns wait on
    a busy disk), not their sum."""
    errors: list[BaseException] = []
    for stage in stages:
        if len(stage) <= 1:
            futures = [_now(step) for step in stage]
        else:
            with ThreadPoolExecutor(max_workers=len(stage)) as pool:
                futures = [pool.submit(step) for step in stage]
        errors += [e for e in (f.exception() for f in futures) if e is not None]
    if errors:
        raise errors[0]


def _now(step: Callable[[], None]) -> Future[None]:
    """``step`` run in this thread, as a finished future."""
    future: Future[None] = Future()
    try:
        step()
    except Exception as exc:
        future.set_exception(exc)
    else:
        future.set_result(None)
    return future
