// The payment flow (docs/contracts.md section 4).
//
// POST /payments
//   1. A result already known (Redis, then PostgreSQL) is answered as it is.
//   2. The intent is recorded in PostgreSQL (pending) before any charge.
//   3. A per-payment lock in Redis lets one attempt at a time call the PSP;
//      a concurrent attempt waits a little for that one's result.
//   4. The PSP is called with one Idempotency-Key per payment and the body
//      {reference, amount} taken from the recorded intent, so every call for
//      a payment (retries, other replicas, the reconciler) is the same call.
//   5. The answer is settled once in PostgreSQL (pending -> captured or
//      declined) and only then answered; an outcome not known yet is answered
//      202 pending, a store failure 503: both indeterminate.
// The reconciler (every replica runs one) finishes pending payments with the
// same key: a crash, a lost answer or an unreachable PSP ends there.

import { createHash } from "node:crypto";
import { Cache, CachedResult, Lock } from "./cache";
import { DEADLINES, Variant } from "./config";
import { errText, log, sleep } from "./log";
import { ChargeOutcome, Psp } from "./psp";
import { isFinal, PaymentRow, Status, Store } from "./store";

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export interface PaymentRequest {
  payment_id: string;
  order_id: string;
  amount: number;
}

type Known = PaymentRow | CachedResult;

function unavailable(paymentId: string, why: string): Answer {
  return { status: 503, body: { payment_id: paymentId, status: "unknown", error: why } };
}

function pending(paymentId: string): Answer {
  return { status: 202, body: { payment_id: paymentId, status: "pending" } };
}

export class Payments {
  constructor(
    private readonly store: Store,
    private readonly cache: Cache,
    private readonly psp: Psp,
    private readonly variant: Variant,
  ) {}

  // ---- answers -------------------------------------------------------------

  // The answer to POST /payments for a payment in any state.
  private answer(p: Known): Answer {
    switch (p.status) {
      case "captured":
        return { status: 200, body: { payment_id: p.payment_id, status: "captured", charge_id: p.charge_id } };
      case "declined":
        return { status: 402, body: { payment_id: p.payment_id, status: "declined" } };
      default:
        return pending(p.payment_id);
    }
  }

  // The answer for a payment this request has just seen settled.
  private settledAnswer(p: Known): Answer {
    return p.status === "captured"
      ? { status: 200, body: { payment_id: p.payment_id, status: "captured", charge_id: p.charge_id } }
      : { status: 402, body: { payment_id: p.payment_id, status: "declined" } };
  }

  // GET /payments/{id}
  private view(p: Known): Answer {
    const body: Record<string, unknown> = { payment_id: p.payment_id, status: p.status };
    if (p.status === "captured") body.charge_id = p.charge_id;
    return { status: 200, body };
  }

  // ---- cache policy --------------------------------------------------------

  private cacheable(status: Status): boolean {
    if (this.variant === "variant_c") return true;
    return isFinal(status);
  }

  private remember(row: PaymentRow): void {
    if (this.cacheable(row.status)) this.cache.putResult(row);
  }

  // ---- PSP -----------------------------------------------------------------

  // One key per charge: the payment id, and a short tag so that keys of this
  // service never collide with another client's keys at the PSP.
  private chargeKey(paymentId: string, lock: Lock): string {
    const tag =
      this.variant === "variant_a"
        ? lock.token.slice(0, 8)
        : createHash("sha256").update(`ts-payments/${paymentId}`).digest("hex").slice(0, 8);
    return `tsp-charge-${paymentId}-${tag}`;
  }

  private async chargeOnce(row: PaymentRow, lock: Lock): Promise<ChargeOutcome> {
    const outcome = await this.psp.charge(this.chargeKey(row.payment_id, lock), row.payment_id, row.amount);
    if (outcome.kind === "unknown") {
      log(`payment ${row.payment_id}: PSP outcome unknown (${outcome.detail})`);
      if (this.variant === "variant_b" && outcome.transport) return { kind: "declined" };
    }
    return outcome;
  }

  private async charge(row: PaymentRow, lock: Lock, attempts: number): Promise<ChargeOutcome> {
    let outcome = await this.chargeOnce(row, lock);
    for (let i = 1; i < attempts && outcome.kind === "unknown"; i++) {
      await sleep(DEADLINES.pspRetryPause);
      outcome = await this.chargeOnce(row, lock);
    }
    return outcome;
  }

  // Records a known outcome; returns the row as settled (by us or by whoever
  // settled it first: with one key per payment both saw the same charge).
  private async record(row: PaymentRow, outcome: ChargeOutcome): Promise<PaymentRow | null> {
    if (outcome.kind === "unknown") return null;
    const settled =
      outcome.kind === "captured"
        ? await this.store.settle(row.payment_id, "captured", outcome.chargeId)
        : await this.store.settle(row.payment_id, "declined", null);
    return settled;
  }

  // Waits (a little) for another attempt's result.
  private async awaitResult(row: PaymentRow): Promise<Known> {
    const deadline = Date.now() + DEADLINES.lockWait;
    let latest: Known = row;
    while (Date.now() < deadline) {
      await sleep(DEADLINES.lockPoll);
      const cached = await this.cache.getResult(row.payment_id);
      if (cached !== null && isFinal(cached.status)) return cached;
      try {
        const now = await this.store.get(row.payment_id);
        if (now !== null) {
          latest = now;
          if (isFinal(now.status)) return now;
        }
      } catch {
        /* keep waiting */
      }
    }
    return latest;
  }

  // ---- endpoints -----------------------------------------------------------

  async pay(req: PaymentRequest): Promise<Answer> {
    const id = req.payment_id;
    const cached = await this.cache.getResult(id);
    if (cached !== null && isFinal(cached.status) && cached.order_id === req.order_id && cached.amount === req.amount) {
      return this.answer(cached);
    }

    let row: PaymentRow;
    try {
      row = await this.store.claim(id, req.order_id, req.amount);
    } catch (err) {
      log(`payment ${id}: recording the intent failed: ${errText(err)}`);
      return unavailable(id, "the payment could not be recorded; its state is unknown");
    }
    if (row.order_id !== req.order_id || row.amount !== req.amount) {
      return { status: 409, body: { payment_id: id, error: "payment_id already used with another order_id or amount" } };
    }
    this.remember(row);
    if (isFinal(row.status)) return this.answer(row);

    const lock = await this.cache.lock(id);
    try {
      if (lock.state === "held") {
        if (this.variant === "variant_d") {
          try {
            const now = await this.store.get(id);
            return now === null ? unavailable(id, "payment not found") : this.settledAnswer(now);
          } catch (err) {
            return unavailable(id, `payment state unknown: ${errText(err)}`);
          }
        }
        const seen = await this.awaitResult(row);
        if (isFinal(seen.status)) return this.answer(seen);
        // The other attempt is still at it: calling the PSP with the same key
        // is harmless (it answers both the same), so go on.
      }

      const outcome = await this.charge(row, lock, 2);
      if (outcome.kind === "unknown") return pending(id);
      let settled: PaymentRow | null;
      try {
        settled = await this.record(row, outcome);
      } catch (err) {
        log(`payment ${id}: recording the outcome failed: ${errText(err)}`);
        return unavailable(id, "the outcome could not be recorded yet");
      }
      if (settled === null) return pending(id);
      this.remember(settled);
      return this.settledAnswer(settled);
    } finally {
      lock.release();
    }
  }

  async read(paymentId: string): Promise<Answer> {
    const cached = await this.cache.getResult(paymentId);
    if (cached !== null) return this.view(cached);
    let row: PaymentRow | null;
    try {
      row = await this.store.get(paymentId);
    } catch (err) {
      return unavailable(paymentId, `payment state unknown: ${errText(err)}`);
    }
    if (row === null) return { status: 404, body: { payment_id: paymentId, error: "not found" } };
    this.remember(row);
    return this.view(row);
  }

  // ---- reconciler ----------------------------------------------------------

  // One round: lease the due pending payments and try each once.
  async reconcile(): Promise<number> {
    const due = await this.store.claimDue(10);
    await Promise.all(
      due.map(async (row) => {
        const lock = await this.cache.lock(row.payment_id);
        if (lock.state === "held") return; // an attempt is at it; look again next lease
        try {
          const outcome = await this.charge(row, lock, 1);
          const settled = await this.record(row, outcome);
          if (settled !== null) log(`payment ${row.payment_id}: reconciled as ${settled.status}`);
        } catch (err) {
          log(`payment ${row.payment_id}: reconciling failed: ${errText(err)}`);
        } finally {
          lock.release();
        }
      }),
    );
    return due.length;
  }
}
