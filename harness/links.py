"""Names of links, shared by the design loader, the stacks and the nemesis.

Every target process reaches PostgreSQL, Redis and the partner through a link
of its own, ``<process>>``<dependency> (``target-0>postgres``, ``closer>redis``,
``target-1>partner``), as each process of a real deployment has its own
network path to the database: one replica's slow or cut path is a fault of its
own. (The partner's own links lead to a port of its own per process, so the
partner knows which process made a call.) The plain link named after the
dependency (``postgres``) is the harness's own, and a fault on it means the
dependency's whole network: it acts on every link to it at once. Kafka keeps
one link: its broker advertises one address to every client.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

STORES = ("postgres", "redis", "kafka")
"""The stores failmodel provisions, in the order they start: services, not the
target's own processes (no clock faults on them; a crash of one kills no consumer)."""
SEPARATOR = ">"
PER_PROCESS = ("postgres", "redis", "partner")
"""The dependencies each target process reaches through a link of its own."""


def process_link(process: str, dependency: str) -> str:
    """The name of *process*'s own link to *dependency*: ``target-0>postgres``."""
    return f"{process}{SEPARATOR}{dependency}"


def split_link(link: str) -> tuple[str, str] | None:
    """``(process, dependency)`` of a per-process link, None for any other link."""
    process, separator, dependency = link.partition(SEPARATOR)
    return (process, dependency) if separator else None


def process_links(processes: Iterable[str], dependencies: Iterable[str]) -> tuple[str, ...]:
    """Every per-process link of *processes* to those of *dependencies* that have them."""
    per_process = [d for d in dependencies if d in PER_PROCESS]
    return tuple(process_link(p, d) for p in processes for d in per_process)


def links_acted_on(link: str, existing: Sequence[str]) -> tuple[str, ...]:
    """The links a fault on *link* acts on: a dependency's plain link stands for
    every link to it (its own and each process's); any other link, itself."""
    fan_out = tuple(n for n in existing if (split_link(n) or ("", ""))[1] == link)
    return (link, *fan_out)
