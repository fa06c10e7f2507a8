"""``consistent_reads``: what the target's reads say describes one state.

Every row checks it, whatever the workload. The contract promises nothing
about how fresh a read is, so by default (``reads = "eventual"``) reads are
judged only against what cannot be stale:

- a read echoes the request it is about (an order's sku and qty; a user's
  match list names matches of that user) and shows nothing no write sent so
  far could have produced (a phantom order, payment or match; stock lower
  than every order sent could have taken);
- the settled state does not contradict an earlier read (an order read as
  accepted is accepted, stock never goes up, a captured payment keeps its
  charge, a listed match stays listed);
- after settling, every replica gives the same answer for every key, and
  both users of a match list it;
- successive settled snapshots of one replica never go backwards.

With ``reads = "strong"`` a design promises more, and every read during the
main phase must also reflect every write acknowledged before it was sent,
and never be older than a read that completed before it was sent.

A finding that time may fix (replicas not yet agreeing, a write not yet
visible) is pending; a contradiction is a violation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from harness.history import Event, FinalState, History, Ledgers, Operation
from invariants._common import Findings, answer, body, listing
from invariants._common import snapshot as snapshot_of
from invariants.library import Index, index_of, standalone
from invariants.library._index import members_key
from invariants.verdict import Checker, Verdict

ReadConsistency: TypeAlias = Literal["eventual", "strong"]
ABSENT = "absent"
# read f -> (key kind, request field that names the key)
_READS: Mapping[str, tuple[str, str]] = {
    "read_order": ("order", "order_id"),
    "read_stock": ("stock", "sku"),
    "read_payment": ("payment", "payment_id"),
    "read_matches": ("matches", "user"),
}
Obs: TypeAlias = Any  # a normalised observation of one key (see _observed)
Problem: TypeAlias = tuple[str, bool]  # (what is wrong, pending?)


@dataclass(slots=True)
class _Read:
    """One ok read: which key, which replica, when (op ``id`` sent at ``start``,
    answered at ``end``), in which phase and snapshot. Plain fields, not
    properties: the checker reads them many times per read (never changed)."""

    kind: str
    key: str
    node: int
    snapshot: int | None
    obs: Obs
    id: int
    index: int  # the invoke's place in the history
    start: float
    end: float


def _observed(kind: str, response: Mapping[str, Any]) -> Obs | None:
    """An ok read's answer (its response: status and body) as a comparable
    value; None when it tells nothing."""
    status = response.get("status")
    said = response.get("body")
    if said is None:
        said = {}
    if kind == "stock":
        return int(said["available"]) if status == 200 else None
    if kind == "matches":
        if status != 200:
            return None
        return frozenset((str(m["match_id"]), _users(m["users"])) for m in said["matches"])
    if status == 404:
        return ABSENT
    if kind == "order":
        return (str(said["status"]), str(said["sku"]), int(said["qty"]))
    return (str(said["status"]), said.get("charge_id"))


def _users(users: Any) -> tuple[str, ...]:
    """The users of a listed match, sorted, as text. A frozen list is a tuple,
    whose members ``members_key`` sorts as text just so (a pair of text users
    without a sort: once per listed match)."""
    if type(users) is tuple:
        return members_key(users)
    return tuple(sorted(str(u) for u in users))


def _show(kind: str, obs: Obs) -> str:
    if obs == ABSENT:
        return "missing (404)"
    if kind == "stock":
        return f"{obs} available"
    if kind == "matches":
        return "matches " + (listing(sorted(m for m, _ in obs)) or "none")
    if kind == "order":
        return f"{obs[0]} ({obs[2]} x {obs[1]})"
    return obs[0] if obs[1] is None else f"{obs[0]} as {obs[1]}"


def _regress(kind: str, before: Obs, after: Obs) -> Problem | None:
    """Why ``after`` cannot follow ``before`` in one history of the key, or None.

    Forward progress is fine (missing -> accepted, pending -> captured, stock
    down, a new match); a definite state changing, or stock going up, is a
    contradiction; something visible that is no longer visible is pending.
    """
    if kind == "stock":
        return ("stock went up without a PUT", False) if after > before else None
    if kind == "matches":
        gone = sorted(m for m, _ in before - after)
        return (f"{listing(gone)} no longer listed", True) if gone else None
    if before in (ABSENT, after):
        return None
    if after == ABSENT or (before[0] in _DEFINITE[kind] and after[0] == "pending"):
        return ("no longer visible", True)
    if before[0] in _DEFINITE[kind]:
        return ("a definite outcome changed", False)
    return None


_DEFINITE = {"order": ("accepted", "rejected"), "payment": ("captured", "declined")}


def _strongest(kind: str, seen: Sequence[_Read]) -> _Read | None:
    """Among reads of one key, the one every later read must not go back from."""
    if not seen:
        return None
    if kind == "stock":
        return min(seen, key=lambda r: r.obs)
    if kind == "matches":
        return max(seen, key=lambda r: len(r.obs))
    definite = [r for r in seen if r.obs != ABSENT and r.obs[0] in _DEFINITE[kind]]
    present = [r for r in seen if r.obs != ABSENT]
    return (definite or present or list(seen))[0]


@dataclass(slots=True)
class _Writes:
    """The workload's writes by key, for phantom and freshness checks."""

    orders: dict[str, list[Operation]]
    payments: dict[str, list[Operation]]
    # (swiper, swipee) -> when the first right swipe not refused was sent
    rights: dict[tuple[str, str], float]
    initial: dict[str, int]
    # sku -> orders as (first invoke time, qty, surely refused, order_id)
    by_sku: dict[str, list[tuple[float, int, bool, str]]]
    # user -> matches answered to swipes as (answer time, match_id)
    matched: dict[str, list[tuple[float, str]]]


def _writes(index: Index) -> _Writes:
    out = _Writes(
        _grouped(index, "order", "order_id"), _grouped(index, "pay", "payment_id"), {}, {}, {}, {}
    )
    rights, matched = out.rights, out.matched
    for op in index.of("swipe"):  # a million of them: attributes read once each
        invoke, completion = op.invoke, op.completion
        req = invoke.value["body"]
        pair = (str(req["swiper"]), str(req["swipee"]))
        outcome = completion.type if completion is not None else "info"
        if outcome != "fail" and req.get("direction") == "right":
            sent = rights.get(pair)
            if sent is None or invoke.time < sent:
                rights[pair] = invoke.time
        if outcome != "ok":
            continue
        said = answer(op)
        if said.get("matched"):
            for user in pair:
                matched.setdefault(user, []).append((op.end_time, str(said.get("match_id"))))
    for op in index.of("set_stock"):
        if op.outcome == "ok":
            req = body(op)
            out.initial[str(req["sku"])] = int(req["available"])
    for order_id, ops in out.orders.items():
        first = body(ops[0])
        refused = _refused(ops)
        out.by_sku.setdefault(str(first["sku"]), []).append(
            (ops[0].invoke.time, int(first["qty"]), refused, order_id)
        )
    for entries in out.by_sku.values():
        entries.sort()
    return out


def _refused(ops: Sequence[Operation]) -> bool:
    """Every attempt was answered ``fail`` (a loop, once per order: no generator)."""
    for op in ops:
        done = op.completion
        if done is None or done.type != "fail":
            return False
    return True


def _grouped(index: Index, f: str, field: str) -> dict[str, list[Operation]]:
    """Every op ``f`` by the text of its body ``field``, in invoke order.

    The library's grouping (``Index.by``) is the same when it judges every
    op ``f`` and every op names the field: then it is shared, not rebuilt
    (read-only). Else grouped here, where a missing field is an error."""
    ops = index.of(f)
    if index.judged(f) is ops:
        groups = index.by(f, field)
        if sum(len(group) for group in groups.values()) == len(ops):
            return groups
    out: dict[str, list[Operation]] = {}
    for op in ops:
        out.setdefault(str(op.invoke.value["body"][field]), []).append(op)
    return out


@dataclass(slots=True)
class _Seen:
    """The contract's reads of one history, gathered once.

    ``by_key``: the ok reads that tell something, by (kind, key); ``last``: the
    last settle snapshot any final read names (None without final reads);
    ``tried``: op ids of that snapshot's final reads by (kind, key), answered
    or not. Keys come in the order of their first read in the history, so the
    evidence lists findings in history order.
    """

    writes: _Writes
    by_key: dict[tuple[str, str], list[_Read]]
    last: int | None
    tried: dict[tuple[str, str], list[int]]


def _seen(index: Index) -> _Seen:
    """One pass over each read ``f`` (not over the whole history)."""
    by_key: dict[tuple[str, str], list[_Read]] = {}
    finals: list[tuple[Event, tuple[str, str], int]] = []
    last: int | None = None
    for f, (kind, field) in _READS.items():
        for op in index.of(f):
            invoke, completion = op.invoke, op.completion
            value = invoke.value
            key = str(value["body"][field])
            snapshot = None
            if invoke.phase == "final":
                snapshot = snapshot_of(op)
                last = snapshot if last is None or snapshot > last else last
                finals.append((invoke, (kind, key), snapshot))
            if completion is None or completion.type != "ok":
                continue
            obs = _observed(kind, completion.value)
            if obs is None:
                continue
            read = _Read(
                kind,
                key,
                int(value.get("node", 0)),
                snapshot,
                obs,
                invoke.op_id,
                invoke.index,
                invoke.time,
                completion.time,
            )
            group = by_key.get((kind, key))
            if group is None:
                by_key[(kind, key)] = [read]
            else:
                group.append(read)
    tried: dict[tuple[str, str], list[int]] = {}
    first: dict[tuple[str, str], int] = {}
    for invoke, read_of, snapshot in finals:
        if snapshot == last:
            tried.setdefault(read_of, []).append(invoke.op_id)
            first.setdefault(read_of, invoke.index)
    if sum(1 for f in _READS if index.of(f)) > 1:
        # Built read kind by read kind: put the keys back in history order.
        by_key = dict(sorted(by_key.items(), key=lambda item: item[1][0].index))
        tried = {k: tried[k] for k in sorted(tried, key=first.__getitem__)}
    return _Seen(_writes(index), by_key, last, tried)


def _phantom(read: _Read, writes: _Writes) -> str | None:
    """What the read shows that no write sent before it completed could produce."""
    if read.kind == "order" and read.obs != ABSENT:
        ops = writes.orders.get(read.key, [])
        if not _sent_before(ops, read.end):
            return f"order {read.key} reads {_show('order', read.obs)} but was never sent by then"
        first = body(ops[0])
        _, sku, qty = read.obs
        if (sku, qty) != (str(first["sku"]), int(first["qty"])):
            return (
                f"order {read.key} reads {qty} x {sku}, but was sent as "
                f"{first['qty']} x {first['sku']}"
            )
    elif read.kind == "payment" and read.obs != ABSENT:
        ops = writes.payments.get(read.key, [])
        if not _sent_before(ops, read.end):
            return (
                f"payment {read.key} reads {_show('payment', read.obs)} but was never sent by then"
            )
    elif read.kind == "stock" and read.key in writes.initial:
        entries = writes.by_sku.get(read.key, [])
        sent = sum(qty for t, qty, refused, _ in entries if t < read.end and not refused)
        floor = writes.initial[read.key] - sent
        if read.obs < floor:
            return (
                f"sku {read.key} reads {read.obs} available, but the orders sent by then "
                f"could take at most {sent} of {writes.initial[read.key]}"
            )
    elif read.kind == "matches":
        for match_id, pair in sorted(read.obs):
            if read.key not in pair:
                return f"the matches of {read.key} list {match_id} between {pair[0]} and {pair[1]}"
            a, b = pair
            for x, y in ((a, b), (b, a)):
                if not writes.rights.get((x, y), read.end) < read.end:
                    return (
                        f"the matches of {read.key} list {match_id} between {a} and {b} "
                        f"before {x} swiped right on {y}"
                    )
    return None


def _sent_before(ops: Sequence[Operation], t: float) -> bool:
    """Whether any of ``ops`` was sent before ``t`` (the first usually was: it is
    tried before the others, once per read)."""
    if ops and ops[0].invoke.time < t:
        return True
    return any(op.invoke.time < t for op in ops)


def _acknowledged_before(read: _Read, writes: _Writes) -> Problem | None:
    """Strong reads: what a write acknowledged before the read was sent makes it show."""
    t = read.start
    if read.kind == "order":
        done = [op for op in writes.orders.get(read.key, []) if op.end_time < t]
        if any(op.outcome == "ok" for op in done) and read.obs[0:1] != ("accepted",):
            return (
                f"order {read.key} was acknowledged accepted before, but reads "
                f"{_show('order', read.obs)}",
                False,
            )
    elif read.kind == "payment":
        done = [op for op in writes.payments.get(read.key, []) if op.end_time < t]
        for op in done:
            if op.outcome == "ok":
                charge = answer(op).get("charge_id")
                if read.obs != ("captured", charge):
                    return (
                        f"payment {read.key} was acknowledged captured as {charge} before, "
                        f"but reads {_show('payment', read.obs)}",
                        False,
                    )
            elif op.outcome == "fail" and read.obs != ABSENT and read.obs[0] == "captured":
                return (
                    f"payment {read.key} was answered declined before, but reads captured",
                    False,
                )
    elif read.kind == "stock" and read.key in writes.initial:
        taken = 0
        for _, qty, _, order_id in writes.by_sku.get(read.key, []):
            ops = writes.orders[order_id]
            if any(op.outcome == "ok" and op.end_time < t for op in ops):
                taken += qty
        ceiling = writes.initial[read.key] - taken
        if read.obs > ceiling:
            return (
                f"sku {read.key} reads {read.obs} available, but orders acknowledged "
                f"before took {taken} of {writes.initial[read.key]}",
                False,
            )
    elif read.kind == "matches":
        listed = {m for m, _ in read.obs}
        for when, match_id in writes.matched.get(read.key, []):
            if when < t and match_id not in listed:
                return (
                    f"match {match_id} was acknowledged before, but the matches "
                    f"of {read.key} do not list it",
                    False,
                )
    return None


def _per_replica(reads_of: Sequence[_Read], snapshot: int | None) -> list[_Read]:
    """Each replica's last answer in ``snapshot`` (a read may have been retried)."""
    last: dict[int, _Read] = {}
    for read in sorted(reads_of, key=lambda r: r.end):
        if snapshot is not None and read.snapshot == snapshot:
            last[read.node] = read
    return [last[node] for node in sorted(last)]


def _unanswered(seen: _Seen) -> list[tuple[str, str, list[int]]]:
    """Keys the last settled snapshot tried to read and no replica answered."""
    out: list[tuple[str, str, list[int]]] = []
    last, by_key = seen.last, seen.by_key
    for (kind, key), ids in seen.tried.items():  # one per key: a loop, no generator each
        for read in by_key.get((kind, key), ()):
            if read.snapshot == last:
                break
        else:
            out.append((kind, key, ids))
    return out


def _then(
    name: str, kind: str, before: _Read, after: _Read, problem: Problem | None, what: str
) -> Problem | None:
    """``order o-1 read accepted (op 3), then the settled state shows ... (op 9): why``."""
    if problem is None:
        return None
    return (
        f"{name} read {_show(kind, before.obs)} (op {before.id}), then {what} shows "
        f"{_show(kind, after.obs)} (op {after.id}): {problem[0]}",
        problem[1],
    )


_NOUN = {"order": "order", "stock": "sku", "payment": "payment", "matches": "user"}


def _label(kind: str, key: str) -> str:
    return f"{_NOUN[kind]} {key}"


def make_consistent_reads(reads: ReadConsistency = "eventual") -> Checker:
    """The ``consistent_reads`` checker for a design's read promise."""

    def check_consistent_reads(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        out = Findings("consistent_reads", "key")
        index = index_of(history)  # shared with the other checkers of one check call
        seen = index.memo("consistent_reads", lambda: _seen(index))
        writes, by_key, last = seen.writes, seen.by_key, seen.last

        def report(problem: Problem | None, keys: Iterable[str], ids: Iterable[int]) -> None:
            if problem is not None:
                (out.pending if problem[1] else out.violation)(problem[0], keys, ids)

        for (kind, key), reads_of in by_key.items():
            out.checked += 1
            for read in reads_of:
                phantom = _phantom(read, writes)
                if phantom is not None:
                    out.violation(phantom, [key], [read.id])
            # One read (the common case) contradicts no other: only strong
            # reads judge it further, against the writes.
            if len(reads_of) > 1:
                _agree(kind, key, reads_of, last, report)
            if reads == "strong":
                _strong(kind, _label(kind, key), key, reads_of, writes, report)
        if last is not None:
            _mutual_lists(by_key, last, report)
            _justified_rejections(by_key, last, writes, report)
            for kind, key, ids in _unanswered(seen):
                out.checked += 1
                out.undecided(
                    f"no replica answered the final read of {_label(kind, key)}", [key], ids
                )
        return out.verdict()

    check_consistent_reads.__doc__ = (
        f"Reads describe one state ({reads} reads); see invariants._reads."
    )
    return standalone(check_consistent_reads)


def _agree(
    kind: str,
    key: str,
    reads_of: Sequence[_Read],
    last: int | None,
    report: Callable[[Problem | None, Iterable[str], Iterable[int]], None],
) -> None:
    """The reads of one key: replicas agree after settling, nothing read before
    contradicts the settled state, and no replica's snapshots go backwards."""
    name = _label(kind, key)
    settled = _per_replica(reads_of, last)
    answers = {r.obs for r in settled}
    if len(answers) > 1:
        said = "; ".join(f"target-{r.node} says {_show(kind, r.obs)}" for r in settled)
        report(
            (f"the replicas disagree about {name} after settling: {said}", True),
            [key],
            [r.id for r in settled],
        )
    elif settled:
        now = settled[0]
        for read in reads_of:
            if read.snapshot is None:
                problem = _regress(kind, read.obs, now.obs)
                report(
                    _then(name, kind, read, now, problem, "the settled state"),
                    [key],
                    [read.id, now.id],
                )
    _successive_snapshots(kind, name, key, reads_of, report)


def _successive_snapshots(
    kind: str,
    name: str,
    key: str,
    reads_of: Sequence[_Read],
    report: Callable[[Problem | None, Iterable[str], Iterable[int]], None],
) -> None:
    """One replica's settled snapshots never go backwards."""
    by_node: dict[int, list[_Read]] = {}
    for read in reads_of:
        if read.snapshot is not None:
            by_node.setdefault(read.node, []).append(read)
    for node, series in by_node.items():
        series.sort(key=lambda r: (r.snapshot, r.start))
        for before, after in itertools.pairwise(series):
            problem = _regress(kind, before.obs, after.obs)
            if problem is not None:
                # The same replica, after settling: nothing may go backwards.
                what = f"final snapshot {after.snapshot} of target-{node}"
                report(
                    _then(name, kind, before, after, (problem[0], False), what),
                    [key],
                    [before.id, after.id],
                )
                break


def _strong(
    kind: str,
    name: str,
    key: str,
    reads_of: Sequence[_Read],
    writes: _Writes,
    report: Callable[[Problem | None, Iterable[str], Iterable[int]], None],
) -> None:
    """Strong reads: fresh w.r.t. acknowledged writes and earlier completed reads."""
    main = sorted((r for r in reads_of if r.snapshot is None), key=lambda r: r.start)
    by_end = sorted(main, key=lambda r: r.end)
    done = 0
    for read in main:
        report(_acknowledged_before(read, writes), [key], [read.id])
        while done < len(by_end) and by_end[done].end < read.start:
            done += 1
        # No read may be older than one that had answered before it was sent.
        earlier = _strongest(kind, by_end[:done])
        if earlier is not None:
            problem = _regress(kind, earlier.obs, read.obs)
            what = f"op {read.id}, sent after op {earlier.id} had answered,"
            report(
                _then(name, kind, earlier, read, problem and (problem[0], False), what),
                [key],
                [earlier.id, read.id],
            )


def _justified_rejections(
    by_key: Mapping[tuple[str, str], Sequence[_Read]],
    last: int,
    writes: _Writes,
    report: Callable[[Problem | None, Iterable[str], Iterable[int]], None],
) -> None:
    """An order refused ``out_of_stock`` (answered or read so) claims its SKU had
    less than its quantity; stock only goes down, so settled stock of at least
    that quantity says the claim was false."""
    stocks: dict[str, list[_Read]] = {}
    for order_id, ops in writes.orders.items():
        refusals = [
            op.invoke.op_id for op in ops if (done := op.completion) and done.type == "fail"
        ]
        read_rejected = [
            r.id
            for r in by_key.get(("order", order_id), ())
            if r.obs != ABSENT and r.obs[0] == "rejected"
        ]
        if not refusals and not read_rejected:
            continue
        first = body(ops[0])
        sku, qty = str(first["sku"]), int(first["qty"])
        if sku not in stocks:
            stocks[sku] = _per_replica(by_key.get(("stock", sku), ()), last)
        settled = {r.obs: r for r in stocks[sku]}
        if len(settled) != 1:
            continue
        ((available, stock),) = settled.items()
        if available >= qty:
            report(
                (
                    f"order {order_id} was refused out of stock, but sku {sku} still has "
                    f"{available} available in the settled state, enough for its {qty}",
                    False,
                ),
                [order_id, sku],
                [*refusals, *read_rejected, stock.id],
            )


def _mutual_lists(
    by_key: Mapping[tuple[str, str], Sequence[_Read]],
    last: int,
    report: Callable[[Problem | None, Iterable[str], Iterable[int]], None],
) -> None:
    """After settling, a match listed by one user is listed by the other."""
    settled: dict[str, _Read] = {}
    for (kind, key), reads_of in by_key.items():
        answers = _per_replica(reads_of, last) if kind == "matches" else []
        if answers:
            settled[key] = answers[0]
    listed = {user: {m for m, _ in read.obs} for user, read in settled.items()}
    for user, read in settled.items():
        for match_id, pair in sorted(read.obs):
            other = pair[1] if pair[0] == user else pair[0]
            theirs = settled.get(other)
            if theirs is not None and match_id not in listed[other]:
                report(
                    (
                        f"user {user} lists match {match_id} with {other}, but {other}'s "
                        "settled list does not",
                        True,
                    ),
                    [match_id, user, other],
                    [read.id, theirs.id],
                )
