"""The ``words`` each invariant type takes, as a Markdown table: which fields
are nouns, which are sentence templates, and the placeholders each template
may use (what ``check_words`` enforces). Built from the records and the
factories' own field lists, so docs/invariants.md section 11, which holds
this table, cannot drift from them: a unit test compares the two."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, get_args, get_type_hints

from invariants.library import access, accounting, eligibility, ordering, propagation, uniqueness

# TOML ``type`` -> (its words record, template field -> placeholders it may use)
WORDS: Mapping[str, tuple[type[Any], Mapping[str, Iterable[str]]]] = {
    "eligibility": (eligibility.EligibleWords, eligibility._FIELDS),
    "ordering": (ordering.OrderWords, ordering._FIELDS),
    "accounting": (accounting.AccountWords, accounting._FIELDS),
    "uniqueness": (uniqueness.UniqueWords, uniqueness._UNIQUE_FIELDS),
    "idempotency": (uniqueness.IdempotentWords, uniqueness._IDEMPOTENT_FIELDS),
    "propagation": (propagation.FlowWords, propagation._FIELDS),
    "access_control": (access.AccessWords, access._FIELDS),
}
# Templates of one item, not of a message: ``{id}`` and any field of its body.
_ITEM_TEMPLATES = ("item", "carried")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _what(name: str, hint: Any, allowed: Mapping[str, Iterable[str]]) -> str:
    if name in allowed:
        return "template: " + " ".join(f"`{{{p}}}`" for p in allowed[name])
    if name in _ITEM_TEMPLATES:
        return "template: `{id}` and the item's body fields"
    choices = get_args(hint)
    if choices and all(isinstance(c, str) for c in choices):
        return "one of " + ", ".join(f"`{c}`" for c in choices)
    return "noun"


def words_table() -> str:
    """One row per field of each type's ``words``: what it is and its default."""
    lines = ["| type | field | what | default |", "|---|---|---|---|"]
    for kind, (record, allowed) in WORDS.items():
        hints = get_type_hints(record)
        for f in fields(record):
            default = f"`{_cell(str(f.default))}`" if f.default else "(derived)"
            what = _what(f.name, hints[f.name], allowed)
            lines.append(f"| `{kind}` | `{f.name}` | {what} | {default} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(words_table())
