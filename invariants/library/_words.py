"""Wording: each type's messages are templates (``str.format`` fields) with
defaults that read well for any workload; a built-in passes its own to keep
its sentences. Templates are checked when the checker is made."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from string import Formatter
from typing import Any

from invariants._common import listing, plural

_FORMATTER = Formatter()


def names_in(template: str) -> set[str]:
    """The field names a template uses (``{key}`` -> ``key``; ``{a.b}`` -> ``a``)."""
    out = set()
    for _, name, _, _ in _FORMATTER.parse(template):
        if name:
            out.add(name.split(".")[0].split("[")[0])
    return out


def check_words(words: Any, allowed: Mapping[str, Iterable[str]]) -> None:
    """Every template of ``words`` only uses the fields its message offers."""
    for f in fields(words):
        value = getattr(words, f.name)
        if not isinstance(value, str) or f.name not in allowed:
            continue
        unknown = names_in(value) - set(allowed[f.name])
        if unknown:
            raise ValueError(
                f"words.{f.name} {value!r} uses unknown field(s) {sorted(unknown)}; "
                f"it may use {sorted(allowed[f.name])}"
            )


_PLURAL = re.compile(r"\{(noun|target_noun|unit)\}s\b")


def say(template: str, **values: Any) -> str:
    """``template`` with ``values``; ``{noun}s`` is the noun's plural (entries)."""
    template = _PLURAL.sub(
        lambda m: plural(str(values[m[1]])).replace("{", "{{").replace("}", "}}")
        if m[1] in values
        else m[0],
        template,
    )
    return template.format_map(values)


def key_text(key: Iterable[str]) -> str:
    """``p-1``; ``a and b`` for a pair."""
    return listing(list(key))


class Shown(dict[str, Any]):
    """Fields of an item for an ``item`` template: a missing field shows as ``?``."""

    def __missing__(self, name: str) -> str:
        return "?"


def show(template: str, item_id: str, body: Mapping[str, Any]) -> str:
    """An item through its template, e.g. ``{id} ({amount} cents)``."""
    return template.format_map(Shown({**body, "id": item_id}))
