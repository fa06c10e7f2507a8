"""Read a design file (TOML) into a validated ``Design``.

Every check names the file, the row and the key, what was expected and what
was found, and unknown keys are errors listing the accepted ones: a typo in
a failure-model table must fail at load time, not silently test less.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from harness.design._model import (
    COVERAGE_COUNTERS,
    DEPENDENCY_ORDER,
    READ_CONSISTENCY,
    REDIS_PERSISTENCE,
    ROW_TEXTS,
    SERVICE_PROCESSES,
    TAXONOMY,
    WORKLOADS,
    Design,
    ReadConsistency,
    RedisPersistence,
    Row,
    ServicesDecl,
    TargetDecl,
)
from harness.limits import (
    MAX_ARG_CHARS,
    MAX_ARGS,
    MAX_EXAMPLES,
    MAX_ID,
    MAX_REPLICAS,
)
from harness.links import STORES, process_links
from harness.plain import MISSING, Where, is_name, read_toml, show
from harness.schedule.coverage import INTERRUPTING, KILLING
from harness.schedule.families import Family, InvalidFamily, Topology, parse_families
from harness.schedule.shape import Shape
from harness.schedule.strategies import SHAPE_KEYS_LIMIT, SHAPE_LIMITS
from harness.workload.api import Workload
from harness.workload.builtin import BUILTIN, builtin_mismatch
from harness.workload.toml_form import (
    invariants_from_tables,
    load_workload_file,
    workload_from_table,
)
from invariants import APPLIES_TO, CHECKERS, applies
from invariants.slo import LAGS, InvalidSlo, Slo, parse_slo


class InvalidDesign(ValueError):
    """A design file is unreadable TOML or breaks the format; the message says where."""

_ROW_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_REPLICA_NAME = re.compile(r"target-\d+")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_KNOWN_PLACEHOLDER = re.compile(r"\{(?:python|root)\}")
_NAME_RULE = "1..64 characters [A-Za-z0-9_.-], not . or .."
# What each coverage counter needs before it can ever be > 0 (see
# harness.schedule.coverage for how each one rises).
_COUNTER_NEEDS: Mapping[str, str] = {
    "faults_during_ops": "a server-side fault",
    "faults_during_effects": "a server-side fault and the partner dependency",
    "indeterminate": "'client_timeout' or a server-side fault",
    "retries": "'retry'",
    "crashes_during_request": "'crash', 'crash_in_call', 'pause', 'redelivery' or 'cache_loss'",
    "kills_during_lag": (
        "'crash', 'crash_in_call' or 'redelivery' of a target process, and the kafka dependency"
    ),
    "partner_failures": "'partner'",
    "replays": "the partner dependency",
}

# exercised_by when a row does not say: the first of these its faults can raise.
_DEFAULT_COUNTERS = (
    ("faults_during_ops", "faults_during_effects"),
    ("retries",),
    ("indeterminate",),
)

_TOP_KEYS = ("name", "workload", "invariants", "description", "target", "services", "rows")
_TARGET_KEYS = (
    "command",
    "replicas",
    "extra",
    "dependencies",
    "variants",
    "start_timeout_s",
    "prepare",
    "prepare_timeout_s",
    "cwd",
    "settle_timeout_s",
    "late_effects_s",
    "reads",
    "image",
    "build",
    "dockerfile",
)
_SERVICES_KEYS = ("redis_persistence", "images")
_IMAGE_SERVICES = ("postgres", "redis", "kafka", "toxiproxy", "partner")
_ROW_KEYS = (
    "id",
    *ROW_TEXTS,
    "taxonomy",
    "faults",
    "invariants",
    "exercised_by",
    "shape",
    "examples",
    "min_judged",
    "slos",
)
MAX_SLOS = 16
# Which workload each freshness measure (invariants.slo.LAGS) times.
LAG_WORKLOADS: Mapping[str, str] = {
    "exactly_once_shipment": "inventory",
    "every_match_announced": "matching",
    "auction_closed": "auction",
}


def load_design(path: Path | str, *, root: Path | None = None) -> Design:
    """Load and validate one design file.

    ``root`` is what ``{root}`` and a relative ``cwd`` mean; by default the
    design file's parent's parent (designs live in ``<repo>/designs/``).
    """
    path = Path(path)
    here = Where(path=str(path), error_type=InvalidDesign)
    data = read_toml(here, path, "design file")
    root = (root if root is not None else path.resolve().parent.parent).resolve()

    here.only_keys(data, _TOP_KEYS)
    name = here.text(data, "name")
    if not is_name(name):
        raise here.expected("name", _NAME_RULE, name)
    workload = _workload(here, data.get("workload", MISSING), path, root)
    workload = _own_invariants(here, workload, data.get("invariants", []))
    description = here.text(data, "description", default="")
    target = _target(replace(here, place="target"), here.table(data, "target", required=True), root)
    services = _services(
        replace(here, place="services"), here.table(data, "services", required=False), target
    )
    topology = _topology(target)

    raw_rows = data.get("rows", MISSING)
    if not isinstance(raw_rows, list) or not raw_rows:
        raise here.expected("rows", "a non-empty array of tables ([[rows]])", raw_rows)
    rows: list[Row] = []
    for index, raw in enumerate(raw_rows):
        row = _row(here, index, raw, workload, target, topology)
        clash = next((r for r in rows if r.id == row.id), None)
        if clash is not None:
            raise replace(here, place=f"rows[{index}] (id {row.id!r})").error(
                f"'id' must be unique (got {row.id!r}, already used by rows[{rows.index(clash)}])"
            )
        rows.append(row)
    return Design(
        path=path,
        name=name,
        workload=workload,
        description=description,
        target=target,
        services=services,
        rows=tuple(rows),
        topology=topology,
    )


def _command(
    where: Where, key: str, value: object, root: Path, *, container: bool = False
) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_ARGS
        or not all(isinstance(a, str) and a for a in value)
    ):
        raise where.expected(
            key, f"a list of 1..{MAX_ARGS} non-empty strings (an argv, not a shell line)", value
        )
    for arg in value:
        if "\0" in arg:
            raise where.expected(key, "an argv without NUL bytes", value)
        placeholder = _PLACEHOLDER.search(arg)
        if container and placeholder:
            raise where.expected(
                key,
                "an argv without placeholders when the target runs in a container "
                "(it runs inside the image)",
                value,
                f"; found {placeholder.group()}",
            )
        unknown = _PLACEHOLDER.search(_KNOWN_PLACEHOLDER.sub("", arg))
        if unknown:
            raise where.expected(
                key,
                "an argv whose only placeholders are {python} and {root}",
                value,
                f"; unknown placeholder {unknown.group()}",
            )
    argv = tuple(a.replace("{python}", sys.executable).replace("{root}", str(root)) for a in value)
    if any(len(a) > MAX_ARG_CHARS for a in argv):
        raise where.expected(
            key, f"an argv of strings of at most {MAX_ARG_CHARS} characters", value
        )
    return argv


def _target(where: Where, table: Mapping[str, Any], root: Path) -> TargetDecl:
    where.only_keys(table, _TARGET_KEYS)
    image = where.text(table, "image") if "image" in table else None
    build = (root / where.text(table, "build")).resolve() if "build" in table else None
    if image is not None and build is not None:
        raise where.error("give 'image' or 'build', not both")
    dockerfile = None
    if "dockerfile" in table:
        if build is None:
            raise where.error("'dockerfile' needs 'build' (the build context folder)")
        dockerfile = (root / where.text(table, "dockerfile")).resolve()
    container = image is not None or build is not None
    command: tuple[str, ...] = ()
    if not container or "command" in table:
        command = _command(
            where, "command", table.get("command", MISSING), root, container=container
        )
    prepare: tuple[str, ...] = ()
    if "prepare" in table:
        if container:
            raise where.error(
                "'prepare' runs on this machine before local processes start; with "
                "'image' or 'build' the image is the build: drop 'prepare'"
            )
        prepare = _command(where, "prepare", table["prepare"], root, container=False)
    replicas = where.integer(table, "replicas", minimum=1, maximum=MAX_REPLICAS, default=1)
    deps = where.names(
        table, "dependencies", "dependency names", known=DEPENDENCY_ORDER, default=()
    )
    extra: dict[str, tuple[str, ...]] = {}
    for name, argv in where.table(table, "extra", required=False).items():
        if not is_name(name) or _REPLICA_NAME.fullmatch(name) or name in DEPENDENCY_ORDER:
            raise where.expected(
                "extra",
                f"a table of process names ({_NAME_RULE}; not target-N and not "
                f"{', '.join(DEPENDENCY_ORDER)}) to argvs",
                name,
            )
        extra[name] = _command(where, f"extra.{name}", argv, root, container=container)
    variants = where.names(table, "variants", "variant names")
    bad = [v for v in variants if not is_name(v)]
    if bad:
        raise where.expected(
            "variants", f"a list of variant names ({_NAME_RULE})", list(variants), f"; bad: {bad}"
        )
    if "correct" not in variants:
        raise where.expected(
            "variants", "a list that includes 'correct' (the design as intended)", list(variants)
        )
    cwd: Path | None = None
    if "cwd" in table:
        text = where.text(table, "cwd")
        if len(text) > MAX_ARG_CHARS:
            raise where.expected("cwd", f"a path of at most {MAX_ARG_CHARS} characters", text)
        try:
            cwd = (root / text).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            raise where.expected("cwd", "a path that resolves", text, f"; {exc}") from exc
    return TargetDecl(
        command=command,
        replicas=replicas,
        extra=extra,
        dependencies=frozenset(deps),
        variants=variants,
        start_timeout_s=where.seconds(table, "start_timeout_s", default=30.0, positive=True),
        prepare=prepare,
        prepare_timeout_s=where.seconds(table, "prepare_timeout_s", default=600.0, positive=True),
        cwd=cwd,
        settle_timeout_s=where.seconds(table, "settle_timeout_s", default=30.0, positive=True),
        late_effects_s=where.seconds(table, "late_effects_s", default=10.0, positive=False),
        reads=cast(ReadConsistency, where.choice(table, "reads", READ_CONSISTENCY,
                                                 default="eventual")),
        image=image,
        build=build,
        dockerfile=dockerfile,
    )


def _services(where: Where, table: Mapping[str, Any], target: TargetDecl) -> ServicesDecl:
    where.only_keys(table, _SERVICES_KEYS)
    persistence = where.choice(table, "redis_persistence", REDIS_PERSISTENCE, default="none")
    if persistence != "none" and "redis" not in target.dependencies:
        raise where.expected(
            "redis_persistence", "'none' when the target has no redis dependency", persistence
        )
    images = where.table(table, "images", required=False)
    for service, image in images.items():
        if service not in _IMAGE_SERVICES or not isinstance(image, str) or not image.strip():
            raise where.expected(
                "images",
                f"a table of service = image (services: {', '.join(_IMAGE_SERVICES)})",
                {service: image},
            )
    return ServicesDecl(
        redis_persistence=cast(RedisPersistence, persistence),
        images={k: v.strip() for k, v in images.items()},
    )


def _topology(target: TargetDecl) -> Topology:
    replicas = target.replica_names
    deps = [d for d in DEPENDENCY_ORDER if d in target.dependencies]
    return Topology(
        links=(*deps, *replicas, *process_links((*replicas, *target.extra), deps)),
        processes=(*replicas, *target.extra, *(d for d in deps if d in SERVICE_PROCESSES)),
        has_partner="partner" in target.dependencies,
        consumers=tuple(target.extra) if "kafka" in target.dependencies else (),
    )


def _row(
    file: Where,
    index: int,
    raw: object,
    workload: Workload,
    target: TargetDecl,
    topology: Topology,
) -> Row:
    where = replace(file, place=f"rows[{index}]")
    if not isinstance(raw, dict):
        raise where.error(f"must be a table (got {show(raw)})")
    if isinstance(raw.get("id"), str):
        where = replace(where, place=f"rows[{index}] (id {show(raw['id'])})")
    where.only_keys(raw, _ROW_KEYS)
    row_id = where.text(raw, "id")
    if not _ROW_ID.fullmatch(row_id) or len(row_id) > MAX_ID:
        raise where.expected(
            "id", f"lowercase words of [a-z0-9] joined by '-', at most {MAX_ID} characters", row_id
        )
    text = {key: where.text(raw, key) for key in ROW_TEXTS}
    taxonomy = where.choice(raw, "taxonomy", TAXONOMY)

    faults = where.names(raw, "faults", "fault families (e.g. 'retry', 'crash:target-*')")
    try:
        families = parse_families(faults, topology)
    except InvalidFamily as exc:
        raise where.error(f"'faults': {exc}") from exc

    applicable = [*(n for n in CHECKERS if applies(n, workload.name)), *workload.invariants]
    invariants = _invariants(where, raw, workload.name, applicable)

    exercised_by = _exercised_by(where, raw, faults, families, target)
    examples = (
        where.integer(raw, "examples", minimum=1, maximum=MAX_EXAMPLES)
        if "examples" in raw
        else None
    )
    min_judged = (
        where.integer(raw, "min_judged", minimum=1, maximum=MAX_EXAMPLES)
        if "min_judged" in raw
        else 1
    )
    slos = _slos(where, raw, workload, families)
    return Row(
        id=row_id,
        taxonomy=taxonomy,
        faults=faults,
        families=families,
        invariants=invariants,
        exercised_by=exercised_by,
        shape=_shape(where, where.table(raw, "shape", required=False), target, workload),
        examples=examples,
        min_judged=min_judged,
        slos=slos,
        **text,
    )


def _slos(
    where: Where, raw: Mapping[str, Any], workload: Workload, families: tuple[Family, ...]
) -> tuple[Slo, ...]:
    """The row's SLO lines, parsed, each about something this row can measure."""
    value = raw.get("slos", [])
    if not isinstance(value, list) or len(value) > MAX_SLOS:
        raise where.expected("slos", f"a list of at most {MAX_SLOS} SLO lines", value)
    slos = []
    for line in value:
        try:
            slo = parse_slo(line)
        except InvalidSlo as exc:
            raise where.error(f"'slos': {exc}") from exc
        timed = slo.kind == "latency" or (
            slo.kind == "availability" and slo.subject != "availability"
        )
        ops = [op.name for op in workload.drawable()]
        if timed and slo.subject not in ops:
            raise where.error(
                f"'slos': {slo.text!r} times {slo.subject!r}, not an operation of workload "
                f"{workload.name!r} ({', '.join(ops)})"
            )
        if slo.kind == "freshness" and LAG_WORKLOADS.get(slo.subject) != workload.name:
            known = [n for n in LAGS if LAG_WORKLOADS.get(n) == workload.name]
            raise where.error(
                f"'slos': {slo.text!r}: no freshness measure {slo.subject!r} for workload "
                f"{workload.name!r} (measures: {', '.join(known) or 'none'})"
            )
        if slo.kind == "availability" and all(f.is_client_side() for f in families):
            raise where.error(
                f"'slos': {slo.text!r} is measured while a fault is active, and the row has "
                "no server-side fault"
            )
        slos.append(slo)
    return tuple(slos)


def _invariants(
    where: Where, raw: Mapping[str, Any], workload: str, applicable: list[str]
) -> tuple[str, ...]:
    value = raw.get("invariants", MISSING)
    for name in value if isinstance(value, list) else ():
        if isinstance(name, str) and name in CHECKERS and name not in applicable:
            raise where.expected(
                "invariants",
                f"invariants that apply to workload {workload!r}",
                value,
                f"; {name!r} applies to {', '.join(sorted(APPLIES_TO[name]))}; "
                f"known for {workload}: {', '.join(applicable)}",
            )
    return where.names(raw, "invariants", "invariant names", known=applicable)


def _exercised_by(
    where: Where,
    raw: Mapping[str, Any],
    faults: Sequence[str],
    families: tuple[Family, ...],
    target: TargetDecl,
) -> tuple[str, ...]:
    """The row's coverage counters, each one its faults can raise on this target."""
    possible = _possible_counters(families, target)
    if "exercised_by" not in raw:
        return _default_counters(where, faults, possible)
    counters = where.names(raw, "exercised_by", "coverage counters", known=COVERAGE_COUNTERS)
    never = [c for c in counters if c not in possible]
    if never:
        raise where.expected(
            "exercised_by",
            "coverage counters the row's faults can make > 0",
            list(counters),
            "; " + "; ".join(f"{c} needs {_COUNTER_NEEDS[c]}" for c in never),
        )
    return counters


def _possible_counters(families: tuple[Family, ...], target: TargetDecl) -> frozenset[str]:
    """The coverage counters this row's faults can raise on this target: a row
    that names another could never PASS (harness.schedule.coverage)."""
    kinds = {f.kind for f in families}
    nemesis = any(not f.is_client_side() for f in families)
    partner = "partner" in target.dependencies
    rises = {
        # A fault window overlapped an operation, or a side effect at the partner.
        "faults_during_ops": nemesis,
        "faults_during_effects": nemesis and partner,
        # A short client timeout, or a fault, left an outcome unknown.
        "indeterminate": nemesis or "client_timeout" in kinds,
        # Only a retry policy sends a second attempt.
        "retries": "retry" in kinds,
        "crashes_during_request": bool(kinds & INTERRUPTING),
        # A target process killed while Kafka's consumers had messages uncommitted.
        "kills_during_lag": "kafka" in target.dependencies and _kills_a_process(families),
        "partner_failures": "partner" in kinds,
        # The partner saw an Idempotency-Key again (a resend, a redelivery, a reconciler).
        "replays": partner,
    }
    return frozenset(c for c, rises_ in rises.items() if rises_)


def _kills_a_process(families: tuple[Family, ...]) -> bool:
    """Whether a family kills a target process (a store's crash kills no consumer)."""
    return any(
        f.kind in KILLING and any(name not in STORES for name in f.names) for f in families
    )


def _default_counters(
    where: Where, faults: Sequence[str], possible: frozenset[str]
) -> tuple[str, ...]:
    """``faults_during_*`` for a row with server-side faults, else ``retries``,
    else ``indeterminate``; a row whose faults no counter can see is refused."""
    for choice in _DEFAULT_COUNTERS:
        default = tuple(c for c in choice if c in possible)
        if default:
            return default
    raise where.expected(
        "faults",
        "fault families a coverage counter can see (a server-side fault, 'retry' or "
        "'client_timeout')",
        list(faults),
        "; or set 'exercised_by'",
    )


def _shape(
    where: Where, table: Mapping[str, Any], target: TargetDecl, workload: Workload
) -> Shape:
    shape_where = replace(where, place=f"{where.place}: shape")
    accepted = (*SHAPE_LIMITS, "keys")
    if "replicas" in table:
        raise shape_where.error(
            f"'replicas' cannot be set per row: it is always target.replicas "
            f"({target.replicas}); accepted keys: {', '.join(accepted)}"
        )
    moved = [k for k in ("users", "skus", "max_stock") if k in table]
    if moved:
        raise shape_where.error(
            f"{', '.join(repr(k) for k in moved)}: key counts are per kind now, "
            f"[rows.shape.keys] <kind> = N (kinds of workload {workload.name!r}: "
            f"{', '.join(workload.keys)}); value ranges are the workload's"
        )
    shape_where.only_keys(table, accepted)
    values = {
        key: shape_where.integer(table, key, minimum=low, maximum=high)
        for key, (low, high) in SHAPE_LIMITS.items()
        if key in table
    }
    default = Shape()
    low_ms = values.get("min_latency_ms", default.min_latency_ms)
    high_ms = values.get("max_latency_ms", default.max_latency_ms)
    if low_ms > high_ms:
        raise shape_where.error(
            f"min_latency_ms ({low_ms}) is above max_latency_ms ({high_ms}): expected "
            f"min_latency_ms <= max_latency_ms (defaults {default.min_latency_ms} and "
            f"{default.max_latency_ms})"
        )
    keys: dict[str, int] = {}
    if "keys" in table:
        raw = table["keys"]
        if not isinstance(raw, dict):
            raise shape_where.expected(
                "keys", f"a table of key kind = count (kinds: {', '.join(workload.keys)})", raw
            )
        keys_where = replace(shape_where, place=f"{shape_where.place}.keys")
        keys_where.only_keys(raw, tuple(workload.keys))
        low, high = SHAPE_KEYS_LIMIT
        for kind in raw:
            keys[kind] = keys_where.integer(
                raw, kind, minimum=max(low, workload.min_keys(kind)), maximum=high
            )
    return Shape(replicas=target.replicas, keys=keys, **values)


def _workload(here: Where, value: object, path: Path, root: Path) -> Workload:
    """The design's workload: a built-in name, ``"module:NAME"`` (a Python
    `Workload` importable from the root), ``{ file = "x.toml" }`` (relative to
    the design file) or a ``[workload]`` table."""
    where = replace(here, place="workload")
    forms = (
        f"a built-in workload ({', '.join(WORKLOADS)}), \"module:NAME\" (a Python Workload), "
        "a [workload] table or { file = \"workload.toml\" }"
    )
    if isinstance(value, str):
        if ":" in value:
            workload = _python_workload(here, value, root)
        elif value in BUILTIN:
            return BUILTIN[value]
        else:
            raise here.expected("workload", forms, value)
    elif isinstance(value, dict) and "file" in value:
        where.only_keys(value, ("file",))
        name = where.text(value, "file")
        file = (path.parent / name) if "\0" not in name else Path(name)
        workload = load_workload_file(file, replace(where, place=""))
    elif isinstance(value, dict):
        workload = workload_from_table(value, where)
    else:
        raise here.expected("workload", forms, value)
    problem = builtin_mismatch(workload)
    if problem is not None:
        raise here.expected(
            "workload",
            f"a workload that keeps the operations and final reads of the built-in "
            f"{workload.name!r} when it is named so (its invariants read them)",
            workload.name,
            f"; {problem}",
        )
    return workload


def _own_invariants(here: Where, workload: Workload, tables: object) -> Workload:
    """The workload with the design's top-level ``[[invariants]]`` added to its
    own; no name may be declared twice or be a built-in invariant's."""
    declared = invariants_from_tables(here, tables)
    twice = sorted(set(declared) & set(workload.invariants))
    if twice:
        raise here.expected("invariants", "names the workload does not declare already", twice)
    builtin = sorted((set(declared) | set(workload.invariants)) & set(CHECKERS))
    if builtin:
        raise here.expected(
            "invariants", "names that are not built-in invariants'", builtin,
            f"; built-in: {', '.join(sorted(CHECKERS))}",
        )
    if not declared:
        return workload
    return replace(workload, invariants={**workload.invariants, **declared})


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _from_file(path: Path) -> ModuleType:
    """The module in ``path``, a file that need not be importable by name (a
    folder named ``py-leases``); loaded once per path, under a name of its own."""
    name = "failmodel_workload_" + re.sub(r"\W", "_", str(path.resolve()))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no Python module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: its dataclasses look themselves up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _python_workload(here: Where, ref: str, root: Path) -> Workload:
    """The `Workload` object ``NAME`` of module ``module`` (``"module:NAME"``),
    imported with the design's root on ``sys.path``."""
    module_name, _, attr = ref.rpartition(":")
    by_path = module_name.endswith(".py")
    if not (by_path or _MODULE.fullmatch(module_name)) or not attr.isidentifier():
        raise here.expected(
            "workload",
            "\"module:NAME\" (a dotted module path, or a .py file's path from the root, "
            "':' and a Python name)",
            ref,
        )
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        module = _from_file(root / module_name) if by_path else importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any failure is a one-line error
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise here.expected(
            "workload", f"\"module:NAME\" with a module importable from {root}", ref, f"; {why}"
        ) from exc
    finally:
        if added and str(root) in sys.path:
            sys.path.remove(str(root))
    found = getattr(module, attr, MISSING)
    if not isinstance(found, Workload):
        kind = type(found).__name__
        got = "nothing" if found is MISSING else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        raise here.expected(
            "workload", f"\"module:NAME\" naming a harness.workload.Workload ({ref} is {got})",
            ref,
        )
    return found
