// PostgreSQL: the store of record. One row per payment, written before any
// charge is attempted (the intent), settled once (pending -> captured or
// declined) by whichever attempt learns the PSP's answer first.

import { Pool, PoolClient, types } from "pg";
import { DEADLINES } from "./config";
import { errText, log, withDeadline } from "./log";

// int8 columns come back as strings by default; amounts are integers in cents.
types.setTypeParser(20, (value: string) => Number(value));

export type Status = "pending" | "captured" | "declined";

export interface PaymentRow {
  payment_id: string;
  order_id: string;
  amount: number;
  status: Status;
  charge_id: string | null;
}

export function isFinal(status: Status): boolean {
  return status === "captured" || status === "declined";
}

const COLUMNS = "payment_id, order_id, amount, status, charge_id";

const SCHEMA_LOCK = 7402619;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS tsp_payments (
     payment_id      text PRIMARY KEY,
     order_id        text NOT NULL,
     amount          bigint NOT NULL CHECK (amount > 0),
     status          text NOT NULL CHECK (status IN ('pending', 'captured', 'declined')),
     charge_id       text,
     created_at      timestamptz NOT NULL DEFAULT now(),
     updated_at      timestamptz NOT NULL DEFAULT now(),
     next_attempt_at timestamptz NOT NULL DEFAULT now(),
     attempts        integer NOT NULL DEFAULT 0,
     CHECK ((status = 'captured') = (charge_id IS NOT NULL))
   )`,
  `CREATE INDEX IF NOT EXISTS tsp_payments_due
     ON tsp_payments (next_attempt_at) WHERE status = 'pending'`,
];

export class Store {
  private readonly pool: Pool;

  constructor(databaseUrl: string, instanceId: string) {
    this.pool = new Pool({
      connectionString: databaseUrl,
      max: 10,
      connectionTimeoutMillis: DEADLINES.dbConnect,
      query_timeout: DEADLINES.dbQuery,
      statement_timeout: DEADLINES.dbQuery,
      idle_in_transaction_session_timeout: 5000,
      idleTimeoutMillis: 30000,
      keepAlive: true,
      application_name: `ts-payments-${instanceId}`,
    });
    // An idle client whose connection dies is reported here.
    this.pool.on("error", (err) => log(`postgres: idle connection lost: ${errText(err)}`));
    // A client that is checked out has no listener of the pool's: give every
    // client its own, as soon as it exists, so no 'error' ends the process.
    this.pool.on("connect", (client: PoolClient) => {
      client.on("error", (err) => log(`postgres: connection error: ${errText(err)}`));
    });
  }

  private async query<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    const result = await withDeadline(
      this.pool.query(text, values),
      DEADLINES.dbConnect + DEADLINES.dbQuery + 500,
      "postgres",
    );
    return result.rows as R[];
  }

  async ensureSchema(): Promise<void> {
    const present = await this.query<{ ok: boolean }>(
      "SELECT to_regclass('tsp_payments') IS NOT NULL AND to_regclass('tsp_payments_due') IS NOT NULL AS ok",
    );
    if (present[0]?.ok) return;
    const client = await withDeadline(this.pool.connect(), DEADLINES.dbConnect + 500, "postgres connect");
    let broken: unknown = undefined;
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
      for (const ddl of SCHEMA) await client.query(ddl);
      await client.query("COMMIT");
    } catch (err) {
      broken = err;
      try {
        await client.query("ROLLBACK");
      } catch {
        /* the connection is gone; it is destroyed below */
      }
      throw err;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  // Records the intent (pending) unless the payment exists, and returns the row.
  async claim(paymentId: string, orderId: string, amount: number): Promise<PaymentRow> {
    await this.query(
      `INSERT INTO tsp_payments (payment_id, order_id, amount, status, next_attempt_at)
       VALUES ($1, $2, $3, 'pending', now() + interval '${DEADLINES.firstReconcileAfter}')
       ON CONFLICT (payment_id) DO NOTHING`,
      [paymentId, orderId, amount],
    );
    const row = await this.get(paymentId);
    if (row === null) throw new Error(`payment ${paymentId} not found right after its insert`);
    return row;
  }

  async get(paymentId: string): Promise<PaymentRow | null> {
    const rows = await this.query<PaymentRow>(
      `SELECT ${COLUMNS} FROM tsp_payments WHERE payment_id = $1`,
      [paymentId],
    );
    return rows[0] ?? null;
  }

  // Settles a pending payment once; whatever was settled first stands.
  async settle(paymentId: string, status: "captured" | "declined", chargeId: string | null): Promise<PaymentRow> {
    const rows = await this.query<PaymentRow>(
      `UPDATE tsp_payments
          SET status = $2, charge_id = $3, updated_at = now()
        WHERE payment_id = $1 AND status = 'pending'
        RETURNING ${COLUMNS}`,
      [paymentId, status, chargeId],
    );
    if (rows[0]) return rows[0];
    const row = await this.get(paymentId);
    if (row === null) throw new Error(`payment ${paymentId} vanished`);
    return row;
  }

  // Leases up to `limit` pending payments that are due to the caller.
  async claimDue(limit: number): Promise<PaymentRow[]> {
    return this.query<PaymentRow>(
      `UPDATE tsp_payments p
          SET next_attempt_at = now() + interval '${DEADLINES.reconcileLease}', attempts = p.attempts + 1
         FROM (SELECT payment_id FROM tsp_payments
                WHERE status = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED) due
        WHERE p.payment_id = due.payment_id AND p.status = 'pending'
        RETURNING p.payment_id, p.order_id, p.amount, p.status, p.charge_id`,
      [limit],
    );
  }

  async close(): Promise<void> {
    await withDeadline(this.pool.end(), 2000, "postgres close").catch(() => undefined);
  }
}
