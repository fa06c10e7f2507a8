"""Your own tests on a design's live system, with the failmodel fixtures (docs/pytest.md).

Run: ``scripts/failmodel test examples/pytest`` (or ``pytest examples/pytest``
with the plugin loaded). The design is named by the marker; the system starts
once for the module's tests and is swept clean after each.
"""

from __future__ import annotations

import time

import pytest

from harness.schedule.model import Batch, ClientOp, Schedule
from harness.testing import Client, Faults, Partner
from harness.workload.ops import RetryPolicy

pytestmark = pytest.mark.failmodel_design("designs/payments.toml")


def wait_for_status(client: Client, payment_id: str, status: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while client.read_payment(payment_id).body.get("status") != status:
        assert time.monotonic() < deadline, f"{payment_id} not {status} within {within_s} s"
        time.sleep(0.2)


def test_a_lost_psp_answer_charges_once(
    failmodel_client: Client, failmodel_nemesis: Faults, failmodel_partner: Partner
) -> None:
    payment = failmodel_client.keys.payment_id(0)
    with failmodel_nemesis.start("partner:fail_after:psp"):
        reply = failmodel_client.pay(payment, 500)
    assert reply.outcome != "fail", "the PSP charged: the payment must not be refused"
    wait_for_status(failmodel_client, payment, "captured", within_s=20)
    (charge,) = failmodel_partner.effects("charge")
    assert charge.body["reference"] == payment


def test_a_partitioned_database_fails_closed(
    failmodel_client: Client, failmodel_nemesis: Faults, failmodel_partner: Partner
) -> None:
    payment = failmodel_client.keys.payment_id(0)
    with failmodel_nemesis.start("partition:postgres"):
        reply = failmodel_client.pay(payment, 300, timeout_s=3.0)
    assert reply.outcome == "info"
    assert failmodel_partner.effects("charge") == (), "no charge without a recorded claim"


def test_concurrent_retries_are_one_payment(failmodel_run) -> None:  # type: ignore[no-untyped-def]
    # The amount is the workload's function of the key (100 * (key + 1) cents).
    retried = ClientOp(f="pay", key=0, args={}, retry=RetryPolicy(mode="concurrent", count=2))
    schedule = Schedule(workload="payments", steps=(Batch(ops=(retried,)),))
    outcome = failmodel_run(schedule, row="duplicate-request")
    assert not outcome.failed, [v.summary for v in outcome.violated()]
