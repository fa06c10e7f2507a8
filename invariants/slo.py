"""Service-level objectives (the seed's Step 15) judged on recorded histories.

A failure-model row may list SLOs next to its invariants, as one line each:

- **latency**: ``p95(order) < 300 ms``, ``p99(bid) <= 1 s``, ``max(pay) < 2 s``:
  a percentile (``p50`` .. ``p99.9``, ``median``, ``mean`` or ``max``) of the
  durations of the operation's ``ok`` attempts sent during the row's examples,
  under its faults;
- **freshness** (propagation): ``exactly_once_shipment within 5 s``,
  ``every_match_announced within 2 s at p99``: the lag from a source (an order
  answered accepted, a match answered) to its effect (the shipment, the
  announcement in the partner's ledger), ``max`` unless ``at <percentile>``;
- **availability**: ``availability >= 95%`` (or ``>= 0.95``;
  ``availability(bid) >= 99%`` for one operation): of the client operations in
  flight while a fault was active, the share answered ``ok`` or a definite
  ``fail`` (not indeterminate).

Each example contributes samples (`samples`); the row's SLO is judged once on
all of them (`judge`), so a percentile rests on every example, and the report
shows the measured value beside the promise with the distribution (p50, p95,
p99, max). A lag that never ended (no effect by the time the example was
judged) is censored: counted at least as long as it had lasted, as is a lag
only bounded from below (`Lag.exact` False).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from harness.history import FinalState, History, Ledgers, Operation
from harness.plain import show
from invariants._auction import auction_close_lags

SloKind: TypeAlias = Literal["latency", "freshness", "availability"]
STATS = ("p50", "p90", "p95", "p99", "p99.9", "median", "mean", "max")


class InvalidSlo(ValueError):
    """An SLO line that does not parse; the message shows the accepted forms."""


FORMS = (
    "'p95(<op>) < 300 ms' (latency), '<invariant> within 5 s [at p99]' (freshness) "
    "or 'availability[(<op>)] >= 95%'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Slo:
    """One parsed SLO line: what is measured, which statistic, and the promise."""

    text: str
    kind: SloKind
    subject: str
    """The operation (latency), the lag measure (freshness), or ``availability``."""
    stat: str
    bound: float
    """Seconds (latency, freshness) or a fraction 0..1 (availability)."""
    strict: bool = True
    """``<`` (or ``>`` for availability) rather than ``<=`` / ``>=``."""

    def promise(self) -> str:
        """The promise in words: ``p95 < 300 ms``."""
        if self.kind == "availability":
            return f"{'>' if self.strict else '>='} {_percent(self.bound)}"
        op = "<" if self.strict else "<="
        return f"{self.stat} {op} {_seconds(self.bound)}"

    def met_by(self, value: float) -> bool:
        if self.kind == "availability":
            return value > self.bound if self.strict else value >= self.bound
        return value < self.bound if self.strict else value <= self.bound


_NUMBER = r"(\d+(?:\.\d+)?)"
_LATENCY = re.compile(
    rf"^(p\d{{1,2}}(?:\.\d)?|median|mean|max)\(\s*([a-z][a-z0-9_]*)\s*\)\s*(<=|<)\s*{_NUMBER}\s*(ms|s)$"
)
_FRESHNESS = re.compile(
    rf"^([a-z][a-z0-9_]*)\s+within\s+{_NUMBER}\s*(ms|s)(?:\s+at\s+(p\d{{1,2}}(?:\.\d)?|median|mean|max))?$"
)
_AVAILABILITY = re.compile(
    rf"^availability(?:\(\s*([a-z][a-z0-9_]*)\s*\))?\s*(>=|>)\s*{_NUMBER}\s*(%?)$"
)


def _stat(text: str, stat: str) -> str:
    stat = "p50" if stat == "median" else stat
    if stat.startswith("p"):
        value = float(stat[1:])
        if not 0 < value < 100:
            raise InvalidSlo(f"SLO {text!r}: percentile {stat!r} must be between p0 and p100")
    return stat


def parse_slo(text: object) -> Slo:
    """One SLO line, or `InvalidSlo` saying what was expected."""
    if not isinstance(text, str) or not text.strip() or len(text) > 200:
        got = show(text)  # bounded: a design file's value may be huge or deeply nested
        raise InvalidSlo(f"an SLO must be a line of at most 200 characters: {FORMS} (got {got})")
    line = " ".join(text.split())
    if m := _LATENCY.match(line):
        stat, op, cmp, number, unit = m.groups()
        return Slo(
            text=line,
            kind="latency",
            subject=op,
            stat=_stat(line, stat),
            bound=float(number) / (1000 if unit == "ms" else 1),
            strict=cmp == "<",
        )
    if m := _FRESHNESS.match(line):
        name, number, unit, stat = m.groups()
        return Slo(
            text=line,
            kind="freshness",
            subject=name,
            stat=_stat(line, stat or "max"),
            bound=float(number) / (1000 if unit == "ms" else 1),
            strict=False,
        )
    if m := _AVAILABILITY.match(line):
        op, cmp, number, percent = m.groups()
        bound = float(number) / (100 if percent else 1)
        if not 0 <= bound <= 1:
            raise InvalidSlo(f"SLO {line!r}: availability must be a share in 0..1 or 0..100%")
        return Slo(
            text=line,
            kind="availability",
            subject=op or "availability",
            stat="share",
            bound=bound,
            strict=cmp == ">",
        )
    raise InvalidSlo(f"SLO {line!r} does not parse; the forms are {FORMS}")


# -- samples ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lag:
    """One propagation's lag in seconds; ``exact`` False when it is only a lower
    bound (the effect had not come yet, or was observed only by reads)."""

    key: str
    seconds: float
    exact: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Samples:
    """What one example contributes to one SLO: durations or lags in seconds
    (latency, freshness), or answered / in-flight counts (availability)."""

    values: tuple[float, ...] = ()
    inexact: int = 0
    answered: int = 0
    total: int = 0
    worst: tuple[str, ...] = ()
    """Keys of the worst lags (freshness), for the report."""


LagMeasure: TypeAlias = Callable[[History, FinalState, Ledgers, float], Sequence[Lag]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Propagation:
    """Lags from a source to its effect in the partner's ledger: each ``op``
    answered ``ok`` with answer fields equal to ``when`` names an id (request field
    ``id``, or answer field ``id`` with ``from_answer``), acknowledged when that
    answer came; its effect is the first ``effect`` whose body field ``effect_id``
    is that id. ``t0`` (the history's time 0 on the machine's monotonic clock,
    which the partner stamps effects with) lines the two up."""

    op: str
    id: str
    effect: str
    effect_id: str
    when: Mapping[str, Any] = field(default_factory=dict)
    from_answer: bool = False

    def __call__(
        self, history: History, final: FinalState, ledgers: Ledgers, t0: float
    ) -> list[Lag]:
        acked: dict[str, float] = {}
        for op in history.operations():
            if op.f != self.op or op.outcome != "ok" or op.invoke.phase == "final":
                continue
            answer = _answer(op)
            if any(answer.get(k) != v for k, v in self.when.items()):
                continue
            source = answer if self.from_answer else _request(op)
            key = source.get(self.id)
            if isinstance(key, str):
                acked[key] = min(acked.get(key, math.inf), op.end_time)
        seen: dict[str, float] = {}
        for effect in ledgers.effects:
            key = effect.body.get(self.effect_id)
            if effect.kind == self.effect and isinstance(key, str):
                seen[key] = min(seen.get(key, math.inf), effect.time - t0)
        end = max((e.time for e in history.events), default=0.0)
        lags = []
        for key, at in acked.items():
            if key in seen:
                lags.append(Lag(key, max(0.0, seen[key] - at)))
            else:
                lags.append(Lag(key, max(0.0, end - at), exact=False))
        return lags


def _answer(op: Operation) -> Mapping[str, Any]:
    value = op.response.get("body")
    return value if isinstance(value, Mapping) else {}


def _request(op: Operation) -> Mapping[str, Any]:
    value = op.request.get("body")
    return value if isinstance(value, Mapping) else {}


def _auction_close(
    history: History, final: FinalState, ledgers: Ledgers, t0: float
) -> Sequence[Lag]:
    return [Lag(a, s, exact=False) for a, s in auction_close_lags(history).items()]


LAGS: Mapping[str, LagMeasure] = MappingProxyType(
    {
        "exactly_once_shipment": Propagation(
            op="order", id="order_id", when={"status": "accepted"},
            effect="shipment", effect_id="order_id",
        ),
        "every_match_announced": Propagation(
            op="swipe", id="match_id", from_answer=True, when={"matched": True},
            effect="message", effect_id="match_id",
        ),
        "auction_closed": _auction_close,
    }
)
"""Freshness measures by name: the propagation an invariant promises, timed."""


def _fault_windows(history: History) -> list[tuple[float, float]]:
    starts: dict[Any, float] = {}
    windows = []
    end = max((e.time for e in history.events), default=0.0)
    for event in history.nemesis_events():
        fault_id = event.value.get("id")
        if event.f == "start":
            starts[fault_id] = event.time
        elif fault_id in starts:
            windows.append((starts.pop(fault_id), event.time))
    windows += [(start, end) for start in starts.values()]
    return windows


def samples(
    slo: Slo,
    history: History,
    final: FinalState,
    ledgers: Ledgers,
    *,
    t0: float = 0.0,
    lags: Mapping[str, LagMeasure] = LAGS,
) -> Samples:
    """One example's samples for ``slo`` (client operations of the main phase)."""
    if slo.kind == "latency":
        return Samples(
            values=tuple(
                op.end_time - op.invoke.time
                for op in history.operations()
                if op.f == slo.subject and op.outcome == "ok" and op.invoke.phase == "main"
            )
        )
    if slo.kind == "freshness":
        found = list(lags[slo.subject](history, final, ledgers, t0))
        worst = sorted(found, key=lambda lag: -lag.seconds)[:3]
        return Samples(
            values=tuple(lag.seconds for lag in found),
            inexact=sum(not lag.exact for lag in found),
            worst=tuple(f"{lag.key} {_seconds(lag.seconds)}" for lag in worst),
        )
    windows = _fault_windows(history)
    hit = [
        op
        for op in history.operations()
        if op.invoke.phase == "main"
        and slo.subject in ("availability", op.f)
        and any(start < op.end_time and op.invoke.time < end for start, end in windows)
    ]
    return Samples(answered=sum(op.outcome in ("ok", "fail") for op in hit), total=len(hit))


# -- judging ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SloResult:
    """One SLO judged on a row's examples: the promise, what was measured, and
    whether it held (``met`` None when nothing could be measured)."""

    text: str
    kind: SloKind
    promise: str
    measured: float | None
    met: bool | None
    distribution: Mapping[str, float] = field(default_factory=dict)
    """n, p50, p95, p99, max (seconds) -- or answered, total for availability."""
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "distribution", MappingProxyType(dict(self.distribution)))

    @property
    def shown(self) -> str:
        """The measured value in the promise's units: ``412 ms``, ``97.5%``."""
        if self.measured is None:
            return "not measured"
        if self.kind == "availability":
            return _percent(self.measured)
        return _seconds(self.measured)

    @property
    def spread(self) -> str:
        """The measured distribution: ``n 40, p50 12 ms, p95 80 ms, p99 95 ms, max 1.20 s``
        (``31 of 40 answered`` for availability; ``-`` when nothing was measured)."""
        d = self.distribution
        if not d:
            return "-"
        if self.kind == "availability":
            return f"{d.get('answered', 0):.0f} of {d.get('total', 0):.0f} answered"
        return f"n {d['n']:.0f}, " + ", ".join(
            f"{k} {_seconds(d[k])}" for k in ("p50", "p95", "p99", "max") if k in d
        )

    @property
    def verdict(self) -> str:
        """``met``, ``NOT MET``, ``not judged`` (measured, but on a saturated host)
        or ``not measured``."""
        if self.met is None:
            return "not measured" if self.measured is None else "not judged"
        return "met" if self.met else "NOT MET"

    def line(self) -> str:
        """``p95(order) < 300 ms: measured 412 ms (NOT MET)``."""
        return f"{self.text}: measured {self.shown} ({self.verdict})"


def percentile(values: Sequence[float], stat: str) -> float:
    """Nearest-rank percentile (``p95``), ``mean`` or ``max`` of non-empty ``values``."""
    ordered = sorted(values)
    if stat == "max":
        return ordered[-1]
    if stat == "mean":
        return sum(ordered) / len(ordered)
    rank = math.ceil(float(stat[1:]) / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def judge(slo: Slo, parts: Sequence[Samples], *, saturated: str | None = None) -> SloResult:
    """The row's verdict on ``slo`` from every example's samples. ``saturated``
    says why the host could not give the service its time while they were taken
    (`harness.host_load`): then a promise missed is not judged (``met`` None, the
    value still shown), since the miss may be the machine's; one met still is."""
    result = _measured(slo, parts)
    if result.met is False and saturated is not None:
        why = f"{saturated}; a time measured then is the machine's as much "
        why += "as the service's (run again on a quieter host)"
        return replace(result, met=None, note="; ".join(n for n in (why, result.note) if n))
    return result


def _measured(slo: Slo, parts: Sequence[Samples]) -> SloResult:
    if slo.kind == "availability":
        answered = sum(p.answered for p in parts)
        total = sum(p.total for p in parts)
        if not total:
            return SloResult(
                text=slo.text, kind=slo.kind, promise=slo.promise(), measured=None, met=None,
                note="no operation was in flight while a fault was active",
            )
        share = answered / total
        return SloResult(
            text=slo.text,
            kind=slo.kind,
            promise=slo.promise(),
            measured=share,
            met=slo.met_by(share),
            distribution={"answered": answered, "total": total},
            note=f"{answered} of {total} operations in flight during a fault were answered",
        )
    values = [v for p in parts for v in p.values]
    if not values:
        what = "ok operation" if slo.kind == "latency" else "propagation"
        return SloResult(
            text=slo.text, kind=slo.kind, promise=slo.promise(), measured=None, met=None,
            note=f"no {what} of {slo.subject} to measure",
        )
    value = percentile(values, slo.stat)
    distribution = {
        "n": float(len(values)),
        **{s: percentile(values, s) for s in ("p50", "p95", "p99", "max")},
    }
    notes = []
    inexact = sum(p.inexact for p in parts)
    if inexact:
        notes.append(f"{inexact} of {len(values)} lags are lower bounds (effect not seen yet, "
                     "or seen only by reads)")
    worst = [w for p in parts for w in p.worst]
    if slo.kind == "freshness" and worst:
        ranked = sorted(worst, key=_lag_of, reverse=True)[:3]
        notes.append(f"longest: {', '.join(ranked)}")
    return SloResult(
        text=slo.text,
        kind=slo.kind,
        promise=slo.promise(),
        measured=value,
        met=slo.met_by(value),
        distribution=distribution,
        note="; ".join(notes),
    )


def _lag_of(text: str) -> float:
    number, unit = text.rsplit(" ", 2)[-2:]
    return float(number) / (1000 if unit == "ms" else 1)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"
