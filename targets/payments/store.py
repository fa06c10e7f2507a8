"""The `payments` table: the idempotency record and the payment state machine in one row.

States: pending -> captured | declined (terminal). Only `settle` leaves `pending`, and
only from `pending`, so a late or duplicate PSP answer can never rewrite a final outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool

Status = Literal["pending", "captured", "declined"]

SCHEMA_LOCK = 0x70617931
"""Advisory lock key serialising schema creation between replicas starting together."""

DDL = """
CREATE TABLE IF NOT EXISTS payments (
    payment_id text PRIMARY KEY,
    order_id text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    status text NOT NULL CHECK (status IN ('pending', 'captured', 'declined')),
    charge_id text,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now() + interval '1 second'
);
CREATE INDEX IF NOT EXISTS payments_due ON payments (next_attempt_at)
    WHERE status = 'pending';
"""

_COLUMNS = "payment_id, order_id, amount, status, charge_id"


@dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    """One payment as stored (or as requested, before it is stored)."""

    payment_id: str
    order_id: str
    amount: int
    status: Status = "pending"
    charge_id: str | None = None

    def same_request(self, other: Payment) -> bool:
        """Whether `other` asks for the same payment (a retry, not a reuse of the id)."""
        return (self.order_id, self.amount) == (other.order_id, other.amount)

    def to_json(self) -> dict[str, Any]:
        """The contract's representation; `charge_id` only once captured."""
        body: dict[str, Any] = {"payment_id": self.payment_id, "status": self.status}
        if self.charge_id is not None:
            body["charge_id"] = self.charge_id
        return body


def _payment(row: tuple[Any, ...]) -> Payment:
    payment_id, order_id, amount, status, charge_id = row
    return Payment(
        payment_id=payment_id, order_id=order_id, amount=amount, status=status,
        charge_id=charge_id,
    )


async def find(pool: AsyncConnectionPool, payment_id: str) -> Payment | None:
    """The stored payment, if any."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM payments WHERE payment_id = %s", (payment_id,)
        )
        row = await cur.fetchone()
    return None if row is None else _payment(row)


async def claim(pool: AsyncConnectionPool, request: Payment) -> Payment:
    """Insert `request` as pending unless the id exists; the stored row either way.

    Committed before any charge: from here on the row is the dedup gate and the
    reconciler's to-do item, whatever happens to this process.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"INSERT INTO payments ({_COLUMNS}) VALUES (%s, %s, %s, 'pending', NULL)"
            f" ON CONFLICT (payment_id) DO NOTHING RETURNING {_COLUMNS}",
            (request.payment_id, request.order_id, request.amount),
        )
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM payments WHERE payment_id = %s", (request.payment_id,)
            )
            row = await cur.fetchone()
    if row is None:  # claimed by a row that vanished: never deleted, so a broken store
        raise RuntimeError(f"payment {request.payment_id!r} neither inserted nor found")
    return _payment(row)


async def settle(pool: AsyncConnectionPool, payment_id: str, outcome: Payment) -> Payment:
    """Move a pending payment to `outcome`'s final status; the stored row afterwards.

    The `status = 'pending'` predicate makes this a compare-and-set: the first final
    outcome wins and a pending `outcome` changes nothing.
    """
    async with pool.connection() as conn:
        if outcome.status != "pending":
            await conn.execute(
                "UPDATE payments SET status = %s, charge_id = %s"
                " WHERE payment_id = %s AND status = 'pending'",
                (outcome.status, outcome.charge_id, payment_id),
            )
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM payments WHERE payment_id = %s", (payment_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise RuntimeError(f"payment {payment_id!r} vanished while being settled")
    return _payment(row)


async def record(pool: AsyncConnectionPool, outcome: Payment, *, overwrite: bool) -> Payment:
    """Store an already-charged payment in one transaction (the buggy variants' write).

    `overwrite` replaces an existing row (no dedup at all); otherwise the first row wins.
    """
    on_conflict = (
        "DO UPDATE SET order_id = EXCLUDED.order_id, amount = EXCLUDED.amount,"
        " status = EXCLUDED.status, charge_id = EXCLUDED.charge_id"
        if overwrite
        else "DO NOTHING"
    )
    async with pool.connection() as conn:
        await conn.execute(
            f"INSERT INTO payments ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"
            f" ON CONFLICT (payment_id) {on_conflict}",
            (outcome.payment_id, outcome.order_id, outcome.amount, outcome.status,
             outcome.charge_id),
        )
    stored = await find(pool, outcome.payment_id)
    if stored is None:
        raise RuntimeError(f"payment {outcome.payment_id!r} vanished after being recorded")
    return stored


async def take_due(pool: AsyncConnectionPool, *, limit: int) -> list[Payment]:
    """Pending payments whose next attempt is due, each pushed back by its own backoff.

    The backoff doubles per attempt from 0.2 s up to 5 s; SKIP LOCKED and the push-back
    keep concurrent reconcilers from taking the same payment at the same time.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE payments SET attempts = attempts + 1, next_attempt_at = now()"
            " + least(interval '200 milliseconds' * power(2, least(attempts, 8)),"
            "         interval '5 seconds')"
            " WHERE payment_id IN (SELECT payment_id FROM payments"
            "   WHERE status = 'pending' AND next_attempt_at <= now()"
            "   ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_COLUMNS}",
            (limit,),
        )
        rows = await cur.fetchall()
    return [_payment(row) for row in rows]
