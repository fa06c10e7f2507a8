"""The built-in kv workload (docs/contracts.md section 8): a linearizable key-value store.

Declared with the public API like any user's workload. Its ``draw`` hook
gives every write a value no earlier write of the example sent (so a value
read names the write that wrote it), and makes most compare-and-sets expect
a value written to that key earlier: two of them from the same value in one
batch is the race a compare-and-set must settle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from harness.limits import MAX_CHOICES
from harness.workload.api import (
    Answer,
    DrawContext,
    FinalRead,
    Key,
    OneOf,
    Operation,
    Workload,
)

VALUES: tuple[str, ...] = tuple(f"v{i}" for i in range(MAX_CHOICES - 1))
"""The values writes send, in order: the n-th write of an example sends ``VALUES[n]``
(while there are fewer writes than values; past that a value may repeat)."""
WRITTEN_FIELD: Mapping[str, str] = {"put": "value", "cas": "new"}
"""The field that holds the value a write sets."""


def swapped(request: Mapping[str, Any], body: Any) -> bool:
    """A 200 to a cas answers the value it set: ``new``."""
    return bool(body.get("value") == request["new"])


def refused(request: Mapping[str, Any], body: Any) -> bool:
    """A 409 to a cas answers the value it compared against, which is not
    ``expected`` (a 409 naming ``expected`` contradicts itself: ``info``)."""
    return "value" in body and body["value"] != request["expected"]


def fresh_writes(ctx: DrawContext) -> Mapping[str, Any]:
    """A write on a drawn key (the one aimed at, if any) with the next unused
    value; a cas mostly expects a value written to that key earlier (shrinks
    towards the latest), else nil."""
    written: dict[int, list[str]] = {}
    count = 0
    for done in ctx.ops_so_far:
        field = WRITTEN_FIELD.get(done.op)
        if field is not None:
            count += 1
            written.setdefault(done.values["key"], []).append(done.values[field])
    key = ctx.aim["key"] if "key" in ctx.aim else ctx.draw(st.integers(0, ctx.count("key") - 1))
    value = VALUES[count] if count < len(VALUES) else ctx.draw(st.sampled_from(VALUES))
    if ctx.op.name == "put":
        return {"key": key, "value": value}
    earlier = written.get(key, [])
    expected = None
    if earlier and ctx.draw(st.sampled_from((True, True, True, False))):
        expected = ctx.draw(st.sampled_from(earlier[::-1]))
    return {"key": key, "expected": expected, "new": value}


_KEY = ("key",)

KV = Workload(
    name="kv",
    keys={"key": 2},
    operations=(
        Operation(
            name="put",
            method="PUT",
            path="/kv/{key}",
            body=("value",),
            fields={"key": Key("key"), "value": OneOf(VALUES)},
            ok=(Answer(200, echo=("key", "value")),),
        ),
        Operation(
            name="cas",
            method="POST",
            path="/kv/{key}/cas",
            body=("expected", "new"),
            fields={"key": Key("key"), "expected": OneOf((None, *VALUES)), "new": OneOf(VALUES)},
            weight=2,
            ok=(Answer(200, echo=_KEY, types={"value": "str"}, check=swapped),),
            fail=(Answer(409, echo=_KEY, types={"value": "str|null"}, check=refused),),
        ),
        Operation(
            name="get",
            method="GET",
            path="/kv/{key}",
            fields={"key": Key("key")},
            id="key",
            read=True,
            ok=(Answer(200, echo=_KEY, types={"value": "str"}), Answer(404)),
        ),
    ),
    final=(FinalRead(op="get", slot="kv", keys="key", not_found="absent"),),
    draw=fresh_writes,
)
