"""The fault vocabulary a failure-model row may allow, as written in design files.

A row lists families such as ``retry``, ``latency:target-*``,
``crash:consumer`` or ``partner:fail_after:psp``. Each family becomes a
Hypothesis strategy of fault values (or, for client-side families, a switch
on how operations are drawn). Link and process names may use ``*`` globs;
they are resolved against the design's topology when the design is loaded,
so a typo fails early with the names that exist.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from harness.links import PER_PROCESS, SEPARATOR, STORES, split_link
from harness.nemesis.faults import (
    CLOCK_MODES,
    PARTNER_ENDPOINTS,
    PARTNER_MODES,
    CacheLoss,
    ClockFault,
    Crash,
    Fault,
    LinkToxic,
    Partition,
    PartitionMode,
    PartnerFailure,
    Pause,
    Redelivery,
)
from harness.schedule.shape import Shape

CLIENT_FAMILIES = ("retry", "client_timeout", "reorder")
Attrs = st.SearchStrategy[dict[str, int]]


def _latency(shape: Shape) -> Attrs:
    """Per packet: a store link pays it on every round trip of a transaction, so a
    row aiming at a transaction's last round trips (a commit after a deadline) can
    say how slow its slow link is."""
    return st.fixed_dictionaries(
        {
            "latency_ms": st.integers(shape.min_latency_ms, shape.max_latency_ms),
            "jitter_ms": st.integers(0, 50),
        }
    )


def _fixed(attrs: Attrs) -> Callable[[Shape], Attrs]:
    return lambda _shape: attrs


# Toxic families: name -> the strategy of attributes within a row's shape (field
# names of harness.toxiproxy.toxics).
_TOXIC_ATTRS: Mapping[str, Callable[[Shape], Attrs]] = {
    "latency": _latency,
    "bandwidth": _fixed(st.fixed_dictionaries({"rate_kb": st.integers(1, 32)})),
    "slow_close": _fixed(st.fixed_dictionaries({"delay_ms": st.integers(50, 500)})),
    "timeout": _fixed(st.fixed_dictionaries({"timeout_ms": st.integers(0, 500)})),
    "reset_peer": _fixed(st.fixed_dictionaries({"timeout_ms": st.integers(0, 200)})),
    # A slicer's size_variation must stay below its average_size.
    "slicer": _fixed(
        st.integers(1, 64).flatmap(
            lambda size: st.fixed_dictionaries(
                {
                    "average_size": st.just(size),
                    "size_variation": st.integers(0, min(16, size - 1)),
                    "delay_us": st.integers(0, 2000),
                }
            )
        )
    ),
    "limit_data": _fixed(st.fixed_dictionaries({"bytes": st.integers(1, 256)})),
}
TOXIC_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "latency": ("latency_ms", "jitter_ms"),
    "bandwidth": ("rate_kb",),
    "slow_close": ("delay_ms",),
    "timeout": ("timeout_ms",),
    "reset_peer": ("timeout_ms",),
    "slicer": ("average_size", "size_variation", "delay_us"),
    "limit_data": ("bytes",),
}
"""The attributes each toxic family draws (what a fault by name may set)."""
CUT_MODES: Mapping[str, PartitionMode] = {
    "partition": "refuse",
    "blackhole": "blackhole",
    "lost_answer": "lost_answer",
}
"""The link families that cut a link, and the ``Partition`` mode each makes."""
LINK_FAMILIES = (*_TOXIC_ATTRS, *CUT_MODES)
PROCESS_FAMILIES = ("crash", "crash_in_call", "pause", "redelivery", "clock")
# What a clock fault draws, by mode (magnitudes in ms, or ms per second for a drift):
# a skew of a few ms to seconds, a jump of seconds, a drift far faster than any real
# clock's (so that it shows within one example).
CLOCK_RANGES: Mapping[str, tuple[int, int]] = {
    "skew": (20, 3000),
    "jump": (1000, 30000),
    "drift": (50, 1000),
}
OTHER_FAMILIES = ("cache_loss", "partner")
ALL_FAMILIES = (*CLIENT_FAMILIES, *LINK_FAMILIES, *PROCESS_FAMILIES, *OTHER_FAMILIES)


class InvalidFamily(ValueError):
    """A fault family in a design row is unknown or names nothing that exists."""


@dataclass(frozen=True, slots=True)
class Topology:
    """The links and processes one design runs, which fault globs resolve against.

    ``links`` holds the plain links (a store's, a replica's) and each target
    process's own links to PostgreSQL and Redis (``target-0>postgres``).

    ``consumers`` are the processes a redelivery may hit: a design cannot say
    which of its ``[target.extra]`` processes consume from Kafka, so with the
    kafka dependency every one of them may, and without it none does.
    """

    links: tuple[str, ...]
    processes: tuple[str, ...]
    has_partner: bool
    consumers: tuple[str, ...] = ()

    @property
    def target_processes(self) -> tuple[str, ...]:
        """The target's own processes (replicas and extras): what a clock fault may skew."""
        return tuple(p for p in self.processes if p not in STORES)

    def problem(self, fault: Fault) -> str | None:
        """Why ``fault`` cannot run here (``<field> must be ... (got ...)``), or None."""
        if isinstance(fault, LinkToxic | Partition) and fault.link not in self.links:
            return (
                f"link must be one of the design's links {', '.join(self.links)} "
                f"(got {fault.link!r})"
            )
        if isinstance(fault, Crash | Pause | CacheLoss) and fault.process not in self.processes:
            return (
                f"process must be one of the design's processes {', '.join(self.processes)} "
                f"(got {fault.process!r})"
            )
        if isinstance(fault, ClockFault) and fault.process not in self.target_processes:
            return (
                "process must be one of the target's processes "
                f"{', '.join(self.target_processes)} (got {fault.process!r})"
            )
        if isinstance(fault, Redelivery) and fault.consumer not in self.consumers:
            return (
                f"consumer must be {_CONSUMERS}: {', '.join(self.consumers) or 'none'} "
                f"(got {fault.consumer!r})"
            )
        if isinstance(fault, PartnerFailure) and not self.has_partner:
            return (
                "kind must not be 'partner': the design has no partner dependency (got 'partner')"
            )
        return None


# Where a redelivery's consumers come from, for error messages.
_CONSUMERS = "a [target.extra] process of a design with the kafka dependency"


@dataclass(frozen=True, slots=True)
class Family:
    """One parsed family: its kind and the concrete names it covers."""

    kind: str
    names: tuple[str, ...] = ()
    mode: str | None = None
    endpoint: str | None = None

    def is_client_side(self) -> bool:
        return self.kind in CLIENT_FAMILIES

    def faults(self, shape: Shape = Shape()) -> st.SearchStrategy[Fault]:
        """Fault values of this family (client-side families have none), within the
        row's ``shape``: a pause lasts until healed or, if ``max_pause_ms`` allows
        (>= 100), a drawn 100..max ms; a latency is min..max_latency_ms."""
        max_pause_ms = shape.max_pause_ms
        if self.kind in _TOXIC_ATTRS:
            attrs = _TOXIC_ATTRS[self.kind](shape)
            return st.builds(
                _toxic,
                st.just(self.kind),
                st.sampled_from(self.names),
                attrs,
                st.sampled_from(("downstream", "upstream")),
            )
        if self.kind in CUT_MODES:
            mode = CUT_MODES[self.kind]
            # A lost answer always ends (its callers learn of it then); a cut flaps
            # half the time, else lasts until healed.
            durations = (
                st.integers(MIN_LOST_MS, MAX_LOST_MS)
                if mode == "lost_answer"
                else st.one_of(st.just(0), st.integers(MIN_FLAP_MS, MAX_FLAP_MS))
            )
            return st.builds(
                Partition,
                link=st.sampled_from(self.names),
                mode=st.just(mode),
                duration_ms=durations,
            )
        if self.kind == "crash":
            return st.builds(Crash, process=st.sampled_from(self.names))
        if self.kind == "crash_in_call":
            return st.builds(
                Crash,
                process=st.sampled_from(self.names),
                in_call_ms=st.integers(MIN_IN_CALL_MS, MAX_IN_CALL_MS),
                after_effect=st.booleans(),
            )
        if self.kind == "pause":
            durations = st.just(0)
            if max_pause_ms >= MIN_TIMED_PAUSE_MS:
                durations = st.one_of(durations, st.integers(MIN_TIMED_PAUSE_MS, max_pause_ms))
            return st.builds(Pause, process=st.sampled_from(self.names), duration_ms=durations)
        if self.kind == "clock":
            return _clock_faults(self.names, self.mode)
        if self.kind == "redelivery":
            return st.builds(
                Redelivery, consumer=st.sampled_from(self.names), grace_ms=st.integers(100, 600)
            )
        if self.kind == "cache_loss":
            return st.just(CacheLoss())
        if self.kind == "partner":
            return _partner_faults(self.mode, self.endpoint)
        return st.nothing()


MIN_TIMED_PAUSE_MS = 100
# A cut link half the time lasts until healed, else it flaps: back by itself
# within a second, while the requests it cut may still be retried -- by the
# service itself (a write whose commit's answer was lost, run again) or by a
# pool reconnecting. Cut for whole steps, such a retry only met the cut.
MIN_FLAP_MS, MAX_FLAP_MS = 50, 1000
# How long a lost_answer holds a link's answers before it cuts its connections:
# every request sent meanwhile is acted on and never answered. Short, as a
# connection that breaks after its commit; the link is back when the callers
# learn of it, so a service that runs its work again on its own gets through.
MIN_LOST_MS, MAX_LOST_MS = 50, 500
# How long the partner holds the call a crash_in_call aims at: the kill lands
# within milliseconds, and a longer hold only slows the other replicas' calls.
MIN_IN_CALL_MS, MAX_IN_CALL_MS = 300, 1000


def _clock_faults(names: Sequence[str], mode: str | None) -> st.SearchStrategy[Fault]:
    def of_mode(m: str) -> st.SearchStrategy[Fault]:
        low, high = CLOCK_RANGES[m]
        return st.builds(
            ClockFault,
            process=st.sampled_from(names),
            mode=st.just(m),
            offset_ms=st.builds(
                lambda size, sign: size * sign, st.integers(low, high), st.sampled_from((1, -1))
            ),
        )

    return st.sampled_from((mode,) if mode else CLOCK_MODES).flatmap(of_mode)


def _toxic(kind: str, link: str, attrs: Mapping[str, int], stream: str) -> LinkToxic:
    return LinkToxic(link=link, toxic=kind, attributes=attrs, stream=stream)  # type: ignore[arg-type]


def _partner_faults(mode: str | None, endpoint: str | None) -> st.SearchStrategy[Fault]:
    modes = (mode,) if mode else PARTNER_MODES
    endpoints = (endpoint,) if endpoint else ("all",)

    def of_mode(m: str) -> st.SearchStrategy[Fault]:
        return st.builds(
            PartnerFailure,
            endpoint=st.sampled_from(endpoints),
            mode=st.just(m),
            count=st.one_of(st.none(), st.integers(1, 3)),
            # Only a slow partner has a delay; the partner rejects it elsewhere.
            delay_ms=st.integers(200, 1200) if m == "slow" else st.just(0),
        )

    return st.sampled_from(modes).flatmap(of_mode)


def _resolve(pattern: str, names: Sequence[str], what: str, token: str) -> tuple[str, ...]:
    found = tuple(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if not found:
        plural = what + ("es" if what.endswith("process") else "s")
        raise InvalidFamily(
            f"fault {token!r}: no {what} matches {pattern!r}; {plural}: {', '.join(names)}"
        )
    return found


def _resolve_link(pattern: str, topology: Topology, token: str) -> tuple[str, ...]:
    """Links matching *pattern*: ``postgres``, ``target-*`` name plain links (a store's
    stands for every link to it); ``<process>>``<store> a process's own link to a store."""
    split = split_link(pattern)
    if split is None:
        plain = tuple(n for n in topology.links if split_link(n) is None)
        return _resolve(pattern, plain, "link", token)
    process, store = split
    if not process or not store or SEPARATOR in store:
        raise InvalidFamily(
            f"fault {token!r}: a process's own link is <process>{SEPARATOR}<store>, "
            f"e.g. target-*{SEPARATOR}postgres"
        )
    own = tuple(n for n in topology.links if split_link(n) is not None)
    if not own:
        raise InvalidFamily(
            f"fault {token!r}: the design has no per-process links (only "
            f"{', '.join(PER_PROCESS)} have them)"
        )
    stores = tuple(dict.fromkeys(s for _, s in map(_split, own)))
    processes = tuple(dict.fromkeys(p for p, _ in map(_split, own)))
    if not any(fnmatch.fnmatchcase(s, store) for s in stores):
        why = " (kafka keeps one link: its broker advertises one address)" if (
            fnmatch.fnmatchcase("kafka", store)) else ""
        raise InvalidFamily(
            f"fault {token!r}: no store with per-process links matches {store!r}{why}; "
            f"stores with them: {', '.join(stores)}"
        )
    _resolve(process, processes, "process", token)
    return tuple(
        n for n in own
        if fnmatch.fnmatchcase(_split(n)[0], process) and fnmatch.fnmatchcase(_split(n)[1], store)
    )


def _split(link: str) -> tuple[str, str]:
    split = split_link(link)
    assert split is not None
    return split


def parse_family(token: str, topology: Topology) -> Family:
    """Parse one row entry such as ``crash:target-*`` against a topology."""
    kind, _, rest = token.partition(":")
    args = rest.split(":") if ":" in token else []
    if kind not in ALL_FAMILIES:
        raise InvalidFamily(
            f"unknown fault family {kind!r} in {token!r}; "
            f"expected one of: {', '.join(ALL_FAMILIES)}"
        )
    if "" in args:
        raise InvalidFamily(f"fault {token!r}: empty argument after ':'")
    if kind in CLIENT_FAMILIES or kind == "cache_loss":
        if args:
            raise InvalidFamily(f"fault {token!r}: {kind!r} takes no argument")
        if kind == "cache_loss" and "redis" not in topology.processes:
            raise InvalidFamily(f"fault {token!r}: the design has no redis dependency")
        return Family(kind)
    if kind == "partner":
        return _partner_family(token, args, topology)
    if kind == "clock":
        return _clock_family(token, args, topology)
    if len(args) != 1:
        raise InvalidFamily(
            f"fault {token!r}: {kind!r} takes exactly one name, e.g. {kind}:target-*"
        )
    if kind in LINK_FAMILIES:
        return Family(kind, _resolve_link(rest, topology, token))
    if kind == "crash_in_call":
        if not topology.has_partner:
            raise InvalidFamily(
                f"fault {token!r}: a crash during a partner call needs the partner dependency"
            )
        # Stores never call the partner: only the target's own processes do.
        return Family(kind, _resolve(rest, topology.target_processes, "target process", token))
    if kind == "redelivery":
        if not topology.consumers:
            raise InvalidFamily(f"fault {token!r}: redelivery needs {_CONSUMERS}")
        return Family(kind, _resolve(rest, topology.consumers, "Kafka consumer", token))
    return Family(kind, _resolve(rest, topology.processes, "process", token))


def _partner_family(token: str, args: Sequence[str], topology: Topology) -> Family:
    if not topology.has_partner:
        raise InvalidFamily(f"fault {token!r}: the design has no partner dependency")
    if len(args) > 2:
        raise InvalidFamily(f"fault {token!r}: 'partner' takes at most a mode and an endpoint")
    mode, endpoint = (*args, None, None)[:2]
    if mode is not None and mode not in PARTNER_MODES:
        raise InvalidFamily(
            f"fault {token!r}: unknown partner mode {mode!r}; expected {', '.join(PARTNER_MODES)}"
        )
    if endpoint is not None and endpoint not in PARTNER_ENDPOINTS:
        raise InvalidFamily(
            f"fault {token!r}: unknown partner endpoint {endpoint!r}; "
            f"expected {', '.join(PARTNER_ENDPOINTS)}"
        )
    return Family("partner", mode=mode, endpoint=endpoint)


def _clock_family(token: str, args: Sequence[str], topology: Topology) -> Family:
    """``clock:<process>`` (any mode) or ``clock:<mode>:<process>``."""
    if len(args) not in (1, 2):
        raise InvalidFamily(
            f"fault {token!r}: 'clock' takes a process, optionally after a mode: "
            "clock:target-* or clock:skew:target-*"
        )
    mode = args[0] if len(args) == 2 else None
    if mode is not None and mode not in CLOCK_MODES:
        raise InvalidFamily(
            f"fault {token!r}: unknown clock mode {mode!r}; expected {', '.join(CLOCK_MODES)}"
        )
    names = _resolve(args[-1], topology.target_processes, "target process", token)
    return Family("clock", names, mode=mode)


def parse_families(tokens: Sequence[str], topology: Topology) -> tuple[Family, ...]:
    return tuple(parse_family(t, topology) for t in tokens)
