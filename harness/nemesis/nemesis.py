"""The one component that starts faults and always heals them.

Every started fault is remembered until healed; ``heal_all`` runs in
``finally`` (and on ``__exit__``), heals in reverse order, keeps going when
one heal fails, and ends with a sweep -- every proxy reset and enabled,
every process resumed and alive -- so an exception or Ctrl-C mid-schedule
leaves no toxic, paused process or dead service behind. A process the sweep
finds dead (the target's or a store) exited on its own, every crash fault being
healed by then: it is recorded as an ``exit`` event before it is started again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from harness.history.events import FIRE, LAG
from harness.history.recorder import Recorder
from harness.links import STORES
from harness.nemesis.faults import (
    CacheLoss,
    ClockFault,
    Crash,
    Fault,
    InvalidFault,
    LinkToxic,
    Partition,
    PartnerFailure,
    Pause,
    Redelivery,
    fault_to_dict,
)
from harness.toxiproxy.client import Proxy
from harness.toxiproxy.errors import ToxiproxyNotFound, ToxiproxyUnavailable
from harness.toxiproxy.toxics import Stream, Timeout, toxic_from_dict

log = logging.getLogger(__name__)
T = TypeVar("T")
HEAL_WAIT_S = 10.0
IN_CALL_POLL_S = 0.25
"""How long one wait for a held partner call lasts: a heal is noticed this soon."""
EXIT_LINES = 20
"""Lines of a process's output kept with its exit: enough for a stack trace's top."""
_HELD: Mapping[str, tuple[Stream, ...]] = {
    "blackhole": ("upstream", "downstream"),
    "lost_answer": ("downstream",),
}
"""The directions a partition that keeps connections open stops the data in."""


class Controllable(Protocol):
    """A process the nemesis can crash, pause and bring back (services, replicas)."""

    def crash(self) -> None: ...
    def restart(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def alive(self) -> bool: ...


class PartnerFaults(Protocol):
    def set_fault(
        self, endpoint: str, mode: str, *, count: int | None = None, delay_ms: int = 0
    ) -> None: ...
    def clear_faults(self) -> None: ...
    def arm_hold(
        self,
        endpoint: str,
        delay_ms: int,
        *,
        after_effect: bool = False,
        caller: str | None = None,
        count: int = 1,
    ) -> None: ...
    def wait_holding(self, timeout_s: float) -> int: ...
    def clear_holds(self) -> None: ...


class Clock(Protocol):
    """A process's wall clock the nemesis can move (harness.provision.clock.ClockControl)."""

    @property
    def offset_ms(self) -> float: ...
    def set_offset(self, offset_ms: float) -> None: ...
    def drift(self, rate_ms_per_s: float) -> None: ...
    def reset(self) -> None: ...


class FaultTargets(Protocol):
    """What a nemesis can reach: proxies by link, processes by name, their clocks,
    the partner."""

    def proxy(self, link: str) -> Proxy: ...
    def proxies(self, link: str) -> tuple[Proxy, ...]: ...
    def links(self) -> tuple[str, ...]: ...
    def controllable(self, name: str) -> Controllable: ...
    def controllables(self) -> Mapping[str, Controllable]: ...
    def clocks(self) -> Mapping[str, Clock]: ...
    def reset_proxies(self) -> None: ...
    def restart_toxiproxy(self) -> None: ...
    def exited(self, spare: Collection[str] = ...) -> Mapping[str, int | None]: ...
    def stores_down(self, spare: Collection[str] = ...) -> tuple[str, ...]: ...
    def log_tails(self, names: Iterable[str] | None = ..., lines: int = ...) -> dict[str, str]: ...
    def consumer_lag(self) -> int | None: ...
    @property
    def partner(self) -> PartnerFaults | None: ...


def record_exits(
    targets: FaultTargets,
    recorder: Recorder,
    *,
    spare: Collection[str] = (),
    restart: bool = False,
) -> list[str]:
    """Record each process that is down, other than ``spare`` (those a fault holds
    down), as an ``exit`` event: a target process's with its exit code and last
    output (``targets_stay_up`` judges it), a store's marked ``store`` (a fault
    nobody scheduled, shown in the timeline, not held against the target). With
    ``restart``, start it again, stores first, so the example goes on against the
    whole system. The names, in order."""
    stores = targets.stores_down(spare)
    for name in stores:
        recorder.exit(name, None, "", store=True)
        if restart:
            targets.controllable(name).restart()
    gone = targets.exited(spare)
    tails = targets.log_tails(list(gone), lines=EXIT_LINES) if gone else {}
    for name, code in gone.items():
        recorder.exit(name, code, tails.get(name, ""))
        if restart:
            targets.controllable(name).restart()
    return [*stores, *gone]


def _on_each(proxies: Iterable[Proxy], heal: Callable[[Proxy], None]) -> None:
    """Heal every proxy of a link, even if one fails; then raise the first error.
    A Toxiproxy that does not answer is not asked again for the next proxy."""
    errors: list[Exception] = []
    for proxy in proxies:
        try:
            heal(proxy)
        except ToxiproxyUnavailable:
            raise
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


class HealError(RuntimeError):
    """One or more faults could not be healed; the message lists them."""


@dataclass(frozen=True, slots=True)
class ActiveFault:
    fault_id: int
    fault: Fault
    started_at: float
    paused: frozenset[str] = frozenset()
    toxiproxy_starts: int = 0
    """Toxiproxy's restarts before the fault started: a later one healed its link."""


class Nemesis:
    """Executes fault values against live processes and links; always heals."""

    def __init__(self, targets: FaultTargets, recorder: Recorder) -> None:
        self._targets = targets
        self._recorder = recorder
        self._active: dict[int, ActiveFault] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self._paused: set[str] = set()
        self._timers: dict[int, threading.Timer] = {}
        self._aimed: dict[int, _AimedCrash] = {}
        self._healing: set[int] = set()
        # Processes whose fault's heal failed: down because of the schedule.
        self._unhealed: set[str] = set()
        # Held while a fault starts and while all heal: a start still running in a
        # worker thread (its task cancelled) finishes before the heal, or not at all
        # once the nemesis is closed, so no toxic outlives the schedule.
        self._acting = threading.RLock()
        self._closed = False
        self._toxiproxy_starts = 0
        self._restarting = threading.Lock()

    @property
    def active(self) -> Mapping[int, Fault]:
        with self._lock:
            return {fid: a.fault for fid, a in self._active.items()}

    def validate(self, fault: Fault) -> None:
        """Raise ``InvalidFault`` if the fault names a link or process that is not here."""
        link = getattr(fault, "link", None)
        if link is not None:
            links = self._ask_toxiproxy(self._targets.links)
            if link not in links:
                raise InvalidFault(f"{fault.describe()}: no link {link!r}; links: {list(links)}")
        for name in _processes_of(fault):
            if name not in self._targets.controllables():
                raise InvalidFault(
                    f"{fault.describe()}: no process {name!r}; "
                    f"processes: {sorted(self._targets.controllables())}"
                )
        needs_partner = isinstance(fault, PartnerFailure) or (
            isinstance(fault, Crash) and fault.in_call_ms
        )
        if needs_partner and self._targets.partner is None:
            raise InvalidFault(f"{fault.describe()}: this design has no partner service")
        if isinstance(fault, ClockFault) and fault.process not in self._targets.clocks():
            raise InvalidFault(
                f"{fault.describe()}: the clock of {fault.process!r} is not controllable; "
                "only processes a 'clock:' fault family names run under libfaketime "
                f"(controllable: {sorted(self._targets.clocks()) or 'none'})"
            )

    def start(self, fault: Fault) -> int:
        """Start a fault and return its id; the fault is registered *before* it
        acts, so a failure half-way is still healed."""
        with self._acting:
            if self._closed:
                raise RuntimeError(f"{fault.describe()}: the nemesis has healed all and closed")
            self.validate(fault)
            with self._lock:
                fault_id = self._next_id
                self._next_id += 1
                self._active[fault_id] = ActiveFault(
                    fault_id, fault, time.monotonic(), toxiproxy_starts=self._toxiproxy_starts
                )
            self._recorder.nemesis("start", {"id": fault_id, "fault": fault_to_dict(fault)})
            starter = _STARTERS[type(fault)]
            if isinstance(fault, LinkToxic | Partition):
                self._ask_toxiproxy(lambda: starter(self, fault_id, fault))
            else:
                starter(self, fault_id, fault)
            return fault_id

    def heal(self, fault_id: int) -> None:
        with self._lock:
            active = self._active.get(fault_id)
            busy = fault_id in self._healing
            if active is not None and not busy:
                self._healing.add(fault_id)
        if active is None:
            return
        if busy:  # a timed fault ending on its own: wait for that heal to finish
            deadline = time.monotonic() + HEAL_WAIT_S
            while fault_id in self._active and time.monotonic() < deadline:
                time.sleep(0.01)
            return
        error: str | None = None
        healer = _HEALERS[type(active.fault)]
        try:
            if isinstance(active.fault, LinkToxic | Partition):
                self._heal_via_toxiproxy(
                    lambda: healer(self, fault_id, active.fault), active.toxiproxy_starts
                )
            else:
                healer(self, fault_id, active.fault)
        except Exception as exc:
            error = repr(exc)
            self._unhealed.update(_processes_of(active.fault))
            raise
        finally:
            with self._lock:
                self._active.pop(fault_id, None)
                self._healing.discard(fault_id)
            self._recorder.nemesis(
                "heal", {"id": fault_id, "fault": fault_to_dict(active.fault)}, error=error
            )

    def heal_all(self) -> None:
        """Heal every active fault, then sweep. Raises ``HealError`` listing
        what could not be healed, after trying it all.

        Infrastructure first (links, stores, partner), then the target's
        processes, whose restart needs their dependencies up. Within each
        group the faults of different processes heal in parallel (a restart
        waits for readiness: two crashed replicas cost one restart, not two);
        the faults of one process, and those on links and the partner, heal
        one after another, newest first.
        """
        with self._acting:
            self._heal_all()

    def close(self) -> None:
        """Heal all and refuse any later start (the end of a schedule)."""
        with self._acting:
            self._closed = True
            self._heal_all()

    def _heal_all(self) -> None:
        failures: list[str] = []
        with self._lock:
            ids = sorted(self._active, key=lambda fid: -fid)
            faults = {fid: self._active[fid].fault for fid in ids}
        for rank in (0, 1):
            chains: dict[tuple[str, ...], list[int]] = {}
            for fid in ids:
                if _heal_rank(faults[fid]) == rank:
                    chains.setdefault(_processes_of(faults[fid]), []).append(fid)
            failures.extend(_all_at_once([self._heal_chain(c) for c in chains.values()]))
        failures.extend(self._sweep())
        if failures:
            raise HealError("could not heal: " + "; ".join(failures))

    def _heal_chain(self, ids: list[int]) -> Callable[[], list[str]]:
        """Heal ``ids`` one after another; what failed, in words."""

        def chain() -> list[str]:
            failures = []
            for fault_id in ids:
                try:
                    self.heal(fault_id)
                except Exception as exc:
                    failures.append(f"fault {fault_id}: {exc!r}")
            return failures

        return chain

    def _sweep(self) -> list[str]:
        """Belt and braces after healing: no toxic, no disabled proxy, no
        paused or dead process may survive a schedule."""
        failures: list[str] = []
        try:
            self._heal_via_toxiproxy(self._targets.reset_proxies, self._toxiproxy_starts)
        except Exception as exc:
            failures.append(f"proxy reset: {exc!r}")
        if self._targets.partner is not None:
            try:
                self._targets.partner.clear_faults()
            except Exception as exc:
                failures.append(f"partner faults: {exc!r}")
        for name, clock in self._targets.clocks().items():
            try:
                clock.reset()
            except Exception as exc:
                failures.append(f"clock of {name}: {exc!r}")
        try:
            # Before the restarts below: a process that exited on its own is a
            # finding, not something to tidy away.
            record_exits(self._targets, self._recorder, spare=self._unhealed)
        except Exception as exc:
            failures.append(f"exit check: {exc!r}")
        for name, proc in self._targets.controllables().items():
            try:
                if name in self._paused:
                    self._paused.discard(name)
                    if proc.alive:
                        proc.resume()
                if not proc.alive:
                    proc.restart()
            except Exception as exc:
                failures.append(f"{name}: {exc!r}")
        return failures

    def _ask_toxiproxy(self, call: Callable[[], T]) -> T:
        """A call to Toxiproxy's API, made again after restarting Toxiproxy if it
        does not answer. Toxiproxy can hang for good: removing or adding a toxic
        waits for a latency toxic that holds data for a connection already closed
        (a client that timed out), and that wait holds the lock every call needs."""
        started = self._toxiproxy_starts
        try:
            return call()
        except ToxiproxyUnavailable as exc:
            self._restart_toxiproxy(started, exc)
        return call()

    def _heal_via_toxiproxy(self, heal: Callable[[], None], since: int) -> None:
        """A heal through Toxiproxy's API; if Toxiproxy does not answer, restarting it
        is the heal (it comes back with no toxic), and so was a restart after
        ``since`` (a toxic it removed is not found: nothing to heal)."""
        started = self._toxiproxy_starts
        try:
            heal()
        except ToxiproxyNotFound:
            if started == since:
                raise  # gone behind the nemesis's back: say so
        except ToxiproxyUnavailable as exc:
            self._restart_toxiproxy(started, exc)

    def _restart_toxiproxy(self, started: int, error: ToxiproxyUnavailable) -> None:
        """Restart Toxiproxy, unless it was restarted since ``started``; the restart
        is in the history: it cut every connection through every link."""
        with self._restarting:
            if self._toxiproxy_starts != started:
                return
            log.warning("Toxiproxy did not answer (%s); restarting it", error)
            self._targets.restart_toxiproxy()
            self._toxiproxy_starts += 1
            self._recorder.exit(
                "toxiproxy",
                None,
                f"did not answer ({error}): restarted, no toxic",
                store=True,
                how="stopped answering and was restarted",
            )

    def __enter__(self) -> Nemesis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- executors, one pair per fault type ---------------------------------

    def _toxic_name(self, fault_id: int, fault: LinkToxic) -> str:
        return f"fm{fault_id}_{fault.toxic}_{fault.stream}"

    def _start_toxic(self, fault_id: int, fault: LinkToxic) -> None:
        toxic = toxic_from_dict(
            {
                "type": fault.toxic,
                "stream": fault.stream,
                "name": self._toxic_name(fault_id, fault),
                **fault.attributes,
            }
        )
        for proxy in self._targets.proxies(fault.link):
            proxy.add_toxic(toxic)

    def _heal_toxic(self, fault_id: int, fault: LinkToxic) -> None:
        name = self._toxic_name(fault_id, fault)
        _on_each(self._targets.proxies(fault.link), lambda proxy: proxy.remove_toxic(name))

    def _start_partition(self, fault_id: int, fault: Partition) -> None:
        for proxy in self._targets.proxies(fault.link):
            if fault.mode == "refuse":
                proxy.disable()
                continue
            for stream in _HELD[fault.mode]:
                proxy.add_toxic(
                    Timeout(timeout_ms=0, stream=stream, name=f"fm{fault_id}_bh_{stream}")
                )
        self._end_in(fault_id, fault.duration_ms)

    def _heal_partition(self, fault_id: int, fault: Partition) -> None:
        self._outlast(fault_id, fault.duration_ms)

        def heal(proxy: Proxy) -> None:
            if fault.mode == "refuse":
                proxy.enable()
                return
            # Removing a timeout toxic closes every connection it was on (Toxiproxy
            # 2.12's cleanup), the link already up: the data it dropped is lost,
            # and a caller that retries the moment its connection ends gets through.
            for stream in _HELD[fault.mode]:
                proxy.remove_toxic(f"fm{fault_id}_bh_{stream}")

        _on_each(self._targets.proxies(fault.link), heal)

    def _start_crash(self, fault_id: int, fault: Crash) -> None:
        if not fault.in_call_ms:
            self._targets.controllable(fault.process).crash()
            self._note_lag(fault_id, fault.process)
            return
        partner = self._targets.partner
        assert partner is not None  # validate() checked
        partner.arm_hold(
            "all", fault.in_call_ms, after_effect=fault.after_effect, caller=fault.process
        )
        aimed = _AimedCrash()
        with self._lock:
            self._aimed[fault_id] = aimed
        aimed.thread = threading.Thread(
            target=self._crash_in_call, args=(fault_id, fault, aimed), daemon=True
        )
        aimed.thread.start()

    def _crash_in_call(self, fault_id: int, fault: Crash, aimed: _AimedCrash) -> None:
        """Wait for a held partner call (until the heal) and kill the process then."""
        partner = self._targets.partner
        assert partner is not None
        try:
            while not aimed.disarmed.is_set():
                held = partner.wait_holding(IN_CALL_POLL_S)
                if held and self._fire(fault_id, fault, aimed, held):
                    return
        except Exception:  # the partner is down: the heal kills it instead
            log.exception("waiting for a held partner call failed (fault %d)", fault_id)

    def _fire(
        self, fault_id: int, fault: Crash, aimed: _AimedCrash, held: int, *, by_heal: bool = False
    ) -> bool:
        """Kill the aimed crash's process once; False if it was killed already, or
        if the heal came first (it kills the process itself)."""
        with aimed.lock:
            if aimed.fired or (aimed.disarmed.is_set() and not by_heal):
                return False
            aimed.fired = True
            proc = self._targets.controllable(fault.process)
            if proc.alive:
                proc.crash()
            self._recorder.nemesis(
                FIRE, {"id": fault_id, "fault": fault_to_dict(fault), "held": held}
            )
            self._note_lag(fault_id, fault.process)
            return True

    def _note_lag(self, fault_id: int, process: str) -> None:
        """Just after ``process`` was killed, in a design with Kafka: record the
        messages its consumer groups had not committed (``LAG``), which a consumer
        killed then gets again. Which process consumes, failmodel cannot tell; a
        store's crash is not a consumer's. A broker that does not answer records
        nothing."""
        if process in STORES:
            return
        lag = self._targets.consumer_lag()
        if lag is not None:
            self._recorder.nemesis(LAG, {"id": fault_id, "process": process, "messages": lag})

    def _heal_crash(self, fault_id: int, fault: Crash) -> None:
        if fault.in_call_ms:
            with self._lock:
                aimed = self._aimed.pop(fault_id, None)
            if aimed is not None:
                aimed.disarmed.set()
                if aimed.thread is not None:
                    aimed.thread.join(HEAL_WAIT_S)
                partner = self._targets.partner
                assert partner is not None
                held = 0
                try:
                    held = partner.wait_holding(0)  # a call held just now is still hit
                    partner.clear_holds()
                finally:
                    # Not fired while it was on: the crash lands now, at its end.
                    self._fire(fault_id, fault, aimed, held, by_heal=True)
        self._targets.controllable(fault.process).restart()

    def _start_pause(self, fault_id: int, fault: Pause) -> None:
        proc = self._targets.controllable(fault.process)
        if proc.alive:  # faults overlap: a crashed process has nothing to pause
            self._paused.add(fault.process)
            proc.pause()
        self._end_in(fault_id, fault.duration_ms)

    def _end_in(self, fault_id: int, duration_ms: int) -> None:
        """A timed fault (``duration_ms`` > 0) is over on time, even if no heal
        step comes by then (a long batch)."""
        if not duration_ms:
            return
        timer = threading.Timer(duration_ms / 1000, self._expire, args=(fault_id,))
        timer.daemon = True
        with self._lock:
            self._timers[fault_id] = timer
        timer.start()

    def _outlast(self, fault_id: int, duration_ms: int) -> None:
        """Before a timed fault is healed: it lasts its whole duration, even
        when healed early (its timer, when another heals it, is cancelled)."""
        with self._lock:
            timer = self._timers.pop(fault_id, None)
            active = self._active.get(fault_id)
        if timer is not None and threading.current_thread() is not timer:
            timer.cancel()
        if duration_ms and active is not None:
            end = active.started_at + duration_ms / 1000
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(left, 0.05))

    def _expire(self, fault_id: int) -> None:
        try:
            self.heal(fault_id)
        except Exception:  # the final heal_all and its sweep try again
            log.exception("ending timed fault %d failed", fault_id)

    def _heal_pause(self, fault_id: int, fault: Pause) -> None:
        proc = self._targets.controllable(fault.process)
        try:
            self._outlast(fault_id, fault.duration_ms)
        finally:
            if proc.alive and fault.process in self._paused:
                proc.resume()
            self._paused.discard(fault.process)

    def _start_clock(self, fault_id: int, fault: ClockFault) -> None:
        clock = self._targets.clocks()[fault.process]
        if fault.mode == "skew":
            clock.set_offset(fault.offset_ms)
        elif fault.mode == "jump":
            clock.set_offset(clock.offset_ms + fault.offset_ms)
        else:
            clock.drift(fault.offset_ms)

    def _heal_clock(self, fault_id: int, fault: ClockFault) -> None:
        self._targets.clocks()[fault.process].reset()

    def _start_cache_loss(self, fault_id: int, fault: CacheLoss) -> None:
        proc = self._targets.controllable(fault.process)
        proc.crash()
        proc.restart()

    def _heal_cache_loss(self, fault_id: int, fault: CacheLoss) -> None:
        proc = self._targets.controllable(fault.process)
        if not proc.alive:
            proc.restart()

    def _start_redelivery(self, fault_id: int, fault: Redelivery) -> None:
        self._targets.proxy(fault.link).disable()
        time.sleep(fault.grace_ms / 1000)
        self._targets.controllable(fault.consumer).crash()

    def _heal_redelivery(self, fault_id: int, fault: Redelivery) -> None:
        try:
            self._targets.proxy(fault.link).enable()
            # Only now can the broker be asked (the cut link is the harness's way
            # to it too); the consumer, still down, has committed nothing since.
            self._note_lag(fault_id, fault.consumer)
        finally:
            self._targets.controllable(fault.consumer).restart()

    def _start_partner(self, fault_id: int, fault: PartnerFailure) -> None:
        partner = self._targets.partner
        assert partner is not None  # validate() checked
        partner.set_fault(fault.endpoint, fault.mode, count=fault.count, delay_ms=fault.delay_ms)

    def _heal_partner(self, fault_id: int, fault: PartnerFailure) -> None:
        partner = self._targets.partner
        assert partner is not None
        partner.clear_faults()


class _AimedCrash:
    """An aimed crash's state between its start and its heal."""

    __slots__ = ("disarmed", "fired", "lock", "thread")

    def __init__(self) -> None:
        self.disarmed = threading.Event()
        self.lock = threading.Lock()
        self.fired = False
        self.thread: threading.Thread | None = None


def _all_at_once(jobs: list[Callable[[], list[str]]]) -> list[str]:
    """Run ``jobs`` in parallel threads (one job runs here) and wait for every
    one, even through Ctrl-C (re-raised after): no heal is left half-done."""
    if len(jobs) <= 1:
        return [f for job in jobs for f in job()]
    results: list[list[str]] = [[] for _ in jobs]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except BaseException as exc:  # a heal chain never raises; belt and braces
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    interrupted: BaseException | None = None
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join()
            except KeyboardInterrupt as exc:
                interrupted = exc
    if interrupted is not None:
        raise interrupted
    return [f for r in results for f in r] + [f"heal: {e!r}" for e in errors]


def _heal_rank(fault: Fault) -> int:
    """0 for faults on what targets depend on, 1 for the targets' own processes."""
    names = _processes_of(fault)
    return 1 if names and not set(STORES).issuperset(names) else 0


def _processes_of(fault: Fault) -> tuple[str, ...]:
    if isinstance(fault, Crash | Pause | CacheLoss | ClockFault):
        return (fault.process,)
    if isinstance(fault, Redelivery):
        return (fault.consumer,)
    return ()


_Executor = Callable[[Nemesis, int, Any], None]
_STARTERS: Mapping[type[Any], _Executor] = {
    LinkToxic: Nemesis._start_toxic,
    Partition: Nemesis._start_partition,
    Crash: Nemesis._start_crash,
    Pause: Nemesis._start_pause,
    CacheLoss: Nemesis._start_cache_loss,
    Redelivery: Nemesis._start_redelivery,
    PartnerFailure: Nemesis._start_partner,
    ClockFault: Nemesis._start_clock,
}
_HEALERS: Mapping[type[Any], _Executor] = {
    LinkToxic: Nemesis._heal_toxic,
    Partition: Nemesis._heal_partition,
    Crash: Nemesis._heal_crash,
    Pause: Nemesis._heal_pause,
    CacheLoss: Nemesis._heal_cache_loss,
    Redelivery: Nemesis._heal_redelivery,
    PartnerFailure: Nemesis._heal_partner,
    ClockFault: Nemesis._heal_clock,
}
