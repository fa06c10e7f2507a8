"""A crash aimed at a partner call in flight, against the toy shop's relay.

The nemesis arms a hold on the real partner and kills the replica the moment
its shipment call is held, before the warehouse acts on it. A relay that
leases what it claims ships the order once the lease runs out; one that marks
an order shipped when it claims it (at-most-once) has lost it for good. On
loopback that window is a fraction of a millisecond: a plain crash almost
never lands in it (docs/unseen-bugs.md, go-matching d).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.history import FIRE, Recorder, thaw
from harness.nemesis.faults import Crash, Pause
from harness.nemesis.nemesis import Nemesis
from harness.setup import Binaries
from harness.system import LiveSystem
from harness.targetproc.spec import TargetSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toy_inventory.py"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HOLD_MS = 1500
LEASE_WAIT_S = 8.0
"""Long enough for the toy's 2.5 s lease to run out and a relay to ship again."""


@pytest.fixture(scope="module", params=["none", "at_most_once"])
def shop(
    request: pytest.FixtureRequest, binaries: Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LiveSystem]]:
    """Two toy replicas on one SQLite file, with the partner, every link proxied."""
    bug = str(request.param)
    db = tmp_path_factory.mktemp("toy") / "toy.sqlite"
    spec = TargetSpec(
        name=f"toy-{bug}",
        command=(sys.executable, str(TOY), "--bug", bug, "--db", str(db)),
        replicas=2,
        dependencies=frozenset({"partner"}),
        start_timeout_s=30,
    )
    with LiveSystem(spec) as live:
        yield bug, live


def call(system: LiveSystem, node: int, method: str, path: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{system.client_urls[node]}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with NO_PROXY.open(request, timeout=10) as response:
        return int(response.status), json.loads(response.read())


def shipments(system: LiveSystem, order_id: str) -> int:
    control = system.partner_control
    assert control is not None
    return sum(1 for e in control.ledgers().effects if e.body.get("order_id") == order_id)


def test_a_crash_in_call_kills_the_caller_before_the_partner_acts(
    shop: tuple[str, LiveSystem],
) -> None:
    bug, system = shop
    control = system.partner_control
    assert control is not None and system.target is not None
    before = control.stats()["warehouse"]
    sku, order_id = f"s-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    assert call(system, 0, "PUT", f"/inventory/{sku}", {"available": 1})[0] == 200
    recorder = Recorder()
    target_0 = system.target.processes()["target-0"]
    old_pid = target_0.pid
    with Nemesis(system, recorder) as nemesis:
        # Only target-0's relay is awake to claim the order and make the call.
        nemesis.start(Pause(process="target-1"))
        fault_id = nemesis.start(Crash(process="target-0", in_call_ms=HOLD_MS))
        order = {"order_id": order_id, "sku": sku, "qty": 1}
        status, answer = call(system, 0, "POST", "/orders", order)
        assert (status, answer["status"]) == (200, "accepted")
        deadline = time.monotonic() + 5
        while not any(e.f == FIRE for e in recorder.history().nemesis_events()):
            assert time.monotonic() < deadline, "the aimed crash never fired"
            time.sleep(0.02)
        assert not target_0.alive
    assert target_0.alive and target_0.pid != old_pid
    events = [e for e in recorder.history().nemesis_events() if e.value.get("id") == fault_id]
    assert [e.f for e in events] == ["start", FIRE, "heal"]
    assert thaw(events[1].value)["held"] == 1
    # The held call's caller died: the warehouse never saw it.
    deadline = time.monotonic() + HOLD_MS / 1000 + 3
    while control.stats()["warehouse"]["abandoned"] == before["abandoned"]:
        assert time.monotonic() < deadline, "the held call was not dropped"
        time.sleep(0.05)
    assert control.stats()["warehouse"]["held"] == before["held"] + 1
    deadline = time.monotonic() + LEASE_WAIT_S
    while shipments(system, order_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    if bug == "none":
        assert shipments(system, order_id) == 1  # the lease ran out; shipped once
    else:
        assert shipments(system, order_id) == 0  # marked shipped before the call: lost
        assert call(system, 1, "GET", f"/orders/{order_id}", None)[1]["status"] == "accepted"


def test_an_aimed_crash_no_call_came_for_kills_at_its_heal(
    shop: tuple[str, LiveSystem],
) -> None:
    _, system = shop
    assert system.target is not None
    target_1 = system.target.processes()["target-1"]
    old_pid = target_1.pid
    recorder = Recorder()
    with Nemesis(system, recorder) as nemesis:
        fault_id = nemesis.start(Crash(process="target-1", in_call_ms=500, after_effect=True))
        time.sleep(0.5)  # no order, so no call to hold
        assert target_1.alive and target_1.pid == old_pid
        nemesis.heal(fault_id)
    events = [e for e in recorder.history().nemesis_events() if e.value.get("id") == fault_id]
    assert [e.f for e in events] == ["start", FIRE, "heal"]
    assert thaw(events[1].value)["held"] == 0
    assert target_1.alive and target_1.pid != old_pid


def test_each_process_calls_the_partner_through_a_link_of_its_own(
    shop: tuple[str, LiveSystem],
) -> None:
    """So the partner knows the caller: a hold aimed at one process never holds
    another's call, and an aimed crash kills the process whose call is held."""
    _, system = shop
    control, partner = system.partner_control, system.partner_service
    assert control is not None and partner is not None
    urls = [call(system, node, "GET", "/_env", None)[1]["PARTNER_URL"] for node in (0, 1)]
    own = {name: system.proxy(f"{name}>partner") for name in ("target-0", "target-1")}
    assert urls == [f"http://127.0.0.1:{own[n].listen_port}" for n in ("target-0", "target-1")]
    for name, proxy in own.items():
        assert proxy.upstream.endswith(f":{partner.caller_ports[name]}")

    def ship(name: str) -> int:
        """A shipment sent as ``name`` sends it (through its link); the HTTP status."""
        body = {"order_id": f"o-{uuid.uuid4().hex[:8]}", "sku": "s", "qty": 1}
        request = urllib.request.Request(
            f"http://127.0.0.1:{own[name].listen_port}/warehouse/shipments",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
        )
        with NO_PROXY.open(request, timeout=10) as response:
            return int(response.status)

    held = control.stats()["warehouse"]["held"]
    control.arm_hold("warehouse", 300, caller="target-1")
    begin = time.monotonic()
    assert ship("target-0") == 200
    assert control.stats()["warehouse"]["held"] == held  # not target-1's: not held
    assert ship("target-1") == 200
    assert time.monotonic() - begin >= 0.3
    assert control.stats()["warehouse"]["held"] == held + 1
    with pytest.raises(ValueError, match=r"'caller' must be one of \['target-0', 'target-1'\]"):
        control.arm_hold("warehouse", 300, caller="target-9")
