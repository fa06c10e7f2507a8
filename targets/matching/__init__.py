"""Reference target for the `matching` workload (CONTRACTS.md section 5): at most one match.

Roles: `serve` (HTTP replicas), `relay` (outbox -> Kafka topic `matching.matches`) and
`consumer` (announces each match through the partner's notify endpoint).

Variants, each one anti-pattern from the design framework (Step 6 / Step 8 / Step 14):

- `correct`: one transaction per swipe under a per-pair advisory lock; the match is
  inserted under the canonical pair key (least, greatest) with a unique constraint
  (Step 8: "INSERT IF NOT EXISTS; return existing match") and announced through an
  outbox row in the same transaction; the consumer commits its offset only after the
  partner accepted the announcement (keyed `match-<match_id>`).
- `no_canonical_key`: "uniqueness keyed on the request, not the invariant's key". The
  swipe is committed alone and the match then keyed by (swiper, swipee) as received,
  without the pair lock, so two concurrent mutual swipes create two matches.
- `no_pair_lock`: "check-then-act under READ COMMITTED". Without the lock, two
  concurrent mutual right swipes each miss the other's uncommitted swipe: no match at all.
- `at_most_once_consumer`: "commit before processing". The consumer commits the offset
  before announcing, so a crash or partner failure in between loses the announcement.

A degraded variant, correct but slow (for the freshness SLO of designs/matching.toml):

- `slow_relay`: the relay polls the outbox every 10 s instead of every 50 ms, so every
  match is announced, but up to 10 s after it was made.
"""
