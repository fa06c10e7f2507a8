"""A wallet with transfers: a third-party target and its design (examples/wallet/wallet.toml).

Written from docs/contracts.md (sections 1, 6 and 7) and docs/workloads.md only:
a small HTTP+JSON service on PostgreSQL. ``correct`` moves money in one
transaction under row locks; the other variants are realistic bugs the
design's rows must catch.
"""

VARIANTS: tuple[str, ...] = (
    "correct",
    "no_idempotency",
    "two_transactions",
    "check_then_act",
    "no_owner_check",
    "notify_in_request",
)
