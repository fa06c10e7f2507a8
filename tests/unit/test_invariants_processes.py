"""``targets_stay_up``: a target process found down with no fault holding it
down is a violation whose evidence says which, how and what it said last."""

from __future__ import annotations

from histories import final_inventory, order, recorder, set_stock

from harness.history import Ledgers
from harness.report import timeline
from invariants import check


def test_a_history_without_exits_holds_over_its_requests() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 2)
    order(rec, "o-1", "s-1", 1)
    final = final_inventory(rec, stock={"s-1": 1}, orders={"o-1": "accepted"})

    (verdict,) = check(["targets_stay_up"], rec.history(), final, Ledgers())

    assert verdict.status == "valid"
    assert verdict.checked == 4  # set_stock, the order, and the two final reads
    assert verdict.summary == "no target process exited on its own over 4 requests"


def test_an_exit_is_a_violation_with_its_code_time_and_last_output() -> None:
    rec = recorder()
    set_stock(rec, "s-1", 2)
    rec.set_phase("main")
    order(rec, "o-1", "s-1", 1)
    rec.exit("target-1", 1, "Error: Connection terminated unexpectedly\nNode.js v20")
    rec.set_phase("final")
    rec.exit("relay", -9, "")
    final = final_inventory(rec, stock={"s-1": 1}, orders={"o-1": "accepted"})

    (verdict,) = check(["targets_stay_up"], rec.history(), final, Ledgers())

    assert verdict.status == "invalid"
    first, second = verdict.evidence
    assert verdict.summary == "target-1 exited with code 1 at 5.00 s, no fault having crashed it"
    assert first.keys == ("target-1",)
    assert first.message.endswith(
        "; its last output:\nError: Connection terminated unexpectedly\nNode.js v20"
    )
    assert second.message == (
        "relay was killed by signal 9 at 6.00 s (found while the final state was read, "
        "every fault healed), no fault having crashed it"
    )


def test_the_timeline_shows_an_exit_as_its_own_line() -> None:
    rec = recorder()
    rec.set_phase("main")
    rec.exit("target-0", 3, "bye")

    (line,) = timeline(rec.history()).splitlines()

    assert line.split(maxsplit=1)[1] == "!!! target-0 exited with code 3 on its own"


def test_a_store_found_down_is_shown_but_not_held_against_the_target() -> None:
    rec = recorder()
    rec.set_phase("main")
    order(rec, "o-1", "s-1", 1)
    rec.exit("postgres", None, "", store=True)
    final = final_inventory(rec, stock={"s-1": 1}, orders={"o-1": "accepted"})

    (verdict,) = check(["targets_stay_up"], rec.history(), final, Ledgers())

    assert verdict.status == "valid"
    exits = [line for line in timeline(rec.history()).splitlines() if "!!!" in line]
    assert [line.split(maxsplit=1)[1] for line in exits] == [
        "!!! store postgres exited on its own"
    ]
