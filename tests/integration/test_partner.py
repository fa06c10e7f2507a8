"""The partner service as a real process on a loopback port: the contract
endpoints, idempotency keys, fault modes, declines, ledgers and stats."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.history.outcomes import Effect
from harness.partner import PartnerService, read_ledger_file

pytestmark = pytest.mark.integration

Reply = tuple[int, Any]


@pytest.fixture(autouse=True)
def no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that sets faults on the shared partner never leaks them to the next."""
    yield
    if "partner" in request.fixturenames:
        request.getfixturevalue("partner").control.clear_faults()


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def post(
    service: PartnerService,
    path: str,
    body: Any,
    *,
    key: str | None = None,
    raw: bytes | None = None,
) -> Reply:
    """One contract call on a fresh connection: (status, parsed JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = raw if raw is not None else json.dumps(body).encode()
        conn.request("POST", path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def charge(reference: str | None = None, amount: int = 500) -> dict[str, Any]:
    return {"reference": reference or uid("pay"), "amount": amount}


def effects_of(service: PartnerService, effect_id: str) -> list[Effect]:
    return [e for e in service.control.ledgers().effects if e.effect_id == effect_id]


def effects_with(service: PartnerService, field: str, value: Any) -> list[Effect]:
    return [e for e in service.control.ledgers().effects if e.body.get(field) == value]


# --- happy paths -------------------------------------------------------------------


def test_charge_succeeds_and_is_recorded(partner: PartnerService) -> None:
    body = charge()
    status, answer = post(partner, "/psp/charges", body)
    assert status == 200
    assert answer["status"] == "succeeded"
    assert answer["charge_id"].startswith("ch_")
    [effect] = effects_of(partner, answer["charge_id"])
    assert effect.kind == "charge"
    assert dict(effect.body) == body
    assert effect.idempotency_key is None


def test_shipment_succeeds_and_is_recorded(partner: PartnerService) -> None:
    order_id = uid("ord")
    body = {"order_id": order_id, "sku": "sku-1", "qty": 2}
    status, answer = post(partner, "/warehouse/shipments", body, key="k-" + order_id)
    assert status == 200
    assert set(answer) == {"shipment_id"}
    [effect] = effects_of(partner, answer["shipment_id"])
    assert (effect.kind, dict(effect.body)) == ("shipment", body)
    assert effect.idempotency_key == "k-" + order_id


def test_message_succeeds_and_is_recorded(partner: PartnerService) -> None:
    body = {"match_id": uid("m"), "users": ["alice", "bob"]}
    status, answer = post(partner, "/notify/messages", body)
    assert status == 200
    assert set(answer) == {"message_id"}
    [effect] = effects_of(partner, answer["message_id"])
    assert effect.kind == "message"
    assert effect.body["users"] == ("alice", "bob")


# --- idempotency keys --------------------------------------------------------------


def test_replayed_key_returns_first_answer_and_no_new_effect(partner: PartnerService) -> None:
    body, key = charge(), uid("key")
    replays_before = partner.control.stats()["psp"]["replays"]
    first = post(partner, "/psp/charges", body, key=key)
    second = post(partner, "/psp/charges", body, key=key)
    assert first[0] == 200
    assert second == first
    assert len(effects_with(partner, "reference", body["reference"])) == 1
    assert partner.control.stats()["psp"]["replays"] == replays_before + 1


def test_same_key_with_other_body_is_422_without_effect(partner: PartnerService) -> None:
    body, key = charge(amount=100), uid("key")
    assert post(partner, "/psp/charges", body, key=key)[0] == 200
    conflicts_before = partner.control.stats()["psp"]["conflicts"]
    status, answer = post(partner, "/psp/charges", {**body, "amount": 200}, key=key)
    assert status == 422
    assert key in answer["error"]
    [effect] = effects_with(partner, "reference", body["reference"])
    assert effect.body["amount"] == 100
    assert partner.control.stats()["psp"]["conflicts"] == conflicts_before + 1


def test_keys_are_scoped_per_endpoint(partner: PartnerService) -> None:
    key = uid("key")
    order = {"order_id": uid("ord"), "sku": "s", "qty": 1}
    assert post(partner, "/psp/charges", charge(), key=key)[0] == 200
    assert post(partner, "/warehouse/shipments", order, key=key)[0] == 200
    assert len(effects_with(partner, "order_id", order["order_id"])) == 1


def test_without_key_every_call_is_a_new_effect(partner: PartnerService) -> None:
    body = charge()
    ids = {post(partner, "/psp/charges", body)[1]["charge_id"] for _ in range(3)}
    assert len(ids) == 3
    assert len(effects_with(partner, "reference", body["reference"])) == 3


def test_concurrent_requests_with_one_key_take_effect_once(partner: PartnerService) -> None:
    body, key = charge(), uid("key")

    async def one(session: aiohttp.ClientSession) -> Reply:
        async with session.post(
            f"{partner.url}/psp/charges", json=body, headers={"Idempotency-Key": key}
        ) as response:
            return response.status, await response.json()

    async def all_at_once() -> list[Reply]:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            return await asyncio.gather(*(one(session) for _ in range(20)))

    replies = asyncio.run(all_at_once())
    assert {status for status, _ in replies} == {200}
    assert len({answer["charge_id"] for _, answer in replies}) == 1
    assert len(effects_with(partner, "reference", body["reference"])) == 1


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw", "expected"),
    [
        ("/psp/charges", b"{not json", "invalid JSON"),
        ("/psp/charges", b"[1, 2]", "JSON object (got list)"),
        ("/psp/charges", b'{"reference": "r1"}', "'amount' must be a positive integer (got None)"),
        ("/psp/charges", b'{"reference": "r1", "amount": -3}', "(got -3)"),
        ("/psp/charges", b'{"reference": "r 1", "amount": 3}', "'reference' must be a string"),
        ("/warehouse/shipments", b'{"order_id": "o", "sku": "s", "qty": true}', "'qty'"),
        ("/warehouse/shipments", b'{"order_id": "o", "qty": 1}', "'sku'"),
        ("/notify/messages", b'{"match_id": "m", "users": ["a", "b", "c"]}', "exactly 2"),
        ("/notify/messages", b'{"match_id": "m", "users": ["a", 7]}', "'users'"),
    ],
)
def test_malformed_body_is_400_naming_the_problem(
    partner: PartnerService, path: str, raw: bytes, expected: str
) -> None:
    last_seq = partner.control.last_seq()
    status, answer = post(partner, path, None, raw=raw)
    assert status == 400
    assert expected in answer["error"]
    assert partner.control.last_seq() == last_seq


def test_empty_idempotency_key_is_400(partner: PartnerService) -> None:
    status, answer = post(partner, "/psp/charges", charge(), key="")
    assert status == 400
    assert "'Idempotency-Key'" in answer["error"]


@pytest.mark.parametrize(
    ("endpoint", "mode", "count", "delay_ms", "expected"),
    [
        ("bank", "fail_before", None, 0, "'endpoint' must be one of ['psp', 'warehouse'"),
        ("psp", "explode", None, 0, "'mode' must be one of ['fail_before'"),
        ("psp", "fail_before", 0, 0, "'count' must be a positive integer"),
        ("psp", "slow", None, 0, "'delay_ms' must be in 1..600000"),
        ("psp", "fail_after", None, 50, "'delay_ms' only applies to mode 'slow'"),
    ],
)
def test_bad_fault_is_rejected_naming_accepted_values(
    partner: PartnerService,
    endpoint: str,
    mode: str,
    count: int | None,
    delay_ms: int,
    expected: str,
) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        partner.control.set_fault(endpoint, mode, count=count, delay_ms=delay_ms)
    assert partner.control.faults() == {}


# --- fault modes -----------------------------------------------------------------------


def test_fail_before_answers_503_and_records_nothing(partner: PartnerService) -> None:
    body = charge()
    partner.control.set_fault("psp", "fail_before")
    status, answer = post(partner, "/psp/charges", body, key=uid("key"))
    assert status == 503
    assert "fail_before" in answer["error"]
    assert effects_with(partner, "reference", body["reference"]) == []


def test_fail_after_records_then_503_and_retry_gets_stored_success(
    partner: PartnerService,
) -> None:
    body, key = charge(), uid("key")
    partner.control.set_fault("psp", "fail_after", count=1)
    assert post(partner, "/psp/charges", body, key=key)[0] == 503
    [effect] = effects_with(partner, "reference", body["reference"])
    status, answer = post(partner, "/psp/charges", body, key=key)
    assert (status, answer) == (200, {"charge_id": effect.effect_id, "status": "succeeded"})
    assert len(effects_with(partner, "reference", body["reference"])) == 1


def test_fail_after_drop_disconnects_but_records_the_effect(partner: PartnerService) -> None:
    body, key = {"order_id": uid("ord"), "sku": "s", "qty": 1}, uid("key")
    partner.control.set_fault("warehouse", "fail_after_drop", count=1)
    with pytest.raises(ConnectionError):
        post(partner, "/warehouse/shipments", body, key=key)
    [effect] = effects_with(partner, "order_id", body["order_id"])
    assert post(partner, "/warehouse/shipments", body, key=key) == (
        200,
        {"shipment_id": effect.effect_id},
    )


def test_slow_delays_by_about_delay_ms(partner: PartnerService) -> None:
    partner.control.set_fault("notify", "slow", count=1, delay_ms=400)
    body = {"match_id": uid("m"), "users": ["a", "b"]}
    begin = time.monotonic()
    status, _ = post(partner, "/notify/messages", body)
    slow_seconds = time.monotonic() - begin
    post(partner, "/notify/messages", body)
    assert status == 200
    # The delay is a floor a busy machine cannot shorten; that the second
    # request was not delayed is read from the partner's own count.
    assert slow_seconds >= 0.4
    assert partner.control.stats()["notify"]["injected"]["slow"] == 1
    assert len(effects_with(partner, "match_id", body["match_id"])) == 2


def test_count_limits_the_fault_to_n_requests(partner: PartnerService) -> None:
    before = partner.control.stats()["psp"]["injected"]["fail_before"]
    partner.control.set_fault("psp", "fail_before", count=2)
    statuses = [post(partner, "/psp/charges", charge())[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert partner.control.faults() == {}
    assert partner.control.stats()["psp"]["injected"]["fail_before"] == before + 2


def test_fault_on_all_endpoints_until_cleared(partner: PartnerService) -> None:
    calls = [
        ("/psp/charges", charge()),
        ("/warehouse/shipments", {"order_id": uid("o"), "sku": "s", "qty": 1}),
        ("/notify/messages", {"match_id": uid("m"), "users": ["a", "b"]}),
    ]
    partner.control.set_fault("all", "fail_before")
    assert [post(partner, path, body)[0] for path, body in calls] == [503, 503, 503]
    assert [post(partner, path, body)[0] for path, body in calls] == [503, 503, 503]
    partner.control.clear_faults()
    assert [post(partner, path, body)[0] for path, body in calls] == [200, 200, 200]


# --- calls held in flight ------------------------------------------------------------


def _send_raw(service: PartnerService, path: str, body: Any) -> socket.socket:
    """Send one whole request and leave the connection open, as a caller does while
    it waits for the answer."""
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {uid('key')}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    sock.sendall(head.encode() + data)
    return sock


def test_a_held_call_whose_caller_dies_is_dropped_unseen(partner: PartnerService) -> None:
    body = {"order_id": uid("ord"), "sku": "s", "qty": 1}
    before = partner.control.stats()["warehouse"]
    partner.control.arm_hold("warehouse", 600, count=1)
    sock = _send_raw(partner, "/warehouse/shipments", body)
    assert partner.control.wait_holding(3.0) == 1
    sock.close()  # the caller is killed while its call is held
    deadline = time.monotonic() + 5
    while partner.control.stats()["warehouse"]["abandoned"] == before["abandoned"]:
        assert time.monotonic() < deadline, "the held call was never dropped"
        time.sleep(0.05)
    after = partner.control.stats()["warehouse"]
    assert effects_with(partner, "order_id", body["order_id"]) == []
    assert (after["held"], after["effects"]) == (before["held"] + 1, before["effects"])
    assert partner.control.wait_holding(0) == 0
    # The hold was spent on that call: the next one is handled at once.
    assert post(partner, "/warehouse/shipments", body)[0] == 200


def test_a_call_held_after_its_effect_keeps_it_when_its_caller_dies(
    partner: PartnerService,
) -> None:
    body = {"order_id": uid("ord"), "sku": "s", "qty": 1}
    before = partner.control.stats()["warehouse"]
    partner.control.arm_hold("warehouse", 800, after_effect=True)
    sock = _send_raw(partner, "/warehouse/shipments", body)
    assert partner.control.wait_holding(3.0) == 1
    # The shipment is made before the answer is held back ...
    assert len(effects_with(partner, "order_id", body["order_id"])) == 1
    sock.close()  # ... and its caller dies waiting for the answer
    time.sleep(1.0)
    after = partner.control.stats()["warehouse"]
    assert (after["held"], after["abandoned"]) == (before["held"] + 1, before["abandoned"])
    assert len(effects_with(partner, "order_id", body["order_id"])) == 1


def test_a_held_call_whose_caller_waits_is_handled_after_the_hold(
    partner: PartnerService,
) -> None:
    body = {"match_id": uid("m"), "users": ["a", "b"]}
    held_before = partner.control.stats()["notify"]["held"]
    partner.control.arm_hold("all", 400, count=2)
    begin = time.monotonic()
    status, _ = post(partner, "/notify/messages", body)
    assert status == 200
    assert time.monotonic() - begin >= 0.4
    assert len(effects_with(partner, "match_id", body["match_id"])) == 1
    # The second hold is left; the nemesis's sweep (clear_faults) drops it too.
    partner.control.clear_faults()
    assert post(partner, "/notify/messages", body)[0] == 200
    assert partner.control.stats()["notify"]["held"] == held_before + 1


def test_waiting_for_a_held_call_gives_up_after_its_timeout(partner: PartnerService) -> None:
    begin = time.monotonic()
    assert partner.control.wait_holding(0.3) == 0
    assert time.monotonic() - begin >= 0.3


@pytest.mark.parametrize(
    ("endpoint", "delay_ms", "expected"),
    [
        ("bank", 100, "'endpoint' must be one of ['psp', 'warehouse'"),
        ("psp", 0, "'delay_ms' must be an integer in 1..600000 (got 0)"),
    ],
)
def test_bad_hold_is_rejected_naming_accepted_values(
    partner: PartnerService, endpoint: str, delay_ms: int, expected: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        partner.control.arm_hold(endpoint, delay_ms)


# --- declines, ledgers, stats --------------------------------------------------------


def test_declined_reference_is_402_without_effect(partner: PartnerService) -> None:
    declined, other = uid("pay"), uid("pay")
    before = partner.control.stats()["psp"]["declines"]
    partner.control.decline([declined])
    assert post(partner, "/psp/charges", charge(declined)) == (402, {"status": "declined"})
    assert post(partner, "/psp/charges", charge(other))[0] == 200
    assert effects_with(partner, "reference", declined) == []
    assert partner.control.stats()["psp"]["declines"] == before + 1


def test_ledgers_since_returns_only_later_effects(partner: PartnerService) -> None:
    mark = partner.control.last_seq()
    first, second = charge(), charge()
    post(partner, "/psp/charges", first)
    post(partner, "/psp/charges", second)
    later = partner.control.ledgers(since=mark).effects
    assert [dict(e.body) for e in later] == [first, second]
    assert all(isinstance(e, Effect) for e in later)
    assert partner.control.last_seq() == mark + 2


def test_ledger_file_matches_the_api(partner: PartnerService) -> None:
    post(partner, "/psp/charges", charge(), key=uid("key"))
    assert read_ledger_file(partner.ledger_path) == list(partner.control.ledgers().effects)


def test_stats_count_requests_and_effects(partner: PartnerService) -> None:
    before = partner.control.stats()["notify"]
    post(partner, "/notify/messages", {"match_id": uid("m"), "users": ["a", "b"]})
    post(partner, "/notify/messages", None, raw=b"{}")
    after = partner.control.stats()["notify"]
    assert after["requests"] == before["requests"] + 2
    assert after["effects"] == before["effects"] + 1
    assert after["invalid"] == before["invalid"] + 1


# --- process life cycle --------------------------------------------------------------


def test_restart_after_crash_keeps_ledger_and_keys(tmp_path: Path) -> None:
    service = PartnerService(workdir=tmp_path)
    try:
        service.start()
        assert service.ready_seconds is not None and service.control.health()
        body, key = charge(), uid("key")
        first = post(service, "/psp/charges", body, key=key)
        service.crash()
        assert not service.control.health()
        service.restart()
        assert post(service, "/psp/charges", body, key=key) == first
        [effect] = service.control.ledgers().effects
        assert effect.effect_id == first[1]["charge_id"]
        assert post(service, "/psp/charges", charge())[0] == 200
        assert service.control.last_seq() == 2
    finally:
        service.stop()
    assert service.process.alive is False
