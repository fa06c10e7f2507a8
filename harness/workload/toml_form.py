"""The TOML form of a workload (docs/workloads.md, "TOML"): the same records as
`harness.workload.api`, for HTTP+JSON services declared without Python.

A ``[workload]`` table in a design file, or a file of its own
(``workload = { file = "wallet.toml" }``) holding the same keys at the top
level, with the workload's own ``[[invariants]]`` (``[[workload.invariants]]``
in a design file: `invariants.library`'s TOML form, docs/invariants.md).
Every error names the file, the place (``workload.operations[1] (name
'transfer').fields.amount``) and what was expected; the records' own checks
(`InvalidWorkload`) are reported at the place they were made from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from harness.plain import MISSING, Where, dotted, read_toml, show
from harness.workload.api import (
    Answer,
    Const,
    FinalRead,
    FromAnswer,
    Ints,
    InvalidWorkload,
    Key,
    OneOf,
    Operation,
    PartnerDecline,
    SetupStep,
    Source,
    Workload,
)
from invariants.library import InvalidInvariant, parse_invariants
from invariants.verdict import Checker

__all__ = ["WORKLOAD_KEYS", "load_workload_file", "workload_from_table"]

WORKLOAD_KEYS = ("name", "keys", "operations", "setup", "final", "effects", "invariants")
_OPERATION_KEYS = (
    "name", "method", "path", "body", "fields", "id", "ok", "fail", "read", "weight",
)
_ANSWER_KEYS = ("status", "echo", "equals", "types")
_SETUP_KEYS = ("op", "each", "values", "deadline")
_DECLINE_KEYS = ("decline", "at_most")
_FINAL_KEYS = ("op", "slot", "keys", "fields", "not_found")
_SOURCES = ("key", "ints", "one_of", "const", "answer")

T = TypeVar("T")


def _at(where: Where, place: str) -> Where:
    joined = f"{where.place}.{place}" if where.place and place else where.place or place
    return replace(where, place=joined)


def _made(where: Where, make: Callable[[], T]) -> T:
    """``make()``, its `InvalidWorkload` raised again at ``where``."""
    try:
        return make()
    except InvalidWorkload as exc:
        raise where.error(exc.detail) from exc


def _array(where: Where, table: Mapping[str, Any], key: str, *, required: bool) -> list[Any]:
    """An array of tables (``[[key]]``)."""
    value = table.get(key, MISSING)
    if value is MISSING and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value) or (
        required and not value
    ):
        what = "a non-empty array of tables" if required else "an array of tables"
        raise where.expected(key, f"{what} ([[{key}]])", value)
    return value


def _strings(where: Where, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, MISSING)
    if value is MISSING:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.expected(key, "an array of strings", value)
    return tuple(value)


def workload_from_table(table: Mapping[str, Any], where: Where) -> Workload:
    """The workload a TOML table declares; errors are ``where``'s error type."""
    where.only_keys(table, WORKLOAD_KEYS)
    name = where.text(table, "name")
    keys = where.table(table, "keys", required=True)
    operations = tuple(
        _operation(_at(where, f"operations[{i}]"), raw)
        for i, raw in enumerate(_array(where, table, "operations", required=True))
    )
    setup = tuple(
        _setup(_at(where, f"setup[{i}]"), raw)
        for i, raw in enumerate(_array(where, table, "setup", required=False))
    )
    final = tuple(
        _final(_at(where, f"final[{i}]"), raw)
        for i, raw in enumerate(_array(where, table, "final", required=False))
    )
    effects = _strings(where, table, "effects")
    invariants = invariants_from_tables(where, table.get("invariants", []))
    return _made(
        where,
        lambda: Workload(
            name=name,
            keys=keys,
            operations=operations,
            setup=setup,
            final=final,
            effects=effects,
            invariants=invariants,
        ),
    )


def invariants_from_tables(where: Where, tables: object) -> dict[str, Checker]:
    """The checkers ``[[invariants]]`` tables declare (`invariants.library`'s
    TOML form); errors are ``where``'s error type, naming table and key."""
    place = f"{where.path}: {where.place}" if where.place else where.path
    try:
        return parse_invariants(tables, place)
    except InvalidInvariant as exc:
        raise where.error_type(str(exc)) from exc


def _operation(where: Where, raw: Mapping[str, Any]) -> Operation:
    if isinstance(raw.get("name"), str):
        where = replace(where, place=f"{where.place} (name {show(raw['name'])})")
    where.only_keys(raw, _OPERATION_KEYS)
    fields = where.table(raw, "fields", required=False)
    sources = {
        name: _source(_at(where, f"fields.{dotted(name)}"), value) for name, value in fields.items()
    }
    ok = tuple(
        _answer(_at(where, f"ok[{i}]"), a)
        for i, a in enumerate(_array(where, raw, "ok", required=True))
    )
    fail = tuple(
        _answer(_at(where, f"fail[{i}]"), a)
        for i, a in enumerate(_array(where, raw, "fail", required=False))
    )
    options: dict[str, Any] = {
        k: raw[k] for k in ("id", "read", "weight") if k in raw
    }
    return _made(
        where,
        lambda: Operation(
            name=where.text(raw, "name"),
            method=where.text(raw, "method"),
            path=where.text(raw, "path"),
            body=_strings(where, raw, "body"),
            fields=sources,
            ok=ok,
            fail=fail,
            **options,
        ),
    )


def _source(where: Where, raw: object) -> Source:
    """``{ key = "account" }``, ``{ ints = [1, 50] }``, ``{ one_of = [...] }``,
    ``{ const = ... }`` or ``{ answer = "op", field = "f", ... }`` (FromKey
    needs Python)."""
    given = [k for k in _SOURCES if isinstance(raw, dict) and k in raw]
    if not isinstance(raw, dict) or len(given) != 1:
        raise where.error(
            "must be one of { key = \"kind\" }, { ints = [lo, hi] }, { one_of = [...] }, "
            f"{{ const = value }}, {{ answer = \"op\", field = \"name\" }} (got {show(raw)})"
        )
    (kind,) = given
    allowed = {
        "key": ("key", "distinct_from", "same_as"),
        "ints": ("ints",),
        "one_of": ("one_of", "weights"),
        "const": ("const",),
        "answer": ("answer", "field", "match", "default", "back"),
    }[kind]
    where.only_keys(raw, allowed)
    if kind == "answer":
        ops = raw["answer"]
        if "field" not in raw:
            raise where.expected("field", "the answer field to take (a name)", MISSING)
        options = {k: raw[k] for k in ("default", "back") if k in raw}
        return _made(
            where,
            lambda: FromAnswer(
                tuple(ops) if isinstance(ops, list) else ops,
                raw["field"],
                match=_strings(where, raw, "match"),
                **options,
            ),
        )
    if kind == "key":
        return _made(
            where,
            lambda: Key(
                raw["key"], distinct_from=raw.get("distinct_from"),
                same_as=raw.get("same_as"),
            ),
        )
    if kind == "ints":
        bounds = raw["ints"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise where.expected("ints", "an array [lo, hi] of two integers", bounds)
        return _made(where, lambda: Ints(bounds[0], bounds[1]))
    if kind == "one_of":
        values = raw["one_of"]
        if not isinstance(values, list):
            raise where.expected("one_of", "an array of values", values)
        weights = raw.get("weights")
        return _made(
            where,
            lambda: OneOf(tuple(values), weights=tuple(weights) if isinstance(weights, list)
                          else weights),
        )
    return _made(where, lambda: Const(raw["const"]))


def _answer(where: Where, raw: Mapping[str, Any]) -> Answer:
    where.only_keys(raw, _ANSWER_KEYS)
    if "status" not in raw:
        raise where.expected("status", "an HTTP status (100..599)", MISSING)
    return _made(
        where,
        lambda: Answer(
            raw["status"],
            echo=_strings(where, raw, "echo"),
            equals=where.table(raw, "equals", required=False),
            types=where.table(raw, "types", required=False),
        ),
    )


def _setup(where: Where, raw: Mapping[str, Any]) -> SetupStep | PartnerDecline:
    if "decline" in raw:
        where.only_keys(raw, _DECLINE_KEYS)
        options = {"at_most": raw["at_most"]} if "at_most" in raw else {}
        return _made(where, lambda: PartnerDecline(kind=raw["decline"], **options))
    where.only_keys(raw, _SETUP_KEYS)
    values: dict[str, Source] | None = None
    if "values" in raw:
        values = {
            name: _source(_at(where, f"values.{dotted(name)}"), value)
            for name, value in where.table(raw, "values", required=True).items()
        }
    return _made(
        where,
        lambda: SetupStep(
            op=where.text(raw, "op"), each=raw.get("each"), values=values,
            deadline=raw.get("deadline"),
        ),
    )


def _final(where: Where, raw: Mapping[str, Any]) -> FinalRead:
    where.only_keys(raw, _FINAL_KEYS)
    options = {k: raw[k] for k in ("keys", "not_found") if k in raw}
    return _made(
        where,
        lambda: FinalRead(
            op=where.text(raw, "op"),
            slot=where.text(raw, "slot"),
            fields=_strings(where, raw, "fields"),
            **options,
        ),
    )


def load_workload_file(path: Path, where: Where) -> Workload:
    """The workload of a TOML file of its own (the keys of ``[workload]`` at
    its top level); errors name ``path`` and are ``where``'s error type."""
    here = replace(where, path=str(path), place="")
    return workload_from_table(read_toml(here, path, "workload file"), here)
