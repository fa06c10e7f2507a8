"""Join the reports of one design's shards (``--jobs`` children, CI matrix jobs
each verifying some ``--row``s) into one report, rows in the table's order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness.report import DesignReport, report_from_json


def merge_reports(parts: Sequence[DesignReport], order: Sequence[str] = ()) -> DesignReport:
    """One report of ``parts`` (one design and variant): rows in ``order`` (the
    table's), any others after them as found; started at the first part's start,
    as long as the longest part (shards run side by side). ValueError when the
    parts are of different designs or variants, or report a row twice."""
    if not parts:
        raise ValueError("no reports to merge")
    first = parts[0]
    for part in parts:
        key = (part.design_name, part.variant, part.strategy)
        if key != (first.design_name, first.variant, first.strategy):
            raise ValueError(
                f"reports of different runs: {first.design_name} ({first.variant}, "
                f"{first.strategy}) and {part.design_name} ({part.variant}, {part.strategy}); "
                "merge one design, variant and strategy at a time"
            )
    rows = [row for part in parts for row in part.rows]
    ids = [r.row_id for r in rows]
    twice = next((i for n, i in enumerate(ids) if i in ids[:n]), None)
    if twice is not None:
        raise ValueError(f"row {twice!r} is in more than one report")
    place = {row_id: n for n, row_id in enumerate(order)}
    return DesignReport(
        design_name=first.design_name,
        design_path=first.design_path,
        variant=first.variant,
        profile=first.profile,
        strategy=first.strategy,
        started_at=min(p.started_at for p in parts),
        duration_s=max(p.duration_s for p in parts),
        rows=tuple(sorted(rows, key=lambda r: place.get(r.row_id, len(place)))),
        interrupted=next((p.interrupted for p in parts if p.interrupted), None),
    )


def read_report(path: Path) -> DesignReport:
    """The report in ``path``: a report.json, or a folder holding one."""
    file = path / "report.json" if path.is_dir() else path
    try:
        return report_from_json(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file}: not a readable failmodel report ({exc})") from exc


def table_order(report: DesignReport) -> list[str]:
    """The row ids of the report's design file, if it still loads there (else none)."""
    from harness.design import InvalidDesign, load_design

    try:
        return [row.id for row in load_design(report.design_path).rows]
    except (InvalidDesign, OSError):
        return []
