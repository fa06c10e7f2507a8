"""The `payments` reference target (correct variant) on real PostgreSQL and a real partner:
two replicas plus the reconciler, every link through Toxiproxy."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from http_calls import call

from harness.partner import PartnerService
from harness.provision.stack import Stack
from harness.targetproc import TargetProcesses, TargetSpec

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def target(stack: Stack, partner: PartnerService) -> Iterator[TargetProcesses]:
    module = (sys.executable, "-m", "targets.payments")
    spec = TargetSpec(
        name="payments",
        command=(*module, "serve"),
        replicas=2,
        extra={"reconciler": (*module, "reconciler")},
        dependencies=frozenset({"postgres", "partner"}),
        cwd=ROOT,
    )
    with TargetProcesses(spec, stack, partner_port=partner.port) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults_left(partner: PartnerService) -> Iterator[None]:
    yield
    partner.control.clear_faults()


def new_payment(amount: int = 1250) -> dict[str, Any]:
    return {"payment_id": f"pay-{uuid.uuid4().hex[:12]}", "order_id": "o-1", "amount": amount}


def charges_of(partner: PartnerService, payment_id: str) -> list[Any]:
    return [e for e in partner.control.ledgers().of("charge") if e.body["reference"] == payment_id]


def test_capture_and_retry_on_the_other_replica_charge_once(
    target: TargetProcesses, partner: PartnerService
) -> None:
    first, second = target.client_urls
    payment = new_payment()
    status, body = call(first, "POST", "/payments", payment)
    assert status == 200, body
    assert body["payment_id"] == payment["payment_id"] and body["status"] == "captured"
    assert call(second, "POST", "/payments", payment) == (200, body)
    assert call(second, "GET", f"/payments/{payment['payment_id']}") == (200, body)
    [charge] = charges_of(partner, payment["payment_id"])
    assert charge.effect_id == body["charge_id"] and charge.body["amount"] == payment["amount"]
    assert charge.idempotency_key == f"pay-{payment['payment_id']}"


def test_concurrent_retries_on_both_replicas_charge_once(
    target: TargetProcesses, partner: PartnerService
) -> None:
    payment = new_payment()
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(
            lambda url: call(url, "POST", "/payments", payment), target.client_urls * 2
        ))
    assert {status for status, _ in replies} == {200}, replies
    assert len({body["charge_id"] for _, body in replies}) == 1
    assert len(charges_of(partner, payment["payment_id"])) == 1


def test_declined_payment_answers_402_and_stays_declined(
    target: TargetProcesses, partner: PartnerService
) -> None:
    payment = new_payment()
    partner.control.decline([payment["payment_id"]])
    declined = (402, {"payment_id": payment["payment_id"], "status": "declined"})
    assert call(target.client_urls[0], "POST", "/payments", payment) == declined
    assert call(target.client_urls[1], "POST", "/payments", payment) == declined
    assert call(target.client_urls[0], "GET", f"/payments/{payment['payment_id']}") == (
        200, declined[1]
    )
    assert charges_of(partner, payment["payment_id"]) == []


def test_psp_failure_after_the_charge_answers_503_then_the_reconciler_captures(
    target: TargetProcesses, partner: PartnerService
) -> None:
    payment = new_payment()
    path = f"/payments/{payment['payment_id']}"
    partner.control.set_fault("psp", "fail_after", count=1)
    status, body = call(target.client_urls[0], "POST", "/payments", payment)
    assert (status, body["status"]) == (503, "pending"), body
    [charge] = charges_of(partner, payment["payment_id"])  # the effect happened
    deadline = time.monotonic() + 10
    reply = call(target.client_urls[1], "GET", path)
    while reply[1].get("status") == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
        reply = call(target.client_urls[1], "GET", path)
    captured = {"payment_id": payment["payment_id"], "status": "captured",
                "charge_id": charge.effect_id}
    assert reply == (200, captured)
    assert call(target.client_urls[0], "POST", "/payments", payment) == (200, captured)
    assert len(charges_of(partner, payment["payment_id"])) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"payment_id": "has space", "order_id": "o", "amount": 1},
        {"payment_id": "p", "order_id": "o", "amount": 0},
        {"payment_id": "p", "order_id": "o", "amount": "12"},
        {"payment_id": "p", "amount": 3},
        ["not", "an", "object"],
    ],
)
def test_bad_input_is_a_400_naming_the_problem(target: TargetProcesses, body: Any) -> None:
    status, answer = call(target.client_urls[0], "POST", "/payments", body)
    assert status == 400 and answer["error"], answer


def test_unknown_payment_is_404_and_a_reused_id_is_409(target: TargetProcesses) -> None:
    assert call(target.client_urls[0], "GET", "/payments/nope-never")[0] == 404
    payment = new_payment()
    assert call(target.client_urls[0], "POST", "/payments", payment)[0] == 200
    status, answer = call(target.client_urls[1], "POST", "/payments", {**payment, "amount": 7})
    assert status == 409 and payment["payment_id"] in answer["error"]


def test_unknown_variant_exits_2_naming_the_accepted_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "targets.payments", "serve", "--variant", "nonsense"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 2
    assert "nonsense" in done.stderr and "check_then_act" in done.stderr
