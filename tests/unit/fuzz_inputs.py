"""Fuzzing the harness's inputs: mutated design files and schedule JSON, and
the contract each must meet (a value, or the documented one-line error).

Shared by ``test_fuzz_inputs.py`` and by one-off large runs, which call
``classify_design``/``classify_schedule`` to count outcomes instead of
stopping at the first bad one.
"""

from __future__ import annotations

import math
import re
import signal
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from hypothesis import strategies as st

from harness.design import COVERAGE_COUNTERS, Design, InvalidDesign, load_design
from harness.design._model import DEPENDENCY_ORDER
from harness.limits import MAX_EXAMPLES, MAX_REPLICAS, MAX_SECONDS
from harness.links import STORES
from harness.nemesis.faults import ClockFault
from harness.schedule.coverage import INTERRUPTING, KILLING
from harness.schedule.decode import schedule_from_json
from harness.schedule.families import ALL_FAMILIES, CLIENT_FAMILIES, Family
from harness.schedule.model import InvalidSchedule, Schedule
from harness.schedule.strategies import SHAPE_LIMITS
from harness.workload.api import Workload
from invariants import CHECKERS

DESIGNS = Path(__file__).resolve().parents[2] / "designs"
WORKLOADS_MD = DESIGNS.parent / "docs" / "workloads.md"


def _inline_counter() -> bytes:
    """A design whose [workload] table is the counter of docs/workloads.md, so
    the fuzzed inputs reach the workload reader too."""
    docs = WORKLOADS_MD.read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in docs.split("```toml\n")[1:]]
    counter = next(b for b in blocks if b.startswith("# counter.toml"))
    design = next(b for b in blocks if b.startswith('name = "counter"\nworkload ='))
    table = "\n".join(
        "[[workload." + line[2:] if line.startswith("[[")
        else "[workload." + line[1:] if line.startswith("[")
        else line
        for line in counter.splitlines()
    )
    head, rows = design.split("\n[[rows]]", 1)
    head = head.replace('workload = { file = "counter.toml" }\n', "")
    return f"{head}\n[workload]\n{table}\n\n[[rows]]{rows}".encode()


def counter_workload() -> Workload:
    """The counter of docs/workloads.md, a workload the harness never saw."""
    from harness.plain import Where
    from harness.workload.toml_form import workload_from_table

    table = tomllib.loads(_inline_counter().decode())["workload"]
    return workload_from_table(table, Where(path="docs/workloads.md"))


REFERENCE_TEXT: Mapping[str, bytes] = {
    **{p.stem: p.read_bytes() for p in sorted(DESIGNS.glob("*.toml"))},
    "counter": _inline_counter(),
}
REFERENCE: Mapping[str, dict[str, Any]] = {
    name: tomllib.loads(text.decode()) for name, text in REFERENCE_TEXT.items()
}
HANG_S = 5.0

# --- a minimal TOML writer (tomli_w is not a dependency) -------------------------------


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(_toml_pair(k, v) for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _toml_pair(key: str, value: Any) -> str:
    """``key = value``; a chain of one-key tables becomes a dotted key, so deep
    nesting does not need deep inline tables (which tomllib parses recursively)."""
    keys = [_toml_string(key)]
    while isinstance(value, dict) and len(value) == 1:
        (key, value), = value.items()
        keys.append(_toml_string(key))
    return ".".join(keys) + " = " + _toml_value(value)


def toml_dumps(data: Mapping[str, Any]) -> str:
    return "".join(_toml_pair(k, v) + "\n" for k, v in data.items())


# --- structural mutations of the parsed reference designs ------------------------------

_KEYS = (
    "name", "workload", "description", "target", "services", "rows", "command", "replicas",
    "keys", "operations", "setup", "final", "effects", "method", "path", "body", "fields",
    "ok", "fail", "read", "weight", "status", "echo", "equals", "types", "key", "ints",
    "one_of", "const", "distinct_from", "same_as", "op", "each", "values", "slot",
    "not_found", "file",
    "extra", "dependencies", "variants", "start_timeout_s", "cwd", "settle_timeout_s",
    "late_effects_s", "reads", "redis_persistence", "id", "failure_mode", "can_happen",
    "correct_behaviour", "mechanism", "recovery", "taxonomy", "faults", "invariants",
    "exercised_by", "shape", "examples", *SHAPE_LIMITS, "consumer", "relay", "nope",
)
_TOKENS = (
    *ALL_FAMILIES, *(f"{k}:" for k in ALL_FAMILIES), *(f"{k}:*" for k in ALL_FAMILIES),
    "retry:x", "partner::", "partner::psp", "partner:slow:", "partner:slow:psp:x",
    "partner:fail_after:all", "redelivery:relay", "redelivery:consumer", "redelivery:target-0",
    "redelivery:reconciler", "crash:redis", "crash:target-1", "pause:consumer", "latency:partner",
    "latency:target-*:x", "crash:target-[01]", *COVERAGE_COUNTERS, *CHECKERS, *DEPENDENCY_ORDER,
    "correct", "inventory", "payments", "matching", "aof", "none", "strong", "eventual",
)
_STRINGS = (
    "", " ", "\x00", "a\x00b", "{foo1}", "{}", "{python", "{{python}}", "{root}/{x-y}",
    "{python}", "{root}", "{PYTHON}", ".", "..", "a/b", "../x", "x" * 65, "x" * 5000,
    "target-0", "target-99", "line\nbreak", "\u00e9t\u00e9", "\t", "-", "a b", "*",
)
_INTS = (0, -1, 1, 2, 3, 16, 17, 50, 51, 600, 601, 1000, 1001, 100_000, 100_001,
         2**31, 2**63 - 1, 10**30, -(10**30), 10**4000)
_FLOATS = (0.0, -0.0, 0.5, 600.0, 600.5, 1e308, math.inf, -math.inf, math.nan)


def _deep(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {f"k{i}": value}
    return value


def _deep_list(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def nasty_values() -> st.SearchStrategy[Any]:
    """Values that break assumptions: wrong types, edge numbers, odd strings, deep nesting."""
    scalars = st.one_of(
        st.sampled_from(_STRINGS),
        st.sampled_from(_TOKENS),
        st.sampled_from(_INTS),
        st.sampled_from(_FLOATS),
        st.booleans(),
        st.just(datetime(1979, 5, 27, 7, 32)),
        st.text(st.characters(codec="utf-8"), max_size=20),
        st.integers(),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.dictionaries(st.sampled_from(_KEYS), scalars, max_size=3),
        st.builds(_deep, st.sampled_from((2, 50, 3000)), scalars),
        st.builds(_deep_list, st.sampled_from((2, 20, 300))),
    )


Path_ = tuple[str | int, ...]


def _paths(node: Any, here: Path_ = ()) -> Iterator[Path_]:
    """Every place in ``node``, down to depth 8 (mutants may be deeply nested)."""
    yield here
    if len(here) >= 8:
        return
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*here, i))


def _get(node: Any, path: Path_) -> Any:
    for step in path:
        node = node[step]
    return node


def _copy(node: Any) -> Any:
    """A deep copy of dicts and lists, without recursion: nasty values nest
    3000 deep, past Python's recursion limit."""
    if not isinstance(node, (dict, list)):
        return node
    root: Any = {} if isinstance(node, dict) else []
    stack = [(node, root)]
    while stack:
        source, copy = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in pairs:
            if isinstance(value, (dict, list)):
                inner: Any = {} if isinstance(value, dict) else []
                stack.append((value, inner))
                value = inner
            if isinstance(copy, dict):
                copy[key] = value
            else:
                copy.append(value)
    return root


_OPERATIONS = ("replace", "replace", "drop", "insert", "duplicate", "wrap", "edit")


@st.composite
def _mutate_once(draw: st.DrawFn, data: dict[str, Any]) -> None:
    path = draw(st.sampled_from(list(_paths(data))))
    node = _get(data, path)
    parent: Any = _get(data, path[:-1]) if path else None
    op = draw(st.sampled_from(_OPERATIONS))
    if op == "drop" and path:
        del parent[path[-1]]
    elif op == "replace" and path:
        parent[path[-1]] = draw(nasty_values())
    elif op == "insert" and isinstance(node, dict):
        node[draw(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)))] = draw(nasty_values())
    elif op == "insert" and isinstance(node, list):
        node.insert(draw(st.integers(0, len(node))), draw(nasty_values()))
    elif op == "duplicate" and isinstance(node, list) and node:
        node.append(_copy(draw(st.sampled_from(node))))
    elif op == "wrap" and path:
        parent[path[-1]] = draw(st.sampled_from(([node], {"x": node}, [node, node])))
    elif op == "edit" and path and isinstance(node, str):
        parent[path[-1]] = draw(
            st.sampled_from(
                (node + "\x00", "{foo1}" + node, (node * 200)[:20_000], node + ":", node + ":x",
                 node.upper(), node + "/..", " " + node)
            )
        )
    elif op == "edit" and path and isinstance(node, int) and not isinstance(node, bool):
        parent[path[-1]] = draw(st.sampled_from((-node, node * 10**30, node + 1, node * 1000)))


@st.composite
def structural_mutants(draw: st.DrawFn) -> bytes:
    """A reference design, parsed, mutated 1..4 times, written back as TOML."""
    data = _copy(REFERENCE[draw(st.sampled_from(sorted(REFERENCE)))])
    for _ in range(draw(st.integers(1, 4))):
        draw(_mutate_once(data))
    return toml_dumps(data).encode()


_SNIPPETS = (
    b"\x00", b"{foo1}", b"{}", b"\n[[rows]]\n", b"=", b'"', b"[", b"]", b"\n", b"\xff", b"{",
    b"999999999999999999999999999999", b"9" * 4400, b"a.b.c.d.e.f = 1\n", b"[target.extra]\n",
    b'x = "', b"\n[rows.shape]\nclients = 100000\n", b"#", b"'''", b'"""', b"\\u0000", b"-1",
    b"inf", b"nan", b"1979-05-27", b"[" * 600, b"\ntarget.replicas = 1000000\n",
)


@st.composite
def byte_mutants(draw: st.DrawFn) -> bytes:
    """A reference design's text with 1..4 byte-level edits."""
    text = bytearray(REFERENCE_TEXT[draw(st.sampled_from(sorted(REFERENCE_TEXT)))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = min(len(text), at + draw(st.integers(0, 40)))
        op = draw(st.sampled_from(("insert", "delete", "duplicate", "flip", "number")))
        if op == "insert":
            text[at:at] = draw(st.sampled_from(_SNIPPETS))
        elif op == "delete":
            del text[at:end]
        elif op == "duplicate":
            text[at:at] = text[at:end]
        elif op == "flip" and at < len(text):
            text[at] = draw(st.integers(0, 255))
        elif op == "number":
            numbers = list(re.finditer(rb"\d+", bytes(text)))
            if numbers:
                m = draw(st.sampled_from(numbers))
                text[m.start() : m.end()] = draw(st.sampled_from((b"0", b"-5", b"10" * 20, b"1.5")))
    return bytes(text)


def design_texts() -> st.SearchStrategy[bytes]:
    return st.one_of(structural_mutants(), byte_mutants())


# --- the contract --------------------------------------------------------------------


class Hang(Exception):
    """An input took longer than ``HANG_S``: counted as a hang."""


@contextmanager
def deadline(seconds: float = HANG_S) -> Iterator[None]:
    """Raise ``Hang`` in the main thread if the body runs longer than ``seconds``."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, tuple | list | frozenset):
        for v in value:
            yield from _strings(v)


def _is_name(text: str) -> bool:
    """The documented rule for names that become paths: 1..64 of [A-Za-z0-9_.-], not . or .."""
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text)) and text not in (".", "..")


def _family_problem(token: str, design: Design) -> str | None:
    kind, sep, rest = token.partition(":")
    args = rest.split(":") if sep else []
    if any(not a for a in args):
        return f"fault {token!r} has an empty argument"
    if kind in (*CLIENT_FAMILIES, "cache_loss") and args:
        return f"fault {token!r} takes no argument"
    if kind == "partner" and len(args) > 2:
        return f"fault {token!r} has too many arguments"
    if kind not in (*CLIENT_FAMILIES, "cache_loss", "partner") and len(args) != 1:
        return f"fault {token!r} needs exactly one argument"
    deps = design.target.dependencies
    if kind == "cache_loss" and "redis" not in deps:
        return "cache_loss without redis"
    if kind == "partner" and "partner" not in deps:
        return "partner fault without partner"
    return None


def _possible_counters(design: Design, families: Sequence[Family]) -> set[str]:
    kinds = {f.kind for f in families}
    nemesis = bool(kinds - set(CLIENT_FAMILIES))
    partner = "partner" in design.target.dependencies
    out = set()
    if nemesis:
        out.add("faults_during_ops")
    if nemesis and partner:
        out.add("faults_during_effects")
    if nemesis or "client_timeout" in kinds:
        out.add("indeterminate")
    if "retry" in kinds:
        out.add("retries")
    if kinds & INTERRUPTING:
        out.add("crashes_during_request")
    kills = any(f.kind in KILLING and set(f.names) - set(STORES) for f in families)
    if "kafka" in design.target.dependencies and kills:
        out.add("kills_during_lag")
    if "partner" in kinds:
        out.add("partner_failures")
    if partner:
        out.add("replays")
    return out


def design_problems(design: Design) -> list[str]:
    """Why a loaded design is nonsense (empty if it is not): the loader's
    postcondition, written independently of the loader."""
    t = design.target
    problems = []
    texts = [*_strings(t.command), *_strings(dict(t.extra)), str(t.cwd or ""), *t.variants,
             design.name, design.description]
    for row in design.rows:
        texts += [row.id, row.failure_mode, row.can_happen, row.correct_behaviour,
                  row.mechanism, row.recovery, *row.faults, *row.invariants, *row.exercised_by]
    if any("\x00" in s for s in texts):
        problems.append("a NUL byte was accepted")
    if not 1 <= t.replicas <= MAX_REPLICAS:
        problems.append(f"replicas {t.replicas}")
    for seconds in (t.start_timeout_s, t.settle_timeout_s, t.late_effects_s):
        if not 0 <= seconds <= MAX_SECONDS:
            problems.append(f"seconds {seconds}")
    if not all(_is_name(v) for v in (*t.variants, design.name, *t.extra)):
        problems.append("a bad name, variant or extra process name")
    if set(t.extra) & set(DEPENDENCY_ORDER):
        problems.append("an extra process named like a dependency")
    here = (sys.executable, str(design.path.resolve().parent.parent))
    for arg in (*t.command, *(a for argv in t.extra.values() for a in argv)):
        for text in here:
            arg = arg.replace(text, "")
        if re.search(r"\{[^{}]*\}", arg):
            problems.append(f"placeholder left in {arg[:40]!r}")
    for row in design.rows:
        if len(row.id) > 64:
            problems.append("row id over 64 characters")
        if row.examples is not None and not 1 <= row.examples <= MAX_EXAMPLES:
            problems.append(f"examples {row.examples}")
        for key, (low, high) in SHAPE_LIMITS.items():
            if not low <= getattr(row.shape, key) <= high:
                problems.append(f"shape {key} {getattr(row.shape, key)}")
        problems += [p for p in (_family_problem(f, design) for f in row.faults) if p]
        for family in row.families:
            if family.kind == "redelivery" and (
                "kafka" not in t.dependencies or not set(family.names) <= set(t.extra)
            ):
                problems.append(f"redelivery to {family.names} is not a Kafka consumer")
        impossible = set(row.exercised_by) - _possible_counters(
            design, row.families
        )
        if impossible:
            problems.append(f"exercised_by {sorted(impossible)} can never rise")
    return problems


def classify_design(path: Path) -> str:
    """``ok``, ``refused``, or what went wrong: ``traceback:<type>``, ``hang``,
    ``message:<why>`` or ``accepted:<why>``."""
    try:
        with deadline():
            design = load_design(path)
    except InvalidDesign as exc:
        message = str(exc)
        if "\n" in message or "\r" in message:
            return "message:multi-line"
        if not message.startswith(f"{path}: "):
            return "message:no file path"
        return "refused"
    except Hang:
        return "hang"
    except Exception as exc:
        return f"traceback:{type(exc).__name__}"
    return _judge(lambda: design_problems(design))


def _judge(problems_of: Callable[[], Sequence[str]]) -> str:
    """``ok`` or ``accepted:<the first problem>`` for a value the reader accepted."""
    try:
        problems = problems_of()
    except Exception as exc:  # the value is too broken to even inspect
        return f"accepted:{type(exc).__name__} while inspecting it"
    return f"accepted:{problems[0]}" if problems else "ok"


# --- schedules -----------------------------------------------------------------------

_JSON_NASTY: tuple[Any, ...] = (
    None, True, 0, -1, 1, 10**6, 10**30, -(10**30), 0.5, math.nan, math.inf, "", "x", "\x00",
    [], {}, "order", "read_stock", "heal", "toxic", "crash", "kafka",
)


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON-like value (what ``json.loads`` can give)."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
        st.sampled_from(_JSON_NASTY),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )


@st.composite
def mutated_schedule_json(draw: st.DrawFn, valid: st.SearchStrategy[Schedule]) -> Any:
    """A valid schedule's JSON with 1..3 structural mutations."""
    data = draw(valid).to_json()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(data))))
        if not path:
            continue
        parent = _get(data, path[:-1])
        op = draw(st.sampled_from(("replace", "replace", "drop", "insert", "wrap")))
        if op == "drop":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(st.one_of(st.sampled_from(_JSON_NASTY), json_values()))
        elif op == "insert" and isinstance(parent, dict):
            parent[draw(st.sampled_from(("x", "ms", "fault", "f", "args", "count")))] = 1
        elif op == "insert" and isinstance(parent, list):
            parent.append(_copy(draw(st.sampled_from(parent))))
        else:
            parent[path[-1]] = [parent[path[-1]]]
    return data


def _ints(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _ints(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _ints(v)


_OPS = {
    "inventory": {"order": {"sku", "qty"}, "read_order": set(), "read_stock": set()},
    "payments": {"pay": set(), "read_payment": set()},
    "matching": {"swipe": {"swiper", "swipee", "direction"}, "read_matches": set()},
}


def _without_clock_offsets(value: Any) -> Any:
    if isinstance(value, Mapping):
        clock = value.get("kind") == "clock"
        return {k: _without_clock_offsets(v) for k, v in value.items()
                if not (clock and k == "offset_ms")}
    if isinstance(value, list | tuple):
        return [_without_clock_offsets(v) for v in value]
    return value


def schedule_problems(schedule: Schedule) -> list[str]:
    """Why an accepted schedule is nonsense (empty if it is not), written
    independently of the reader: every op belongs to the workload, every
    number is at most 1e9 and not negative, names are names, and reading the
    schedule's own JSON gives it back."""
    problems = []
    ops = _OPS.get(schedule.workload)
    if ops is None:
        return [f"workload {schedule.workload!r}"]
    for op in schedule.client_ops():
        if op.f not in ops or set(op.args) != ops[op.f]:
            problems.append(f"op {op.f} with args {sorted(op.args)} in {schedule.workload}")
    data = schedule.to_json()
    # A clock fault's offset is the one number that may be negative (a clock behind).
    offsets = [f.offset_ms for f in schedule.faults() if isinstance(f, ClockFault)]
    if any(not 0 <= n <= 10**9 for n in _ints(_without_clock_offsets(data))):
        problems.append("a negative or huge number")
    if any(abs(n) > 3_600_000 for n in offsets):
        problems.append("a clock offset of more than an hour")
    if any("\x00" in text for text in _strings(data)):
        problems.append("a NUL byte")
    for fault in schedule.faults():
        names = [getattr(fault, k) for k in ("link", "process", "consumer") if hasattr(fault, k)]
        if not all(_is_name(n) for n in names):
            problems.append(f"fault names {names}")
    if schedule_from_json(data) != schedule:
        problems.append("reading its own JSON gives another schedule")
    return problems


def classify_schedule(
    data: Any, check: Callable[[Schedule], Sequence[str]], workload: Workload | None = None
) -> str:
    """``ok``, ``refused`` or what went wrong, as ``classify_design``; read against
    ``workload`` (default: the built-in the schedule names)."""
    try:
        with deadline():
            schedule = schedule_from_json(data, workload)
    except InvalidSchedule as exc:
        return "message:multi-line" if "\n" in str(exc) else "refused"
    except Hang:
        return "hang"
    except Exception as exc:
        return f"traceback:{type(exc).__name__}"
    return _judge(lambda: check(schedule))
