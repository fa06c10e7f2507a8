"""Faults by their design-file names (harness.testing.fault_from_name), no system needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.design import load_design
from harness.nemesis.faults import Crash, LinkToxic, Partition, PartnerFailure, Pause
from harness.schedule.families import InvalidFamily
from harness.testing import fault_from_name

ROOT = Path(__file__).resolve().parents[2]
PAYMENTS = load_design(ROOT / "designs" / "payments.toml")


def test_names_become_faults_one_per_matched_link_or_process() -> None:
    assert fault_from_name("crash:target-*", PAYMENTS) == (
        Crash(process="target-0"), Crash(process="target-1")
    )
    assert fault_from_name("pause:reconciler", PAYMENTS) == (Pause(process="reconciler"),)
    assert fault_from_name("partition:postgres", PAYMENTS) == (Partition(link="postgres"),)
    assert fault_from_name("blackhole:partner", PAYMENTS) == (
        Partition(link="partner", mode="blackhole"),
    )
    assert fault_from_name("lost_answer:postgres", PAYMENTS) == (
        Partition(link="postgres", mode="lost_answer", duration_ms=200),
    )
    assert fault_from_name("lost_answer:target-1>postgres", PAYMENTS, duration_ms=80) == (
        Partition(link="target-1>postgres", mode="lost_answer", duration_ms=80),
    )


def test_toxics_take_defaults_attributes_and_a_stream() -> None:
    (latency,) = fault_from_name("latency:postgres", PAYMENTS)
    assert latency == LinkToxic(
        link="postgres", toxic="latency", attributes={"latency_ms": 200, "jitter_ms": 0}
    )
    (slow,) = fault_from_name("latency:postgres", PAYMENTS, latency_ms=50, stream="upstream")
    assert isinstance(slow, LinkToxic)
    assert (dict(slow.attributes), slow.stream) == ({"latency_ms": 50, "jitter_ms": 0}, "upstream")
    with pytest.raises(InvalidFamily, match=r"unknown attribute\(s\) \['delay'\]; accepted: "):
        fault_from_name("latency:postgres", PAYMENTS, delay=3)


def test_partner_faults_need_a_mode() -> None:
    assert fault_from_name("partner:fail_after:psp", PAYMENTS, count=1) == (
        PartnerFailure(endpoint="psp", mode="fail_after", count=1),
    )
    (slow,) = fault_from_name("partner:slow", PAYMENTS)
    assert slow == PartnerFailure(endpoint="all", mode="slow", delay_ms=500)
    with pytest.raises(InvalidFamily, match="say what the partner does"):
        fault_from_name("partner", PAYMENTS)


def test_names_that_do_not_exist_or_are_client_side_are_errors() -> None:
    with pytest.raises(InvalidFamily, match="no link matches 'kafka'"):
        fault_from_name("partition:kafka", PAYMENTS)
    with pytest.raises(InvalidFamily, match="client-side"):
        fault_from_name("retry", PAYMENTS)
    with pytest.raises(InvalidFamily, match="unknown fault family 'explode'"):
        fault_from_name("explode:target-0", PAYMENTS)
