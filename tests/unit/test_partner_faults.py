"""Fault parsing and the per-endpoint fault board (pure)."""

from __future__ import annotations

import re

import pytest

from harness.partner.faults import Fault, FaultBoard, InvalidFault, parse_fault


def test_parse_fault_reads_endpoint_mode_count_and_delay() -> None:
    data = {"endpoint": "notify", "mode": "slow", "count": 3, "delay_ms": 50}
    endpoint, fault = parse_fault(data)
    assert endpoint == "notify"
    assert fault == Fault(mode="slow", remaining=3, delay_ms=50)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "fault must be a JSON object (got list)"),
        ({"endpoint": "psp", "mode": "fail_after", "count": True}, "'count' must be an integer"),
        ({"endpoint": "psp", "mode": "slow", "delay_ms": 10**9}, "'delay_ms' must be in"),
        ({"mode": "slow"}, "'endpoint' must be one of"),
    ],
)
def test_parse_fault_rejects_bad_input(data: object, expected: str) -> None:
    with pytest.raises(InvalidFault, match=re.escape(expected)):
        parse_fault(data)
    assert issubclass(InvalidFault, ValueError)


def test_counted_fault_fires_n_times_then_clears_itself() -> None:
    board = FaultBoard()
    board.set("psp", Fault(mode="fail_before", remaining=2))
    taken = [board.take("psp") for _ in range(3)]
    assert [f.mode if f else None for f in taken] == ["fail_before", "fail_before", None]
    assert board.to_json() == {}


def test_all_puts_an_independent_count_on_every_endpoint() -> None:
    board = FaultBoard()
    board.set("all", Fault(mode="fail_after", remaining=1))
    assert board.take("psp") is not None
    assert board.take("psp") is None
    assert board.take("warehouse") is not None
    assert set(board.to_json()) == {"notify"}


def test_uncounted_fault_stays_until_cleared() -> None:
    board = FaultBoard()
    board.set("warehouse", Fault(mode="fail_before"))
    assert all(board.take("warehouse") is not None for _ in range(5))
    board.clear()
    assert board.take("warehouse") is None
