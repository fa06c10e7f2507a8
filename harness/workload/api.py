"""The workload API: what a service's clients do, declared as data (docs/workloads.md).

A `Workload` names its key kinds, its HTTP operations (how each is sent,
which fields it carries and where their values come from, which answers are
``ok``, which are a definite ``fail``), how an example is set up before any
fault, and which reads give the settled state. Everything the harness does
with a service -- drawing schedules, sending and classifying requests,
setting up, reading the final state -- is derived from it; the built-in
workloads (`harness.workload.builtin`) are ordinary users of this module.

Every record is a frozen dataclass that checks itself when made: a mistake is
an `InvalidWorkload` naming the field, what was expected and what was got,
``'ok' must be a non-empty tuple of Answer (got ())``. The small records take
their obvious first argument positionally (``Key("account")``,
``Ints(1, 50)``, ``Answer(200, ...)``); everything else is keyword-only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from harness.limits import (
    MAX_ANSWERS,
    MAX_CHOICES,
    MAX_FIELDS,
    MAX_FINAL,
    MAX_INVARIANTS,
    MAX_KEY_KINDS,
    MAX_KEYS,
    MAX_KIND_CHARS,
    MAX_NAME,
    MAX_OPERATIONS,
    MAX_SETUP,
    MAX_TEXT,
    MAX_VALUE,
    MAX_WEIGHT,
)
from harness.plain import is_name, show

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from harness.schedule.shape import Shape
    from invariants.verdict import Checker

__all__ = [
    "METHODS",
    "PARTNER_ENDPOINTS",
    "TYPES",
    "Answer",
    "Const",
    "DrawContext",
    "DrawHook",
    "DrawnOp",
    "FinalRead",
    "FromAnswer",
    "FromKey",
    "Ints",
    "InvalidWorkload",
    "Key",
    "OneOf",
    "Operation",
    "PartnerDecline",
    "SetupStep",
    "Source",
    "Workload",
]

Scalar: TypeAlias = str | int | float | bool | None
METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
TYPES: tuple[str, ...] = ("int", "number", "str", "bool", "object", "list", "null")
PARTNER_ENDPOINTS: tuple[str, ...] = ("psp", "warehouse", "notify")
NotFound: TypeAlias = Literal["absent", "unknown"]
NOT_FOUND: tuple[str, ...] = ("absent", "unknown")

_KIND = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_KIND_CHARS - 1}}}")
_NAME = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_NAME - 1}}}")
_FIELD = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME - 1}}}")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_MISSING: Any = object()


class InvalidWorkload(ValueError):
    """A workload (or one of its parts) breaks the API; the message names the
    record, the field, what it must be and what it was. ``detail`` is the
    message without the record (``'weight' must be ...``), for readers of
    files that name the place themselves."""

    def __init__(self, owner: str, detail: str) -> None:
        super().__init__(f"{owner}: {detail}")
        self.owner = owner
        self.detail = detail


def _fail(owner: str, name: str, what: str, got: object) -> InvalidWorkload:
    return InvalidWorkload(owner, f"'{name}' must be {what} (got {show(got)})")


def _kind(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not _KIND.fullmatch(value):
        raise _fail(
            owner,
            name,
            f"a key kind: 1..{MAX_KIND_CHARS} characters [a-z0-9_] starting with a letter",
            value,
        )
    return value


def _op_name(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _fail(
            owner, name, f"a name of 1..{MAX_NAME} characters [a-z0-9_], first a letter", value
        )
    return value


def _field_name(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not _FIELD.fullmatch(value):
        raise _fail(owner, name, f"a field name of 1..{MAX_NAME} characters [A-Za-z0-9_]", value)
    return value


def _integer(owner: str, name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(owner, name, f"an int in {low}..{high}", value)
    return value


def _scalar(owner: str, name: str, value: object) -> Scalar:
    """A JSON scalar: a string of at most MAX_TEXT characters without NUL, a
    bounded int, a finite float, a bool or None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and -MAX_VALUE <= value <= MAX_VALUE:
        return value
    if isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_VALUE:
        return value
    if isinstance(value, str) and len(value) <= MAX_TEXT and "\0" not in value:
        return value
    raise _fail(
        owner,
        name,
        f"a JSON scalar (a string of at most {MAX_TEXT} characters without NUL, an int or "
        f"finite number within +-{MAX_VALUE}, a bool or None)",
        value,
    )


def _names(owner: str, name: str, value: object, *, check: Callable[[str, str, object], str],
           high: int = MAX_FIELDS) -> tuple[str, ...]:
    """A tuple of distinct names (a list is taken as a tuple)."""
    if isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, tuple) or len(value) > high:
        raise _fail(owner, name, f"a tuple of at most {high} names", value)
    for item in value:
        check(owner, name, item)
    if len(set(value)) != len(value):
        raise _fail(owner, name, "a tuple of distinct names", value)
    return value


def _mapping(owner: str, name: str, value: object, high: int) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping) or len(value) > high:
        raise _fail(owner, name, f"a mapping of at most {high} entries", value)
    return MappingProxyType(dict(value))


# --- value sources ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """An id of key kind ``kind``, drawn as an index (``<prefix>-<kind>-<i>``).

    ``distinct_from`` names another `Key` field of the same kind that this one
    must differ from (no self-transfer); ``same_as`` names another `Key` field
    whose index this one takes (a payment's order: ``same_as="payment_id"``).
    """

    kind: str
    _: KW_ONLY
    distinct_from: str | None = None
    same_as: str | None = None

    def __post_init__(self) -> None:
        _kind("Key", "kind", self.kind)
        for name in ("distinct_from", "same_as"):
            value = getattr(self, name)
            if value is not None:
                _field_name("Key", name, value)
        if self.distinct_from is not None and self.same_as is not None:
            raise InvalidWorkload(
                "Key",
                f"give 'distinct_from' or 'same_as', not both (got {self.distinct_from!r} "
                f"and {self.same_as!r})",
            )


@dataclass(frozen=True, slots=True)
class Ints:
    """An integer in ``lo..hi`` (both included, within +-10^9)."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        _integer("Ints", "lo", self.lo, -MAX_VALUE, MAX_VALUE)
        _integer("Ints", "hi", self.hi, self.lo, MAX_VALUE)


@dataclass(frozen=True, slots=True)
class OneOf:
    """One of ``values`` (JSON scalars); ``weights`` (one positive int each)
    makes some likelier. Shrinking moves towards the first value."""

    values: tuple[Scalar, ...]
    _: KW_ONLY
    weights: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        values = tuple(self.values) if isinstance(self.values, list) else self.values
        if not isinstance(values, tuple) or not 1 <= len(values) <= MAX_CHOICES:
            raise _fail("OneOf", "values", f"a tuple of 1..{MAX_CHOICES} JSON scalars", values)
        for value in values:
            _scalar("OneOf", "values", value)
        if len({(type(v), v) for v in values}) != len(values):
            raise _fail("OneOf", "values", "a tuple of distinct values", values)
        object.__setattr__(self, "values", values)
        weights = self.weights
        if weights is not None:
            weights = tuple(weights) if isinstance(weights, list) else weights
            if (
                not isinstance(weights, tuple)
                or len(weights) != len(values)
                or not all(
                    isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WEIGHT
                    for w in weights
                )
            ):
                raise _fail(
                    "OneOf",
                    "weights",
                    f"None or one int in 1..{MAX_WEIGHT} per value ({len(values)})",
                    weights,
                )
            object.__setattr__(self, "weights", weights)

    def choices(self) -> tuple[Scalar, ...]:
        """The values, each repeated by its weight (what is sampled)."""
        if self.weights is None:
            return self.values
        return tuple(v for v, w in zip(self.values, self.weights, strict=True) for _ in range(w))


@dataclass(frozen=True, slots=True)
class Const:
    """Always ``value`` (a JSON scalar)."""

    value: Scalar

    def __post_init__(self) -> None:
        _scalar("Const", "value", self.value)


@dataclass(frozen=True, slots=True)
class FromKey:
    """A value computed from a key index (Python only): ``fn(index)`` where the
    index is that of the `Key` field ``of`` (default: the operation's ``id``).
    A resend carries the same value, as the index is the same."""

    fn: Callable[[int], Scalar]
    _: KW_ONLY
    of: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise _fail("FromKey", "fn", "a function of a key index", self.fn)
        if self.of is not None:
            _field_name("FromKey", "of", self.of)

    def value(self, index: int) -> Scalar:
        """``fn(index)``, checked to be a JSON scalar."""
        return _scalar("FromKey", f"fn({index})", self.fn(index))


MAX_BACK = 8


@dataclass(frozen=True, slots=True)
class FromAnswer:
    """A value the service gave earlier in the example: field ``field`` of an
    ok answer to one of ``ops`` (a fencing token a grant returned, the holder
    it named), taken when the request is first sent, so a resend carries it
    unchanged. ``match`` names fields of this request that the earlier
    request must have had equal (the same lock). Of the distinct values
    answered so far, newest first, the schedule draws which one: 0 the
    newest, up to ``back - 1`` older ones (a stale token); shrinking moves to
    the newest. ``default`` is sent while no such answer has come. Fields of
    one request with the same ``ops`` and ``match`` come from one answer
    together (a worker and its claim token): the first of them draws which
    (``answer_leaders``), among answers distinct in all of them."""

    ops: tuple[str, ...]
    field: str
    _: KW_ONLY
    match: tuple[str, ...] = ()
    default: Scalar = None
    back: int = 2

    def __post_init__(self) -> None:
        ops = (self.ops,) if isinstance(self.ops, str) else self.ops
        object.__setattr__(self, "ops", _names("FromAnswer", "ops", ops, check=_op_name,
                                               high=MAX_OPERATIONS))
        if not self.ops:
            raise _fail("FromAnswer", "ops", "one or more operation names", self.ops)
        _field_name("FromAnswer", "field", self.field)
        object.__setattr__(
            self, "match", _names("FromAnswer", "match", self.match, check=_field_name)
        )
        _scalar("FromAnswer", "default", self.default)
        _integer("FromAnswer", "back", self.back, 1, MAX_BACK)


Source: TypeAlias = Key | Ints | OneOf | Const | FromKey | FromAnswer
_SOURCES = (Key, Ints, OneOf, Const, FromKey, FromAnswer)


def answer_leaders(fields: Mapping[str, Source]) -> dict[str, str]:
    """Per `FromAnswer` field, the field whose drawn choice it shares: the first
    field (in declaration order) with the same ``ops`` and ``match`` -- itself
    when it is that first one."""
    first: dict[tuple[frozenset[str], tuple[str, ...]], str] = {}
    return {
        name: first.setdefault((frozenset(source.ops), source.match), name)
        for name, source in fields.items()
        if isinstance(source, FromAnswer)
    }


def is_drawn(source: Source) -> bool:
    """Drawn per operation (kept in a schedule's ``args``), not derived from
    others (a `FromAnswer` draws how far back it looks)."""
    return isinstance(source, Ints | OneOf | FromAnswer) or (
        isinstance(source, Key) and source.same_as is None
    )


# --- answers ----------------------------------------------------------------------------


def _type_set(owner: str, name: str, spec: object) -> frozenset[str]:
    parts = spec.split("|") if isinstance(spec, str) else None
    if not parts or not all(p in TYPES for p in parts):
        raise _fail(
            owner, name, f"a JSON type ({', '.join(TYPES)}) or several joined by '|'", spec
        )
    return frozenset(parts)


def _has_type(value: Any, types: frozenset[str]) -> bool:
    """``value`` (``_MISSING`` for an absent key, which counts as null) is of one of ``types``."""
    if value is _MISSING or value is None:
        return "null" in types
    if isinstance(value, bool):
        return "bool" in types
    if isinstance(value, int):
        return bool(types & {"int", "number"})
    if isinstance(value, float):
        return "number" in types
    if isinstance(value, str):
        return "str" in types
    if isinstance(value, Mapping):
        return "object" in types
    return isinstance(value, list | tuple) and "list" in types


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer the contract documents: HTTP ``status`` and a body that matches
    exactly -- ``echo``: request fields repeated unchanged; ``equals``: fixed
    values; ``types``: JSON types (``"str|null"``: a string, null or absent);
    ``check``: a Python predicate ``(request, body) -> bool``. An answer with
    none of these accepts any body, JSON or not."""

    status: int
    _: KW_ONLY
    echo: tuple[str, ...] = ()
    equals: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))
    types: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    check: Callable[[Mapping[str, Any], Any], bool] | None = None

    def __post_init__(self) -> None:
        _integer("Answer", "status", self.status, 100, 599)
        object.__setattr__(
            self, "echo", _names("Answer", "echo", self.echo, check=_field_name)
        )
        equals = _mapping("Answer", "equals", self.equals, MAX_FIELDS)
        for key, value in equals.items():
            _field_name("Answer", "equals", key)
            _scalar("Answer", f"equals[{key!r}]", value)
        object.__setattr__(self, "equals", equals)
        types = _mapping("Answer", "types", self.types, MAX_FIELDS)
        for key, spec in types.items():
            _field_name("Answer", "types", key)
            _type_set("Answer", f"types[{key!r}]", spec)
        object.__setattr__(self, "types", types)
        if self.check is not None and not callable(self.check):
            raise _fail("Answer", "check", "None or a function (request, body) -> bool", self.check)

    def may_carry(self, name: str) -> bool:
        """Whether a body this answer accepts may hold field ``name``: named in
        ``echo``, ``equals`` or ``types``, or a body it does not constrain."""
        if name in self.echo or name in self.equals or name in self.types:
            return True
        return self.check is not None or not (self.echo or self.equals or self.types)

    def matches(self, request: Mapping[str, Any], body: Any) -> bool:
        """Whether a body answered with this status is exactly this answer."""
        return self.mismatch(request, body) is None

    def mismatch(self, request: Mapping[str, Any], body: Any) -> str | None:
        """Why a body answered with this status is not this answer (the first
        difference, in words), or None when it is."""
        if self.echo or self.equals or self.types:
            if not isinstance(body, Mapping):
                return "the body is not a JSON object"
            for name in self.echo:
                got, sent = body.get(name, _MISSING), request.get(name, _MISSING)
                if not _same(got, sent):
                    return f"echo {name!r}: sent {_shown(sent)}, answered {_shown(got)}"
            for name, value in self.equals.items():
                got = body.get(name, _MISSING)
                if not _same(got, value):
                    return f"equals {name!r}: expected {_shown(value)}, answered {_shown(got)}"
            for name, spec in self.types.items():
                got = body.get(name, _MISSING)
                if not _has_type(got, frozenset(spec.split("|"))):
                    return f"types {name!r}: expected {spec}, answered {_shown(got)}"
        if self.check is not None and not self.check(request, body):
            return "its check refused the body"
        return None


def _shown(value: Any) -> str:
    return "nothing" if value is _MISSING else repr(value)


def _answers(owner: str, name: str, value: object, *, empty: bool) -> tuple[Answer, ...]:
    if isinstance(value, list):
        value = tuple(value)
    low = 0 if empty else 1
    if (
        not isinstance(value, tuple)
        or not low <= len(value) <= MAX_ANSWERS
        or not all(isinstance(a, Answer) for a in value)
    ):
        what = "a tuple" if empty else "a non-empty tuple"
        raise _fail(owner, name, f"{what} of at most {MAX_ANSWERS} Answer", value)
    return value


# --- operations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One HTTP call of the workload, recorded in histories as ``name``.

    ``path`` may hold ``{field}`` placeholders (URL-quoted); ``body`` lists
    the fields sent as a JSON object (none: no body). Every field is sent,
    in the path or the body, and the history records them all. ``id`` names
    the field that identifies the logical request: a resend reuses it, and
    its first draw fixes the whole body. An answer is ``ok`` if it matches one
    of ``ok``, ``fail`` (a definite refusal: surely no effect) if one of
    ``fail``, anything else ``info``. ``read`` marks a read (no effect);
    ``weight`` is how often the default strategy draws it (0: never, e.g. an
    operation used only in setup or final reads)."""

    name: str
    method: str
    path: str
    body: tuple[str, ...] = ()
    fields: Mapping[str, Source] = field(default_factory=lambda: MappingProxyType({}))
    id: str | None = None
    ok: tuple[Answer, ...] = ()
    fail: tuple[Answer, ...] = ()
    read: bool = False
    weight: int = 1

    def __post_init__(self) -> None:
        _op_name("Operation", "name", self.name)
        owner = f"Operation {self.name!r}"
        if self.method not in METHODS:
            raise _fail(owner, "method", f"one of {', '.join(METHODS)}", self.method)
        fields = _mapping(owner, "fields", self.fields, MAX_FIELDS)
        for name, source in fields.items():
            _field_name(owner, "fields", name)
            if not isinstance(source, _SOURCES):
                raise _fail(
                    owner, f"fields[{name!r}]", "a Key, Ints, OneOf, Const, FromKey or FromAnswer",
                    source,
                )
        object.__setattr__(self, "fields", fields)
        self._check_path(owner)
        body = _names(owner, "body", self.body, check=_field_name)
        object.__setattr__(self, "body", body)
        unknown = [f for f in body if f not in fields]
        if unknown:
            raise _fail(owner, "body", f"names of its fields ({', '.join(fields)})", unknown)
        if body and self.method == "GET":
            raise _fail(owner, "body", "empty for a GET (it sends no body)", body)
        sent = {*body, *self.placeholders()}
        unsent = [f for f in fields if f not in sent]
        if unsent:
            raise _fail(owner, "fields", "all sent, in 'path' or 'body'", unsent)
        if self.id is not None:
            source = fields.get(self.id) if isinstance(self.id, str) else None
            if not isinstance(source, Key) or source.same_as is not None:
                raise _fail(owner, "id", "None or the name of a field drawn from a Key", self.id)
        object.__setattr__(self, "ok", _answers(owner, "ok", self.ok, empty=False))
        object.__setattr__(self, "fail", _answers(owner, "fail", self.fail, empty=True))
        if not isinstance(self.read, bool):
            raise _fail(owner, "read", "a bool", self.read)
        _integer(owner, "weight", self.weight, 0, MAX_WEIGHT)
        for answer in (*self.ok, *self.fail):
            unknown = [f for f in answer.echo if f not in fields]
            if unknown:
                raise _fail(owner, "echo", f"names of its fields ({', '.join(fields)})", unknown)
        self._check_sources(owner, fields)

    def _check_path(self, owner: str) -> None:
        path = self.path
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or len(path) > MAX_TEXT
            or any(c.isspace() or c == "\0" for c in path)
        ):
            raise _fail(
                owner,
                "path",
                f"a path of at most {MAX_TEXT} characters starting with '/', without spaces",
                path,
            )
        for name in PLACEHOLDER.findall(path):
            if name not in self.fields:
                raise _fail(
                    owner, "path", f"a path whose placeholders are fields ({name!r} is not)", path
                )
        if "{" in PLACEHOLDER.sub("", path) or "}" in PLACEHOLDER.sub("", path):
            raise _fail(owner, "path", "a path whose braces are {field} placeholders", path)

    def _check_sources(self, owner: str, fields: Mapping[str, Source]) -> None:
        for name, source in fields.items():
            if isinstance(source, Key):
                for rule in ("distinct_from", "same_as"):
                    other = getattr(source, rule)
                    if other is None:
                        continue
                    target = fields.get(other)
                    if (
                        other == name
                        or not isinstance(target, Key)
                        or target.same_as is not None
                        or (rule == "distinct_from" and target.kind != source.kind)
                    ):
                        what = (
                            f"another drawn Key field of kind {source.kind!r}"
                            if rule == "distinct_from"
                            else "another drawn Key field (its index is taken)"
                        )
                        raise _fail(owner, f"fields[{name!r}].{rule}", what, other)
            elif isinstance(source, FromAnswer):
                unknown = [m for m in source.match if m not in fields or m == name]
                if unknown:
                    raise _fail(owner, f"fields[{name!r}].match", "names of its other fields",
                                unknown)
            elif isinstance(source, FromKey):
                of = source.of if source.of is not None else self.id
                target = fields.get(of) if of is not None else None
                if not isinstance(target, Key) or target.same_as is not None:
                    raise _fail(
                        owner,
                        f"fields[{name!r}].of",
                        "a drawn Key field (or None with the operation's 'id' set)",
                        source.of,
                    )

    def placeholders(self) -> tuple[str, ...]:
        """The fields named in ``path``."""
        return tuple(PLACEHOLDER.findall(self.path))

    @property
    def route(self) -> str:
        """``GET /accounts/{account_id}``: the documented route, for messages."""
        return f"{self.method} {self.path}"

    def drawn(self) -> tuple[str, ...]:
        """The fields drawn for each new request (the ``id`` first), in order;
        the others (``Const``, ``FromKey``, ``Key(same_as=...)``) are derived."""
        leaders = answer_leaders(self.fields)
        names = [
            n for n, s in self.fields.items() if is_drawn(s) and leaders.get(n, n) == n
        ]
        if self.id is not None:
            names.remove(self.id)
            names.insert(0, self.id)
        return tuple(names)

    def args(self) -> tuple[str, ...]:
        """The drawn fields other than ``id``: a schedule's ``args``."""
        return tuple(n for n in self.drawn() if n != self.id)

    def kinds(self) -> Iterator[str]:
        for source in self.fields.values():
            if isinstance(source, Key):
                yield source.kind


# --- setup and final reads --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupStep:
    """Before any fault, send ``op`` (retried until ok): once, or once for every
    key of kind ``each`` -- then an example has 1 to ``keys[each]`` of them,
    drawn. ``values`` gives the other fields' sources for setup (default: the
    operation's own); values are drawn per example and recorded in the schedule.
    ``deadline`` names an `Ints` field whose value sets a deadline that many ms
    after the target receives the request (an auction's ``ends_in_ms``): the
    default strategy may then aim steps at each key's deadline (``until``
    steps), which is where the temporal-boundary failure class lives."""

    op: str
    each: str | None = None
    values: Mapping[str, Source] | None = None
    deadline: str | None = None

    def __post_init__(self) -> None:
        _op_name("SetupStep", "op", self.op)
        if self.each is not None:
            _kind("SetupStep", "each", self.each)
        if self.values is not None:
            values = _mapping("SetupStep", "values", self.values, MAX_FIELDS)
            for name, source in values.items():
                _field_name("SetupStep", "values", name)
                if not isinstance(source, Ints | OneOf | Const | FromKey | Key):
                    raise _fail(
                        "SetupStep", f"values[{name!r}]", "an Ints, OneOf, Const, FromKey or Key",
                        source,
                    )
            object.__setattr__(self, "values", values)
        if self.deadline is not None:
            _field_name("SetupStep", "deadline", self.deadline)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerDecline:
    """Before any fault, the partner's payment provider is told to decline
    (402, no effect) every charge whose ``reference`` is one of up to
    ``at_most`` keys of kind ``kind``, drawn per example (needs the partner)."""

    kind: str
    at_most: int = 2

    def __post_init__(self) -> None:
        _kind("PartnerDecline", "kind", self.kind)
        _integer("PartnerDecline", "at_most", self.at_most, 1, MAX_KEYS)


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalRead:
    """Once the system is quiet, read every key with ``op`` (a read whose
    ``id`` field gets the key) from every replica; the answers are
    ``final.of(slot)``: key -> body. The keys are every id of kind ``keys``
    the example sent, or every string in the invokes' body ``fields``.
    ``not_found="absent"``: a 404 means the key does not exist (None in the
    slot); ``"unknown"``: a 404 leaves the key unread."""

    op: str
    slot: str
    keys: str | None = None
    fields: tuple[str, ...] = ()
    not_found: NotFound = "unknown"

    def __post_init__(self) -> None:
        _op_name("FinalRead", "op", self.op)
        _op_name("FinalRead", "slot", self.slot)
        if self.keys is not None:
            _kind("FinalRead", "keys", self.keys)
        object.__setattr__(
            self, "fields", _names("FinalRead", "fields", self.fields, check=_field_name)
        )
        if (self.keys is None) == (not self.fields):
            raise InvalidWorkload(
                f"FinalRead {self.slot!r}",
                "give 'keys' (a key kind) or 'fields' (body fields naming the keys), exactly "
                f"one (got keys={self.keys!r}, fields={self.fields!r})",
            )
        if self.not_found not in NOT_FOUND:
            raise _fail("FinalRead", "not_found", "'absent' or 'unknown'", self.not_found)


# --- drawing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawnOp:
    """An operation drawn earlier in the schedule: its name and the values
    drawn for it (key indices for `Key` fields, the ``id`` included)."""

    op: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawContext:
    """What a ``draw`` hook gets, for each operation the default strategy picked.

    ``op`` is that operation; ``ops_so_far`` every operation drawn before it
    in this schedule; ``draw`` Hypothesis's draw (``ctx.draw(st.integers(0,
    3))``); ``shape`` the row's size limits; ``counts`` how many keys of each
    kind this example has (after setup). The hook returns the values of
    ``op.drawn()`` -- key indices for `Key` fields -- or None for the default
    draw. If its ``id`` index was drawn before, the earlier values are used
    (a resend is the same request)."""

    op: Operation
    ops_so_far: tuple[DrawnOp, ...]
    draw: Callable[[SearchStrategy[Any]], Any]
    shape: Shape
    counts: Mapping[str, int]
    aim: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Key indices by kind this request aims at (the key whose deadline an until
    step just waited for, or the keys of the request it follows in its batch),
    if any: a hook drawing keys itself may take them."""

    def count(self, kind: str) -> int:
        return self.counts[kind]


DrawHook: TypeAlias = Callable[[DrawContext], Mapping[str, Any] | None]


# --- the workload -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """What a service's clients do: key kinds (and how many per example), the
    operations, setup, final reads, the partner endpoints the target calls
    (``effects``: ``psp``, ``warehouse``, ``notify``) and an optional ``draw``
    hook that biases the default strategy. ``invariants`` are the workload's
    own checkers by name (`invariants.library` factories, or any function of
    history, final state and ledgers): a design's rows may name them like the
    built-in ones (docs/invariants.md)."""

    name: str
    keys: Mapping[str, int]
    operations: tuple[Operation, ...]
    setup: tuple[SetupStep | PartnerDecline, ...] = ()
    final: tuple[FinalRead, ...] = ()
    effects: tuple[str, ...] = ()
    draw: DrawHook | None = None
    invariants: Mapping[str, Checker] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not is_name(self.name):
            raise _fail("Workload", "name", "1..64 characters [A-Za-z0-9_.-], not . or ..",
                        self.name)
        owner = f"Workload {self.name!r}"
        keys = _mapping(owner, "keys", self.keys, MAX_KEY_KINDS)
        if not keys:
            raise _fail(owner, "keys", "a non-empty mapping of key kind -> count", self.keys)
        for kind, count in keys.items():
            _kind(owner, "keys", kind)
            _integer(owner, f"keys[{kind!r}]", count, 1, MAX_KEYS)
        object.__setattr__(self, "keys", keys)
        operations = self._tuple(owner, "operations", self.operations, Operation, MAX_OPERATIONS)
        if not operations:
            raise _fail(owner, "operations", "a non-empty tuple of Operation", operations)
        self._distinct(owner, "operations", [o.name for o in operations])
        if not any(not o.read and o.weight > 0 for o in operations):
            raise _fail(
                owner, "operations", "a tuple with a write (not read) of weight > 0",
                [o.name for o in operations],
            )
        setup = self._tuple(owner, "setup", self.setup, SetupStep | PartnerDecline, MAX_SETUP)
        final = self._tuple(owner, "final", self.final, FinalRead, MAX_FINAL)
        for name, value in (("operations", operations), ("setup", setup), ("final", final)):
            object.__setattr__(self, name, value)
        effects = _names(owner, "effects", self.effects, check=_op_name, high=3)
        unknown_effects = [e for e in effects if e not in PARTNER_ENDPOINTS]
        if unknown_effects:
            raise _fail(owner, "effects", f"partner endpoints ({', '.join(PARTNER_ENDPOINTS)})",
                        unknown_effects)
        object.__setattr__(self, "effects", effects)
        if self.draw is not None and not callable(self.draw):
            raise _fail(owner, "draw", "None or a function (DrawContext) -> values", self.draw)
        invariants = _mapping(owner, "invariants", self.invariants, MAX_INVARIANTS)
        for name, checker in invariants.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise _fail(owner, "invariants", "names of [a-z][a-z0-9_]*", name)
            if not callable(checker):
                raise _fail(owner, f"invariants[{name!r}]",
                            "a checker: (history, final, ledgers) -> Verdict", checker)
        object.__setattr__(self, "invariants", invariants)
        by_name = {o.name: o for o in operations}
        for op in operations:
            self._known_kinds(owner, f"operations[{op.name!r}]", op.kinds())
        self._check_setup(owner, setup, by_name)
        self._check_final(owner, final, by_name)
        self._check_answered(owner, by_name)
        for op in operations:
            for name, source in op.fields.items():
                if isinstance(source, Key) and source.distinct_from and keys[source.kind] < 2:
                    raise _fail(
                        owner, f"keys[{source.kind!r}]",
                        f"at least 2: {op.name}.{name} must differ from {source.distinct_from}",
                        keys[source.kind],
                    )

    @staticmethod
    def _check_answered(owner: str, by_name: Mapping[str, Operation]) -> None:
        """A `FromAnswer` field names operations of the workload that have its
        ``match`` fields and whose ok answers may carry its ``field``."""
        for op in by_name.values():
            for name, source in op.fields.items():
                if not isinstance(source, FromAnswer):
                    continue
                where = f"operations[{op.name!r}].fields[{name!r}]"
                for other in source.ops:
                    if other not in by_name:
                        raise _fail(owner, f"{where}.ops",
                                    f"operations of the workload ({', '.join(by_name)})", other)
                    answered = by_name[other]
                    missing = [m for m in source.match if m not in answered.fields]
                    if missing:
                        raise _fail(owner, f"{where}.match",
                                    f"fields that {other!r} has too ({', '.join(answered.fields)})",
                                    missing)
                    if not any(a.may_carry(source.field) for a in answered.ok):
                        raise _fail(
                            owner, f"{where}.field",
                            f"a field an ok answer of {other!r} names in its echo, equals or "
                            "types (or one with a check)",
                            source.field,
                        )

    @staticmethod
    def _tuple(owner: str, name: str, value: object, kind: Any, high: int) -> tuple[Any, ...]:
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, tuple) or len(value) > high or not all(
            isinstance(v, kind) for v in value
        ):
            what = getattr(kind, "__name__", None) or " or ".join(
                k.__name__ for k in getattr(kind, "__args__", ())
            )
            raise _fail(owner, name, f"a tuple of at most {high} {what}", value)
        return value

    @staticmethod
    def _distinct(owner: str, name: str, names: list[str]) -> None:
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise _fail(owner, name, "distinct", repeated)

    @staticmethod
    def _one_step_per_kind(owner: str, steps: list[SetupStep]) -> None:
        """A kind's keys are made by one step, which draws how many there are."""
        for kind in dict.fromkeys(s.each for s in steps if s.each):
            ops = [s.op for s in steps if s.each == kind]
            if len(ops) > 1:
                raise InvalidWorkload(
                    owner,
                    f"setup steps {', '.join(repr(o) for o in ops)} both have each = {kind!r}: "
                    "one step makes the keys of a kind (and draws how many). To act on keys "
                    "an earlier step made, give the later step a key kind of its own for its "
                    f"id, and a Key field of kind {kind!r}: in setup it is drawn among the "
                    f"{kind!r} keys made by then (docs/workloads.md section 6)",
                )

    def _known_kinds(self, owner: str, where: str, kinds: Iterator[str] | tuple[str, ...]) -> None:
        for kind in kinds:
            if kind not in self.keys:
                raise _fail(owner, where, f"key kinds of 'keys' ({', '.join(self.keys)})", kind)

    def _check_setup(
        self,
        owner: str,
        setup: tuple[SetupStep | PartnerDecline, ...],
        by_name: Mapping[str, Operation],
    ) -> None:
        self._distinct(owner, "setup", [s.op for s in setup if isinstance(s, SetupStep)])
        self._distinct(
            owner, "setup (declines)", [s.kind for s in setup if isinstance(s, PartnerDecline)]
        )
        self._one_step_per_kind(owner, [s for s in setup if isinstance(s, SetupStep)])
        for step in setup:
            if isinstance(step, PartnerDecline):
                self._known_kinds(owner, "setup", (step.kind,))
                continue
            op = by_name.get(step.op)
            where = f"setup[{step.op!r}]"
            if op is None:
                raise _fail(owner, where, f"an operation ({', '.join(by_name)})", step.op)
            if op.read:
                raise _fail(owner, where, "a write (setup reads nothing)", step.op)
            if step.each is not None:
                self._known_kinds(owner, where, (step.each,))
            self._setup_fields(owner, where, step, op)
        self._setup_keys(owner, setup, by_name)

    def _setup_keys(
        self,
        owner: str,
        setup: tuple[SetupStep | PartnerDecline, ...],
        by_name: Mapping[str, Operation],
    ) -> None:
        """A setup request's `Key` fields besides its ``each`` key (a grant's
        journal and member) name keys that exist by then: of a kind no setup step
        makes, or one an earlier step made."""
        steps = [s for s in setup if isinstance(s, SetupStep)]
        for n, step in enumerate(steps):
            op = by_name[step.op]
            later = {s.each for s in steps[n:] if s.each is not None}
            for name, source in setup_sources(step, op).items():
                if not isinstance(source, Key):
                    continue
                where = f"setup[{step.op!r}].values[{name!r}]"
                self._known_kinds(owner, where, (source.kind,))
                if source.kind in later:
                    raise _fail(
                        owner, where,
                        f"a key of a kind set up before this step (the {source.kind!r} keys "
                        "are made by this step or a later one)",
                        source.kind,
                    )
                if source.distinct_from is not None:
                    raise _fail(owner, where, "a Key without distinct_from in setup", source)

    @staticmethod
    def _setup_fields(owner: str, where: str, step: SetupStep, op: Operation) -> None:
        key = setup_key_field(step, op)
        if step.each is not None and key is None:
            raise _fail(
                owner, f"{where}.each",
                f"the kind of one Key field of {op.name!r} (the id, or its only Key field)",
                step.each,
            )
        values = step.values or {}
        unknown = [n for n in values if n not in op.fields or n == key]
        if unknown:
            raise _fail(owner, f"{where}.values",
                        f"fields of {op.name!r} other than its key", unknown)
        for name, source in values.items():
            if isinstance(source, FromKey) and key is None:
                raise _fail(owner, f"{where}.values[{name!r}]",
                            "a value without FromKey when the step has no 'each'", source)
        if step.deadline is not None:
            drawn_ints = [n for n, s in setup_sources(step, op).items() if isinstance(s, Ints)]
            if step.each is None or step.deadline not in drawn_ints:
                raise _fail(
                    owner, f"{where}.deadline",
                    "a field of the step whose source is Ints (ms after the target receives "
                    f"the request), in a step with 'each' ({', '.join(drawn_ints) or 'none'})",
                    step.deadline,
                )

    def _check_final(
        self, owner: str, final: tuple[FinalRead, ...], by_name: Mapping[str, Operation]
    ) -> None:
        self._distinct(owner, "final (slots)", [r.slot for r in final])
        self._distinct(owner, "final (ops)", [r.op for r in final])
        for read in final:
            where = f"final[{read.slot!r}]"
            op = by_name.get(read.op)
            if op is None or not op.read or op.id is None:
                raise _fail(owner, f"{where}.op", "a read operation with an 'id' field", read.op)
            others = [n for n, s in op.fields.items() if n != op.id and not isinstance(s, Const)]
            if others:
                raise _fail(owner, f"{where}.op",
                            f"a read whose fields besides its id are Const ({read.op} has "
                            f"{', '.join(others)})", read.op)
            if read.keys is not None:
                self._known_kinds(owner, f"{where}.keys", (read.keys,))

    # -- what the harness asks ---------------------------------------------------------

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise InvalidWorkload(
            f"Workload {self.name!r}",
            f"no operation {name!r}; its operations: {', '.join(o.name for o in self.operations)}",
        )

    def drawable(self) -> tuple[Operation, ...]:
        """The operations a schedule may hold: weight > 0."""
        return tuple(o for o in self.operations if o.weight > 0)

    def setup_steps(self) -> tuple[SetupStep, ...]:
        return tuple(s for s in self.setup if isinstance(s, SetupStep))

    def declines(self) -> tuple[PartnerDecline, ...]:
        return tuple(s for s in self.setup if isinstance(s, PartnerDecline))

    def set_up_kinds(self) -> Mapping[str, SetupStep]:
        """Kinds whose keys a setup step makes (``each``): an example has 1 to
        ``keys[kind]`` of them, as many as the setup drew."""
        return {s.each: s for s in self.setup_steps() if s.each is not None}

    def deadlines(self) -> Mapping[str, SetupStep]:
        """Kinds whose keys each have a deadline (``SetupStep.deadline``), with their step."""
        return {
            s.each: s for s in self.setup_steps() if s.each is not None and s.deadline is not None
        }

    def min_keys(self, kind: str) -> int:
        """2 if some field must differ from another of this kind, else 1."""
        for op in self.operations:
            for source in op.fields.values():
                if isinstance(source, Key) and source.kind == kind and source.distinct_from:
                    return 2
        return 1


def setup_key_field(step: SetupStep, op: Operation) -> str | None:
    """The field of ``op`` that gets each key of ``step.each``: the op's id if it
    is of that kind, else its only `Key` field of that kind; None without ``each``."""
    if step.each is None:
        return None
    if op.id is not None:
        source = op.fields[op.id]
        if isinstance(source, Key) and source.kind == step.each:
            return op.id
    named = [n for n, s in op.fields.items() if isinstance(s, Key) and s.kind == step.each]
    return named[0] if len(named) == 1 else None


def setup_sources(step: SetupStep, op: Operation) -> dict[str, Source]:
    """The sources of a setup step's values: ``values`` over the op's own,
    for every field but the key."""
    key = setup_key_field(step, op)
    sources = {n: s for n, s in op.fields.items() if n != key}
    sources.update(step.values or {})
    return sources
