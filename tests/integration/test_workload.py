"""Workload clients against the real toy target behind a real Toxiproxy.

Faults are real toxics on the client link ``target-0``; every assertion reads
the recorded history, the thing checkers will read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.history import Event, FinalState, Recorder, read_history
from harness.provision.stack import Stack
from harness.setup import Binaries
from harness.targetproc import TargetProcesses, TargetSpec
from harness.toxiproxy import Latency, ResetPeer, Timeout, Toxic
from harness.workload import (
    InvalidOperation,
    KeySpace,
    OpSpec,
    RetryPolicy,
    WorkloadClient,
    classify,
    new_run_id,
    read_snapshot,
)
from harness.workload.contract import call_for
from harness.workload.ops import NO_RETRY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toy_inventory.py"


@pytest.fixture(scope="module")
def proxies_only(binaries: Binaries) -> Iterator[Stack]:
    """A stack of Toxiproxy alone: the toy target needs no store."""
    with Stack(services=(), binaries=binaries) as stack:
        yield stack


@pytest.fixture(scope="module")
def target(
    proxies_only: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TargetProcesses]:
    db = tmp_path_factory.mktemp("toy") / "toy.sqlite"
    spec = TargetSpec(
        name="toy", command=(sys.executable, str(TOY), "--bug", "none", "--db", str(db)),
        replicas=2, start_timeout_s=20,
    )
    with TargetProcesses(spec, proxies_only) as target:
        yield target


T = TypeVar("T")
_examples = iter(range(10_000))
_RUN = new_run_id()


@pytest.fixture
def keys() -> KeySpace:
    return KeySpace.for_example(_RUN, next(_examples))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@contextlib.contextmanager
def toxic_on(stack: Stack, toxic: Toxic, link: str = "target-0") -> Iterator[None]:
    """``toxic`` on the client link ``link`` for the block, always removed."""
    proxy = stack.proxy(link)
    proxy.add_toxic(toxic)
    try:
        yield
    finally:
        proxy.remove_toxic(toxic.effective_name)


def order(
    keys: KeySpace, i: int, qty: int, *, process: int = 0, node: int = 0,
    timeout_s: float = 1.0, retry: RetryPolicy = NO_RETRY,
) -> OpSpec:
    body = {"order_id": keys.order_id(i), "sku": keys.sku(0), "qty": qty}
    return OpSpec(f="order", body=body, process=process, node=node, timeout_s=timeout_s,
                  retry=retry)


def stock(keys: KeySpace, available: int) -> OpSpec:
    return OpSpec(f="set_stock", body={"sku": keys.sku(0), "available": available}, process=0)


def test_answers_are_classified_by_the_contract(target: TargetProcesses, keys: KeySpace) -> None:
    recorder = Recorder()

    async def go() -> list[list[Event]]:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            return [
                await client.execute(stock(keys, 3)),
                await client.execute(order(keys, 0, 2)),
                await client.execute(order(keys, 1, 2)),
                await client.execute(OpSpec(f="read_order", body={"order_id": "nope"}, process=1)),
                await client.execute(OpSpec(f="read_stock", body={"sku": keys.sku(0)}, process=1)),
            ]

    done = run(go())
    assert [[e.type for e in events] for events in done] == [
        ["ok"], ["ok"], ["fail"], ["ok"], ["ok"],
    ]
    rejected = done[2][0]
    assert rejected.value["status"] == 409
    assert rejected.value["body"]["reason"] == "out_of_stock"
    assert done[3][0].value["status"] == 404
    assert done[4][0].value["body"] == {"sku": keys.sku(0), "available": 1}
    history = recorder.history()
    expected = ["invoke", "ok"] * 2 + ["invoke", "fail"] + ["invoke", "ok"] * 2
    assert [e.type for e in history] == expected
    invoke = history.events[2]
    assert invoke.value == {"node": 0, "attempt": 1, "body": dict(order(keys, 0, 2).body)}


@pytest.mark.parametrize("mode", ["immediate", "concurrent", "delayed"])
def test_retries_resend_the_same_key_as_new_attempts(
    target: TargetProcesses, keys: KeySpace, mode: str
) -> None:
    recorder = Recorder()
    retry = RetryPolicy(mode, 2, 0.1 if mode == "delayed" else 0.0)  # type: ignore[arg-type]

    async def go() -> list[Event]:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            await client.execute(stock(keys, 5))
            attempts = await client.execute(order(keys, 0, 2, retry=retry, process=3))
            await client.execute(OpSpec(f="read_stock", body={"sku": keys.sku(0)}, process=3))
            return attempts

    attempts = run(go())
    assert [e.type for e in attempts] == ["ok", "ok", "ok"]
    ops = recorder.history().select("order")
    assert [op.request["attempt"] for op in ops] == [1, 2, 3]
    assert {op.request["body"]["order_id"] for op in ops} == {keys.order_id(0)}
    assert len({op.invoke.op_id for op in ops}) == 3
    assert recorder.history().select("read_stock")[0].response["body"]["available"] == 3
    if mode == "concurrent":  # all sent before any answered
        assert max(op.invoke.time for op in ops) < min(op.end_time for op in ops)
    else:  # each sent after the previous answered (plus the delay)
        gap = 0.1 if mode == "delayed" else 0.0
        slack = 0.002  # asyncio may wake a timer up to its clock resolution early
        for before, after in itertools.pairwise(ops):
            assert after.invoke.time >= before.end_time + gap - slack


def test_a_timeout_is_indeterminate(
    proxies_only: Stack, target: TargetProcesses, keys: KeySpace
) -> None:
    recorder = Recorder()

    async def go() -> list[Event]:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            with toxic_on(proxies_only, Latency(latency_ms=2000)):
                return await client.execute(order(keys, 0, 1, timeout_s=0.3))

    (done,) = run(go())
    assert done.type == "info"
    assert done.error == "timeout after 0.3s"
    assert done.value == {"status": None, "body": None}
    assert 0.25 < done.time - recorder.history().events[0].time < 1.5


def test_a_reset_is_indeterminate(
    proxies_only: Stack, target: TargetProcesses, keys: KeySpace
) -> None:
    recorder = Recorder()

    async def go() -> list[Event]:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            with toxic_on(proxies_only, ResetPeer(timeout_ms=0)):
                return await client.execute(order(keys, 0, 1))

    (done,) = run(go())
    assert done.type == "info"
    assert done.error and re.search(r"Disconnect|Connection|reset", done.error)


def test_cancellation_records_info_then_propagates(
    proxies_only: Stack, target: TargetProcesses, keys: KeySpace
) -> None:
    recorder = Recorder()

    async def go() -> None:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            with toxic_on(proxies_only, Latency(latency_ms=2000)):
                task = asyncio.create_task(client.execute(order(keys, 0, 1, timeout_s=5)))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    run(go())
    recorded = [(e.type, e.error) for e in recorder.history()]
    assert recorded == [("invoke", None), ("info", "cancelled")]


def test_bad_specs_raise_before_anything_is_recorded(target: TargetProcesses) -> None:
    recorder = Recorder()

    async def go() -> None:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            with pytest.raises(InvalidOperation, match="'f' must be one of"):
                await client.execute(OpSpec(f="pay", body={}, process=0))
            with pytest.raises(InvalidOperation, match=r"missing \['qty'\]"):
                await client.execute_batch(
                    [OpSpec(f="read_stock", body={"sku": "a"}, process=0),
                     OpSpec(f="order", body={"order_id": "o", "sku": "a"}, process=0)]
                )
            with pytest.raises(InvalidOperation, match=r"'node' must be a replica index in 0\.\.1"):
                await client.execute(OpSpec(f="read_stock", body={"sku": "a"}, process=0, node=2))

    run(go())
    assert len(recorder.history()) == 0


def test_final_state_reads_every_touched_key(
    proxies_only: Stack, target: TargetProcesses, keys: KeySpace
) -> None:
    recorder = Recorder()

    async def go() -> FinalState:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            await client.execute(stock(keys, 3))
            await client.execute_batch([order(keys, i, 1, process=i) for i in range(5)])
            await client.execute(OpSpec(f="read_order", body={"order_id": keys.order_id(9)},
                                        process=0))
            return (await read_snapshot(client)).final

    state = run(go())
    assert state.workload == "inventory"
    assert dict(state.of("stock")) == {keys.sku(0): {"sku": keys.sku(0), "available": 0}}
    orders = dict(state.of("orders"))
    assert set(orders) == {keys.order_id(i) for i in (0, 1, 2, 3, 4, 9)}
    assert orders[keys.order_id(9)] is None
    statuses = sorted(
        o["status"] for i in range(5) if (o := orders[keys.order_id(i)]) is not None
    )
    assert statuses == ["accepted"] * 3 + ["rejected"] * 2
    final = [e for e in recorder.history() if e.phase == "final"]
    # Every key from each of the two replicas: an invoke and a completion each.
    assert len(final) == 2 * 7 * 2 and {e.f for e in final} == {"read_stock", "read_order"}
    assert {e.value["node"] for e in final if e.type == "invoke"} == {0, 1}
    assert {e.value["snapshot"] for e in final if e.type == "invoke"} == {0}


def test_final_state_leaves_unreadable_keys_absent(
    proxies_only: Stack, target: TargetProcesses, keys: KeySpace
) -> None:
    recorder = Recorder()

    async def go() -> FinalState:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            await client.execute(stock(keys, 3))
            with (
                toxic_on(proxies_only, Timeout(timeout_ms=0)),
                toxic_on(proxies_only, Timeout(timeout_ms=0), link="target-1"),
            ):
                return await read_snapshot(client, timeout_s=0.2, attempts=2, backoff_s=0.01)

    snapshot = run(go())
    assert dict(snapshot.final.of("stock")) == {}
    final = [e for e in recorder.history() if e.phase == "final" and e.type != "invoke"]
    assert [e.type for e in final] == ["info"] * 4  # two attempts at each of two replicas
    assert snapshot.unread == {
        "read_stock": "GET /inventory/{sku} answered timeout after 0.2s (1 key)"
    }


def test_history_written_as_jsonl_reads_back_equal(
    tmp_path: Path, target: TargetProcesses, keys: KeySpace
) -> None:
    path = tmp_path / "history.jsonl"

    async def go(recorder: Recorder) -> None:
        async with WorkloadClient("inventory", target.client_urls, recorder) as client:
            await client.execute(stock(keys, 1))
            await client.execute_batch(
                [order(keys, i, 1, process=i, node=i % 2) for i in range(3)]
            )
            await read_snapshot(client)

    with Recorder(path) as recorder:
        run(go(recorder))
        written = recorder.history()
    back = read_history(path)
    assert len(back) == len(written) > 10
    assert [e.to_json() for e in back] == [e.to_json() for e in written]


def _outcome(workload: str, f: str, request: dict[str, Any], status: int, body: Any) -> str:
    return classify(call_for(workload, f, request), request, status, body)[0]


def test_classifier_trusts_only_exact_contract_answers() -> None:
    request = {"order_id": "o1", "sku": "s", "qty": 1}
    rejected = {"order_id": "o1", "status": "rejected", "reason": "out_of_stock"}
    accepted = {"order_id": "o1", "status": "accepted"}
    assert _outcome("inventory", "order", request, 200, accepted) == "ok"
    assert _outcome("inventory", "order", request, 409, rejected) == "fail"
    for status, body in [
        (200, {"order_id": "o2", "status": "accepted"}),  # names another order
        (409, {**rejected, "reason": "busy"}),
        (200, None),  # malformed or empty body
        (500, {"error": "boom"}),
        (201, accepted),
    ]:
        assert _outcome("inventory", "order", request, status, body) == "info", (status, body)
    pay = {"payment_id": "p1", "order_id": "o1", "amount": 5}
    declined = {"payment_id": "p1", "status": "declined"}
    assert _outcome("payments", "pay", pay, 402, declined) == "fail"
    no_charge = {"payment_id": "p1", "status": "captured"}  # captured needs a charge_id
    assert _outcome("payments", "pay", pay, 200, no_charge) == "info"
    swipe = {"swipe_id": "w", "swiper": "a", "swipee": "b", "direction": "right"}
    answer = {"swipe_id": "w", "matched": True, "match_id": "m"}
    assert _outcome("matching", "swipe", swipe, 200, answer) == "ok"
    assert _outcome("matching", "swipe", swipe, 200, {**answer, "match_id": None}) == "info"
    user = {"user": "a"}
    assert _outcome("matching", "read_matches", user, 404, None) == "ok"
    lonely = {"matches": [{"match_id": "m", "users": ["a"]}]}
    assert _outcome("matching", "read_matches", user, 200, lonely) == "info"


def test_keyspace_ids_are_valid_and_distinct_per_example() -> None:
    run_id = new_run_id()
    ids = [
        getattr(KeySpace.for_example(run_id, example), kind)(i)
        for example in (0, 99_999)
        for kind in ("sku", "order_id", "payment_id", "swipe_id", "user")
        for i in (0, 999_999)
    ]
    longest = KeySpace("p" * 44).id("k" * 12, 999_999)  # the longest prefix and kind
    assert len(longest) == 64
    ids.append(longest)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
    assert new_run_id() != run_id
    with pytest.raises(ValueError, match=r"'prefix' must be 1\.\.44 characters"):
        KeySpace("bad prefix")
    with pytest.raises(ValueError, match=r"kind must be 1\.\.12 characters"):
        KeySpace("p").id("k" * 13, 0)
    with pytest.raises(ValueError, match="mode 'none' needs 'count' == 0"):
        RetryPolicy("none", 1)
    with pytest.raises(ValueError, match="'delay_s' is only for mode 'delayed'"):
        RetryPolicy("immediate", 1, 0.5)


@pytest.mark.parametrize("bug", ["none", "oversell"])
def test_toy_target_oversells_only_with_its_bug(
    make_stack: Callable[..., Stack], keys: KeySpace, bug: str
) -> None:
    spec = TargetSpec(
        name=f"toy-{bug}", command=(sys.executable, str(TOY), "--bug", bug), start_timeout_s=20
    )
    recorder = Recorder()

    async def go(urls: tuple[str, ...]) -> list[list[Event]]:
        async with WorkloadClient("inventory", urls, recorder) as client:
            await client.execute(stock(keys, 3))
            return await client.execute_batch([order(keys, i, 1, process=i) for i in range(10)])

    with TargetProcesses(spec, make_stack(services=())) as toy:
        outcomes = [events[0].type for events in run(go(toy.client_urls))]
    assert len(outcomes) == 10 and set(outcomes) <= {"ok", "fail"}
    if bug == "none":
        assert outcomes.count("ok") == 3
    else:
        assert outcomes.count("ok") > 3
