"""Read plain JSON-like data (objects, lists, numbers, strings) into records.

Schedules and faults come back from files a user may have edited, so every
error names the path of the bad value, what was expected and what was got,
on one line: ``steps[2].ops[0].retry.count must be an int in 0..10 (got -1)``.
"""

from __future__ import annotations

import json
import re
import reprlib
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard, cast

from harness.limits import MAX_SECONDS, is_finite_number, is_seconds

# Names of links, processes, variants and designs: they become file names and argv.
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# What ``mapping.get(key, MISSING)`` gives for an absent key; every reader refuses it.
MISSING: Any = object()
_SHOWN = 80

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = _SHOWN
_repr.maxother = _SHOWN
_repr.maxlong = 40


def show(value: object) -> str:
    """A one-line, bounded repr: values may be huge, deeply nested or hold newlines."""
    text = _repr.repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted(key: str) -> str:
    """A key as a step of a dotted path: bare when TOML would write it bare, else
    quoted and escaped, so a key holding a newline or a dot still reads as one
    key on one line (``fields."\\n"``)."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def is_name(value: object) -> TypeGuard[str]:
    """1..64 of ``[A-Za-z0-9_.-]`` and not ``.`` or ``..``: safe as a file name."""
    return isinstance(value, str) and bool(NAME.fullmatch(value)) and value not in (".", "..")


@dataclass(frozen=True, slots=True)
class At:
    """A place in plain data; its readers raise ``error`` naming that place."""

    path: str
    error: type[ValueError]

    def key(self, name: str) -> At:
        return At(f"{self.path}.{dotted(name)}", self.error)

    def item(self, index: int) -> At:
        return At(f"{self.path}[{index}]", self.error)

    def fail(self, what: str, got: object = MISSING) -> ValueError:
        got_text = "nothing: the key is missing" if got is MISSING else show(got)
        return self.error(f"{self.path} must be {what} (got {got_text})")

    def obj(self, value: object, accepted: Collection[str]) -> Mapping[str, Any]:
        """A JSON object whose keys are all in ``accepted``."""
        if not isinstance(value, Mapping):
            raise self.fail("an object", value)
        unknown = [k for k in value if k not in accepted]
        if unknown:
            raise self.error(
                f"{self.path} has unknown key(s) {', '.join(show(k) for k in unknown[:5])}; "
                f"accepted: {', '.join(accepted) or 'none'}"
            )
        return value

    def items(self, value: object, what: str, *, low: int, high: int) -> list[tuple[At, Any]]:
        """A list of ``low..high`` items, each with its place."""
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise self.fail(f"a list of {low}..{high} {what}", value)
        return [(self.item(i), v) for i, v in enumerate(value)]

    def integer(self, value: object, low: int, high: int, *, what: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(what or f"an int in {low}..{high}", value)
        return value

    def boolean(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.fail("true or false", value)
        return value

    def number(
        self, value: object, low: float, high: float, *, positive: bool = False, what: str = ""
    ) -> float:
        if (
            not is_finite_number(value)
            or not low <= value <= high
            or (positive and value <= 0)
        ):
            bound = f"> 0 and <= {high:g}" if positive else f"in {low:g}..{high:g}"
            raise self.fail(what or f"a number {bound}", value)
        return float(value)

    def choice(self, value: object, options: Collection[str]) -> str:
        if not isinstance(value, str) or value not in options:
            raise self.fail(f"one of {', '.join(options)}", value)
        return value

    def name(self, value: object) -> str:
        if not is_name(value):
            raise self.fail("a name of 1..64 characters [A-Za-z0-9_.-] (not . or ..)", value)
        return value

    def link(self, value: object) -> str:
        """A link: a name, or ``<process>>``<store>`` (a process's own link to a store)."""
        parts = value.split(">") if isinstance(value, str) else [value]
        if len(parts) > 2 or not all(is_name(p) for p in parts):
            raise self.fail("a link name ('postgres', 'target-0' or 'target-0>postgres')", value)
        assert isinstance(value, str)
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """A place in one file (``target``, ``rows[2] (id 'x')``) that errors are
    raised from, as ``error_type``: ``<file>: <place>: '<key>' must be ... (got ...)``."""

    path: str
    place: str = ""
    error_type: type[ValueError] = ValueError

    def error(self, message: str) -> ValueError:
        prefix = f"{self.path}: {self.place}: " if self.place else f"{self.path}: "
        return self.error_type(prefix + message)

    def expected(self, key: str, what: str, got: object, hint: str = "") -> ValueError:
        got_text = "nothing (the key is missing)" if got is MISSING else show(got)
        return self.error(f"{key!r} must be {what} (got {got_text}){hint}")

    def only_keys(self, table: Mapping[str, Any], accepted: Collection[str]) -> None:
        unknown = sorted(set(table) - set(accepted))
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise self.error(f"unknown key(s) {names}; accepted keys: {', '.join(accepted)}")

    def table(self, table: Mapping[str, Any], key: str, *, required: bool) -> dict[str, Any]:
        value = table.get(key, MISSING)
        if value is MISSING and not required:
            return {}
        if not isinstance(value, dict):
            raise self.expected(key, "a table", value)
        return value

    def text(self, table: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
        value = table.get(key, MISSING)
        if value is MISSING and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.expected(key, "a non-empty string", value)
        if "\0" in value:
            raise self.expected(key, "a string without NUL bytes", value)
        return value.strip()

    def choice(
        self, table: Mapping[str, Any], key: str, options: Collection[str], *, default: str = ""
    ) -> str:
        value = table.get(key, MISSING)
        if value is MISSING and default:
            return default
        if value not in options:
            raise self.expected(key, f"one of {', '.join(options)}", value)
        return cast(str, value)

    def integer(
        self,
        table: Mapping[str, Any],
        key: str,
        *,
        minimum: int,
        maximum: int,
        default: int | None = None,
    ) -> int:
        value = table.get(key, MISSING)
        if value is MISSING and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.expected(key, f"an integer in {minimum}..{maximum}", value)
        return value

    def seconds(
        self, table: Mapping[str, Any], key: str, *, default: float, positive: bool
    ) -> float:
        """A number of seconds, > 0 (or >= 0), at most ``MAX_SECONDS``."""
        value = table.get(key, MISSING)
        if value is MISSING:
            return default
        low = "> 0" if positive else ">= 0"
        if not is_seconds(value, positive=positive):
            raise self.expected(key, f"a number of seconds {low} and <= {MAX_SECONDS}", value)
        return float(value)

    def names(
        self,
        table: Mapping[str, Any],
        key: str,
        what: str,
        *,
        known: Collection[str] | None = None,
        default: tuple[str, ...] | None = None,
    ) -> tuple[str, ...]:
        """A non-empty list of distinct non-empty strings, each in ``known`` if given."""
        value = table.get(key, MISSING)
        if value is MISSING and default is not None:
            return default
        hint = f"; known: {', '.join(known)}" if known is not None else ""
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
        ):
            raise self.expected(key, f"a non-empty list of {what}", value, hint)
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise self.expected(key, f"a list of distinct {what}", value, f"; repeated: {repeated}")
        if known is not None:
            unknown = [v for v in value if v not in known]
            if unknown:
                raise self.expected(key, f"a list of {what}", value, f"; unknown: {unknown}{hint}")
        return tuple(value)


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(where: Where, path: Path, what: str) -> dict[str, Any]:
    """A TOML file (``what``: "design file", "workload file"); every way reading
    or parsing fails is one line from ``where``."""
    if "\0" in str(path):
        raise where.error(f"cannot read the {what}: the path contains a NUL byte")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        pos = _TOML_POSITION.search(str(exc))
        line = f"line {pos.group(1)}, column {pos.group(2)}: " if pos else ""
        raise where.error(
            f"{line}invalid TOML: {_TOML_POSITION.sub('', str(exc)).strip()}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise where.error(f"invalid TOML: the file is not UTF-8 ({exc})") from exc
    except RecursionError as exc:
        raise where.error("invalid TOML: arrays or inline tables nested too deeply") from exc
    except ValueError as exc:  # an integer literal of thousands of digits
        raise where.error(f"invalid TOML: {str(exc).split(';')[0]}") from exc
    except OSError as exc:
        raise where.error(f"cannot read the {what}: {exc.strerror or exc}") from exc
