"""Pictures of histories, as Jepsen draws them, rendered by matplotlib to inline SVG.

- ``timeline_svg``: one lane per client process and replica it talked to,
  each operation a bar from its invoke to its completion, coloured by
  outcome (ok / fail / info); fault windows shaded and labelled from the
  nemesis's start and heal events.
- ``latency_svg``: each operation's latency over time, per operation type
  (colour) and outcome (marker), on a log scale, with the same fault
  shading; several histories (a row's examples) are drawn one after another.

Both return an ``<svg>`` element (no XML prolog) whose root carries the given
``id``, ready to be pasted into an HTML page: no file, font or script is
referenced from outside. matplotlib is imported only here, on first use, and
only its object-oriented API is used (no pyplot, no GUI backend).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.history import EXIT, Event, History, exit_text, thaw
from harness.nemesis.faults import InvalidFault, fault_from_dict

OUTCOME_COLOURS: Mapping[str, str] = {"ok": "#59a14f", "fail": "#e15759", "info": "#f28e2b"}
FAULT_COLOUR = "#9c755f"
EXIT_COLOUR = "#b00020"
# Histories longer than this are cut (a minimal counterexample is far shorter).
MAX_OPERATIONS = 3000
MAX_LANES = 40
MAX_FAULT_LANES = 12
_GAP_S = 0.5  # between two examples on the row's latency picture
_LABELLED_OPS = 80  # bars get their operation's name up to this many operations
_OP_MARKERS: Mapping[str, str] = {"ok": "o", "fail": "x", "info": "^"}


@dataclass(frozen=True, slots=True)
class Bar:
    """One client operation on the timeline."""

    lane: str
    start: float
    end: float
    outcome: str
    f: str
    complete: bool
    phase: str = "main"
    snapshot: int | None = None


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault from its nemesis start to its heal (or to the history's end)."""

    label: str
    start: float
    end: float


def _fault_label(value: Mapping[str, Any]) -> str:
    fault = value.get("fault")
    if not isinstance(fault, Mapping):
        return "fault"
    try:
        return fault_from_dict(thaw(fault)).describe()
    except (InvalidFault, TypeError, ValueError, KeyError):
        return str(thaw(fault).get("kind", "fault"))


def _end_time(history: History) -> float:
    return max((e.time for e in history.events), default=0.0)


def fault_windows(history: History) -> list[FaultWindow]:
    """Each nemesis start paired with the heal of the same fault id."""
    open_: dict[Any, Event] = {}
    windows: list[FaultWindow] = []
    for e in history.nemesis_events():
        key = e.value.get("id", e.op_id)
        if e.f == "start":
            open_[key] = e
        elif e.f == "heal" and key in open_:
            start = open_.pop(key)
            windows.append(FaultWindow(_fault_label(start.value), start.time, e.time))
    end = _end_time(history)
    windows += [FaultWindow(_fault_label(s.value), s.time, end) for s in open_.values()]
    return sorted(windows, key=lambda w: (w.start, w.end))


def lane_of(event: Event) -> str:
    """``c<process> → n<replica>``: a client process and the replica it talked to."""
    who = f"c{event.process}" if isinstance(event.process, int) else str(event.process)
    node = event.value.get("node")
    return who if node is None else f"{who} → n{node}"


def _lane_order(lane: str) -> tuple[int, int, int, str]:
    numbers = [int(n) for n in re.findall(r"\d+", lane)]
    node = numbers[1] if len(numbers) > 1 else -1
    process = numbers[0] if numbers else -1
    slot = numbers[2] if len(numbers) > 2 else 1
    return (node, process, slot, lane)


def _pack(drawn: Sequence[Bar]) -> list[Bar]:
    """Give overlapping operations of one lane their own sub-lane (``c0 → n0 ·2``):
    a client may have several operations in flight at once."""
    free_at: dict[str, list[float]] = {}
    out = []
    for b in sorted(drawn, key=lambda b: (b.start, b.end)):
        slots = free_at.setdefault(b.lane, [])
        for i, until in enumerate(slots):
            if until <= b.start:
                slots[i] = b.end
                break
        else:
            i = len(slots)
            slots.append(b.end)
        out.append(b if i == 0 else replace(b, lane=f"{b.lane} ·{i + 1}"))
    return out


def bars(history: History) -> list[Bar]:
    end = _end_time(history)
    out = []
    for op in history.operations()[:MAX_OPERATIONS]:
        done = op.completion is not None
        out.append(
            Bar(
                lane=lane_of(op.invoke),
                start=op.invoke.time,
                end=op.end_time if done else end,
                outcome=op.outcome,
                f=op.f,
                complete=done,
                phase=op.invoke.phase,
                snapshot=_snapshot_number(op.invoke.value.get("snapshot")),
            )
        )
    return out


def _snapshot_number(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _svg(fig: Any, svg_id: str, title: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    # Unique ids inside each SVG: several are inlined in one page, and
    # matplotlib names its clip paths and markers by content hash + salt.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": svg_id, "svg.id": svg_id}):
        fig.savefig(buffer, format="svg", metadata={"Title": title, "Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    if f'id="{svg_id}"' not in text[: text.index(">")]:  # matplotlib < 3.9 ignores svg.id
        text = text.replace("<svg", f'<svg id="{svg_id}"', 1)
    return text.replace("<svg", '<svg role="img" class="plot"', 1)


def _shade(ax: Any, windows: Sequence[FaultWindow], *, labels: bool) -> None:
    for i, w in enumerate(windows):
        ax.axvspan(w.start, max(w.end, w.start + 1e-3), color=FAULT_COLOUR, alpha=0.15, lw=0)
        ax.axvline(w.start, color=FAULT_COLOUR, lw=0.8, ls="--")
        if labels:
            ax.annotate(
                w.label,
                xy=(w.start, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -10 - 9 * (i % 3)),
                textcoords="offset points",
                fontsize=7,
                color="#5a4032",
                clip_on=False,
            )


def exits(history: History) -> list[tuple[float, str]]:
    """When a target process was found down on its own, and which, in words."""
    return [(e.time, exit_text(e.value)) for e in history.nemesis_events() if e.f == EXIT]


def _mark_exits(ax: Any, marks: Sequence[tuple[float, str]]) -> None:
    for i, (t, text) in enumerate(marks):
        ax.axvline(t, color=EXIT_COLOUR, lw=1.2)
        ax.annotate(
            text,
            xy=(t, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 4 + 9 * (i % 3)),
            textcoords="offset points",
            fontsize=7,
            color=EXIT_COLOUR,
            clip_on=False,
        )


def _last_snapshot(all_bars: Sequence[Bar]) -> tuple[int | None, list[Bar]]:
    """The final reads of the last (judged) settle snapshot."""
    finals = [b for b in all_bars if b.phase == "final"]
    known = [b.snapshot for b in finals if b.snapshot is not None]
    last = max(known) if known else None
    return last, [b for b in finals if last is None or b.snapshot == last]


def _draw_bars(ax: Any, drawn: Sequence[Bar], row_of: Mapping[str, int], span: float) -> None:
    labelled = len(drawn) <= _LABELLED_OPS
    for b in drawn:
        if b.lane not in row_of:
            continue
        y = row_of[b.lane]
        width = max(b.end - b.start, span / 300)
        ax.barh(
            y,
            width,
            left=b.start,
            height=0.6,
            color=OUTCOME_COLOURS.get(b.outcome, "#bab0ac"),
            edgecolor="#333333",
            linewidth=0.4,
            hatch=None if b.complete else "//",
        )
        if labelled and width > span / 14:
            ax.text(b.start + width / 2, y, b.f, ha="center", va="center", fontsize=6.5)


def timeline_svg(history: History, *, svg_id: str, title: str = "timeline") -> str:
    """The failing history as lanes of operations with the fault windows shaded.

    Left: the setup and the workload with its faults. Right: the final reads
    of the last settle snapshot, the one the invariants judged (earlier
    snapshots only repeat the same reads while the system settles).
    """
    from matplotlib.patches import Patch

    all_bars = bars(history)
    workload = _pack([b for b in all_bars if b.phase != "final"])
    snapshot, final = _last_snapshot(all_bars)
    final = _pack(final)
    windows = fault_windows(history)[:MAX_FAULT_LANES]
    fault_lanes = [f"fault {i + 1}" for i in range(len(windows))]
    clients = sorted({b.lane for b in (*workload, *final)}, key=_lane_order)[:MAX_LANES]
    lanes = fault_lanes + clients
    row_of = {lane: i for i, lane in enumerate(lanes)}
    fig = _figure(10.5, 1.5 + 0.3 * max(len(lanes), 2))
    grid = fig.add_gridspec(1, 2, width_ratios=(4, 1) if final else (1, 0.001))
    ax = fig.add_subplot(grid[0, 0])
    marks = exits(history)
    main_end = max(
        [b.end for b in workload] + [w.end for w in windows] + [t for t, _ in marks] + [1e-3]
    )
    span = max((b.end for b in workload), default=main_end)
    _draw_bars(ax, workload, row_of, max(span, 1e-3))
    _shade(ax, windows, labels=False)
    _mark_exits(ax, marks)
    for i, w in enumerate(windows):  # one lane per fault, its description beside the bar
        ax.barh(
            i,
            max(w.end - w.start, main_end / 300),
            left=w.start,
            height=0.6,
            color=FAULT_COLOUR,
            alpha=0.55,
            edgecolor="#5a4032",
            linewidth=0.4,
        )
        ax.text(
            w.start + main_end * 0.005,
            i,
            w.label,
            ha="left",
            va="center",
            fontsize=7,
            color="#2b1d14",
            clip_on=True,
        )
    if fault_lanes:
        ax.axhline(len(fault_lanes) - 0.5, color="#999999", lw=0.6)
    ax.set_xlim(0, main_end * 1.03)
    ax.set_yticks(range(len(lanes)), lanes, fontsize=8)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlabel("seconds since the example started")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    ax.set_title(f"{title}: workload and faults", fontsize=10, loc="left")
    handles = [Patch(color=c, label=o) for o, c in OUTCOME_COLOURS.items()]
    handles.append(Patch(color=FAULT_COLOUR, alpha=0.3, label="fault active"))
    if marks:
        handles.append(Patch(color=EXIT_COLOUR, label="process exited on its own"))
    if final:
        right = fig.add_subplot(grid[0, 1], sharey=ax)
        lo = min(b.start for b in final)
        hi = max(b.end for b in final)
        _draw_bars(right, final, row_of, max(hi - lo, 1e-3))
        right.set_xlim(lo - (hi - lo) * 0.05 - 1e-3, hi + (hi - lo) * 0.05 + 1e-3)
        right.tick_params(axis="y", labelleft=False)
        from matplotlib.ticker import MaxNLocator

        right.xaxis.set_major_locator(MaxNLocator(3))
        right.grid(axis="x", color="#eeeeee")
        right.set_axisbelow(True)
        right.set_xlabel("seconds")
        which = f"snapshot {snapshot}" if snapshot is not None else "final reads"
        right.set_title(f"final reads ({which}, judged)", fontsize=9, loc="left")
        right.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    else:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return _svg(fig, svg_id, title)


def latency_svg(histories: Sequence[History], *, svg_id: str, title: str = "latency") -> str:
    """Latency of every operation over the row's time, examples one after another."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    points: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    windows: list[FaultWindow] = []
    boundaries: list[float] = []
    offset = 0.0
    count = 0
    for history in histories:
        for op in history.operations():
            if op.completion is None or count >= MAX_OPERATIONS * 10:
                continue
            count += 1
            xs, ys = points.setdefault((op.f, op.outcome), ([], []))
            xs.append(offset + op.invoke.time)
            ys.append(max((op.completion.time - op.invoke.time) * 1000, 0.01))
        windows += [
            FaultWindow(w.label, offset + w.start, offset + w.end) for w in fault_windows(history)
        ]
        offset += _end_time(history) + _GAP_S
        boundaries.append(offset - _GAP_S / 2)
    fig = _figure(10.5, 3.4)
    ax = fig.add_subplot()
    fs = sorted({f for f, _ in points})
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    colour = {f: palette(i % 10) for i, f in enumerate(fs)}
    for (f, outcome), (xs, ys) in sorted(points.items()):
        style: dict[str, Any] = (
            {"linewidths": 0.9}
            if outcome == "fail"
            else {"linewidths": 0.3, "edgecolors": "#333333" if outcome == "ok" else "face"}
        )
        ax.scatter(
            xs,
            ys,
            s=10 if outcome != "fail" else 16,
            marker=_OP_MARKERS.get(outcome, "o"),
            color=colour[f],
            alpha=0.8,
            **style,
        )
    _shade(ax, windows, labels=len(histories) == 1)
    if len(histories) > 1:
        for x in boundaries[:-1]:
            ax.axvline(x, color="#dddddd", lw=0.5)
    if points:
        ax.set_yscale("log")
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel(
        "seconds since the example started"
        if len(histories) == 1
        else f"seconds, {len(histories)} examples one after another"
    )
    ax.grid(color="#eeeeee")
    ax.set_axisbelow(True)
    handles: list[Any] = [Patch(color=colour[f], label=f) for f in fs]
    handles += [
        Line2D([], [], ls="", marker=m, color="#555555", label=o) for o, m in _OP_MARKERS.items()
    ]
    handles.append(Patch(color=FAULT_COLOUR, alpha=0.3, label="fault active"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig, svg_id, title)
