"""Reading histories into checker operations: Jepsen logs, EDN map lines, failmodel JSONL.

Every reader follows Jepsen's outcome rule: an ``ok`` operation returned at
its completion, a ``fail`` surely did not happen and is dropped, an ``info``
(or an invoke never completed) is indeterminate (output ``UNKNOWN``). The
time of an event is its line number (failmodel: its event index), so only
the order of events matters; an operation's id is the line number of its
invoke (failmodel: its ``op_id``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeAlias

from harness.history import NEMESIS, Event, History, HistoryFileError, read_history
from invariants.linearizability._model import UNKNOWN, Model, Op
from invariants.linearizability._models import CAS_REGISTER, KV, KvOp, RegisterOp

Format: TypeAlias = Literal["jepsen-log", "edn", "failmodel"]
_COMPLETIONS = frozenset({"ok", "fail", "info"})


class HistoryFormatError(ValueError):
    """A history file cannot be read; the message names the file and line."""


class _Pairing:
    """Pairs each process's invoke with its completion, in file order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.open: dict[Any, tuple[int, str, Any]] = {}  # process -> (line, f, input)
        self.ops: list[Op] = []

    def error(self, line: int, message: str) -> HistoryFormatError:
        return HistoryFormatError(f"{self.path}:{line}: {message}")

    def invoke(self, line: int, process: Any, f: str, input: Any) -> None:
        if process in self.open:
            raise self.error(
                line,
                f"process {process} invokes {f} while its op of line "
                f"{self.open[process][0]} has not completed",
            )
        self.open[process] = (line, f, input)

    def complete(self, line: int, process: Any, type: str, f: str, output: Any) -> None:
        if type not in _COMPLETIONS:
            raise self.error(line, f"type must be invoke, ok, fail or info (got {type!r})")
        if process not in self.open:
            raise self.error(line, f"process {process} completes {f} with no invoke open")
        called, invoked_f, input = self.open.pop(process)
        if invoked_f != f:
            raise self.error(
                line, f"process {process} invoked {invoked_f} (line {called}), not {f}"
            )
        if type == "ok":
            self.ops.append(
                Op(id=called, input=input, output=output, call=called, ret=line, process=process)
            )
        elif type == "info":
            self.ops.append(
                Op(id=called, input=input, output=UNKNOWN, call=called, process=process)
            )

    def done(self) -> tuple[Op, ...]:
        for process, (called, _, input) in self.open.items():
            self.ops.append(
                Op(id=called, input=input, output=UNKNOWN, call=called, process=process)
            )
        return tuple(sorted(self.ops, key=lambda op: op.call))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFormatError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


# -- Jepsen's log: INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>

_LOG_LINE = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:([\w-]+)(?:\s+(.*))?$")
_INT = re.compile(r"^-?\d+$")
_PAIR = re.compile(r"^\[\s*(\S+)\s+(\S+)\s*\]$")


def _log_value(text: str) -> Any:
    if text == "nil":
        return None
    if _INT.match(text):
        return int(text)
    raise ValueError(f"expected nil or an integer (got {text!r})")


def read_jepsen_log(path: Path) -> tuple[Op, ...]:
    """A Jepsen log of one compare-and-set register (etcd's test): ``read`` (value
    ``nil``/int), ``write`` (int) and ``cas`` (``[expected new]``), as
    ``RegisterOp`` inputs for ``CAS_REGISTER``. Nemesis lines are skipped."""
    pairs = _Pairing(path)
    for number, line in _lines(path):
        match = _LOG_LINE.match(line)
        if match is None:
            raise pairs.error(number, f"not a Jepsen log line: {line[:80]!r}")
        name, type, f, value = match.group(1), match.group(2), match.group(3), match.group(4)
        if name == ":nemesis":
            continue
        process: int | str = int(name) if _INT.match(name) else name
        value = (value or "").strip()
        try:
            if type == "invoke":
                pairs.invoke(number, process, f, _log_register_input(f, value))
            elif type == "ok" and f == "read":
                pairs.complete(number, process, type, f, _log_value(value))
            else:
                pairs.complete(number, process, type, f, None if f == "write" else True)
        except ValueError as exc:
            if isinstance(exc, HistoryFormatError):
                raise
            raise pairs.error(number, f"{f}: {exc}") from exc
    return pairs.done()


def _log_register_input(f: str, value: str) -> RegisterOp:
    if f == "read":
        return RegisterOp("read")
    if f == "write":
        return RegisterOp("write", value=_log_value(value))
    if f == "cas":
        pair = _PAIR.match(value)
        if pair is None:
            raise ValueError(f"expected [expected new] (got {value!r})")
        return RegisterOp("cas", expected=_log_value(pair.group(1)), new=_log_value(pair.group(2)))
    raise ValueError(f"f must be read, write or cas (got {f!r})")


# -- EDN map lines: {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}

_EDN_FIELD = re.compile(
    r'\s*:([\w.?!-]+)\s+(nil|true|false|-?\d+|"(?:[^"\\]|\\.)*"|:[\w.?!-]+)\s*,?'
)


def _edn_map(line: str) -> dict[str, Any]:
    if not (line.startswith("{") and line.endswith("}")):
        raise ValueError("not a map {...}")
    fields: dict[str, Any] = {}
    body, at = line[1:-1], 0
    while at < len(body):
        match = _EDN_FIELD.match(body, at)
        if match is None:
            raise ValueError(f"cannot read the map from {body[at : at + 30]!r}")
        name, text = match.group(1), match.group(2)
        if text == "nil":
            value: Any = None
        elif text in ("true", "false"):
            value = text == "true"
        elif text.startswith('"'):
            value = json.loads(text)
        elif text.startswith(":"):
            value = text[1:]
        else:
            value = int(text)
        fields[name] = value
        at = match.end()
    return fields


def read_edn_kv(path: Path) -> tuple[Op, ...]:
    """One EDN map per line, ``:process :type :f :key :value``, of a key-value store:
    ``get`` (its ``ok`` value the string read; nil reads ""), ``put``, ``append``;
    as ``KvOp`` inputs for ``KV``. Nemesis maps are skipped."""
    pairs = _Pairing(path)
    for number, line in _lines(path):
        try:
            fields = _edn_map(line)
            for name in ("process", "type", "f"):
                if name not in fields:
                    raise ValueError(f"no :{name}")
            process, type, f = fields["process"], fields["type"], fields["f"]
            if process == "nemesis":
                continue
            if type == "invoke":
                if f not in ("get", "put", "append"):
                    raise ValueError(f":f must be :get, :put or :append (got {f!r})")
                key, value = fields.get("key"), fields.get("value")
                if key is None:
                    raise ValueError("no :key")
                if f != "get" and not isinstance(value, str):
                    raise ValueError(f":value of {f} must be a string (got {value!r})")
                pairs.invoke(
                    number, process, f, KvOp(f, key, value if isinstance(value, str) else "")
                )
            else:
                value = fields.get("value")
                if f == "get" and type == "ok" and not isinstance(value, str | None):
                    raise ValueError(f"a get reads a string or nil (got {value!r})")
                output = (value or "") if f == "get" else None
                pairs.complete(number, process, str(type), str(f), output)
        except ValueError as exc:
            if isinstance(exc, HistoryFormatError):
                raise
            raise pairs.error(number, str(exc)) from exc
    return pairs.done()


# -- failmodel's own JSONL histories


def ops_from_history(
    history: History,
    model: Model[Any, Any, Any],
    *,
    where: Callable[[Event], str] | None = None,
) -> tuple[Op, ...]:
    """The checker's operations of a failmodel history, read with
    ``model.from_operation``; nemesis events and ``fail`` operations are left out.
    An error says ``where(invoke)`` (default: the op id) and why."""
    if model.from_operation is None:
        raise HistoryFormatError(
            f"model {model.name!r} has no from_operation, so it cannot read failmodel histories"
        )
    ops: list[Op] = []
    for op in history.operations():
        if op.invoke.process == NEMESIS or op.outcome == "fail":
            continue
        try:
            pair = model.from_operation(op)
        except (ValueError, KeyError, TypeError) as exc:
            at = where(op.invoke) if where is not None else f"op {op.invoke.op_id}"
            raise HistoryFormatError(f"{at}: {exc}") from exc
        if pair is None:
            continue
        input, output = pair
        determinate = op.outcome == "ok" and op.completion is not None
        ops.append(
            Op(
                id=op.invoke.op_id,
                input=input,
                output=output if determinate else UNKNOWN,
                call=op.invoke.index,
                ret=op.completion.index if determinate and op.completion else math.inf,
                process=op.invoke.process,
            )
        )
    return tuple(ops)


def read_failmodel_history(path: Path, model: Model[Any, Any, Any]) -> tuple[Op, ...]:
    """A failmodel history file (JSON Lines of ``Event``), read with ``model.from_operation``."""
    if model.from_operation is None:
        raise HistoryFormatError(
            f"{path}: model {model.name!r} has no from_operation, so it cannot read "
            "failmodel histories"
        )
    try:
        history = read_history(path)
    except HistoryFileError as exc:
        raise HistoryFormatError(str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFormatError(f"{path}: cannot read: {exc}") from exc
    line_of = [number for number, _ in _lines(path)]  # the recorder writes one event a line
    position = {event.index: i for i, event in enumerate(history.events)}

    def where(invoke: Event) -> str:
        return f"{path}:{line_of[position[invoke.index]]}"

    return ops_from_history(history, model, where=where)


def detect_format(path: Path) -> Format:
    """``failmodel`` (JSON objects), ``edn`` (``{:`` maps) or ``jepsen-log``, from the
    first non-blank line."""
    for number, line in _lines(path):
        if line.startswith("{:"):
            return "edn"
        if line.startswith("{"):
            return "failmodel"
        if _LOG_LINE.match(line):
            return "jepsen-log"
        raise HistoryFormatError(
            f"{path}:{number}: not a history: expected a failmodel JSON event, an EDN map "
            "or a Jepsen log line"
        )
    raise HistoryFormatError(f"{path}: the file is empty")


_FORMAT_NAMES: dict[Format, str] = {
    "jepsen-log": "a Jepsen log",
    "edn": "an EDN history",
    "failmodel": "a failmodel history",
}
_NATIVE: dict[Format, tuple[Model[Any, Any, Any], Callable[[Path], tuple[Op, ...]]]] = {
    "jepsen-log": (CAS_REGISTER, read_jepsen_log),
    "edn": (KV, read_edn_kv),
}


def read_operations(path: Path, model: Model[Any, Any, Any]) -> tuple[Op, ...]:
    """Read any supported file for ``model``: a Jepsen log (``CAS_REGISTER``), EDN
    map lines (``KV``) or a failmodel history (any model with ``from_operation``)."""
    kind = detect_format(path)
    if kind == "failmodel":
        return read_failmodel_history(path, model)
    native, reader = _NATIVE[kind]
    if model is not native:
        raise HistoryFormatError(
            f"{path}: {_FORMAT_NAMES[kind]} holds {native.name} operations; "
            f"check it with the {native.name} model (not {model.name})"
        )
    return reader(path)
