"""The `matching` reference target (correct variant) on real PostgreSQL, Kafka and a real
partner: two replicas plus the outbox relay and the announcing consumer."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from http_calls import Reply, call

from harness.partner import PartnerService
from harness.provision.stack import Stack
from harness.targetproc import TargetProcesses, TargetSpec

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 6


@pytest.fixture(scope="module")
def target(stack: Stack, partner: PartnerService) -> Iterator[TargetProcesses]:
    module = (sys.executable, "-m", "targets.matching")
    spec = TargetSpec(
        name="matching",
        command=(*module, "serve"),
        replicas=2,
        extra={"relay": (*module, "relay"), "consumer": (*module, "consumer")},
        dependencies=frozenset({"postgres", "kafka", "partner"}),
        cwd=ROOT,
    )
    with TargetProcesses(spec, stack, partner_port=partner.port) as running:
        yield running


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def swipe(swiper: str, swipee: str, direction: str = "right") -> dict[str, str]:
    return {"swipe_id": uid("s"), "swiper": swiper, "swipee": swipee, "direction": direction}


def announcements(partner: PartnerService, match_ids: set[str], *, within: float) -> list[Any]:
    """The partner's messages for `match_ids`, once each has one (or `within` s passed)."""
    deadline = time.monotonic() + within
    while True:
        messages = [
            e for e in partner.control.ledgers().of("message") if e.body["match_id"] in match_ids
        ]
        if {m.body["match_id"] for m in messages} == match_ids or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def test_concurrent_mutual_right_swipes_on_two_replicas_match_once_and_announce_once(
    target: TargetProcesses, partner: PartnerService
) -> None:
    first, second = target.client_urls
    pairs = [(uid("u"), uid("u")) for _ in range(PAIRS)]
    start = threading.Barrier(2 * PAIRS, timeout=10)

    def send(url: str, body: dict[str, str]) -> Reply:
        start.wait()
        return call(url, "POST", "/swipes", body)

    with ThreadPoolExecutor(max_workers=2 * PAIRS) as pool:
        futures = [
            (pool.submit(send, first, swipe(a, b)), pool.submit(send, second, swipe(b, a)))
            for a, b in pairs
        ]
        replies = [(x.result(), y.result()) for x, y in futures]
    match_ids: set[str] = set()
    for ((a, b), ((status_a, body_a), (status_b, body_b))) in zip(pairs, replies, strict=True):
        assert status_a == status_b == 200, (body_a, body_b)
        assert [body_a["matched"], body_b["matched"]].count(True) == 1, (body_a, body_b)
        match_id = body_a["match_id"] or body_b["match_id"]
        expected = (200, {"matches": [{"match_id": match_id, "users": sorted([a, b])}]})
        assert call(first, "GET", f"/matches?user={a}") == expected
        assert call(second, "GET", f"/matches?user={b}") == expected
        match_ids.add(match_id)
    messages = announcements(partner, match_ids, within=20)
    assert sorted(m.body["match_id"] for m in messages) == sorted(match_ids)
    for message in messages:
        assert message.idempotency_key == f"match-{message.body['match_id']}"


def test_an_announcement_refused_by_the_partner_is_retried_until_it_lands(
    target: TargetProcesses, partner: PartnerService
) -> None:
    a, b = uid("u"), uid("u")
    partner.control.set_fault("notify", "fail_before", count=2)
    try:
        call(target.client_urls[0], "POST", "/swipes", swipe(a, b))
        status, answer = call(target.client_urls[1], "POST", "/swipes", swipe(b, a))
        assert status == 200 and answer["matched"] is True
        [message] = announcements(partner, {answer["match_id"]}, within=20)
    finally:
        partner.control.clear_faults()
    assert list(message.body["users"]) == sorted([a, b])


def test_a_retried_swipe_gets_the_stored_answer(target: TargetProcesses) -> None:
    a, b = uid("u"), uid("u")
    call(target.client_urls[0], "POST", "/swipes", swipe(a, b))
    completing = swipe(b, a)
    status, answer = call(target.client_urls[1], "POST", "/swipes", completing)
    assert status == 200 and answer["matched"] is True
    assert call(target.client_urls[0], "POST", "/swipes", completing) == (200, answer)
    reused = {**completing, "direction": "left"}
    assert call(target.client_urls[0], "POST", "/swipes", reused)[0] == 409


def test_a_left_swipe_makes_no_match(target: TargetProcesses) -> None:
    a, b = uid("u"), uid("u")
    right = swipe(a, b)
    left = swipe(b, a, "left")
    assert call(target.client_urls[0], "POST", "/swipes", right) == (
        200, {"swipe_id": right["swipe_id"], "matched": False, "match_id": None}
    )
    assert call(target.client_urls[1], "POST", "/swipes", left) == (
        200, {"swipe_id": left["swipe_id"], "matched": False, "match_id": None}
    )
    for user in (a, b):
        assert call(target.client_urls[0], "GET", f"/matches?user={user}") == (
            200, {"matches": []}
        )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/swipes", {"swipe_id": "s", "swiper": "a", "swipee": "b", "direction": "up"}),
        ("POST", "/swipes", {"swipe_id": "s", "swiper": "a", "swipee": "a", "direction": "left"}),
        ("POST", "/swipes", {"swipe_id": "s s", "swiper": "a", "swipee": "b", "direction": "left"}),
        ("POST", "/swipes", {"swiper": "a", "swipee": "b", "direction": "left"}),
        ("GET", "/matches", None),
        ("GET", "/matches?user=bad%20user", None),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(
    target: TargetProcesses, method: str, path: str, body: Any
) -> None:
    status, answer = call(target.client_urls[0], method, path, body)
    assert status == 400 and answer["error"], answer


def test_unknown_variant_exits_2_naming_the_accepted_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "targets.matching", "relay", "--variant", "nonsense"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 2
    assert "nonsense" in done.stderr and "no_pair_lock" in done.stderr
