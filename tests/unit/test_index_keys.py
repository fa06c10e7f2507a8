"""``Index.by_key`` groups operations by the key ``key_of`` makes of two or
more body fields (one field groups by its text, as ``Index.by`` does). A pair
of text fields (two users) takes a short cut; whatever the field values
(text, numbers, lists, missing), the groups must be the ones ``key_of``
gives, in invoke order, keys in order of first use."""

from __future__ import annotations

from typing import Any

import pytest

from harness.history import History, Operation, Recorder
from invariants.library import Index
from invariants.library._index import Key, key_from, key_of, members_key

_BODIES: list[dict[str, Any]] = [
    {"a": "u-2", "b": "u-1"},
    {"a": "u-1", "b": "u-2"},
    {"a": "u-1", "b": "u-1"},
    {"a": 3, "b": "u-1"},
    {"a": "3", "b": "u-1"},
    {"a": "u-1", "b": 3},
    {"a": ["u-2", "u-1"], "b": "u-0"},
    {"a": "u-0", "b": ("u-2", "u-1")},
    {"a": "u-9"},
    {"b": "u-9"},
    {"a": None, "b": "u-1"},
    {"a": "u-2", "b": "u-1"},
]


def _history() -> History:
    rec = Recorder()
    for body in _BODIES:
        invoke = rec.invoke(0, "swipe", {"body": body})
        rec.complete(invoke, "ok", {"status": 200, "body": {}})
    rec.invoke(0, "other", {"body": {"a": "u-1", "b": "u-2"}})
    return rec.history()


def _expected(history: History, fields: Key, unordered: bool) -> dict[Key, list[int]]:
    out: dict[Key, list[int]] = {}
    for op in history.operations():
        if op.f != "swipe":
            continue
        body = op.request["body"]
        if all(name in body for name in fields):
            key = key_of([body[name] for name in fields], unordered)
            out.setdefault(key, []).append(op.invoke.op_id)
    return out


def _ids(groups: dict[Key, list[Operation]]) -> dict[Key, list[int]]:
    return {key: [op.invoke.op_id for op in ops] for key, ops in groups.items()}


@pytest.mark.parametrize("unordered", [False, True])
@pytest.mark.parametrize("fields", [("a", "b"), ("b", "a"), ("a", "b", "a"), ()])
def test_by_key_groups_as_key_of_does(fields: Key, unordered: bool) -> None:
    history = _history()
    got = _ids(Index(history).by_key("swipe", fields, unordered))
    want = _expected(history, fields, unordered)
    assert got == want
    assert list(got) == list(want)  # keys in order of first use


def test_pair_keys_tell_directions_apart_unless_unordered() -> None:
    index = Index(_history())
    assert (
        index.by_key("swipe", ("a", "b"))[("u-2", "u-1")]
        != index.by_key("swipe", ("a", "b"))[("u-1", "u-2")]
    )
    assert ("u-2", "u-1") not in index.by_key("swipe", ("a", "b"), unordered=True)
    assert len(index.by_key("swipe", ("a", "b"), unordered=True)[("u-1", "u-2")]) == 3


@pytest.mark.parametrize(
    "members",
    [
        ("u-2", "u-1"),
        ("u-1", "u-2"),
        ("u-1", "u-1"),
        ("u-1", 3),
        ("u-1",),
        ("c", "a", "b"),
        "u-1",
        7,
    ],
)
def test_members_key_is_key_of_the_members_unordered(members: Any) -> None:
    """A list entry's members (a match's two users) as a key: the short cut
    for a pair of text members gives what ``key_of`` gives."""
    assert members_key(members) == key_of([members], unordered=True)


@pytest.mark.parametrize("unordered", [False, True])
@pytest.mark.parametrize("fields", [("a",), ("a", "b"), ("b", "a"), ("a", "b", "a")])
def test_key_from_is_key_of_the_fields(fields: Key, unordered: bool) -> None:
    """The short cuts for one and two text fields give what ``key_of`` gives;
    a missing field is a KeyError (the operation names no key)."""
    for body in _BODIES:
        if all(name in body for name in fields):
            want = key_of([body[name] for name in fields], unordered)
            assert key_from(body, fields, unordered) == want, body
        else:
            with pytest.raises(KeyError):
                key_from(body, fields, unordered)
