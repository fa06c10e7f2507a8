"""Fencing judged end to end, on py-leases (examples/py-leases.toml): a write
takes its token from a grant's answer (`FromAnswer`), and eligibility's
``newest`` judges it by the grants answered before it was sent. One fixed
schedule, played against the real service: a write on replica 0, the seed
lease's expiry, a new grant on replica 1, then a write on replica 0 with the
token that grant replaced. The correct service refuses it as stale (judged,
and held); variant c, whose replicas cache the lock's token for 2 s, accepts
it, and the invariant says which grant it ignored."""

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
INVARIANT = "writes_carry_newest_token"


def _op(f: str, key: int, node: int, **args: object) -> dict[str, object]:
    return {"f": f, "key": key, "args": args, "client": node, "node": node, "timeout_ms": 2000}


SCHEDULE = {
    "version": 2,
    "workload": "py-leases",
    "setup": {"values": {"seed_lease": [{"ttl_ms": 200}]}},
    "steps": [
        {"step": "batch", "ops": [_op("write", 0, 0, lock=0, token=0)]},  # token 1, the seed's
        {"step": "wait", "ms": 400},  # the seed lease expires
        {"step": "batch", "ops": [_op("acquire", 0, 1, lock=0, holder="alice", ttl_ms=1500)]},
        {"step": "batch", "ops": [_op("write", 1, 0, lock=0, token=1)]},  # one grant back
    ],
}


def play(tmp_path: Path, variant: str) -> ExampleOutcome:
    return play_schedule(DESIGN, "pause-past-lease", variant, SCHEDULE, tmp_path)


def _writes(outcome: ExampleOutcome) -> list[tuple[object, str]]:
    return [
        (op.invoke.value["body"]["token"], op.outcome)
        for op in outcome.history.operations()
        if op.f == "write"
    ]


def test_a_stale_token_from_an_answer_is_refused_by_the_correct_service_and_caught_in_c(
    binaries: Binaries, tmp_path: Path
) -> None:
    correct = play(tmp_path, "correct")
    assert _writes(correct) == [(1, "ok"), (1, "fail")]  # the token the grant replaced
    (grant,) = [op for op in correct.history.operations() if op.f == "acquire"]
    assert grant.completion is not None and grant.completion.value["body"]["token"] == 2
    (verdict,) = [v for v in correct.verdicts if v.invariant == INVARIANT]
    assert (verdict.status, verdict.checked) == ("valid", 1)  # the refusal was judged

    cached = play(tmp_path, "variant_c")
    assert _writes(cached) == [(1, "ok"), (1, "ok")]
    (verdict,) = [v for v in cached.verdicts if v.invariant == INVARIANT]
    assert verdict.status == "invalid"
    assert "its token 1 is below token 2 that acquire answered" in verdict.evidence[0].message
