"""Never two live holders, judged end to end on py-leases
(examples/py-leases.toml, ``one_holder_at_a_time``: eligibility's ``free``).
One fixed schedule, played against the real service: the seed lease expires,
alice is granted the lock for 1500 ms on replica 0, then bob asks replica 1,
whose wall clock is skewed 2.8 s ahead. The correct service keeps expiry on
PostgreSQL's clock and refuses bob (judged, and held); variant b judges
expiry on the replica's clock, grants bob while alice's lease is live, and
the invariant names her grant. The seeded lease's check
(``no_grant_before_expiry``) cannot see this: that lease had long expired."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixed_schedule import play as play_schedule

from harness.design import load_design
from harness.schedule.runner import ExampleOutcome
from harness.setup import Binaries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DESIGN = load_design(ROOT / "examples" / "py-leases.toml")
INVARIANT = "one_holder_at_a_time"


def _acquire(key: int, node: int, holder: str) -> dict[str, object]:
    args = {"lock": 0, "holder": holder, "ttl_ms": 1500}
    return {"f": "acquire", "key": key, "args": args, "client": node, "node": node}


SKEW = {"kind": "clock", "mode": "skew", "offset_ms": 2800, "process": "target-1"}
SCHEDULE = {
    "version": 2,
    "workload": "py-leases",
    "setup": {"values": {"seed_lease": [{"ttl_ms": 200}]}},
    "steps": [
        {"step": "wait", "ms": 400},  # the seed lease expires
        {"step": "batch", "ops": [_acquire(0, 0, "alice")]},
        {"step": "batch", "ops": [_acquire(1, 1, "bob")], "fault": SKEW},
    ],
}


def play(tmp_path: Path, variant: str) -> ExampleOutcome:
    return play_schedule(DESIGN, "replica-clock-skew", variant, SCHEDULE, tmp_path)


def _grants(outcome: ExampleOutcome) -> list[tuple[object, str]]:
    return [
        (op.invoke.value["body"]["holder"], op.outcome)
        for op in outcome.history.operations()
        if op.f == "acquire"
    ]


def test_a_grant_while_another_holder_surely_holds_the_lock_is_caught(
    binaries: Binaries, tmp_path: Path
) -> None:
    correct = play(tmp_path, "correct")
    assert _grants(correct) == [("alice", "ok"), ("bob", "fail")]
    verdicts = {v.invariant: v for v in correct.verdicts}
    assert (verdicts[INVARIANT].status, verdicts[INVARIANT].checked) == ("valid", 1)

    skewed = play(tmp_path, "variant_b")
    assert _grants(skewed) == [("alice", "ok"), ("bob", "ok")]
    verdicts = {v.invariant: v for v in skewed.verdicts}
    assert verdicts[INVARIANT].status == "invalid"
    assert "it was decided while alice held" in verdicts[INVARIANT].evidence[0].message
    assert verdicts["no_grant_before_expiry"].status == "valid"  # only this one sees it
