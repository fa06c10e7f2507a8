"""Checker throughput: every checker of a workload on a generated history of
``ops`` operations (100k by default; final reads included).

Each workload's history is what a correct target would produce under faults:
retries, rejections and indeterminate attempts (half of which took effect),
then final reads of every key; so every checker does its full work and should
answer ``valid``. For each workload the bench prints the whole set through
``invariants.check`` -- the row's invariants plus ``consistent_reads``, as
the runner judges a snapshot -- which builds one index of the history and
shares it; with ``--each``, first each checker alone (it builds its own
index, as a checker called on its own does).

Run: ``PYTHONPATH=. python bench/checker_throughput.py [ops] [--repeats N]
[--each] [--before CHECKOUT]``. ``--before`` also times another checkout's
``check`` (say /work/main before a change) on the same histories, by turns
with this one's, and prints the ratio: a paired figure on a shared machine.
Run alone against another checkout, with ``PYTHONPATH=<that checkout>``, it
needs only ``CHECKERS``, ``APPLIES_TO`` and ``check`` there.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal

from harness.history import Effect, FinalState, History, Ledgers, Recorder
from invariants import APPLIES_TO, CHECKERS, check

Built = tuple[History, FinalState, Ledgers]
Outcome = Literal["ok", "fail", "info"]


class _Run:
    """A recorder plus the answer shapes the workload clients record."""

    def __init__(self, seed: int) -> None:
        self.rec = Recorder()
        self.rnd = random.Random(seed)
        self.ops = 0

    def op(
        self,
        f: str,
        body: dict[str, Any],
        outcome: Outcome,
        answer: Any,
        attempt: int = 1,
    ) -> None:
        self.ops += 1
        invoke = self.rec.invoke(0, f, {"node": 0, "attempt": attempt, "body": body})
        if outcome == "info":
            self.rec.complete(invoke, "info", {"status": None, "body": None}, error="timeout")
        else:
            status = 404 if answer is None else 409 if outcome == "fail" else 200
            self.rec.complete(invoke, outcome, {"status": status, "body": answer})

    def attempts(self, answer: Outcome) -> list[Outcome]:
        """Outcomes of the attempts at one key: sometimes a timeout, then a retry."""
        roll = self.rnd.random()
        return ["info", answer] if roll < 0.08 else ["info"] if roll < 0.12 else [answer]

    def read(self, f: str, body: dict[str, Any], answer: Any) -> None:
        self.op(f, body, "ok", answer)


def inventory(n: int) -> Built:
    run, skus = _Run(1), 1000
    # About as much stock as the orders ask for: some skus run out, and the
    # orders that do not fit are rejected (a correct target rejects nothing else).
    stock = dict.fromkeys((f"s-{i}" for i in range(skus)), n // skus // 2)
    run.rec.set_phase("setup")
    for sku, available in stock.items():
        run.op("set_stock", {"sku": sku, "available": available}, "ok", {"sku": sku})
    run.rec.set_phase("main")
    orders: dict[str, tuple[str, int, bool]] = {}
    while run.ops + len(orders) + skus < n:  # the final reads come last
        order_id, sku, qty = (
            f"o-{len(orders)}",
            f"s-{run.rnd.randrange(skus)}",
            run.rnd.randint(1, 3),
        )
        accepted = stock[sku] >= qty
        stock[sku] -= qty if accepted else 0
        orders[order_id] = (sku, qty, accepted)
        body = {"order_id": order_id, "sku": sku, "qty": qty}
        for attempt, outcome in enumerate(run.attempts("ok" if accepted else "fail"), start=1):
            status = "accepted" if accepted else "rejected"
            run.op("order", body, outcome, {"order_id": order_id, "status": status}, attempt)
    run.rec.set_phase("final")
    for sku, available in stock.items():
        run.read("read_stock", {"sku": sku}, {"sku": sku, "available": available})
    final_orders: dict[str, Any] = {}
    for order_id, (sku, qty, accepted) in orders.items():
        status = "accepted" if accepted else "rejected"
        final_orders[order_id] = {"order_id": order_id, "sku": sku, "qty": qty, "status": status}
        run.read("read_order", {"order_id": order_id}, final_orders[order_id])
    final = FinalState(
        workload="inventory",
        values={
            "stock": {s: {"sku": s, "available": a} for s, a in stock.items()},
            "orders": final_orders,
        },
    )
    shipments = tuple(
        Effect(kind="shipment", effect_id=f"sh-{o}", body={"order_id": o, "sku": s, "qty": q})
        for o, (s, q, accepted) in orders.items()
        if accepted
    )
    return run.rec.history(), final, Ledgers(shipments)


def payments(n: int) -> Built:
    run = _Run(2)
    shown: dict[str, Any] = {}
    charges: list[Effect] = []
    while run.ops + len(shown) < n:  # one final read per payment
        payment_id, amount = f"p-{len(shown)}", run.rnd.randint(100, 10_000)
        declined = run.rnd.random() < 0.05
        body = {"payment_id": payment_id, "order_id": f"o-{payment_id}", "amount": amount}
        said: dict[str, Any] = {"payment_id": payment_id, "status": "declined"}
        if not declined:
            said = {"payment_id": payment_id, "status": "captured", "charge_id": f"ch-{payment_id}"}
            charges.append(
                Effect(
                    kind="charge",
                    effect_id=f"ch-{payment_id}",
                    body={"reference": payment_id, "amount": amount},
                )
            )
        shown[payment_id] = said
        for attempt, outcome in enumerate(run.attempts("fail" if declined else "ok"), start=1):
            run.op("pay", body, outcome, said, attempt)
    run.rec.set_phase("final")
    for payment_id, said in shown.items():
        run.read("read_payment", {"payment_id": payment_id}, said)
    return (
        run.rec.history(),
        FinalState(workload="payments", values={"payments": shown}),
        Ledgers(tuple(charges)),
    )


def matching(n: int) -> Built:
    """Users swipe in pairs: a on b, and most of the time b back on a."""
    run, users = _Run(3), [f"u-{i}" for i in range(n // 10)]
    lists: dict[str, list[dict[str, Any]]] = {u: [] for u in users}
    messages: list[Effect] = []
    paired: set[tuple[str, str]] = set()
    while run.ops + len(users) < n:  # one final read per user
        a, b = sorted(run.rnd.sample(users, 2))
        if (a, b) in paired:
            continue
        paired.add((a, b))
        there = "right" if run.rnd.random() < 0.7 else "left"
        back = "right" if run.rnd.random() < 0.7 else "left"
        match_id = f"m-{len(paired)}" if there == back == "right" else None
        if match_id is not None:
            entry = {"match_id": match_id, "users": [a, b]}
            lists[a].append(entry)
            lists[b].append(entry)
            messages.append(Effect(kind="message", effect_id=f"msg-{match_id}", body=entry))
        swipes: list[tuple[str, str, str, str | None]] = [(a, b, there, None)]
        if run.rnd.random() < 0.8 or match_id is not None:
            swipes.append((b, a, back, match_id))
        for swiper, swipee, direction, matched in swipes:
            swipe_id = f"w-{swiper}-{swipee}"
            said = {"swipe_id": swipe_id, "matched": matched is not None, "match_id": matched}
            body = {
                "swipe_id": swipe_id,
                "swiper": swiper,
                "swipee": swipee,
                "direction": direction,
            }
            for attempt, outcome in enumerate(run.attempts("ok"), start=1):
                run.op("swipe", body, outcome, said, attempt)
    run.rec.set_phase("final")
    for user, listed in lists.items():
        run.read("read_matches", {"user": user}, {"matches": listed})
    final = FinalState(
        workload="matching", values={"matches": {u: {"matches": ms} for u, ms in lists.items()}}
    )
    return run.rec.history(), final, Ledgers(tuple(messages))


WORKLOADS: dict[str, Callable[[int], Built]] = {
    "inventory": inventory,
    "payments": payments,
    "matching": matching,
}


def _best(repeats: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """The fastest of ``repeats`` runs (the machine may be busy): wall seconds,
    CPU seconds of this process (what a busy machine inflates least), result."""
    spent, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = work()
        spent = min(spent, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return spent, cpu, result


def _checkout(path: Path) -> Callable[..., tuple[Any, ...]]:
    """``invariants.check`` of another checkout, imported beside this one's.

    Its ``invariants`` package is imported afresh from ``path`` and then put
    aside, so both can run in one process on the same history objects (a
    paired measurement: the machine is shared and timings drift). The history
    types (``harness.history``) stay this checkout's: the other checkout's
    checkers must read them as they are.
    """
    ours = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] == "invariants"}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(path))
    try:
        theirs = importlib.import_module("invariants")
        if Path(str(theirs.__file__)).parent.parent.resolve() != path.resolve():
            raise SystemExit(f"--before {path}: has no invariants package")
        other: Callable[..., tuple[Any, ...]] = theirs.check
    finally:
        sys.path.remove(str(path))
        for name in [n for n in sys.modules if n.split(".")[0] == "invariants"]:
            del sys.modules[name]
        sys.modules.update(ours)
    return other


def main(n: int, repeats: int, each: bool, before: Path | None) -> None:
    other = _checkout(before) if before is not None else None
    print(
        f"{'workload':<10} {'checker':<28} {'ops':>8} {'seconds':>8} {'ops/s':>10} "
        f"{'cpu s':>7}  verdict"
    )
    for workload, build in WORKLOADS.items():
        started = time.perf_counter()
        built = build(n)
        ops = sum(1 for e in built[0].events if e.type == "invoke")
        print(f"# {workload}: {ops} ops built in {time.perf_counter() - started:.1f}s")
        if each:
            _each(workload, built, ops, repeats)
        _whole(workload, built, ops, repeats, other)
        del built  # before the next workload's is built: 10^6 operations take gigabytes


def _each(workload: str, built: Built, ops: int, repeats: int) -> None:
    """Each checker alone: it builds its own index of the history."""
    names = [name for name, workloads in APPLIES_TO.items() if workload in workloads]
    for name in names:
        checker = CHECKERS[name]
        spent, cpu, verdict = _best(repeats, partial(checker, *built))
        print(
            f"{workload:<10} {name:<28} {ops:>8} {spent:>8.3f} {ops / spent:>10,.0f} "
            f"{cpu:>7.3f}  {verdict.status} ({verdict.checked} checked)"
        )


def _whole(
    workload: str,
    built: Built,
    ops: int,
    repeats: int,
    other: Callable[..., tuple[Any, ...]] | None,
) -> None:
    """The whole set through ``check`` (one shared index); with ``other``, the
    other checkout's ``check`` too, run by turns, and their ratio."""
    names = [name for name, workloads in APPLIES_TO.items() if workload in workloads]
    runs = {"": check} if other is None else {"": check, " before": other}
    best = {label: (float("inf"), float("inf")) for label in runs}
    statuses: dict[str, str] = {}
    for _ in range(repeats):  # by turns: a busy spell slows both, not one
        for label, run in runs.items():
            spent, cpu, verdicts = _best(1, partial(run, names, *built))
            best[label] = (min(best[label][0], spent), min(best[label][1], cpu))
            statuses[label] = "/".join(sorted({v.status for v in verdicts}))
    for label, (spent, cpu) in best.items():
        row = f"check(all {len(names)}){label}"
        print(
            f"{workload:<10} {row:<28} {ops:>8} {spent:>8.3f} {ops / spent:>10,.0f} "
            f"{cpu:>7.3f}  {statuses[label]}"
        )
    if other is not None:
        (wall, cpu), (wall_before, cpu_before) = best[""], best[" before"]
        print(
            f"{workload:<10} {'speed-up (before / now)':<28} {'':>8} {wall_before / wall:>7.2f}x "
            f"{'':>10} {cpu_before / cpu:>6.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ops", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--each", action="store_true", help="also each checker alone")
    parser.add_argument(
        "--before", type=Path, help="another checkout whose check to time beside this one's"
    )
    args = parser.parse_args()
    main(args.ops, args.repeats, args.each, args.before)
