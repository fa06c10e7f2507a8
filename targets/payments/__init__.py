"""Reference target for the `payments` workload (CONTRACTS.md section 4): no duplicate charge.

Roles: `serve` (HTTP replicas) and `reconciler` (resolves payments left pending).

Variants, each one anti-pattern from the design framework (Step 6.4 / Step 14):

- `correct`: dedup gate first. The payment row is claimed (`pending`, unique on
  `payment_id`) and committed before the PSP is called with `Idempotency-Key:
  pay-<payment_id>`; a retry returns the stored outcome or drives the same charge again
  with the same key; the reconciler resolves whatever a crash or PSP failure left pending.
- `psp_retry_without_key`: "retry without an idempotency key". The PSP is called without a
  key and a timeout/5xx is retried once more (the reconciler too), so a charge that took
  effect before the failure (partner `fail_after`) is taken twice.
- `check_then_act`: "check, then act" instead of an atomic claim. The row is read, the PSP
  charged (without a key: the service trusts its own read as the dedup gate) and only
  then inserted, so two concurrent retries of one payment both charge.
- `no_idempotency`: "no idempotency key on a retryable write". Every request charges again
  with a fresh key and overwrites the row.
- `dual_write`: "dual write" instead of claim-then-effect. The PSP is charged first and
  the payment recorded in one later transaction; a crash or database error in between
  leaves money moved with no captured payment.

A degraded variant, correct but slow (for the latency SLO of designs/payments.toml):

- `inline_psp_retry`: an unknown PSP outcome is retried inside the request, with the
  same key and a growing backoff (0.5 s, 1 s, 1.5 s), instead of answering pending and
  leaving it to the reconciler: never a duplicate charge, but the answer blows the
  latency budget (seed Step 15: every timeout in a path is part of its budget).
"""
