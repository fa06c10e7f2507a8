"""The common forms of the six invariant types, declared in TOML.

``[[invariants]]`` tables, each with a ``name`` and a ``type``::

    [[invariants]]
    name = "balance"
    type = "accounting"
    final = { slot = "accounts", read = "read_account", key = "account_id" }
    field = "balance"
    initial = { op = "open_account", key = "account_id", value = "balance" }
    flows = [
      { op = "transfer", id = "transfer_id", scope = "from", amount = "amount", sign = -1 },
      { op = "transfer", id = "transfer_id", scope = "to", amount = "amount", sign = 1 },
    ]

``parse_invariants(tables, where)`` returns ``{name: checker}``;
``load_invariants(path)`` reads a file's ``invariants`` array. Every error
names the file, the table and the key (``wallet.toml: invariants[1] (name
'balance'): 'flows' must be ...``). See docs/invariants.md for every key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

from harness.limits import is_finite_number
from invariants.library._model import (
    Accepted,
    Answered,
    Effects,
    Final,
    Listed,
    Mutual,
    Refused,
    Requests,
    Scope,
    Source,
)
from invariants.library.access import AccessWords, Owners, Ownership, make_access_control
from invariants.library.accounting import AccountWords, Flow, Initial, make_accounting
from invariants.library.eligibility import (
    Before,
    Bound,
    Condition,
    EligibleWords,
    Exceeds,
    Free,
    Newest,
    NoPrior,
    Past,
    Prior,
    make_eligibility,
)
from invariants.library.ordering import Order, OrderWords, Reader, make_ordering
from invariants.library.propagation import FlowWords, make_propagation
from invariants.library.uniqueness import (
    IdempotentWords,
    UniqueWords,
    make_idempotency,
    make_uniqueness,
)
from invariants.verdict import Checker

W = TypeVar("W")
_MISSING = object()
TYPES = (
    "eligibility",
    "ordering",
    "accounting",
    "uniqueness",
    "idempotency",
    "propagation",
    "access_control",
)


class InvalidInvariant(ValueError):
    """An ``[[invariants]]`` table that does not declare a checker; names file, table and key."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _At:
    """A place in a file (``wallet.toml: invariants[1] (name 'balance')``) and its table."""

    def __init__(self, where: str, table: Mapping[str, Any]) -> None:
        self.where = where
        self.table = table

    def fail(self, key: str, what: str, got: object = _MISSING, hint: str = "") -> NoReturn:
        seen = "nothing (the key is missing)" if got is _MISSING else _show(got)
        raise InvalidInvariant(f"{self.where}: {key!r} must be {what} (got {seen}){hint}")

    def only(self, accepted: Sequence[str]) -> None:
        unknown = sorted(set(self.table) - set(accepted))
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise InvalidInvariant(
                f"{self.where}: unknown key(s) {names}; accepted keys: {', '.join(accepted)}"
            )

    def inner(self, key: str, table: Mapping[str, Any]) -> _At:
        return _At(f"{self.where}: {key}", table)

    def has(self, key: str) -> bool:
        return key in self.table

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, _MISSING)
        if value is _MISSING and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "a non-empty string", value)
        return value.strip()

    def words_list(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list of non-empty strings (a single string is a list of one)."""
        value = self.table.get(key, _MISSING)
        if value is _MISSING and default is not None:
            return default
        if isinstance(value, str) and value.strip():
            return (value.strip(),)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            self.fail(key, "a non-empty list of non-empty strings", value)
        return tuple(v.strip() for v in value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, "true or false", value)
        return value

    def number(self, key: str, *, default: float | None = None, positive: bool = False) -> float:
        value = self.table.get(key, _MISSING)
        if value is _MISSING and default is not None:
            return default
        if (
            not is_finite_number(value)
            or (positive and value <= 0)
        ):
            self.fail(key, "a positive number" if positive else "a number", value)
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.table.get(key, _MISSING)
        if value is _MISSING and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "an integer", value)
        return value

    def choice(self, key: str, options: Sequence[str], default: str = "") -> str:
        value = self.table.get(key, _MISSING)
        if value is _MISSING and default:
            return default
        if value not in options:
            self.fail(key, f"one of {', '.join(options)}", value)
        return cast(str, value)

    def sub(self, key: str, *, required: bool = True) -> _At | None:
        value = self.table.get(key, _MISSING)
        if value is _MISSING and not required:
            return None
        if not isinstance(value, dict):
            self.fail(key, "a table", value)
        return self.inner(key, value)

    def subs(self, key: str) -> list[_At]:
        """A table or a non-empty array of tables."""
        value = self.table.get(key, _MISSING)
        if isinstance(value, dict):
            return [self.inner(key, value)]
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            self.fail(key, "a table or a non-empty array of tables", value)
        return [self.inner(f"{key}[{n}]", v) for n, v in enumerate(value)]

    def values(self, key: str) -> dict[str, Any]:
        """A table of field -> a string, number or boolean (``where = { direction = "right" }``)."""
        value = self.table.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float | bool) for v in value.values()
        ):
            self.fail(key, "a table of fields to strings, numbers or booleans", value)
        return dict(value)

    def mapping(self, key: str) -> dict[str, str]:
        """A table of field -> field (``carry = { sku = "sku" }``)."""
        value = self.table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            self.fail(key, "a table of target fields to source fields", value)
        return dict(value)


# --- the shared vocabulary ------------------------------------------------------------------

_FINAL_KEYS = ("slot", "read", "key")
_REQUEST_KEYS = ("op", "id", "final", "status", "accepted", "waiting")


def _final(at: _At, key: str = "final", *, required: bool = True) -> Final | None:
    """``final = "orders"``, or ``{ slot = "orders", read = "read_order", key = "order_id" }``."""
    value = at.table.get(key, _MISSING)
    if value is _MISSING and not required:
        return None
    if isinstance(value, str) and value.strip():
        return Final(slot=value.strip())
    if not isinstance(value, dict):
        at.fail(key, "a slot name or a table { slot, read, key }", value)
    inner = at.inner(key, value)
    inner.only(_FINAL_KEYS)
    if inner.has("read") != inner.has("key"):
        inner.fail("key" if inner.has("read") else "read", "given with the other ('read', 'key')")
    return Final(
        slot=inner.text("slot"),
        read=inner.text("read") if inner.has("read") else "",
        key=inner.text("key") if inner.has("key") else "",
    )


def _requests(at: _At) -> Requests:
    final = _final(at, required=False)
    return Requests(
        op=at.text("op"),
        id=at.text("id"),
        final=final,
        status=at.text("status", default="status"),
        accepted=at.words_list("accepted", default=("accepted",)),
        waiting=at.words_list("waiting", default=()) if at.has("waiting") else (),
    )


def _scope(at: _At, *, required: bool = False) -> Scope | None:
    inner = at.sub("scope", required=required)
    if inner is None:
        return None
    inner.only((*_REQUEST_KEYS, "key", "unordered"))
    return Scope(
        requests=_requests(inner),
        key=inner.words_list("key", default=()),
        unordered=inner.flag("unordered", False),
    )


_FROM = ("accepted", "answered", "listed", "effects", "mutual")


def _source(at: _At, *, refused: bool = False) -> Source:
    """A source table; ``refused``: also ``from = "refused"`` (an eligibility's actions)."""
    if at.table.get("from") == "refused" and not refused:
        at.fail("from", f"one of {', '.join(_FROM)} ('refused' only in an eligibility's actions)")
    kind = at.choice("from", (*_FROM, "refused") if refused else _FROM)
    if kind == "refused":
        at.only(("from", "op", "id", "key", "unordered", "when"))
        return Refused(
            op=at.text("op"),
            id=at.text("id"),
            key=at.words_list("key", default=()),
            unordered=at.flag("unordered", False),
            when=at.values("when"),
        )
    if kind == "accepted":
        at.only(("from", *_REQUEST_KEYS, "key", "unordered", "record_id"))
        return Accepted(
            requests=_requests(at),
            key=at.words_list("key", default=()),
            unordered=at.flag("unordered", False),
            id=at.text("record_id") if at.has("record_id") else "",
        )
    if kind == "answered":
        at.only(("from", "op", "id", "key", "unordered", "when"))
        return Answered(
            op=at.text("op"),
            id=at.text("id"),
            key=at.words_list("key"),
            unordered=at.flag("unordered", False),
            when=at.values("when"),
        )
    if kind == "listed":
        at.only(("from", "final", "id", "key", "entries"))
        final = _final(at)
        assert final is not None
        return Listed(
            final=final,
            id=at.text("id"),
            key=at.text("key"),
            entries=at.text("entries") if at.has("entries") else "",
        )
    if kind == "effects":
        at.only(("from", "kind", "key", "unordered", "id"))
        return Effects(
            kind=at.text("kind"),
            key=at.words_list("key"),
            unordered=at.flag("unordered", False),
            id=at.text("id") if at.has("id") else "",
        )
    at.only(("from", "op", "key", "where"))
    pair = at.words_list("key")
    if len(pair) != 2:
        at.fail("key", "two body fields (the two directions of a pair)", list(pair))
    return Mutual(op=at.text("op"), key=(pair[0], pair[1]), where=at.values("where"))


def _sources(at: _At, key: str, *, refused: bool = False) -> tuple[Source, ...]:
    return tuple(_source(inner, refused=refused) for inner in at.subs(key))


def _words(at: _At, cls: Callable[..., W]) -> W:
    """``words = { noun = "bid", ... }``: the type's nouns and message templates."""
    inner = at.sub("words", required=False)
    if inner is None:
        return cls()
    names = [f.name for f in fields(cast(Any, cls))]
    inner.only(names)
    values: dict[str, Any] = {}
    for name in inner.table:
        if name == "first":
            values[name] = inner.choice(name, ("id", "key"))
        elif isinstance(inner.table[name], str) and inner.table[name]:
            values[name] = inner.table[name]  # verbatim: a template's spaces matter
        else:
            inner.fail(name, "a non-empty string", inner.table[name])
    try:
        return cls(**values)
    except ValueError as exc:
        raise InvalidInvariant(f"{inner.where}: {exc}") from exc


# --- one table per type -----------------------------------------------------------------------


def _uniqueness(name: str, at: _At) -> Checker:
    at.only(("name", "type", "items", "scope", "one_key_per_id", "at_most", "words"))
    at_most = at.integer("at_most", 1)
    if at_most < 1:
        at.fail("at_most", "an integer of at least 1", at_most)
    return make_uniqueness(
        name,
        items=_sources(at, "items"),
        scope=_scope(at),
        one_key_per_id=at.flag("one_key_per_id", False),
        at_most=at_most,
        words=_words(at, UniqueWords),
    )


def _idempotency(name: str, at: _At) -> Checker:
    at.only(("name", "type", "requests", "agree", "refusals", "words"))
    inner = at.sub("requests")
    assert inner is not None
    inner.only(_REQUEST_KEYS)
    requests = _requests(inner)
    if requests.final is None:
        inner.fail("final", "the final read the answers must agree with")
    words = _words(at, IdempotentWords)
    said = at.table.get("words")
    if not isinstance(said, dict) or "ok" not in said:  # answered ok = the accepted status
        words = IdempotentWords(**{**_fields(words), "ok": requests.accepted[0]})
    return make_idempotency(
        name,
        requests=requests,
        agree=at.words_list("agree", default=()) if at.has("agree") else (),
        refusals=at.flag("refusals", True),
        words=words,
    )


def _fields(words: object) -> dict[str, Any]:
    return {f.name: getattr(words, f.name) for f in fields(cast(Any, words))}


def _accounting(name: str, at: _At) -> Checker:
    at.only(
        ("name", "type", "flows", "final", "field", "initial", "equal", "floor", "least", "words")
    )
    flows = []
    for inner in at.subs("flows"):
        inner.only((*_REQUEST_KEYS, "scope", "amount", "sign", "noun"))
        sign = inner.integer("sign", default=-1)
        if sign not in (-1, 1):
            inner.fail("sign", "-1 (takes from the aggregate) or 1 (adds to it)", sign)
        flows.append(
            Flow(
                requests=_requests(inner),
                scope=inner.text("scope"),
                amount=inner.text("amount") if inner.has("amount") else "",
                sign=sign,
                noun=inner.text("noun") if inner.has("noun") else "",
            )
        )
    final = _final(at)
    assert final is not None
    initial: Initial | int = 0
    value = at.table.get("initial", 0)
    if isinstance(value, dict):
        inner = at.inner("initial", value)
        inner.only(("op", "key", "value"))
        initial = Initial(op=inner.text("op"), key=inner.text("key"), value=inner.text("value"))
    elif isinstance(value, int) and not isinstance(value, bool):
        initial = value
    else:
        at.fail("initial", "an integer or a table { op, key, value }", value)
    equal = at.flag("equal", True)
    floor = at.integer("floor") if at.has("floor") else None
    if not equal and floor is None:
        at.fail("floor", "an integer when 'equal' is false (else nothing is checked)")
    return make_accounting(
        name,
        flows=flows,
        final=final,
        field=at.text("field"),
        initial=initial,
        equal=equal,
        floor=floor,
        least=at.integer("least") if at.has("least") else None,
        words=_words(at, AccountWords),
    )


_CONDITIONS = ("prior", "no_prior", "exceeds", "bound", "before", "past", "newest", "free")


def _condition(at: _At) -> Condition:
    kinds = [k for k in _CONDITIONS if at.has(k)]
    if len(kinds) != 1:
        raise InvalidInvariant(
            f"{at.where}: a condition names exactly one of "
            f"{', '.join(repr(k) for k in _CONDITIONS)} (got {', '.join(kinds) or 'none'})"
        )
    kind = kinds[0]
    if kind == "prior":
        words = ("never", "late", "what", "nothing")
        at.only(("prior", "key", "where", "each_way", "acknowledged", *words))
        extra = {k: at.text(k) for k in words if at.has(k)}
        return Prior(
            op=at.text("prior"),
            key=at.words_list("key"),
            where=at.values("where"),
            each_way=at.flag("each_way", False),
            acknowledged=at.flag("acknowledged", False),
            **extra,
        )
    if kind == "no_prior":
        at.only(("no_prior", "key", "where", "reason"))
        extra = {"reason": at.text("reason")} if at.has("reason") else {}
        return NoPrior(
            op=at.text("no_prior"), key=at.words_list("key"), where=at.values("where"), **extra
        )
    if kind == "exceeds":
        at.only(("exceeds", "strict", "reason"))
        extra = {"reason": at.text("reason")} if at.has("reason") else {}
        return Exceeds(field=at.text("exceeds"), strict=at.flag("strict", True), **extra)
    if kind == "newest":
        at.only(("newest", "key", "field", "reason"))
        extra = {"reason": at.text("reason")} if at.has("reason") else {}
        return Newest(
            op=at.words_list("newest"), key=at.words_list("key"), field=at.text("field"), **extra
        )
    if kind == "free":
        at.only(("free", "key", "holder", "after", "renew", "release", "epsilon_ms", "reason"))
        extra = {"reason": at.text("reason")} if at.has("reason") else {}
        return Free(
            op=at.words_list("free"),
            key=at.words_list("key"),
            holder=at.text("holder"),
            after=at.text("after"),
            renew=at.words_list("renew", ()),
            release=at.words_list("release", ()),
            epsilon_ms=_epsilon(at),
            **extra,
        )
    if kind in ("before", "past"):
        at.only((kind, "key", "after", "epsilon_ms", "reason"))
        extra = {"reason": at.text("reason")} if at.has("reason") else {}
        return (Before if kind == "before" else Past)(
            op=at.text(kind),
            key=at.words_list("key"),
            after=at.text("after"),
            epsilon_ms=_epsilon(at),
            **extra,
        )
    at.only(("bound", "low", "high", "reason"))
    if not at.has("low") and not at.has("high"):
        at.fail("low", "a number (or 'high'): a bound needs one")
    return Bound(
        field=at.text("bound"),
        low=at.number("low") if at.has("low") else None,
        high=at.number("high") if at.has("high") else None,
        **({"reason": at.text("reason")} if at.has("reason") else {}),
    )


def _epsilon(at: _At) -> float:
    epsilon_ms = at.number("epsilon_ms", default=50.0)
    if epsilon_ms < 0:
        at.fail("epsilon_ms", "a number of ms, 0 or more", epsilon_ms)
    return epsilon_ms


def _eligibility(name: str, at: _At) -> Checker:
    at.only(("name", "type", "actions", "require", "scope", "words"))
    return make_eligibility(
        name,
        actions=_sources(at, "actions", refused=True),
        require=[_condition(inner) for inner in at.subs("require")],
        scope=_scope(at),
        words=_words(at, EligibleWords),
    )


def _ordering(name: str, at: _At) -> Checker:
    at.only(("name", "type", "items", "field", "order", "readers", "scope", "words"))
    items = _sources(at, "items")
    if not items or not all(isinstance(i, Accepted | Answered) for i in items):
        at.fail(
            "items",
            "a table with from = 'accepted' or 'answered', or a list of them",
            at.table.get("items"),
        )
    value = at.table.get("order", "increasing")
    order: Order
    if isinstance(value, dict):
        inner = at.inner("order", value)
        transitions: dict[str, Sequence[str]] = {}
        for state in value:
            transitions[state] = inner.words_list(state)
        order = transitions
    else:
        order = cast(Order, at.choice("order", ("increasing", "non_decreasing"), "increasing"))
    readers = []
    if at.has("readers"):
        for inner in at.subs("readers"):
            inner.only(("op", "key", "value", "list", "item"))
            readers.append(
                Reader(
                    op=inner.text("op"),
                    key=inner.text("key"),
                    value=inner.text("value"),
                    list=inner.text("list") if inner.has("list") else "",
                    item=inner.text("item", default="id"),
                )
            )
    return make_ordering(
        name,
        items=[i for i in items if isinstance(i, Accepted | Answered)],
        field=at.text("field"),
        order=order,
        readers=readers,
        scope=_scope(at),
        words=_words(at, OrderWords),
    )


def _propagation(name: str, at: _At) -> Checker:
    keys = ("source", "target", "link", "count", "carry", "orphans", "everywhere", "within")
    at.only(("name", "type", *keys, "scope", "words"))
    target = _sources(at, "target")
    if len(target) != 1:
        at.fail("target", "one table", at.table.get("target"))
    return make_propagation(
        name,
        source=_sources(at, "source"),
        target=target[0],
        link=cast(Any, at.choice("link", ("key", "id"), "key")),
        count=cast(
            Any, at.choice("count", ("exactly_once", "at_least_once", "any"), "exactly_once")
        ),
        carry=at.mapping("carry"),
        orphans=at.flag("orphans", True),
        everywhere=at.flag("everywhere", False),
        within=at.number("within", positive=True) if at.has("within") else None,
        scope=_scope(at),
        words=_words(at, FlowWords),
    )


def _access_control(name: str, at: _At) -> Checker:
    at.only(("name", "type", "requests", "actor", "object", "owners", "effects", "words"))
    inner = at.sub("requests")
    assert inner is not None
    inner.only(_REQUEST_KEYS)
    value = at.table.get("owners", _MISSING)
    owners: Ownership
    if value == "self":
        owners = "self"
    elif isinstance(value, dict) and {"op", "object", "actor", "revoke"} >= set(value) and (
        "op" in value
    ):
        table = at.inner("owners", value)
        owners = Owners(
            op=table.text("op"),
            object=table.text("object"),
            actor=table.text("actor"),
            revoke=table.text("revoke", default=""),
        )
    elif isinstance(value, dict):
        table = at.inner("owners", value)
        owners = {k: table.words_list(k) for k in value}
    else:
        at.fail(
            "owners",
            '"self", a table { op, object, actor, revoke } or a table of object -> owners',
            value,
        )
    effects = []
    if at.has("effects"):
        for table in at.subs("effects"):
            table.only(("kind", "key"))
            effects.append(Effects(kind=table.text("kind"), key=table.words_list("key")))
    return make_access_control(
        name,
        requests=_requests(inner),
        actor=at.text("actor"),
        object=at.text("object"),
        owners=owners,
        effects=effects,
        words=_words(at, AccessWords),
    )


_MAKERS: Mapping[str, Callable[[str, _At], Checker]] = {
    "eligibility": _eligibility,
    "ordering": _ordering,
    "accounting": _accounting,
    "uniqueness": _uniqueness,
    "idempotency": _idempotency,
    "propagation": _propagation,
    "access_control": _access_control,
}


def parse_invariants(tables: object, where: str = "<invariants>") -> dict[str, Checker]:
    """The checkers an ``invariants`` array of tables declares, by name.

    ``where`` names the file for errors. Names are distinct identifiers of
    ``[a-z0-9_]``; every key is checked and an unknown one is an error.
    """
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InvalidInvariant(f"{where}: 'invariants' must be an array of tables ([[invariants]])")
    out: dict[str, Checker] = {}
    for n, table in enumerate(tables):
        place = f"{where}: invariants[{n}]"
        if isinstance(table.get("name"), str):
            place += f" (name {table['name']!r})"
        at = _At(place, table)
        name = at.text("name")
        if not name.replace("_", "").isalnum() or not name.islower() or not name.isascii():
            at.fail("name", "lowercase letters, digits and '_'", name)
        if name in out:
            at.fail("name", "unique", name, f"; {name!r} is declared twice")
        kind = at.choice("type", TYPES)
        try:
            out[name] = _MAKERS[kind](name, at)
        except InvalidInvariant:
            raise
        except ValueError as exc:  # what the factory itself refuses (a template, a combination)
            raise InvalidInvariant(f"{place}: {exc}") from exc
    return out


def load_invariants(path: Path | str) -> dict[str, Checker]:
    """The checkers a TOML file's ``[[invariants]]`` tables declare, by name."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInvariant(f"{path}: cannot be read as TOML ({exc})") from exc
    return parse_invariants(data.get("invariants", []), str(path))
