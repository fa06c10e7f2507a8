"""Reference target for the `auction` workload (docs/contracts.md section 9): bids at a deadline.

Roles: `serve` (HTTP replicas) and `closer` (closes auctions when their end_time passes).

The correct design (seed Steps 3, 6, 8 and 14, the auction example throughout):

- **One clock authority.** Every temporal decision -- is a bid before end_time, is an
  auction due -- is taken on PostgreSQL's clock (`clock_timestamp()`), inside the
  statement that acts on it; `GET /clock` answers that clock. No replica's own clock,
  and never the client's, decides anything.
- **CAS on (auction_id, version).** A bid is accepted by one conditional update of the
  auction row: same version, still open, before end_time, higher than the current
  highest. A lost race re-reads and tries again.
- **A closer holding a lease with a fencing token.** One closer at a time closes due
  auctions, waking at the next open auction's end_time (and at least every 0.5 s, to
  renew its lease); its lease lives in PostgreSQL (expiry on PostgreSQL's clock) and each new
  holder gets a larger token. The closing write carries the token and the version it
  read: a stale closer (paused past its lease, or one whose read missed a bid still in
  flight at end_time) is refused by the database, re-reads, and does no harm. A replica
  asked for the result of a due auction (`POST /auctions/{id}/close`) takes the lease
  over when it has expired (the closer is dead or paused) and closes the auction itself.

Buggy variants, each one step different (the anti-pattern in the seed's words):

- `client_clock` -- "client clock is never authoritative", broken: a bid's `client_time`,
  when sent, decides whether it came before end_time. A client whose clock lies gets
  its late bid accepted.
- `local_clock` -- every process decides by its own clock (`time.time()`), which can be
  skewed: a replica whose clock is behind accepts bids after end_time, one whose clock
  is ahead refuses them early, and a closer whose clock is ahead closes early.
- `unfenced_lease` -- the closer trusts its lease (Kleppmann's lease bug): its closing
  write carries no fencing token, and, since the lease was to make it the only writer,
  no version check either. A closer that read the auction before a bid in flight at
  end_time committed closes it with the winner it read, not that bid. A closer paused
  past its lease while another process closed the auction closes it again, and with
  another winner only in the same case: after end_time only a bid decided before it
  (its CAS) and committed after the stale read can change the auction, so every wrong
  result needs a bid whose commit straddles end_time and the closer's read.
- `check_then_act` -- "is it open?" and "is it the highest?" are checked by a read, then
  the bid is written blindly: a bid that checked before the close lands after it, and of
  two concurrent bids the lower may overwrite the higher.

A degraded variant for the freshness SLO (correct, but slow):

- `lazy_closer` -- the closer looks for due auctions every 5 s instead of at each
  end_time (with a lease long enough that nobody takes over): auctions close up to 5 s
  late.
"""

VARIANTS = (
    "correct",
    "client_clock",
    "local_clock",
    "unfenced_lease",
    "check_then_act",
    "lazy_closer",
)
