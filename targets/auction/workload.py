"""The `auction` workload (docs/contracts.md section 9), declared with the public
workload API as any user's workload is: designs/auction.toml names it
``targets.auction.workload:AUCTION``; it is judged by the auction invariants
because it is named ``auction``.

Each example creates one or two auctions in setup, ending a drawn -300..3000 ms
after the target's clock at that moment (``ends_in_ms``: the target fixes ``end_time``
on its own clock authority and answers it, which is also the history's best
clock sample), so the deadlines fall while the example's bids run. Bids raise
the price as they go (the ``draw`` hook), so most are contenders rather than
``too_low`` refusals; half claim a ``client_time`` from a clock that lies
(0: 1970), which the contract says a target ignores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from harness.workload import (
    Answer,
    DrawContext,
    FinalRead,
    Ints,
    Key,
    OneOf,
    Operation,
    SetupStep,
    Workload,
)

ENDS_IN_MS = (-300, 3000)
"""Deadlines from 0.3 s before setup ends (an auction that has just ended: every bid is
late) to 3 s after it (most main phases last longer: a batch takes tens of ms, a wait
50..500 ms, a fault longer), so bids land on both sides of end_time. Up to 3 s, not
less: a bid on a replica whose database link is slowed (150 ms a round trip) needs
about a second to reach its CAS, and must still get there before end_time."""
MAX_AMOUNT = 1000
STEP = 10
"""Each new bid on an auction offers up to this much more than the bids before it."""

_BID = ("bid_id", "auction_id")
_AUCTION = ("auction_id",)


def rising_bids(ctx: DrawContext) -> Mapping[str, Any] | None:
    """A new bid offers more than the earlier bids on its auction (by 1..STEP, so two
    concurrent bids are close): the boundary, not ``too_low``, decides most of them."""
    if ctx.op.name != "bid":
        return None
    bids = [d.values for d in ctx.ops_so_far if d.op == "bid"]
    bid_id = ctx.draw(st.integers(0, ctx.count("bid") - 1))
    earlier = next((b for b in bids if b["bid_id"] == bid_id), None)
    if earlier is not None:
        return earlier  # a resend: the same request
    auction = ctx.aim.get("auction")  # the auction whose end_time was just awaited
    if auction is None:
        auction = ctx.draw(st.integers(0, ctx.count("auction") - 1))
    on_it = sum(1 for b in bids if b["auction_id"] == auction)
    amount = min(MAX_AMOUNT, STEP * on_it + ctx.draw(st.integers(1, STEP)))
    return {
        "bid_id": bid_id,
        "auction_id": auction,
        "bidder": ctx.draw(st.sampled_from(("alice", "bob", "carol"))),
        "amount": amount,
        "client_time": ctx.draw(st.sampled_from((None, 0))),
    }


AUCTION = Workload(
    name="auction",
    keys={"auction": 2, "bid": 12},
    setup=(SetupStep(op="create_auction", each="auction", deadline="ends_in_ms"),),
    operations=(
        Operation(
            name="create_auction",
            method="PUT",
            path="/auctions/{auction_id}",
            body=("ends_in_ms",),
            fields={"auction_id": Key("auction"), "ends_in_ms": Ints(*ENDS_IN_MS)},
            id="auction_id",
            weight=0,
            ok=(Answer(200, echo=_AUCTION, types={"end_time": "int"}),),
        ),
        Operation(
            name="bid",
            method="POST",
            path="/bids",
            body=("bid_id", "auction_id", "bidder", "amount", "client_time"),
            fields={
                "bid_id": Key("bid"),
                "auction_id": Key("auction"),
                "bidder": OneOf(("alice", "bob", "carol")),
                "amount": Ints(1, MAX_AMOUNT),
                "client_time": OneOf((None, 0)),
            },
            id="bid_id",
            weight=6,
            ok=(Answer(200, echo=_BID, equals={"status": "accepted"}),),
            fail=(
                Answer(409, echo=_BID, equals={"status": "rejected", "reason": "closed"}),
                Answer(409, echo=_BID, equals={"status": "rejected", "reason": "too_low"}),
            ),
        ),
        Operation(
            name="close",
            method="POST",
            path="/auctions/{auction_id}/close",
            fields={"auction_id": Key("auction")},
            id="auction_id",
            weight=1,
            ok=(
                Answer(
                    200,
                    echo=_AUCTION,
                    equals={"status": "closed"},
                    types={"winner": "str|null", "amount": "int|null"},
                ),
            ),
            fail=(Answer(409, echo=_AUCTION, equals={"status": "open", "reason": "not_ended"}),),
        ),
        Operation(
            name="read_auction",
            method="GET",
            path="/auctions/{auction_id}",
            fields={"auction_id": Key("auction")},
            id="auction_id",
            read=True,
            weight=3,
            ok=(
                Answer(
                    200,
                    echo=_AUCTION,
                    types={
                        "end_time": "int",
                        "status": "str",
                        "bids": "list",
                        "winner": "str|null",
                        "amount": "int|null",
                    },
                ),
                Answer(404),
            ),
        ),
        Operation(
            name="clock",
            method="GET",
            path="/clock",
            read=True,
            weight=1,
            ok=(Answer(200, types={"now": "int"}),),
        ),
    ),
    final=(FinalRead(op="read_auction", slot="auctions", keys="auction"),),
    draw=rising_bids,
)
