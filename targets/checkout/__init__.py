"""Reference target for the `inventory` workload: checkout without oversell.

Roles: `serve` (HTTP API), `relay` (outbox -> Kafka topic `checkout.orders`),
`consumer` (ships accepted orders through the partner warehouse).

The correct design (seed Step 6 / Step 8 Template 1): an idempotency check on
`order_id` under a per-order advisory lock, a conditional decrement
(`UPDATE ... WHERE available >= qty`), the order and its `order.accepted` event
written in the same transaction (outbox + relay), and an idempotent consumer
(`shipments_done` dedup + partner `Idempotency-Key`).

Buggy variants, each one step different (see `orders.py`, `shipping.py`); the
anti-pattern they embody, from the seed's Step 6.4 / Step 14 tables:

- `read_then_write` -- check in the application, then a blind write (no CAS):
  lost update, oversell under concurrency.
- `no_idempotency` -- CAS without an idempotency key: a retry decrements again and
  stores a second order row and event; stock accounting breaks.
- `dual_write` -- commit, then publish from the handler (no outbox): a crash or
  partition between commit and publish loses the shipment, yet the answer is accepted.
- `redis_truth` -- a cache treated as the source of truth: Redis data loss (restart
  without persistence) makes it reload the stock as last set from PostgreSQL, so
  orders oversell after recovery. GET /inventory reports the stock as set minus the
  accepted orders (negative when oversold).
- `non_idempotent_consumer` -- a consumer without dedup, calling without an
  idempotency key: redelivery after a crash between shipping and commit ships twice.

A degraded variant, correct but slow (for the freshness SLO of designs/checkout.toml):

- `slow_relay` -- the relay polls the outbox every 10 s instead of every 50 ms: every
  order is shipped exactly once, but up to 10 s after it was accepted.
"""

VARIANTS = (
    "correct",
    "read_then_write",
    "no_idempotency",
    "dual_write",
    "redis_truth",
    "non_idempotent_consumer",
    "slow_relay",
)
