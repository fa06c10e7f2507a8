// Redis: a per-payment lock that lets one attempt at a time talk to the PSP
// (others wait for its result), and a cache of payment results that answers
// resends and reads without a database round trip. Redis is never the record:
// when it is slow or down, requests go on without it.

import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import { DEADLINES } from "./config";
import { errText, log, withDeadline } from "./log";
import { PaymentRow, Status } from "./store";

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface Lock {
  // acquired: this attempt holds it; held: another attempt does;
  // unavailable: Redis did not answer in time (the caller goes on without it).
  state: "acquired" | "held" | "unavailable";
  token: string;
  release(): void;
}

export interface CachedResult {
  payment_id: string;
  order_id: string;
  amount: number;
  status: Status;
  charge_id: string | null;
}

export class Cache {
  private readonly redis: Redis;
  private lastError = 0;

  constructor(redisUrl: string) {
    this.redis = new Redis(redisUrl, {
      connectTimeout: DEADLINES.redisConnect,
      commandTimeout: DEADLINES.redisCommand,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      lazyConnect: false,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    });
    this.redis.on("error", (err) => this.complain("connection", err));
  }

  private complain(what: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastError > 1000) {
      this.lastError = now;
      log(`redis: ${what}: ${errText(err)}`);
    }
  }

  private run<T>(what: string, p: Promise<T>): Promise<T> {
    return withDeadline(p, DEADLINES.redisCommand + 100, `redis ${what}`);
  }

  private static resultKey(paymentId: string): string {
    return `tsp:result:${paymentId}`;
  }

  private static lockKey(paymentId: string): string {
    return `tsp:lock:${paymentId}`;
  }

  async getResult(paymentId: string): Promise<CachedResult | null> {
    try {
      const raw = await this.run("get", this.redis.get(Cache.resultKey(paymentId)));
      if (raw === null) return null;
      const value = JSON.parse(raw) as CachedResult;
      if (value.payment_id !== paymentId) return null;
      return value;
    } catch (err) {
      this.complain("get", err);
      return null;
    }
  }

  // Best effort; a failed write only costs a database read later.
  putResult(row: PaymentRow): void {
    const value: CachedResult = {
      payment_id: row.payment_id,
      order_id: row.order_id,
      amount: row.amount,
      status: row.status,
      charge_id: row.charge_id,
    };
    this.run(
      "set",
      this.redis.set(Cache.resultKey(row.payment_id), JSON.stringify(value), "EX", DEADLINES.resultTtlSeconds),
    ).catch((err) => this.complain("set", err));
  }

  async lock(paymentId: string): Promise<Lock> {
    const token = randomUUID();
    const key = Cache.lockKey(paymentId);
    const release = () => {
      this.run("release", this.redis.eval(RELEASE, 1, key, token)).catch((err) => this.complain("release", err));
    };
    try {
      const ok = await this.run("lock", this.redis.set(key, token, "PX", DEADLINES.lockTtl, "NX"));
      return { state: ok === "OK" ? "acquired" : "held", token, release: ok === "OK" ? release : () => undefined };
    } catch (err) {
      this.complain("lock", err);
      // The SET may still have landed: release what we may hold.
      return { state: "unavailable", token, release };
    }
  }

  async close(): Promise<void> {
    try {
      await withDeadline(this.redis.quit(), 1000, "redis quit");
    } catch {
      this.redis.disconnect();
    }
  }
}
