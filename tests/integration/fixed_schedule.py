"""One fixed schedule played against a design's real system, judged by one row's
invariants: how the end-to-end tests of a single scenario (a stale write, a
second holder) run it, the same way each time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.design import Design
from harness.schedule.decode import schedule_from_json
from harness.schedule.runner import ExampleOutcome, ExampleRunner
from harness.testing import open_system
from harness.workload.keys import new_run_id


def play(
    design: Design, row_id: str, variant: str, schedule: dict[str, Any], out: Path
) -> ExampleOutcome:
    """``schedule`` (schedule JSON) on ``variant``'s system, judged by ``row_id``'s
    invariants; its files under ``out / variant``."""
    row = design.row(row_id)
    with (
        open_system(design, variant) as sut,
        ExampleRunner(
            sut.live,
            workload=design.workload,
            invariants=row.invariants,
            out_dir=out / variant,
            run_id=new_run_id(),
            settle_timeout_s=design.target.settle_timeout_s,
        ) as runner,
    ):
        return runner.run(schedule_from_json(schedule, design.workload))
