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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from harness.nemesis.faults import (
    PARTNER_ENDPOINTS,
    PARTNER_MODES,
    CacheLoss,
    Crash,
    Fault,
    LinkToxic,
    Partition,
    PartnerFailure,
    Pause,
    Redelivery,
)

CLIENT_FAMILIES = ("retry", "client_timeout", "reorder")
# Toxic families: name -> attribute strategies (field names of harness.toxiproxy.toxics).
_TOXIC_ATTRS: Mapping[str, Mapping[str, st.SearchStrategy[int]]] = {
    # Per packet: a store link pays it on every round trip of a transaction.
    "latency": {"latency_ms": st.integers(20, 400), "jitter_ms": st.integers(0, 50)},
    "bandwidth": {"rate_kb": st.integers(1, 32)},
    "slow_close": {"delay_ms": st.integers(50, 500)},
    "timeout": {"timeout_ms": st.integers(0, 500)},
    "reset_peer": {"timeout_ms": st.integers(0, 200)},
    "slicer": {
        "average_size": st.integers(1, 64),
        "size_variation": st.integers(0, 16),
        "delay_us": st.integers(0, 2000),
    },
    "limit_data": {"bytes": st.integers(1, 256)},
}
TOXIC_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {k: tuple(v) for k, v in _TOXIC_ATTRS.items()}
"""The attributes each toxic family draws (what a fault by name may set)."""
LINK_FAMILIES = (*_TOXIC_ATTRS, "partition", "blackhole")
PROCESS_FAMILIES = ("crash", "pause", "redelivery")
OTHER_FAMILIES = ("cache_loss", "partner")
ALL_FAMILIES = (*CLIENT_FAMILIES, *LINK_FAMILIES, *PROCESS_FAMILIES, *OTHER_FAMILIES)


class InvalidFamily(ValueError):
    """A fault family in a design row is unknown or names nothing that exists."""


@dataclass(frozen=True, slots=True)
class Topology:
    """The links and processes one design runs, which fault globs resolve against."""

    links: tuple[str, ...]
    processes: tuple[str, ...]
    has_partner: bool


@dataclass(frozen=True, slots=True)
class Family:
    """One parsed family: its kind and the concrete names it covers."""

    kind: str
    names: tuple[str, ...] = ()
    mode: str | None = None
    endpoint: str | None = None

    def is_client_side(self) -> bool:
        return self.kind in CLIENT_FAMILIES

    def faults(self) -> st.SearchStrategy[Fault]:
        """Fault values of this family (client-side families have none)."""
        if self.kind in _TOXIC_ATTRS:
            attrs = st.fixed_dictionaries(dict(_TOXIC_ATTRS[self.kind]))
            return st.builds(
                _toxic,
                st.just(self.kind),
                st.sampled_from(self.names),
                attrs,
                st.sampled_from(("downstream", "upstream")),
            )
        if self.kind in ("partition", "blackhole"):
            mode = "refuse" if self.kind == "partition" else "blackhole"
            return st.builds(Partition, link=st.sampled_from(self.names), mode=st.just(mode))
        if self.kind == "crash":
            return st.builds(Crash, process=st.sampled_from(self.names))
        if self.kind == "pause":
            return st.builds(Pause, process=st.sampled_from(self.names))
        if self.kind == "redelivery":
            return st.builds(
                Redelivery, consumer=st.sampled_from(self.names), grace_ms=st.integers(100, 600)
            )
        if self.kind == "cache_loss":
            return st.just(CacheLoss())
        if self.kind == "partner":
            return _partner_faults(self.mode, self.endpoint)
        return st.nothing()


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
        raise InvalidFamily(
            f"fault {token!r}: no {what} matches {pattern!r}; "
            f"{'processes' if what == 'process' else what + 's'}: {', '.join(names)}"
        )
    return found


def parse_family(token: str, topology: Topology) -> Family:
    """Parse one row entry such as ``crash:target-*`` against a topology."""
    kind, _, rest = token.partition(":")
    if kind not in ALL_FAMILIES:
        raise InvalidFamily(
            f"unknown fault family {kind!r} in {token!r}; "
            f"expected one of: {', '.join(ALL_FAMILIES)}"
        )
    if kind in CLIENT_FAMILIES or kind == "cache_loss":
        if rest:
            raise InvalidFamily(f"fault {token!r}: {kind!r} takes no argument")
        if kind == "cache_loss" and "redis" not in topology.processes:
            raise InvalidFamily(f"fault {token!r}: the design has no redis dependency")
        return Family(kind)
    if kind == "partner":
        mode, _, endpoint = rest.partition(":")
        if not topology.has_partner:
            raise InvalidFamily(f"fault {token!r}: the design has no partner dependency")
        if mode and mode not in PARTNER_MODES:
            raise InvalidFamily(
                f"fault {token!r}: unknown partner mode {mode!r}; "
                f"expected {', '.join(PARTNER_MODES)}"
            )
        if endpoint and endpoint not in PARTNER_ENDPOINTS:
            raise InvalidFamily(
                f"fault {token!r}: unknown partner endpoint {endpoint!r}; "
                f"expected {', '.join(PARTNER_ENDPOINTS)}"
            )
        return Family(kind, mode=mode or None, endpoint=endpoint or None)
    if not rest:
        raise InvalidFamily(f"fault {token!r}: {kind!r} needs a name, e.g. {kind}:target-*")
    if kind in LINK_FAMILIES:
        return Family(kind, _resolve(rest, topology.links, "link", token))
    return Family(kind, _resolve(rest, topology.processes, "process", token))


def parse_families(tokens: Sequence[str], topology: Topology) -> tuple[Family, ...]:
    return tuple(parse_family(t, topology) for t in tokens)
