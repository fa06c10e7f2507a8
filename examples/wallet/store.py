"""The wallet's PostgreSQL: schema, accounts and the transfer algorithm of each variant.

A transfer is one logical request keyed by ``transfer_id``. The correct
algorithm claims the id, locks both accounts (in id order, so two opposite
transfers cannot deadlock), checks the caller owns ``from`` and that the
balance covers the amount, moves the money and records the outcome -- all in
one transaction, so a crash at any instant leaves either nothing or
everything, and a resend of the id finds the first outcome.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

STATEMENT_TIMEOUT_MS = 3000
"""Server-side cap on any statement or lock wait: no request holds a lock for long."""

log = logging.getLogger("wallet")

SCHEMA_LOCK = 774_201
SCHEMA = """
CREATE TABLE IF NOT EXISTS wallet_accounts (
    account_id text PRIMARY KEY,
    owner      text NOT NULL,
    balance    bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS wallet_transfers (
    transfer_id text PRIMARY KEY,
    caller      text NOT NULL,
    from_id     text NOT NULL,
    to_id       text NOT NULL,
    amount      bigint NOT NULL,
    status      text NOT NULL,
    reason      text
);
CREATE TABLE IF NOT EXISTS wallet_outbox (
    transfer_id text PRIMARY KEY,
    from_id     text NOT NULL,
    to_id       text NOT NULL,
    amount      bigint NOT NULL,
    sent        boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS wallet_outbox_unsent ON wallet_outbox (transfer_id) WHERE NOT sent;
"""


class Conflict(Exception):
    """An id reused with another body, or a transfer naming an account that does not exist."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer request, as the client sent it."""

    transfer_id: str
    caller: str
    from_id: str
    to_id: str
    amount: int


Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transfer's record, and whether this request decided it (False: a
    resend that found the first outcome)."""

    record: Row
    applied: bool


async def open_pool(url: str) -> AsyncConnectionPool[AsyncConnection[Row]]:
    """A pool that checks connections before use (it recovers after a cut link
    or a database restart) and waits, bounded, for the database at start."""
    pool: AsyncConnectionPool[AsyncConnection[Row]] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=8,
        open=False,
        timeout=4.0,
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "connect_timeout": 3,
            "row_factory": dict_row,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
            f" -c lock_timeout={STATEMENT_TIMEOUT_MS}"
            f" -c idle_in_transaction_session_timeout={STATEMENT_TIMEOUT_MS * 2}",
        },
    )
    await pool.open(wait=False)
    return pool


async def ensure_schema(pool: AsyncConnectionPool[AsyncConnection[Row]]) -> None:
    """Create the tables once; replicas start together, so serialise on an advisory
    lock, and skip the DDL when a restart finds the tables there."""
    for attempt in range(40):
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT to_regclass('wallet_outbox_unsent') IS NOT NULL AS ready"
                )
                found = await cur.fetchone()
                if found and found["ready"]:
                    return
                await conn.commit()
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                    await conn.execute(SCHEMA)
            return
        except Exception:  # the store may still be unreachable: retry until start_timeout_s
            if attempt == 39:
                raise
            await asyncio.sleep(0.5)


async def open_account(
    pool: AsyncConnectionPool[AsyncConnection[Row]], account_id: str, owner: str, balance: int
) -> Row:
    """Create the account if absent; the stored row either way (a resend is harmless)."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO wallet_accounts (account_id, owner, balance) VALUES (%s, %s, %s)"
            " ON CONFLICT (account_id) DO NOTHING",
            (account_id, owner, balance),
        )
        row = await _one(conn, "SELECT * FROM wallet_accounts WHERE account_id = %s", account_id)
    assert row is not None
    if row["owner"] != owner:
        raise Conflict(f"account {account_id} exists with another owner")
    return row


async def account(pool: AsyncConnectionPool[AsyncConnection[Row]], account_id: str) -> Row | None:
    async with pool.connection() as conn:
        return await _one(conn, "SELECT * FROM wallet_accounts WHERE account_id = %s", account_id)


async def transfer_record(
    pool: AsyncConnectionPool[AsyncConnection[Row]], transfer_id: str
) -> Row | None:
    async with pool.connection() as conn:
        return await _one(
            conn, "SELECT * FROM wallet_transfers WHERE transfer_id = %s", transfer_id
        )


async def transfer(
    pool: AsyncConnectionPool[AsyncConnection[Row]], t: Transfer, variant: str
) -> Outcome:
    """Apply ``t`` as ``variant`` does. A completed transfer's notification is
    written to the outbox in the same transaction (the relay sends it), except
    in ``notify_in_request``, where the request handler sends it itself."""
    if variant == "two_transactions":
        return await _debit_then_credit(pool, t)
    checked = await _read(pool, t) if variant == "check_then_act" else None
    async with pool.connection() as conn, conn.transaction():
        if variant != "no_idempotency":
            first = await _claim(conn, t)
            if first is not None:
                return Outcome(first, applied=False)
        accounts = checked if checked is not None else await _lock(conn, t)
        verdict = _decide(t, accounts, check_owner=variant != "no_owner_check")
        if verdict is None:
            await _move(conn, t)
        record = await _record(
            conn, t, verdict, upsert=variant == "no_idempotency",
            outbox=variant != "notify_in_request",
        )
    return Outcome(record, applied=True)


CREDIT_DELAY_S = 0.3
"""two_transactions: how long after the debit its credit is applied (off the request path)."""

_credits: set[asyncio.Task[None]] = set()


async def _debit_then_credit(
    pool: AsyncConnectionPool[AsyncConnection[Row]], t: Transfer
) -> Outcome:
    """The bug: the debit and the transfer's record commit in one transaction and
    the answer goes out; the credit follows in a second transaction, a moment
    later, off the request path (to keep hot accounts' locks short). A crash or a
    lost database link in between loses the money: nothing remembers the credit."""
    async with pool.connection() as conn, conn.transaction():
        first = await _claim(conn, t)
        if first is not None:
            return Outcome(first, applied=False)
        accounts = await _lock(conn, t)
        verdict = _decide(t, accounts, check_owner=True)
        if verdict is None:
            await conn.execute(
                "UPDATE wallet_accounts SET balance = balance - %s WHERE account_id = %s",
                (t.amount, t.from_id),
            )
        record = await _record(conn, t, verdict, upsert=False, outbox=True)
    if verdict is None:
        task = asyncio.get_running_loop().create_task(_credit(pool, t))
        _credits.add(task)
        task.add_done_callback(_credits.discard)
    return Outcome(record, applied=True)


async def _credit(pool: AsyncConnectionPool[AsyncConnection[Row]], t: Transfer) -> None:
    await asyncio.sleep(CREDIT_DELAY_S)
    try:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE wallet_accounts SET balance = balance + %s WHERE account_id = %s",
                (t.amount, t.to_id),
            )
    except Exception as exc:  # the bug's other half: a failed credit is only logged
        log.warning("credit of transfer %s failed: %r", t.transfer_id, exc)


async def _claim(conn: AsyncConnection[Row], t: Transfer) -> Row | None:
    """Insert-if-absent on transfer_id: None for a new transfer (now ours until commit),
    else the first outcome. A concurrent claim of the same id waits for ours."""
    cur = await conn.execute(
        "INSERT INTO wallet_transfers (transfer_id, caller, from_id, to_id, amount, status)"
        " VALUES (%s, %s, %s, %s, %s, 'pending') ON CONFLICT (transfer_id) DO NOTHING"
        " RETURNING transfer_id",
        (t.transfer_id, t.caller, t.from_id, t.to_id, t.amount),
    )
    if await cur.fetchone() is not None:
        return None
    first = await _one(conn, "SELECT * FROM wallet_transfers WHERE transfer_id = %s", t.transfer_id)
    assert first is not None
    if (first["caller"], first["from_id"], first["to_id"], first["amount"]) != (
        t.caller, t.from_id, t.to_id, t.amount,
    ):
        raise Conflict(f"transfer {t.transfer_id} exists with another body")
    return first


async def _lock(conn: AsyncConnection[Row], t: Transfer) -> dict[str, Row]:
    """Both accounts, locked in id order (no deadlock between opposite transfers)."""
    cur = await conn.execute(
        "SELECT * FROM wallet_accounts WHERE account_id = ANY(%s) ORDER BY account_id FOR UPDATE",
        ([t.from_id, t.to_id],),
    )
    return {r["account_id"]: r for r in await cur.fetchall()}


async def _read(pool: AsyncConnectionPool[AsyncConnection[Row]], t: Transfer) -> dict[str, Row]:
    """The bug of check_then_act: the accounts are read (validated) before the
    transaction and without a lock, so two transfers from one account both see
    the money that only one of them may take."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM wallet_accounts WHERE account_id = ANY(%s)", ([t.from_id, t.to_id],)
        )
        return {r["account_id"]: r for r in await cur.fetchall()}


def _decide(t: Transfer, accounts: dict[str, Row], *, check_owner: bool) -> str | None:
    """None to go ahead, else why the transfer is refused."""
    source, target = accounts.get(t.from_id), accounts.get(t.to_id)
    if source is None or target is None:
        raise Conflict(f"transfer {t.transfer_id} names an account that does not exist")
    if check_owner and source["owner"] != t.caller:
        return "forbidden"
    if source["balance"] < t.amount:
        return "insufficient_funds"
    return None


async def _move(conn: AsyncConnection[Row], t: Transfer) -> None:
    await conn.execute(
        "UPDATE wallet_accounts SET balance = balance - %s WHERE account_id = %s",
        (t.amount, t.from_id),
    )
    await conn.execute(
        "UPDATE wallet_accounts SET balance = balance + %s WHERE account_id = %s",
        (t.amount, t.to_id),
    )


async def _record(conn: AsyncConnection[Row], t: Transfer, refused: str | None, *,
                  upsert: bool, outbox: bool) -> Row:
    """Store the outcome: completed, or rejected with its reason (a resend finds
    it); a completed transfer's notification goes to the outbox (``outbox``)."""
    status = "completed" if refused is None else "rejected"
    if upsert:  # no_idempotency: no claim was made; the last attempt's outcome wins
        cur = await conn.execute(
            "INSERT INTO wallet_transfers"
            " (transfer_id, caller, from_id, to_id, amount, status, reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (transfer_id) DO UPDATE"
            " SET status = EXCLUDED.status, reason = EXCLUDED.reason RETURNING *",
            (t.transfer_id, t.caller, t.from_id, t.to_id, t.amount, status, refused),
        )
    else:
        cur = await conn.execute(
            "UPDATE wallet_transfers SET status = %s, reason = %s WHERE transfer_id = %s"
            " RETURNING *",
            (status, refused, t.transfer_id),
        )
    row = await cur.fetchone()
    assert row is not None
    if outbox and refused is None:
        await conn.execute(
            "INSERT INTO wallet_outbox (transfer_id, from_id, to_id, amount)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (transfer_id) DO NOTHING",
            (t.transfer_id, t.from_id, t.to_id, t.amount),
        )
    return row


async def unsent(pool: AsyncConnectionPool[AsyncConnection[Row]], limit: int) -> list[Row]:
    """Notifications not yet acknowledged by the partner, oldest id first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM wallet_outbox WHERE NOT sent ORDER BY transfer_id LIMIT %s", (limit,)
        )
        return await cur.fetchall()


async def mark_sent(pool: AsyncConnectionPool[AsyncConnection[Row]], transfer_id: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE wallet_outbox SET sent = true WHERE transfer_id = %s", (transfer_id,)
        )


async def _one(conn: AsyncConnection[Row], sql: str, key: str) -> Row | None:
    cur = await conn.execute(sql.encode(), (key,))
    return await cur.fetchone()
