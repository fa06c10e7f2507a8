"""``failmodel list DESIGN``: what a design file will verify, without running anything.

The target (command, replicas, dependencies, extra processes), the
workload (operations, key kinds, final reads, its own invariants), the variants,
the links and processes faults can reach, then each row: its taxonomy, the
failure mode, the faults (with globs resolved), the invariants and what
counts as exercising it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.design import ROW_TEXTS, Design


def unanswered(design: Design) -> list[str]:
    """The texts still holding a starter's ``EDIT:`` prompt (``description``,
    ``<row>.<field>``): the report would show the prompt as the design's answer."""
    found = ["description"] if design.description.lstrip().startswith("EDIT:") else []
    for row in design.rows:
        found += [
            f"{row.id}.{name}"
            for name in ROW_TEXTS
            if getattr(row, name).lstrip().startswith("EDIT:")
        ]
    return found


def unanswered_note(design: Design) -> str | None:
    """One line naming the unanswered prompts, or None when there are none."""
    found = unanswered(design)
    if not found:
        return None
    shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
    return (
        f"{design.path}: {len(found)} 'EDIT:' prompt{'s' if len(found) != 1 else ''} "
        f"not answered yet ({shown}); the report shows them as written"
    )


def missing_programs(design: Design) -> list[str]:
    """The programs a local run would start that are not there: ``prepare``'s,
    else the command's and the extra processes' (``prepare`` may build those),
    each named by a path (``{root}/bin/shop``, ``./run``). A program named
    without a slash is looked up on PATH when it starts, not here."""
    t = design.target
    if t.image is not None or t.build is not None:
        return []
    argvs = {"prepare": t.prepare} if t.prepare else {
        "command": t.command, **{f"extra.{name}": argv for name, argv in t.extra.items()}
    }
    base = t.cwd if t.cwd is not None else Path.cwd()
    return [
        f"target.{field} runs {argv[0]}, which does not exist"
        for field, argv in argvs.items()
        if "/" in argv[0] and not (base / argv[0]).exists()
    ]


def missing_note(design: Design) -> str | None:
    """One line naming the programs that are not there, and what ``{root}`` is."""
    found = missing_programs(design)
    if not found:
        return None
    root = design.path.resolve().parent.parent
    return (
        f"{design.path}: {'; '.join(found)} ({{root}} is {root}, the folder above the "
        "design file's folder; the target will not start)"
    )


def _budget(examples: int | None) -> str:
    return f"at least {examples} examples" if examples else "the profile's budget"


def describe_design(design: Design) -> str:
    t = design.target
    deps = ", ".join(sorted(t.dependencies)) or "none"
    w = design.workload
    ops = [
        f"{o.name} ({o.route}{', read' if o.read else ''}"
        f"{', setup only' if not o.weight and not o.read else ''})"
        for o in w.operations
    ]
    keys = ", ".join(f"{kind} x{n}" for kind, n in w.keys.items())
    lines = [
        f"{design.name} ({design.path}): workload {w.name}, {t.replicas} "
        f"replica{'s' if t.replicas != 1 else ''}, dependencies {deps}",
        f"  command: {shlex.join(t.command)}",
        f"  operations: {', '.join(ops)}",
        f"  keys: {keys}; final reads: "
        + (", ".join(f"{r.slot} ({r.op})" for r in w.final) or "none"),
    ]
    if t.prepare:
        lines.append(
            f"  prepare (once, before the replicas; up to {t.prepare_timeout_s:g} s): "
            f"{shlex.join(t.prepare)}"
        )
    if w.invariants:
        lines.append(f"  the workload's own invariants: {', '.join(w.invariants)}")
    for name, argv in t.extra.items():
        lines.append(f"  extra process {name}: {shlex.join(argv)}")
    buggy = [v for v in t.variants if v != "correct"]
    lines.append(
        "  variants: correct" + (f"; buggy (must be caught): {', '.join(buggy)}" if buggy else "")
    )
    lines.append(f"  links: {', '.join(design.topology.links)}")
    lines.append(f"  processes: {', '.join(design.topology.processes)}")
    late = (
        f"late effects watched {t.late_effects_s:g} s"
        if design.topology.has_partner
        else "no partner: no late effects to watch"
    )
    lines.append(f"  settle within {t.settle_timeout_s:g} s; {late}; reads {t.reads}")
    lines.append(f"rows ({len(design.rows)}):")
    for row in design.rows:
        faults = []
        for token, family in zip(row.faults, row.families, strict=True):
            names = ", ".join(family.names)
            resolved = f" ({names})" if names and "*" in token else ""
            faults.append(f"{token}{resolved}")
        lines += [
            f"  {row.id}  [{row.taxonomy}]",
            f"    failure mode: {row.failure_mode}",
            f"    faults: {', '.join(faults)}",
            f"    invariants: {', '.join(row.invariants)}",
            f"    exercised by: {', '.join(row.exercised_by)}; {_budget(row.examples)}",
        ]
        if row.slos:
            lines.append(f"    SLOs: {'; '.join(slo.text for slo in row.slos)}")
    for note in (missing_note(design), unanswered_note(design)):
        if note is not None:
            lines.append(f"note: {note}")
    return "\n".join(lines)
