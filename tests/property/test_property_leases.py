"""Eligibility's ``free``: the per-key lease table (range minima, a sweep for
operations in flight) answers exactly what the rule's definition says, which
this file spells out the slow way, on random histories of grants, renews and
releases by a few holders on one lock."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history import History, Recorder
from invariants.library._index import Index
from invariants.library._leases import INF, Hold, leases_by_key

OPS = ("acquire", "renew", "release")


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Up to 40 operations, sent 0..300 ms apart, each answered ok, refused or
    lost after 1..400 ms; a resend repeats an earlier request's body."""
    now = [0.0]
    rec = Recorder(clock=lambda: now[0])
    events: list[tuple[float, int, int, dict[str, Any], str, str]] = []
    sent, bodies = 0.0, []
    for n in range(draw(st.integers(1, 40))):
        sent += draw(st.integers(0, 300)) / 1000
        if bodies and draw(st.booleans()):
            f, body = draw(st.sampled_from(bodies))
        else:
            f = draw(st.sampled_from(OPS))
            body = {"id": f"r{n}", "lock": "l", "holder": draw(st.sampled_from(["a", "b", "c"]))}
            if f != "release":
                body["ttl_ms"] = draw(st.sampled_from([100, 400, 1500]))
            bodies.append((f, body))
        answered = sent + draw(st.integers(1, 400)) / 1000
        outcome = draw(st.sampled_from(["ok", "ok", "fail", "info"]))
        events += [(sent, 0, n, body, f, outcome), (answered, 1, n, body, f, outcome)]
    invokes = {}
    for at, end, n, body, f, outcome in sorted(events, key=lambda e: e[:3]):
        now[0] = at
        if not end:
            invokes[n] = rec.invoke(n, f, {"node": 0, "attempt": 1, "body": body})
        elif outcome == "info":
            rec.complete(invokes[n], "info", {"status": None, "body": None}, error="timeout")
        else:
            rec.complete(invokes[n], outcome, {"status": 200, "body": body})
    return rec.history()


def _holds(history: History) -> list[Hold]:
    """The rule's operations, straight from its definition."""
    out, firsts = [], {}
    for op in history.operations():
        body = op.invoke.value["body"]
        first = firsts.setdefault((op.f, repr(sorted(body.items()))), op.invoke.time)
        if op.outcome == "fail":
            continue
        ttl = body.get("ttl_ms") if op.f != "release" else None
        floor = first + ttl / 1000 if ttl is not None else first
        out.append(Hold(op, body["holder"], first, floor, op.f != "release" and op.outcome == "ok"))
    return out


def cut(holds: list[Hold], holder: str, first: float, floor: float, before: float) -> float:
    """The earliest a lease of ``holder`` first sent at ``first`` can end: its own
    floor, or that of anything its holder sent before ``before`` that may have
    arrived after it."""
    end = floor
    for other in holds:
        if other.holder == holder and other.latest > first and other.op.invoke.time < before:
            end = min(end, other.floor)
    return end


EPSILON = 0.05


def held_slowly(
    holds: list[Hold], holder: str, sent: float, decided: float, ttl: float | None
) -> float:
    """How long another holder's lease surely lasted past ``decided`` (0: none).
    A lease answered by ``sent`` must last past ``decided``; one answered later
    may have come second, so the action's own lease of ``ttl`` must then also
    have lasted past that answer. One first sent after ``decided`` came second
    for sure: it is judged as an action of its own."""
    best = 0.0
    for lease in holds:
        if not lease.proves or lease.holder == holder or lease.first >= decided:
            continue
        left = cut(holds, lease.holder, lease.first, lease.floor, decided) - decided
        if left <= EPSILON:
            continue
        came = lease.op.end_time
        if came > sent:
            if ttl is None:
                continue
            if came >= cut(holds, holder, sent, sent + ttl, came) - EPSILON:
                continue
        best = max(best, left)
    return best


def near_slowly(holds: list[Hold], holder: str, sent: float, decided: float) -> bool:
    return any(
        h.proves
        and h.holder != holder
        and h.op.invoke.time < decided
        and sent < h.op.end_time + (h.floor - h.first)
        for h in holds
    )


@settings(max_examples=1000, deadline=None)
@given(
    histories(),
    st.integers(0, 4000),
    st.integers(0, 800),
    st.sampled_from(["a", "b", "z"]),
    st.sampled_from([None, 100, 400, 1500]),
)
def test_the_lease_table_answers_as_the_definition(
    history: History, sent_ms: int, took_ms: int, holder: str, ttl_ms: int | None
) -> None:
    table = leases_by_key(
        Index(history),
        grants=["acquire"],
        renews=["renew"],
        releases=["release"],
        key=("lock",),
        holder="holder",
        ttl="ttl_ms",
    ).get(("l",))
    holds = _holds(history)
    sent, decided = sent_ms / 1000, (sent_ms + took_ms) / 1000
    assert table is not None or not holds
    if table is None:
        return
    ttl = None if ttl_ms is None else ttl_ms / 1000
    held = table.held_by_other(holder, sent, decided, ttl_s=ttl, epsilon_s=EPSILON)
    slowly = held_slowly(holds, holder, sent, decided, ttl)
    assert (held.left_s if held is not None else 0.0) == slowly
    assert table.near_other(holder, sent, decided) == near_slowly(holds, holder, sent, decided)
    assert table.near_other(holder, sent, INF) == near_slowly(holds, holder, sent, INF)
