// ts-payments: one replica of the payments service.
//
//   node dist/main.js serve [--variant NAME]
//
// Environment: PORT, INSTANCE_ID, DATABASE_URL, REDIS_URL, PARTNER_URL,
// FAILMODEL_VARIANT (docs/contracts.md section 1).

import http from "node:http";
import { Cache } from "./cache";
import { Config, ConfigError, DEADLINES, loadConfig } from "./config";
import { errText, log, setLogPrefix, sleep } from "./log";
import { Answer, Payments, PaymentRequest } from "./payments";
import { Psp } from "./psp";
import { Store } from "./store";

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_BODY = 64 * 1024;

function send(res: http.ServerResponse, answer: Answer): void {
  if (res.writableEnded || res.destroyed) return;
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

function parsePayment(text: string): PaymentRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "body is not JSON";
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "body is not a JSON object";
  const v = value as Record<string, unknown>;
  if (typeof v.payment_id !== "string" || !ID.test(v.payment_id)) return "payment_id must be an id";
  if (typeof v.order_id !== "string" || !ID.test(v.order_id)) return "order_id must be an id";
  if (typeof v.amount !== "number" || !Number.isSafeInteger(v.amount) || v.amount <= 0) {
    return "amount must be a positive integer (cents)";
  }
  return { payment_id: v.payment_id, order_id: v.order_id, amount: v.amount };
}

async function handle(payments: Payments, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const path = url.pathname;
  if (req.method === "GET" && path === "/health") {
    send(res, { status: 200, body: { status: "ok" } });
    return;
  }
  if (path === "/payments") {
    if (req.method !== "POST") {
      send(res, { status: 405, body: { error: "method not allowed" } });
      return;
    }
    const parsed = parsePayment(await readBody(req));
    if (typeof parsed === "string") {
      send(res, { status: 400, body: { error: parsed } });
      return;
    }
    send(res, await payments.pay(parsed));
    return;
  }
  const m = /^\/payments\/([^/]+)$/.exec(path);
  if (m) {
    if (req.method !== "GET") {
      send(res, { status: 405, body: { error: "method not allowed" } });
      return;
    }
    const id = decodeURIComponent(m[1]);
    if (!ID.test(id)) {
      send(res, { status: 400, body: { error: "payment_id must be an id" } });
      return;
    }
    send(res, await payments.read(id));
    return;
  }
  send(res, { status: 404, body: { error: "no such route" } });
}

async function startUp(store: Store): Promise<void> {
  // The stores may still be coming back (a crash healed with a partition):
  // keep trying; the harness's start deadline decides when it is too late.
  for (let attempt = 1; ; attempt++) {
    try {
      await store.ensureSchema();
      return;
    } catch (err) {
      if (attempt === 1 || attempt % 10 === 0) log(`schema not ready yet (attempt ${attempt}): ${errText(err)}`);
      await sleep(Math.min(100 * attempt, 1000));
    }
  }
}

function runReconciler(payments: Payments, stopped: () => boolean): void {
  const loop = async () => {
    while (!stopped()) {
      try {
        const n = await payments.reconcile();
        if (n === 0) await sleep(DEADLINES.reconcileEvery);
      } catch (err) {
        log(`reconciler: ${errText(err)}`);
        await sleep(DEADLINES.reconcileEvery);
      }
    }
  };
  void loop();
}

async function serve(config: Config): Promise<void> {
  setLogPrefix(`ts-payments[${config.instanceId}]`);
  const store = new Store(config.databaseUrl, config.instanceId);
  const cache = new Cache(config.redisUrl);
  const psp = new Psp(config.partnerUrl);
  const payments = new Payments(store, cache, psp, config.variant);

  await startUp(store);

  let stopping = false;
  const server = http.createServer((req, res) => {
    handle(payments, req, res).catch((err) => {
      log(`request ${req.method} ${req.url} failed: ${errText(err)}`);
      send(res, { status: 503, body: { error: "internal error; the outcome is unknown" } });
    });
  });
  server.keepAliveTimeout = 5000;
  server.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, "127.0.0.1", () => resolve());
  });
  server.on("error", (err) => log(`server: ${errText(err)}`));
  log(`listening on 127.0.0.1:${config.port} (variant ${config.variant})`);

  runReconciler(payments, () => stopping);

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    Promise.all([store.close(), cache.close()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

function main(): void {
  // Never die of a stray error: answer 503 for the request, keep serving.
  process.on("unhandledRejection", (err) => log(`unhandled rejection: ${errText(err)}`));
  process.on("uncaughtException", (err) => log(`uncaught exception: ${errText(err)}`));
  let config: Config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ts-payments: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  serve(config).catch((err) => {
    process.stderr.write(`ts-payments: cannot serve: ${errText(err)}\n`);
    process.exit(1);
  });
}

main();
