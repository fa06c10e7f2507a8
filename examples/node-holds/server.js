'use strict';
// node-holds: time-limited holds on limited stock.
//
// PostgreSQL is the source of truth and the clock authority: every decision
// about a deadline ("is this hold still live?") is taken inside PostgreSQL
// with clock_timestamp(), under the hold's row lock. Redis keeps the expiry
// index (a sorted set hold_id -> expires_at ms) that the sweeper walks to
// tidy expired holds; losing it loses nothing (reads expire lazily and a
// slow fallback scan of PostgreSQL does the same work).
//
// Variants: correct, variant_a .. variant_d (see BUGS.md, sealed).

const http = require('http');
const { Pool } = require('pg');
const { createClient } = require('redis');

const VARIANTS = ['correct', 'variant_a', 'variant_b', 'variant_c', 'variant_d'];

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const variant = arg('--variant') || process.env.FAILMODEL_VARIANT || 'correct';
if (!VARIANTS.includes(variant)) {
  console.error(`unknown variant ${JSON.stringify(variant)} (known: ${VARIANTS.join(', ')})`);
  process.exit(2);
}
const PORT = Number(process.env.PORT);
if (!PORT) { console.error('PORT is required'); process.exit(2); }
if (!process.env.DATABASE_URL) { console.error('DATABASE_URL is required'); process.exit(2); }
if (!process.env.REDIS_URL) { console.error('REDIS_URL is required'); process.exit(2); }

const log = (...a) => console.log(new Date().toISOString(), `[${process.env.INSTANCE_ID || 0}]`, ...a);

// ---------------------------------------------------------------- stores

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 10,
  connectionTimeoutMillis: 2000,
  idleTimeoutMillis: 10000,
  statement_timeout: 3000,
  query_timeout: 3500,
  idle_in_transaction_session_timeout: 5000,
});
// a client checked out of the pool has no error listener of its own: add one
// the moment it connects (docs/writing-a-target.md), or a dead connection ends
// the process
pool.on('connect', (c) => c.on('error', (e) => log('pg client error:', e.message)));
pool.on('error', (e) => log('pg pool error:', e.message));

const redis = createClient({
  url: process.env.REDIS_URL,
  disableOfflineQueue: true,
  socket: { connectTimeout: 1000, reconnectStrategy: (n) => Math.min(50 * (n + 1), 500) },
});
redis.on('error', () => {});
redis.connect().catch(() => {});

const ZKEY = 'node-holds:expiry';

function withTimeout(p, ms) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timeout')), ms); }),
  ]);
}

async function redisTry(fn) {
  try {
    if (!redis.isReady) return undefined;
    return await withTimeout(fn(), 500);
  } catch (e) {
    return undefined;
  }
}

async function tx(fn) {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (e) {
    broken = true;
    try { await c.query('ROLLBACK'); } catch (_) { /* connection gone */ }
    throw e;
  } finally {
    c.release(broken);
  }
}

async function schema() {
  const r = await pool.query(
    "SELECT to_regclass('nh_items') IS NOT NULL AND to_regclass('nh_holds') IS NOT NULL AS ok");
  if (r.rows[0].ok) return;
  await tx(async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(7265311)');
    await c.query(`CREATE TABLE IF NOT EXISTS nh_items (
      item_id text PRIMARY KEY,
      stock int NOT NULL,
      sold int NOT NULL DEFAULT 0)`);
    await c.query(`CREATE TABLE IF NOT EXISTS nh_holds (
      hold_id text PRIMARY KEY,
      item_id text NOT NULL,
      qty int NOT NULL,
      status text NOT NULL,
      reason text,
      expires_at timestamptz,
      confirmed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await c.query('CREATE INDEX IF NOT EXISTS nh_holds_live ON nh_holds (item_id) WHERE status = \'held\'');
    await c.query('CREATE INDEX IF NOT EXISTS nh_holds_due ON nh_holds (expires_at) WHERE status = \'held\'');
  });
}

// ---------------------------------------------------------------- helpers

const ms = (ts) => (ts == null ? null : Number(ts));
const HOLD_COLS = `hold_id, item_id, qty, status, reason,
  (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms,
  (status = 'held' AND expires_at > clock_timestamp()) AS live`;

function placement(h) {
  if (h.status === 'refused') {
    return [409, { hold_id: h.hold_id, item_id: h.item_id, status: 'refused', reason: h.reason }];
  }
  // the answer to a placement: the hold was placed, until expires_at
  return [200, { hold_id: h.hold_id, item_id: h.item_id, qty: h.qty, status: 'held', expires_at: ms(h.expires_ms) }];
}

function holdView(h) {
  // a hold past its deadline is expired, whether or not the sweeper got to it
  const status = h.status === 'held' && !h.live ? 'expired' : h.status;
  return { hold_id: h.hold_id, item_id: h.item_id, qty: h.qty, status, expires_at: ms(h.expires_ms) };
}

async function indexHold(holdId, expiresMs) {
  await redisTry(() => redis.zAdd(ZKEY, { score: expiresMs, value: holdId }));
}

async function unindexHold(holdId) {
  await redisTry(() => redis.zRem(ZKEY, holdId));
}

// ---------------------------------------------------------------- handlers

async function putItem(itemId, body) {
  const stock = body.stock;
  if (!Number.isInteger(stock) || stock < 0) return [400, { error: 'stock must be an integer >= 0' }];
  const r = await pool.query(
    `INSERT INTO nh_items (item_id, stock) VALUES ($1, $2)
     ON CONFLICT (item_id) DO UPDATE SET stock = nh_items.stock
     RETURNING item_id, stock`, [itemId, stock]);
  return [200, { item_id: r.rows[0].item_id, stock: r.rows[0].stock }];
}

async function placeHold(body) {
  const { hold_id: holdId, item_id: itemId, qty, expires_in_ms: inMs } = body;
  if (typeof holdId !== 'string' || typeof itemId !== 'string' || !Number.isInteger(qty) || qty <= 0 ||
      !Number.isInteger(inMs)) {
    return [400, { error: 'hold_id, item_id, qty > 0 and expires_in_ms are required' }];
  }
  if (variant === 'variant_a') return placeHoldA(holdId, itemId, qty, inMs);
  const out = await tx(async (c) => {
    // one hold at a time per item: the item row's lock orders them
    const it = await c.query('SELECT stock, sold FROM nh_items WHERE item_id = $1 FOR UPDATE', [itemId]);
    if (!it.rows.length) return [404, { error: 'no such item' }];
    const prev = await c.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1`, [holdId]);
    if (prev.rows.length) {
      const h = prev.rows[0];
      if (h.item_id !== itemId || h.qty !== qty) return [409, { error: 'hold_id reused with another body' }];
      return placement(h);
    }
    const held = await c.query(
      `SELECT coalesce(sum(qty), 0)::int AS n FROM nh_holds
       WHERE item_id = $1 AND status = 'held' AND expires_at > clock_timestamp()`, [itemId]);
    const available = it.rows[0].stock - it.rows[0].sold - held.rows[0].n;
    let ins;
    if (available >= qty) {
      ins = await c.query(
        `INSERT INTO nh_holds (hold_id, item_id, qty, status, expires_at)
         VALUES ($1, $2, $3, 'held', clock_timestamp() + $4::int * interval '1 millisecond')
         RETURNING ${HOLD_COLS}`, [holdId, itemId, qty, inMs]);
    } else {
      ins = await c.query(
        `INSERT INTO nh_holds (hold_id, item_id, qty, status, reason)
         VALUES ($1, $2, $3, 'refused', 'insufficient_stock')
         RETURNING ${HOLD_COLS}`, [holdId, itemId, qty]);
    }
    return placement(ins.rows[0]);
  });
  if (out[0] === 200) await indexHold(out[1].hold_id, out[1].expires_at);
  return out;
}

async function placeHoldA(holdId, itemId, qty, inMs) {
  const prev = await pool.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1`, [holdId]);
  if (prev.rows.length) return placement(prev.rows[0]);
  const it = await pool.query(
    `SELECT i.stock - i.sold - coalesce((SELECT sum(qty) FROM nh_holds h
        WHERE h.item_id = i.item_id AND h.status = 'held' AND h.expires_at > clock_timestamp()), 0)::int AS available
     FROM nh_items i WHERE i.item_id = $1`, [itemId]);
  if (!it.rows.length) return [404, { error: 'no such item' }];
  const ok = it.rows[0].available >= qty;
  const ins = await pool.query(
    `INSERT INTO nh_holds (hold_id, item_id, qty, status, reason, expires_at)
     VALUES ($1, $2, $3, $4::text, $5, CASE WHEN $4::text = 'held' THEN clock_timestamp() + $6::int * interval '1 millisecond' END)
     ON CONFLICT (hold_id) DO NOTHING`,
    [holdId, itemId, qty, ok ? 'held' : 'refused', ok ? null : 'insufficient_stock', inMs]);
  const h = (await pool.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1`, [holdId])).rows[0];
  const out = placement(h);
  if (ins.rowCount && out[0] === 200) await indexHold(holdId, out[1].expires_at);
  return out;
}

function refusal(h, status) {
  return [409, { hold_id: h.hold_id, status, reason: status }];
}

// confirm: buy the held units, only while the hold is live
async function confirm(holdId) {
  if (variant === 'variant_b') return confirmB(holdId);
  const out = await tx(async (c) => {
    const r = await c.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1 FOR UPDATE`, [holdId]);
    if (!r.rows.length) return [404, { error: 'no such hold' }];
    const h = r.rows[0];
    if (h.status === 'confirmed') {
      if (variant === 'variant_c') {
        await c.query('UPDATE nh_items SET sold = sold + $2 WHERE item_id = $1', [h.item_id, h.qty]);
      }
      return [200, { hold_id: holdId, status: 'confirmed' }];
    }
    if (h.status === 'held' && h.live) {
      await c.query("UPDATE nh_holds SET status = 'confirmed', confirmed_at = clock_timestamp() WHERE hold_id = $1", [holdId]);
      await c.query('UPDATE nh_items SET sold = sold + $2 WHERE item_id = $1', [h.item_id, h.qty]);
      return [200, { hold_id: holdId, status: 'confirmed' }];
    }
    if (h.status === 'held') {
      await c.query("UPDATE nh_holds SET status = 'expired' WHERE hold_id = $1", [holdId]);
      return refusal(h, 'expired');
    }
    return refusal(h, h.status);
  });
  if (out[0] === 200) await unindexHold(holdId);
  return out;
}

async function confirmB(holdId) {
  const r = await pool.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1`, [holdId]);
  if (!r.rows.length) return [404, { error: 'no such hold' }];
  const h = r.rows[0];
  if (h.status === 'confirmed') return [200, { hold_id: holdId, status: 'confirmed' }];
  if (h.status !== 'held') return refusal(h, h.status);
  if (!h.live) return refusal(h, 'expired');
  await tx(async (c) => {
    const u = await c.query(
      "UPDATE nh_holds SET status = 'confirmed', confirmed_at = clock_timestamp() WHERE hold_id = $1 AND status <> 'confirmed'",
      [holdId]);
    if (u.rowCount) await c.query('UPDATE nh_items SET sold = sold + $2 WHERE item_id = $1', [h.item_id, h.qty]);
  });
  await unindexHold(holdId);
  return [200, { hold_id: holdId, status: 'confirmed' }];
}

// release: give the units back before the deadline
async function release(holdId) {
  const out = await tx(async (c) => {
    const r = await c.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1 FOR UPDATE`, [holdId]);
    if (!r.rows.length) return [404, { error: 'no such hold' }];
    const h = r.rows[0];
    if (h.status === 'released') return [200, { hold_id: holdId, status: 'released' }];
    if (h.status === 'held' && h.live) {
      await c.query("UPDATE nh_holds SET status = 'released' WHERE hold_id = $1", [holdId]);
      return [200, { hold_id: holdId, status: 'released' }];
    }
    if (h.status === 'held') {
      await c.query("UPDATE nh_holds SET status = 'expired' WHERE hold_id = $1", [holdId]);
      return refusal(h, 'expired');
    }
    return refusal(h, h.status);
  });
  if (out[0] === 200) await unindexHold(holdId);
  return out;
}

// expire: end a hold whose time is up (a client's countdown ran out)
async function expire(holdId) {
  const out = await tx(async (c) => {
    const r = await c.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1 FOR UPDATE`, [holdId]);
    if (!r.rows.length) return [404, { error: 'no such hold' }];
    const h = r.rows[0];
    if (h.status === 'expired') return [200, { hold_id: holdId, status: 'expired' }];
    if (h.status === 'held' && !h.live) {
      await c.query("UPDATE nh_holds SET status = 'expired' WHERE hold_id = $1", [holdId]);
      return [200, { hold_id: holdId, status: 'expired' }];
    }
    if (h.status === 'held') {
      return [409, { hold_id: holdId, status: 'held', reason: 'not_expired', expires_at: ms(h.expires_ms) }];
    }
    return refusal(h, h.status);
  });
  if (out[0] === 200) await unindexHold(holdId);
  return out;
}

async function readHold(holdId) {
  const r = await pool.query(`SELECT ${HOLD_COLS} FROM nh_holds WHERE hold_id = $1`, [holdId]);
  if (!r.rows.length) return [404, { error: 'no such hold' }];
  return [200, holdView(r.rows[0])];
}

async function readItem(itemId) {
  const r = await pool.query(
    `SELECT i.item_id, i.stock, i.sold,
       coalesce((SELECT sum(qty) FROM nh_holds h WHERE h.item_id = i.item_id
                   AND h.status = 'held' AND h.expires_at > clock_timestamp()), 0)::int AS held
     FROM nh_items i WHERE i.item_id = $1`, [itemId]);
  if (!r.rows.length) return [404, { error: 'no such item' }];
  const it = r.rows[0];
  return [200, { item_id: it.item_id, stock: it.stock, sold: it.sold, held: it.held,
    available: it.stock - it.sold - it.held }];
}

// ---------------------------------------------------------------- sweeper

let sweeping = false;
let lastScan = 0;
async function sweep() {
  if (sweeping) return;
  sweeping = true;
  try {
    const due = await redisTry(() => redis.zRangeByScore(ZKEY, 0, Date.now(), { LIMIT: { offset: 0, count: 100 } }));
    if (due && due.length) {
      if (variant === 'variant_d') {
        await pool.query(
          "UPDATE nh_holds SET status = 'expired' WHERE hold_id = ANY($1) AND expires_at <= clock_timestamp()", [due]);
      } else {
        await pool.query(
          `UPDATE nh_holds SET status = 'expired'
           WHERE hold_id = ANY($1) AND status = 'held' AND expires_at <= clock_timestamp()`, [due]);
      }
      const done = await pool.query("SELECT hold_id FROM nh_holds WHERE hold_id = ANY($1) AND status <> 'held'", [due]);
      const ids = done.rows.map((x) => x.hold_id);
      if (ids.length) await redisTry(() => redis.zRem(ZKEY, ids));
    }
    if (Date.now() - lastScan > 2000) {
      lastScan = Date.now();
      // the index may have lost entries (a Redis restart): the slow way
      await pool.query(
        `UPDATE nh_holds SET status = 'expired' WHERE hold_id IN (
           SELECT hold_id FROM nh_holds WHERE status = 'held' AND expires_at <= clock_timestamp() LIMIT 500)
         AND status = 'held' AND expires_at <= clock_timestamp()`);
    }
  } catch (e) {
    // stores down: try again next tick
  } finally {
    sweeping = false;
  }
}

// ---------------------------------------------------------------- HTTP

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const s = Buffer.concat(chunks).toString('utf8');
      if (!s) return resolve({});
      try { resolve(JSON.parse(s)); } catch (e) { reject(e); }
    });
    req.on('error', reject);
  });
}

function send(res, status, body) {
  if (res.writableEnded || res.destroyed) return;
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

let ready = false;

async function route(req) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const m = req.method;
  if (m === 'GET' && p.length === 1 && p[0] === 'health') {
    return ready ? [200, { status: 'ok' }] : [503, { status: 'starting' }];
  }
  if (!ready) return [503, { error: 'starting' }];
  let body = {};
  if (m === 'POST' || m === 'PUT') {
    try { body = await readBody(req); } catch (e) { return [400, { error: 'invalid JSON' }]; }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return [400, { error: 'a JSON object' }];
  }
  if (p[0] === 'items' && p.length === 2) {
    if (m === 'PUT') return putItem(p[1], body);
    if (m === 'GET') return readItem(p[1]);
  }
  if (p[0] === 'holds') {
    if (p.length === 1 && m === 'POST') return placeHold(body);
    if (p.length === 2 && m === 'GET') return readHold(p[1]);
    if (p.length === 3 && m === 'POST') {
      if (p[2] === 'confirm') return confirm(p[1]);
      if (p[2] === 'release') return release(p[1]);
      if (p[2] === 'expire') return expire(p[1]);
    }
  }
  return [404, { error: 'no such route' }];
}

const server = http.createServer((req, res) => {
  // the work goes on if the client hangs up; its answer is then dropped
  route(req).then(([s, b]) => send(res, s, b), (e) => {
    // an outcome we do not know (a store error, a lost commit answer): indeterminate
    send(res, 503, { error: 'unavailable', detail: String(e && e.message) });
  });
});
server.keepAliveTimeout = 5000;

async function start() {
  for (;;) {
    try {
      await schema();
      break;
    } catch (e) {
      log('start-up: store not ready:', e.message);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  ready = true;
  server.listen(PORT, '127.0.0.1', () => log(`node-holds ${variant} listening on ${PORT}`));
  setInterval(sweep, 150).unref();
}

process.on('SIGTERM', () => {
  server.close();
  setTimeout(() => process.exit(0), 200).unref();
  Promise.allSettled([pool.end(), redis.quit()]).then(() => process.exit(0));
});
process.on('unhandledRejection', (e) => log('unhandled rejection:', e && e.message));
process.on('uncaughtException', (e) => log('uncaught exception:', e && e.stack));

start();
