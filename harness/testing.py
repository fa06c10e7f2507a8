"""failmodel as a library for your own tests: small pieces that compose.

Each piece is a plain object or function over a live system; the pytest
plugin hands each one out as a fixture (docs/pytest.md), and a script can
use them without pytest::

    with open_system("designs/payments.toml", variant="correct") as sut:
        recorder = Recorder()
        with Faults(sut, recorder) as faults, Client(sut, recorder) as client:
            partner = Partner(sut)
            with faults.start("partner:fail_after:psp"):
                reply = client.pay(client.keys.payment_id(0), 500)
            assert len(partner.effects("charge")) == 1

- `open_system`: provision a design's stores, partner and target (one variant);
- `Faults`: start and heal faults by the names design files use
  (``partition:postgres``, ``crash:target-0``, ``partner:fail_after:psp``),
  every one healed on exit;
- `Partner`: the partner's ledger since the object was made, and its faults;
- `Client`: a synchronous workload client; every HTTP attempt is recorded;
- `run_schedule`: play one schedule as one example and judge it: verdicts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.design import Design, Row, load_design
from harness.history import Effect, Event, History, Recorder, thaw
from harness.nemesis.faults import (
    CacheLoss,
    ClockFault,
    Crash,
    Fault,
    LinkToxic,
    Partition,
    PartnerFailure,
    Pause,
    Redelivery,
)
from harness.nemesis.nemesis import Nemesis
from harness.partner.control import PartnerControl
from harness.schedule.decode import schedule_from_json
from harness.schedule.families import CUT_MODES, TOXIC_ATTRIBUTES, InvalidFamily, parse_family
from harness.schedule.model import Schedule
from harness.schedule.runner import ExampleOutcome, ExampleRunner
from harness.system import LiveSystem
from harness.workload.api import Workload
from harness.workload.client import WorkloadClient
from harness.workload.keys import KeySpace, new_run_id
from harness.workload.ops import NO_RETRY, OpSpec, RetryPolicy
from invariants import APPLIES_TO, applies

__all__ = [
    "TOXIC_DEFAULTS",
    "Client",
    "Faults",
    "Partner",
    "Reply",
    "Started",
    "SystemUnderTest",
    "fault_from_name",
    "open_system",
    "run_schedule",
]


@dataclass(frozen=True, slots=True)
class SystemUnderTest:
    """A design's live system: the design, the variant running, and the
    `LiveSystem` (proxies by link, processes by name, the partner)."""

    design: Design
    variant: str
    live: LiveSystem

    @property
    def workload(self) -> Workload:
        return self.design.workload

    @property
    def client_urls(self) -> tuple[str, ...]:
        """The replicas' addresses as clients reach them: through their links."""
        return self.live.client_urls

    @property
    def partner_control(self) -> PartnerControl | None:
        return self.live.partner_control

    def row(self, row_id: str) -> Row:
        return self.design.row(row_id)

    def ports(self) -> dict[str, int]:
        return self.live.ports()

    def pids(self) -> dict[str, int]:
        return self.live.pids()


def _design(design: Design | str | Path) -> Design:
    return design if isinstance(design, Design) else load_design(design)


@contextlib.contextmanager
def open_system(
    design: Design | str | Path, variant: str = "correct"
) -> Iterator[SystemUnderTest]:
    """Start the system of ``design`` running ``variant``; stop all of it on exit."""
    loaded = _design(design)
    spec = loaded.target_spec(variant)
    with LiveSystem(spec, redis_persistence=loaded.services.redis_persistence) as live:
        yield SystemUnderTest(design=loaded, variant=variant, live=live)


# -- faults by name ----------------------------------------------------------------

TOXIC_DEFAULTS: Mapping[str, Mapping[str, int]] = {
    "latency": {"latency_ms": 200, "jitter_ms": 0},
    "bandwidth": {"rate_kb": 8},
    "slow_close": {"delay_ms": 200},
    "timeout": {"timeout_ms": 0},
    "reset_peer": {"timeout_ms": 0},
    "slicer": {"average_size": 16, "size_variation": 4, "delay_us": 1000},
    "limit_data": {"bytes": 64},
}
"""What a toxic named without attributes does (``latency:postgres`` adds 200 ms)."""
PARTNER_SLOW_MS = 500
IN_CALL_DEFAULT_MS = 500
"""How long ``crash_in_call:<process>`` holds the partner call it kills the process in."""
LOST_ANSWER_DEFAULT_MS = 200
"""How long ``lost_answer:<link>`` holds the answers before it cuts the connections."""
CLOCK_DEFAULT_MS = {"skew": 2000, "jump": 10000, "drift": 500}
"""What ``clock:<process>`` does without ``offset_ms``: by mode, ms (or ms per second)."""


def _only(name: str, attrs: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(attrs) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "none"
        raise InvalidFamily(f"fault {name!r}: unknown attribute(s) {unknown}; accepted: {accepted}")


def fault_from_name(name: str, design: Design, **attrs: Any) -> tuple[Fault, ...]:
    """The faults a design-file family names, one per link or process it
    matches (``crash:target-*`` is every replica), with ``attrs`` overriding
    the defaults: toxics take their attributes (`TOXIC_DEFAULTS`) and
    ``stream``; ``partner:<mode>[:<endpoint>]`` takes ``count`` and
    ``delay_ms``; ``redelivery:<consumer>`` takes ``grace_ms``; ``pause:<process>``
    and ``lost_answer:<link>`` take ``duration_ms``; ``crash_in_call:<process>`` takes
    ``in_call_ms`` and ``after_effect``; ``clock[:<mode>]:<process>`` takes ``offset_ms``."""
    family = parse_family(name, design.topology)
    kind = family.kind
    if family.is_client_side():
        raise InvalidFamily(
            f"fault {name!r} is client-side: pass retry= or timeout_s= to the client's calls"
        )
    if kind in TOXIC_DEFAULTS:
        _only(name, attrs, (*TOXIC_ATTRIBUTES[kind], "stream"))
        stream = attrs.pop("stream", "downstream")
        values = {**TOXIC_DEFAULTS[kind], **attrs}
        return tuple(
            LinkToxic(link=link, toxic=kind, attributes=values, stream=stream)
            for link in family.names
        )
    if kind in CUT_MODES:
        mode = CUT_MODES[kind]
        lost = mode == "lost_answer"  # the one cut that must end: it takes its duration
        _only(name, attrs, ("duration_ms",) if lost else ())
        duration = attrs.get("duration_ms", LOST_ANSWER_DEFAULT_MS) if lost else 0
        return tuple(Partition(link=link, mode=mode, duration_ms=duration) for link in family.names)
    if kind == "crash":
        _only(name, attrs, ())
        return tuple(Crash(process=p) for p in family.names)
    if kind == "crash_in_call":
        _only(name, attrs, ("in_call_ms", "after_effect"))
        in_call_ms = attrs.get("in_call_ms", IN_CALL_DEFAULT_MS)
        after = bool(attrs.get("after_effect", False))
        return tuple(
            Crash(process=p, in_call_ms=in_call_ms, after_effect=after) for p in family.names
        )
    if kind == "pause":
        _only(name, attrs, ("duration_ms",))
        return tuple(Pause(process=p, **attrs) for p in family.names)
    if kind == "clock":
        _only(name, attrs, ("offset_ms",))
        clock_mode = family.mode or "skew"
        offset = attrs.get("offset_ms", CLOCK_DEFAULT_MS[clock_mode])
        return tuple(
            ClockFault(process=p, mode=clock_mode, offset_ms=offset)  # type: ignore[arg-type]
            for p in family.names
        )
    if kind == "redelivery":
        _only(name, attrs, ("grace_ms",))
        return tuple(Redelivery(consumer=p, **attrs) for p in family.names)
    if kind == "cache_loss":
        _only(name, attrs, ())
        return (CacheLoss(),)
    # partner
    if family.mode is None:
        raise InvalidFamily(
            f"fault {name!r}: say what the partner does, e.g. partner:fail_after:psp "
            "(modes fail_before, fail_after, fail_after_drop, slow)"
        )
    _only(name, attrs, ("count", "delay_ms"))
    delay = attrs.get("delay_ms", PARTNER_SLOW_MS if family.mode == "slow" else 0)
    return (
        PartnerFailure(
            endpoint=family.endpoint or "all",  # type: ignore[arg-type]
            mode=family.mode,  # type: ignore[arg-type]
            count=attrs.get("count"),
            delay_ms=delay,
        ),
    )


@dataclass(slots=True)
class Started:
    """Faults started together by one `Faults.start`; heal them, or use as a
    context manager: ``with faults.start("partition:postgres"): ...``."""

    faults: Faults
    ids: tuple[int, ...]
    started: tuple[Fault, ...]

    def heal(self) -> None:
        for fault_id in reversed(self.ids):
            self.faults.heal(fault_id)

    def __enter__(self) -> Started:
        return self

    def __exit__(self, *exc: object) -> None:
        self.heal()


class Faults:
    """The nemesis of one system, by fault name; everything is healed on exit
    (and then swept: proxies reset, partner faults cleared, processes back)."""

    def __init__(self, sut: SystemUnderTest, recorder: Recorder | None = None) -> None:
        self.sut = sut
        self.recorder = recorder if recorder is not None else Recorder()
        self._nemesis = Nemesis(sut.live, self.recorder)

    def parse(self, fault: str, **attrs: Any) -> tuple[Fault, ...]:
        return fault_from_name(fault, self.sut.design, **attrs)

    def start(self, fault: str | Fault, **attrs: Any) -> Started:
        """Start a fault by name (or a fault value); it is in effect on return."""
        faults = self.parse(fault, **attrs) if isinstance(fault, str) else (fault,)
        ids: list[int] = []
        try:
            for each in faults:
                ids.append(self._nemesis.start(each))
        except BaseException:
            for fault_id in reversed(ids):
                self._nemesis.heal(fault_id)
            raise
        return Started(faults=self, ids=tuple(ids), started=faults)

    def heal(self, fault: int | Started) -> None:
        if isinstance(fault, Started):
            fault.heal()
        else:
            self._nemesis.heal(fault)

    def heal_all(self) -> None:
        self._nemesis.heal_all()

    @property
    def active(self) -> Mapping[int, Fault]:
        return self._nemesis.active

    def __enter__(self) -> Faults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.heal_all()


# -- the partner ---------------------------------------------------------------------


class Partner:
    """The partner of one system: its ledger since this object was made, and its faults."""

    def __init__(self, sut: SystemUnderTest) -> None:
        control = sut.partner_control
        if control is None:
            raise ValueError(
                f"{sut.design.path}: the design has no partner (add 'partner' to "
                "target.dependencies)"
            )
        self.control = control
        self.since = control.last_seq()

    def effects(self, kind: str | None = None) -> tuple[Effect, ...]:
        """Effects recorded since this object was made: ``charge``, ``shipment``,
        ``message`` or all of them."""
        effects = self.control.ledgers(since=self.since).effects
        return tuple(e for e in effects if kind is None or e.kind == kind)

    def set_fault(
        self, endpoint: str, mode: str, *, count: int | None = None, delay_ms: int = 0
    ) -> None:
        self.control.set_fault(endpoint, mode, count=count, delay_ms=delay_ms)

    def clear_faults(self) -> None:
        self.control.clear_faults()

    def decline(self, *references: str) -> None:
        self.control.decline(references)

    def stats(self) -> dict[str, Any]:
        return self.control.stats()


# -- a synchronous workload client -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """The last attempt of one call: the Jepsen outcome (``ok``, ``fail``,
    ``info``), the HTTP status (None when there was no answer), the body and
    the error; ``attempts`` counts the attempts made (retries included)."""

    outcome: str
    status: int | None
    body: Any
    error: str | None = None
    attempts: int = 1
    events: tuple[Event, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, completions: Sequence[Event]) -> Reply:
        last = completions[-1]
        value = thaw(last.value)
        return cls(
            outcome=last.type,
            status=value.get("status"),
            body=value.get("body"),
            error=last.error,
            attempts=len(completions),
            events=tuple(completions),
        )


def _retry(retry: RetryPolicy | int | None) -> RetryPolicy:
    if retry is None:
        return NO_RETRY
    if isinstance(retry, RetryPolicy):
        return retry
    return RetryPolicy(mode="immediate", count=retry) if retry else NO_RETRY


class Client:
    """The workload's client for one system, synchronous, recording every
    attempt in ``recorder``. ``keys`` gives ids nobody used before (the
    partner's effects are attributed to a test by them)."""

    def __init__(
        self, sut: SystemUnderTest, recorder: Recorder | None = None, *, prefix: str | None = None
    ) -> None:
        self.sut = sut
        self.recorder = recorder if recorder is not None else Recorder()
        self.keys = KeySpace(prefix) if prefix else KeySpace.for_example(new_run_id(), 0)
        self._loop = asyncio.Runner()
        self._client = WorkloadClient(sut.workload, sut.client_urls, self.recorder)
        self._loop.run(self._client.__aenter__())

    def close(self) -> None:
        try:
            self._loop.run(self._client.__aexit__(None, None, None))
        finally:
            self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def op(
        self,
        f: str,
        body: Mapping[str, Any],
        *,
        node: int = 0,
        timeout_s: float = 2.0,
        retry: RetryPolicy | int | None = None,
        process: int = 0,
    ) -> OpSpec:
        """One call, not sent yet: for `concurrently`."""
        return OpSpec(
            f=f, body=dict(body), process=process, node=node, timeout_s=timeout_s,
            retry=_retry(retry),
        )

    def call(self, f: str, body: Mapping[str, Any], **options: Any) -> Reply:
        """Send one call (``f`` as in histories: ``pay``, ``read_order``, ...)."""
        (reply,) = self.concurrently(self.op(f, body, **options))
        return reply

    def concurrently(self, *ops: OpSpec) -> list[Reply]:
        """Send calls at the same time; their replies in the same order."""
        answers = self._loop.run(self._client.execute_batch(ops))
        return [Reply.of(events) for events in answers]

    def history(self) -> History:
        """Everything recorded so far: this client's calls (and faults, when
        the `Faults` share the recorder)."""
        return self.recorder.history()

    # -- the contract's calls, per workload --------------------------------------

    def pay(
        self, payment_id: str, amount: int, *, order_id: str | None = None, **options: Any
    ) -> Reply:
        body = {"payment_id": payment_id, "order_id": order_id or payment_id, "amount": amount}
        return self.call("pay", body, **options)

    def read_payment(self, payment_id: str, **options: Any) -> Reply:
        return self.call("read_payment", {"payment_id": payment_id}, **options)

    def set_stock(self, sku: str, available: int, **options: Any) -> Reply:
        return self.call("set_stock", {"sku": sku, "available": available}, **options)

    def order(self, order_id: str, sku: str, qty: int, **options: Any) -> Reply:
        return self.call("order", {"order_id": order_id, "sku": sku, "qty": qty}, **options)

    def read_order(self, order_id: str, **options: Any) -> Reply:
        return self.call("read_order", {"order_id": order_id}, **options)

    def read_stock(self, sku: str, **options: Any) -> Reply:
        return self.call("read_stock", {"sku": sku}, **options)

    def swipe(
        self, swipe_id: str, swiper: str, swipee: str, direction: str = "right", **options: Any
    ) -> Reply:
        body = {"swipe_id": swipe_id, "swiper": swiper, "swipee": swipee, "direction": direction}
        return self.call("swipe", body, **options)

    def read_matches(self, user: str, **options: Any) -> Reply:
        return self.call("read_matches", {"user": user}, **options)


# -- one schedule, judged --------------------------------------------------------------


def run_schedule(
    sut: SystemUnderTest,
    schedule: Schedule | str | Path,
    *,
    out_dir: Path,
    row: str | None = None,
    invariants: Sequence[str] | None = None,
) -> ExampleOutcome:
    """Play ``schedule`` (or a ``*.schedule.json`` from a report) as one
    example on the system, let it settle and judge it: the outcome's
    ``verdicts`` (``failed``, ``violated()``) and the history's path. The
    invariants are the row's, else ``invariants``, else all of the workload's;
    ``consistent_reads`` is always checked."""
    if not isinstance(schedule, Schedule):
        schedule = schedule_from_json(_json(Path(schedule)), sut.workload)
    if schedule.workload != sut.workload.name:
        raise ValueError(
            f"the schedule is for workload {schedule.workload!r}, the system runs "
            f"{sut.workload.name!r}"
        )
    if row is not None:
        names: Sequence[str] = sut.row(row).invariants
    elif invariants is not None:
        names = invariants
    else:
        names = sorted(
            [*(n for n in APPLIES_TO if applies(n, sut.workload.name)), *sut.workload.invariants]
        )
    target = sut.design.target
    with ExampleRunner(
        sut.live,
        workload=sut.workload,
        invariants=names,
        out_dir=out_dir,
        run_id=new_run_id(),
        settle_timeout_s=target.settle_timeout_s,
        reads=target.reads,
    ) as runner:
        return runner.run(schedule)


def _json(path: Path) -> Any:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
