"""Reference target for the `kv` workload: a linearizable compare-and-set key-value store.

Role: `serve` (HTTP API: `PUT /kv/{key}`, `GET /kv/{key}`, `POST /kv/{key}/cas`).

The correct design: PostgreSQL is the only copy. Every read is a `SELECT`, a put an
upsert, and a compare-and-set a conditional `UPDATE ... WHERE value = expected` (an
insert-if-absent when `expected` is null), so each operation takes effect at one
instant between its request and its answer: the store is linearizable.

Buggy variants, each one step different (see `store.py`):

- `stale_cache` -- reads served from a per-replica in-process cache (filled on a
  miss, updated by the replica's own writes, expiring after `CACHE_TTL_S`) that
  another replica's write does not invalidate: a read on one replica returns a
  value the other replica has already overwritten. Every replica converges once
  its entries expire, so the settled state is right; only the reads made while
  the workload ran are stale.
- `read_then_write` -- compare-and-set as a read, a comparison in Python, then a
  blind write: two concurrent swaps from the same expected value both succeed
  (a lost update).
"""

VARIANTS = ("correct", "stale_cache", "read_then_write")
