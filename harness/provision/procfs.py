"""Just enough of /proc to find a process's start time, group members and descendants.

The start time (in clock ticks since boot) tells a live process from a later one
that reused its pid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcStat:
    pid: int
    ppid: int
    pgid: int
    state: str
    start_ticks: int

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """The /proc/<pid>/stat fields we use, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        start_ticks=int(fields[19]),
    )


def all_stats() -> Iterator[ProcStat]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                yield stat


def start_ticks(pid: int) -> int | None:
    stat = read_stat(pid)
    return None if stat is None or stat.zombie else stat.start_ticks


def is_running(pid: int, started: int) -> bool:
    """True when *pid* is alive and is the same process that started at *started*."""
    return start_ticks(pid) == started


def descendants(pid: int) -> list[int]:
    """Live descendants of *pid*, parents before children."""
    children: dict[int, list[int]] = {}
    for stat in all_stats():
        if not stat.zombie:
            children.setdefault(stat.ppid, []).append(stat.pid)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        kids = children.get(frontier.pop(0), [])
        found.extend(kids)
        frontier.extend(kids)
    return found


def group_members(pgid: int, *, started_since: int = 0) -> list[int]:
    """Live members of process group *pgid* that started at or after *started_since*."""
    return [
        s.pid
        for s in all_stats()
        if s.pgid == pgid and not s.zombie and s.start_ticks >= started_since
    ]
