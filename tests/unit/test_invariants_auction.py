"""The auction checkers on hand-written histories with exact times: the target's
clock is learned from GET /clock samples, deadlines are judged on it with epsilon
and the sample's uncertainty, and each checker names the ops its verdict rests on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.history import FinalState, History, Ledgers, Recorder
from invariants._auction import (
    make_acknowledged_bids_survive,
    make_bids_open_until_end,
    make_close_is_final,
    make_no_bid_after_close,
    make_single_winner,
    make_winner_is_highest_accepted_bid,
    target_clock,
)

# The target's clock reads 1_000_000 ms when the harness's reads 10.0 s.
T0_MS = 1_000_000
END = T0_MS + 10_000  # an auction ending at harness time 20.0 s


@dataclass
class Timeline:
    """A recorder whose clock the test sets: ``at(t)`` then record."""

    t: float = 0.0
    rec: Recorder = field(init=False)

    def __post_init__(self) -> None:
        self.rec = Recorder(clock=lambda: self.t)

    def op(
        self,
        f: str,
        body: Mapping[str, Any],
        start: float,
        end: float | None,
        outcome: str = "ok",
        answer: tuple[int, Any] = (200, None),
        *,
        phase: str = "main",
        node: int = 0,
    ) -> int:
        self.rec.set_phase(phase)  # type: ignore[arg-type]
        self.t = start
        invoke = self.rec.invoke(0, f, {"node": node, "attempt": 1, "body": dict(body)})
        if end is not None:
            self.t = end
            status, said = answer if outcome != "info" else (None, None)
            self.rec.complete(invoke, outcome, {"status": status, "body": said})  # type: ignore[arg-type]
        return invoke.op_id

    def clock(self, start: float, end: float) -> int:
        mid_ms = T0_MS + ((start + end) / 2 - 10.0) * 1000
        return self.op("clock", {}, start, end, answer=(200, {"now": int(mid_ms)}),
                       phase="setup")

    def create(self, auction: str = "a", end_time: int = END) -> int:
        body = {"auction_id": auction, "end_time": end_time}
        return self.op("create_auction", body, 10.1, 10.11, answer=(200, body), phase="setup")

    def bid(self, bid_id: str, amount: int, start: float, end: float | None = None,
            outcome: str = "ok", reason: str = "too_low", auction: str = "a") -> int:
        body = {"bid_id": bid_id, "auction_id": auction, "bidder": "u", "amount": amount}
        if outcome == "ok":
            answer: tuple[int, Any] = (200, {"bid_id": bid_id, "auction_id": auction,
                                             "status": "accepted"})
        else:
            answer = (409, {"bid_id": bid_id, "auction_id": auction, "status": "rejected",
                            "reason": reason})
        return self.op("bid", body, start, start + 0.01 if end is None else end, outcome, answer)

    def read(self, start: float, status: str, winner: str | None = None, amount: int | None = None,
             bids: tuple[str, ...] = (), phase: str = "main", auction: str = "a") -> int:
        said = {"auction_id": auction, "end_time": END, "status": status, "winner": winner,
                "amount": amount, "bids": list(bids)}
        return self.op("read_auction", {"auction_id": auction}, start, start + 0.01,
                       answer=(200, said), phase=phase)

    def history(self) -> History:
        return self.rec.history()


@dataclass(frozen=True)
class Final:
    """What the checkers read of a final state: ``of(slot)``."""

    slots: Mapping[str, Mapping[str, Any]]
    workload: str = "auction"

    def of(self, slot: str) -> Mapping[str, Any]:
        return self.slots.get(slot, {})


def final(status: str = "closed", winner: str | None = None, amount: int | None = None,
          bids: tuple[str, ...] = ()) -> FinalState:
    record = {"auction_id": "a", "end_time": END, "status": status, "winner": winner,
              "amount": amount, "bids": list(bids)}
    return Final({"auctions": {"a": record}})  # type: ignore[return-value]


def judge(checker: Any, tl: Timeline, state: Any = None) -> Any:
    return checker(tl.history(), state if state is not None else final(), Ledgers())


def setup(sample: tuple[float, float] = (9.99, 10.01)) -> Timeline:
    tl = Timeline()
    tl.clock(*sample)
    tl.create()
    return tl


def test_the_clock_comes_from_the_sample_with_the_shortest_round_trip() -> None:
    tl = Timeline()
    tl.clock(9.0, 9.4)
    best = tl.clock(9.99, 10.01)
    tl.clock(10.5, 10.7)
    clock = target_clock(tl.history())
    assert clock is not None and clock.op_id == best
    assert clock.uncertainty_ms == pytest.approx(10)
    assert clock.at(20.0) == pytest.approx(END)
    assert target_clock(Timeline().history()) is None


def test_a_create_sent_with_ends_in_ms_is_a_clock_sample_and_fixes_end_time() -> None:
    """The target answers end_time = its now + ends_in_ms: end_time - ends_in_ms is its
    clock between the send and the answer; the end_time judged is the answered one."""
    tl = Timeline()
    now_ms = T0_MS + 100  # the target's clock at harness time 10.1 s
    body = {"auction_id": "a", "ends_in_ms": 9_900}
    create = tl.op("create_auction", body, 10.09, 10.11, phase="setup",
                   answer=(200, {"auction_id": "a", "end_time": now_ms + 9_900}))
    clock = target_clock(tl.history())
    assert clock is not None and clock.op_id == create
    assert clock.uncertainty_ms == pytest.approx(10)
    assert clock.at(20.0) == pytest.approx(END)
    tl.bid("late", 100, start=20.2)  # 200 ms after the answered end_time
    verdict = judge(make_no_bid_after_close(epsilon_ms=50), tl)
    assert verdict.status == "invalid"
    assert "first sent 200 ms after end_time" in verdict.summary


def test_samples_taken_before_any_fault_are_preferred() -> None:
    """A main-phase sample from a replica whose clock was skewed (+5 s here) is ignored
    when setup gave one, however short its round trip."""
    tl = setup(sample=(9.98, 10.02))
    skewed = tl.op("clock", {}, 15.0, 15.001, answer=(200, {"now": T0_MS + 10_000}))
    clock = target_clock(tl.history())
    assert clock is not None and clock.op_id != skewed
    assert clock.at(20.0) == pytest.approx(END)


def test_a_bid_sent_after_end_time_plus_epsilon_must_not_be_accepted() -> None:
    tl = setup()
    tl.bid("in-window", 100, start=20.03)  # 30 ms late: within epsilon 50 + 10
    late = tl.bid("late", 200, start=20.2)  # 200 ms late, answered accepted
    tl.bid("refused", 300, start=20.3, outcome="fail", reason="closed")
    tl.bid("listed", 400, start=20.25, outcome="info")  # unknown answer, but listed below
    read = tl.read(21.0, "closed", "late", 200, bids=("in-window", "late", "listed"))
    verdict = judge(make_no_bid_after_close(epsilon_ms=50), tl)
    assert verdict.status == "invalid" and verdict.checked == 3
    first, second = verdict.evidence
    assert first.message == (
        "bid late on a was answered accepted (op 3) though it was first sent 200 ms after "
        "end_time on the target's clock (epsilon 50 ms, clock known to +-10 ms by op 0)"
    )
    assert late in first.op_ids and 0 in first.op_ids and 1 in first.op_ids  # create, clock
    assert "bid listed on a was listed (op " in second.message and read in second.op_ids
    assert judge(make_no_bid_after_close(epsilon_ms=300), tl).status == "valid"


def test_without_a_clock_sample_a_deadline_cannot_be_judged() -> None:
    tl = Timeline()
    tl.create()
    tl.bid("b", 10, start=25.0)
    verdict = judge(make_no_bid_after_close(), tl)
    assert verdict.status == "unknown" and "no clock sample" in verdict.summary


def test_a_bid_refused_as_closed_before_end_time_minus_epsilon_is_an_early_close() -> None:
    tl = setup()
    early = tl.bid("early", 100, start=19.4, end=19.5, outcome="fail", reason="closed")
    tl.bid("edge", 100, start=19.9, end=19.97, outcome="fail", reason="closed")
    tl.bid("low", 5, start=19.0, end=19.01, outcome="fail", reason="too_low")
    verdict = judge(make_bids_open_until_end(epsilon_ms=50), tl)
    assert verdict.status == "invalid" and verdict.checked == 2
    (evidence,) = verdict.evidence
    assert evidence.message.startswith(
        f"bid early on a was refused as closed (op {early}) 500 ms before end_time"
    )


def test_one_result_per_closed_auction_whoever_shows_it() -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    tl.bid("b2", 150, start=16.0)
    one = tl.read(21.0, "closed", "b2", 150, bids=("b1", "b2"))
    other = tl.read(21.5, "closed", "b1", 100, bids=("b1", "b2"), )
    verdict = judge(make_single_winner(), tl)
    assert verdict.status == "invalid"
    assert verdict.evidence[0].message == (
        f"auction a was shown closed with 2 results: winner b2 (150) (op {one}); "
        f"winner b1 (100) (op {other})"
    )
    same = setup()
    same.read(21.0, "closed", "b2", 150)
    same.read(21.5, "closed", "b2", 150, phase="final")
    assert judge(make_single_winner(), same).status == "valid"


@pytest.mark.parametrize(
    ("later", "message"),
    [
        (dict(status="open"), "auction a was read closed (op {first}) and later open again"),
        (dict(status="closed", winner="b1", amount=100),
         "auction a was read closed with winner b2 (150) (op {first}) and later with winner b1"),
        (dict(status="closed", winner="b2", amount=150, bids=("b1", "b2", "b3")),
         "auction a was read closed with 2 bids (op {first}) and later with new bids b3"),
    ],
)
def test_a_close_is_final(later: dict[str, Any], message: str) -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    tl.bid("b2", 150, start=16.0)
    first = tl.read(21.0, "closed", "b2", 150, bids=("b1", "b2"))
    tl.read(22.0, **later)
    verdict = judge(make_close_is_final(), tl)
    assert verdict.status == "invalid"
    assert verdict.evidence[0].message.startswith(message.format(first=first))


def test_no_bid_is_accepted_after_a_read_showed_the_auction_closed() -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    first = tl.read(21.0, "closed", "b1", 100, bids=("b1",))
    after = tl.bid("b2", 150, start=21.5)
    verdict = judge(make_close_is_final(), tl)
    assert verdict.status == "invalid"
    assert verdict.evidence[-1].message == (
        f"bid b2 was answered accepted (op {after}) though it was first sent after auction a "
        f"was read closed (op {first})"
    )
    fine = setup()
    fine.bid("b1", 100, start=15.0)
    fine.read(21.0, "closed", "b1", 100, bids=("b1",))
    fine.read(25.0, "closed", "b1", 100, bids=("b1",), phase="final")
    assert judge(make_close_is_final(), fine).status == "valid"


def test_the_winner_is_the_highest_accepted_bid() -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    high = tl.bid("b2", 150, start=16.0)
    tl.read(25.0, "closed", "b1", 100, bids=("b1", "b2"), phase="final")
    verdict = judge(make_winner_is_highest_accepted_bid(), tl, final("closed", "b1", 100,
                                                                       ("b1", "b2")))
    assert verdict.status == "invalid"
    assert verdict.evidence[0].message == (
        f"auction a closed with winner b1 (100) though bid b2 (150) was answered accepted "
        f"(op {high})"
    )
    assert judge(make_winner_is_highest_accepted_bid(), tl,
                 final("closed", "b2", 150, ("b1", "b2"))).status == "valid"


def test_a_winner_must_be_an_accepted_bid_at_its_amount() -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    refused = tl.bid("b0", 90, start=15.5, outcome="fail")
    check = make_winner_is_highest_accepted_bid()
    assert judge(check, tl, final("closed", "b0", 90, ("b1",))).evidence[0].message == (
        f"auction a closed with winner b0, a bid that was refused (op {refused})"
    )
    assert "at 120, but that bid was for 100" in judge(
        check, tl, final("closed", "b1", 120, ("b1",))
    ).summary
    assert "a bid never sent to it" in judge(check, tl, final("closed", "zz", 1)).summary
    assert "closed with no winner though bid b1 (100) was accepted" in judge(
        check, tl, final("closed", None, None, ("b1",))
    ).summary


def test_an_auction_still_open_after_its_end_time_is_pending() -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    tl.read(23.0, "open", bids=("b1",), phase="final")
    verdict = judge(make_winner_is_highest_accepted_bid(), tl, final("open", None, None, ("b1",)))
    assert verdict.status == "invalid" and verdict.waiting
    assert verdict.evidence[0].message == "auction a is still open 3010 ms after its end_time"


def test_acknowledged_bids_survive() -> None:
    tl = setup()
    tl.bid("b1", 100, start=15.0)
    tl.bid("b2", 50, start=15.5, outcome="fail")
    check = make_acknowledged_bids_survive()
    assert judge(check, tl, final("closed", "b1", 100, ("b1",))).status == "valid"
    missing = judge(check, tl, final("closed", None, None, ()))
    assert missing.waiting and "does not list it" in missing.summary
    wrong = judge(check, tl, final("closed", "b1", 100, ("b1", "b2")))
    assert not wrong.waiting and "answered rejected (op 3) but the final state" in wrong.summary


def test_how_long_an_auction_was_seen_open_after_its_end_time() -> None:
    from invariants._auction import auction_close_lags

    tl = setup()
    tl.read(20.5, "open")  # still open 500 ms after end_time
    tl.read(21.2, "open")
    tl.read(21.9, "closed", None, None)
    lags = auction_close_lags(tl.history())
    assert list(lags) == ["a"]
    assert lags["a"] == pytest.approx(1.2 + 0.01)  # from the 21.2 read, less the uncertainty
    prompt = setup()
    prompt.read(20.2, "closed", None, None)
    assert auction_close_lags(prompt.history()) == {"a": 0.0}
