"""The `kv` reference target on real PostgreSQL: two replicas behind Toxiproxy. The correct
variant answers the contract and stays linearizable under concurrency and crashes; each
buggy variant shows its bug."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from http_calls import Reply, call

from harness.history import History, Recorder
from harness.provision.stack import Stack
from harness.targetproc import TargetProcesses, TargetSpec
from invariants._kv import check_kv_history
from targets.kv.store import CACHE_TTL_S

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def target(stack: Stack, request: pytest.FixtureRequest) -> Iterator[TargetProcesses]:
    """The target in the variant the test names (``indirect`` parametrization); pytest
    runs the tests of one variant together, one target at a time."""
    spec = TargetSpec(
        name="kv",
        command=(sys.executable, "-m", "targets.kv", "serve"),
        replicas=2,
        dependencies=frozenset({"postgres"}),
        variant=request.param,
        cwd=ROOT,
    )
    with TargetProcesses(spec, stack) as running:
        yield running


def variant(name: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("target", [name], indirect=True)


def key() -> str:
    return f"k-{uuid.uuid4().hex[:12]}"


def put(url: str, k: str, value: str) -> Reply:
    return call(url, "PUT", f"/kv/{k}", {"value": value})


def get(url: str, k: str) -> Reply:
    return call(url, "GET", f"/kv/{k}")


def cas(url: str, k: str, expected: str | None, new: str) -> Reply:
    return call(url, "POST", f"/kv/{k}/cas", {"expected": expected, "new": new})


def race_swaps(urls: Sequence[str], k: str, expected: str, n: int) -> list[Reply]:
    """``n`` swaps from ``expected`` sent at once, alternating replicas."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda i: cas(urls[i % len(urls)], k, expected, f"new-{i}"), range(n)))


@variant("correct")
def test_put_get_and_cas_answer_as_the_contract_says(target: TargetProcesses) -> None:
    a, b = target.client_urls
    k = key()
    assert get(a, k)[0] == 404
    assert cas(a, k, "x", "y") == (409, {"key": k, "value": None})
    assert cas(b, k, None, "v1") == (200, {"key": k, "value": "v1"})
    assert cas(a, k, None, "v2") == (409, {"key": k, "value": "v1"})
    assert get(b, k) == (200, {"key": k, "value": "v1"})
    assert put(a, k, "v3") == (200, {"key": k, "value": "v3"})
    assert get(b, k) == (200, {"key": k, "value": "v3"})
    assert cas(b, k, "v1", "v4") == (409, {"key": k, "value": "v3"})
    assert cas(b, k, "v3", "v4") == (200, {"key": k, "value": "v4"})
    assert get(a, k) == (200, {"key": k, "value": "v4"})
    assert put(b, k, "") == (200, {"key": k, "value": ""})  # empty is a value, not none
    assert get(a, k) == (200, {"key": k, "value": ""})


@variant("correct")
def test_concurrent_swaps_from_one_value_on_both_replicas_swap_once(
    target: TargetProcesses,
) -> None:
    for _ in range(5):
        k = key()
        assert put(target.client_urls[0], k, "start")[0] == 200
        replies = race_swaps(target.client_urls, k, "start", 8)
        winners = [body["value"] for status, body in replies if status == 200]
        assert len(winners) == 1, replies
        assert sorted(status for status, _ in replies) == [200] + [409] * 7
        # Every refusal found the winner's value (nothing else was written).
        assert {body["value"] for status, body in replies if status == 409} == set(winners)
        assert get(target.client_urls[1], k) == (200, {"key": k, "value": winners[0]})


@variant("correct")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/kv/k", {"value": 3}),
        ("PUT", "/kv/k", {"value": "x" * 257}),
        ("PUT", "/kv/k", {}),
        ("PUT", "/kv/bad%20key", {"value": "x"}),
        ("POST", "/kv/k/cas", {"new": "x"}),
        ("POST", "/kv/k/cas", {"expected": None, "new": None}),
        ("POST", "/kv/k/cas", {"expected": 1, "new": "x"}),
        ("POST", "/kv/k/cas", ["not", "an", "object"]),
        ("GET", "/kv/bad%20key", None),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(
    target: TargetProcesses, method: str, path: str, body: Any
) -> None:
    status, answer = call(target.client_urls[0], method, path, body)
    assert status == 400 and answer["error"], answer


@variant("correct")
def test_acknowledged_values_survive_a_sigkill_and_the_restart_serves_them(
    target: TargetProcesses,
) -> None:
    a, b = target.client_urls
    keys = [key() for _ in range(4)]
    for i, k in enumerate(keys):
        assert put(a, k, f"before-{i}")[0] == 200
    # Writes keep going on the other replica while target-0 dies and comes back.
    target.process("target-0").crash()
    assert cas(b, keys[0], "before-0", "after-0")[0] == 200
    with pytest.raises(OSError):
        get(a, keys[0])
    target.restart("target-0")  # runs the schema step again: harmless
    assert get(a, keys[0]) == (200, {"key": keys[0], "value": "after-0"})
    for i, k in enumerate(keys[1:], start=1):
        assert get(a, k) == (200, {"key": k, "value": f"before-{i}"})
    assert cas(a, keys[1], "before-1", "after-1")[0] == 200
    assert get(b, keys[1]) == (200, {"key": keys[1], "value": "after-1"})


async def _random_clients(
    urls: Sequence[str], keys: Sequence[str], *, clients: int, ops: int, seed: int
) -> History:
    """``clients`` concurrent clients, ``ops`` operations each on random keys and
    replicas, every attempt recorded as the harness records it."""
    rec = Recorder()
    rng = random.Random(seed)
    written: dict[str, list[str | None]] = {k: [None] for k in keys}
    counter = iter(range(1_000_000))

    async def client(session: aiohttp.ClientSession, process: int) -> None:
        for _ in range(ops):
            k, url = rng.choice(keys), rng.choice(urls)
            f = rng.choice(("get", "get", "put", "cas", "cas"))
            if f == "get":
                body: dict[str, Any] = {"key": k}
                method, path, payload = "GET", f"/kv/{k}", None
            elif f == "put":
                body = {"key": k, "value": f"v{next(counter)}"}
                method, path, payload = "PUT", f"/kv/{k}", {"value": body["value"]}
                written[k].append(body["value"])
            else:
                expected = rng.choice(written[k][-3:])
                body = {"key": k, "expected": expected, "new": f"v{next(counter)}"}
                method, path = "POST", f"/kv/{k}/cas"
                payload = {"expected": expected, "new": body["new"]}
                written[k].append(body["new"])
            invoke = rec.invoke(process, f, {"node": urls.index(url), "attempt": 1, "body": body})
            try:
                async with session.request(method, url + path, json=payload) as response:
                    status, answer = response.status, await response.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                rec.complete(invoke, "info", {"status": None, "body": None}, error=repr(exc))
                continue
            outcome = "ok" if status in (200, 404) else "fail" if status == 409 else "info"
            rec.complete(invoke, outcome, {"status": status, "body": answer})

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session, p) for p in range(clients)))
    return rec.history()


@variant("correct")
def test_random_concurrent_clients_see_a_linearizable_store(target: TargetProcesses) -> None:
    keys = [key() for _ in range(3)]
    history = asyncio.run(_random_clients(target.client_urls, keys, clients=8, ops=25, seed=1))
    result = check_kv_history(history, timeout=60)
    assert result.status == "linearizable", [result.describe(p) for p in result.failures()]
    assert len(result.partitions) == 3


@variant("stale_cache")
def test_stale_cache_serves_a_value_the_other_replica_overwrote(
    target: TargetProcesses,
) -> None:
    a, b = target.client_urls
    k = key()
    assert put(a, k, "old") == (200, {"key": k, "value": "old"})
    assert get(b, k) == (200, {"key": k, "value": "old"})  # b caches it
    assert put(a, k, "new") == (200, {"key": k, "value": "new"})
    assert get(a, k) == (200, {"key": k, "value": "new"})  # a's own write is seen
    assert get(b, k) == (200, {"key": k, "value": "old"})  # stale: the bug
    missing = key()
    assert get(b, missing)[0] == 404  # a miss is cached too
    assert put(a, missing, "v")[0] == 200
    assert get(b, missing)[0] == 404
    time.sleep(CACHE_TTL_S + 0.2)  # every replica converges once its entries expire
    assert get(b, k) == (200, {"key": k, "value": "new"})
    assert get(b, missing) == (200, {"key": missing, "value": "v"})
    # Swaps are decided by PostgreSQL, so they stay right.
    replies = race_swaps(target.client_urls, k, "new", 4)
    assert sorted(status for status, _ in replies) == [200, 409, 409, 409], replies


@variant("stale_cache")
def test_stale_cache_breaks_linearizability_under_concurrency(
    target: TargetProcesses,
) -> None:
    keys = [key() for _ in range(2)]
    history = asyncio.run(_random_clients(target.client_urls, keys, clients=6, ops=20, seed=2))
    result = check_kv_history(history, timeout=60)
    assert result.status == "not linearizable"


@variant("read_then_write")
def test_read_then_write_lets_two_swaps_from_one_value_both_succeed(
    target: TargetProcesses,
) -> None:
    won: list[int] = []
    for _ in range(5):
        k = key()
        assert put(target.client_urls[0], k, "start")[0] == 200
        replies = race_swaps(target.client_urls, k, "start", 8)
        won.append(sum(1 for status, _ in replies if status == 200))
        if won[-1] > 1:
            break
    assert won[-1] > 1, f"swaps that won per round: {won}"
    # Plain reads and writes are still right.
    k = key()
    assert put(target.client_urls[0], k, "a")[0] == 200
    assert get(target.client_urls[1], k) == (200, {"key": k, "value": "a"})


def test_unknown_variant_exits_2_naming_the_accepted_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "targets.kv", "serve", "--variant", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "nonsense" in done.stderr
    assert "stale_cache" in done.stderr and "read_then_write" in done.stderr
