'use strict';
// node-auction: failmodel's `auction` workload (docs/contracts.md section 9)
// in Node.js, written from the public documentation only.
//
// Clock authority: PostgreSQL's clock_timestamp(). Every temporal decision
// (is this bid before end_time? is this auction due?) is taken inside one
// PL/pgSQL function call, after the auction's row lock is held, on the
// database's clock. No process's own clock takes part (except in the
// deliberately buggy variant `client_clock`).
//
// Usage: server.js [serve|closer] [--variant NAME]
//   serve  (default) an HTTP replica on 127.0.0.1:$PORT
//   closer a background process closing due auctions

const http = require('http');
const pg = require('pg');

const VARIANTS = ['correct', 'client_clock'];

// bigint (int8) as a JS number: end times in ms fit easily in 2^53.
pg.types.setTypeParser(20, (v) => (v === null ? null : parseInt(v, 10)));

// --------------------------------------------------------------- arguments

function die(msg) {
  process.stderr.write(`node-auction: ${msg}\n`);
  process.exit(2);
}

let mode = 'serve';
let variant = process.env.FAILMODEL_VARIANT || 'correct';
{
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === 'serve' || a === 'closer') mode = a;
    else if (a === '--variant') {
      if (i + 1 >= args.length) die('--variant needs a value');
      variant = args[++i];
    } else if (a.startsWith('--variant=')) variant = a.slice('--variant='.length);
    else die(`unknown argument ${JSON.stringify(a)} (usage: server.js [serve|closer] [--variant NAME])`);
  }
}
if (!VARIANTS.includes(variant)) die(`unknown variant ${JSON.stringify(variant)}; known: ${VARIANTS.join(', ')}`);
const DATABASE_URL = process.env.DATABASE_URL;
if (!DATABASE_URL) die('DATABASE_URL is not set');
let PORT = null;
if (mode === 'serve') {
  PORT = parseInt(process.env.PORT || '', 10);
  if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) die(`PORT is not a port: ${JSON.stringify(process.env.PORT)}`);
}
const NAME = mode === 'serve' ? `replica-${process.env.INSTANCE_ID || '0'}` : 'closer';

function log(msg) {
  process.stderr.write(`${new Date().toISOString()} ${NAME} [${variant}] ${msg}\n`);
}

// ------------------------------------------------------------------ database

// Deadlines on every database call: connect, each query (client side), and
// the server's own statement / lock / idle-in-transaction timeouts, so a
// blackholed link or a paused peer holding a lock becomes an error, never a
// hung request.
const QUERY_TIMEOUT_MS = 3000;
const DB_CONFIG = {
  connectionString: DATABASE_URL,
  connectionTimeoutMillis: 3000,
  query_timeout: QUERY_TIMEOUT_MS,
  statement_timeout: 2500,
  lock_timeout: 2000,
  idle_in_transaction_session_timeout: 5000,
  keepAlive: true,
  keepAliveInitialDelayMillis: 1000,
  application_name: `node-auction-${NAME}`,
};

const pool = new pg.Pool({ ...DB_CONFIG, max: 8, idleTimeoutMillis: 10000 });
pool.on('error', (err) => log(`idle database connection failed: ${err.message}`));
// pg-pool drops its idle listener when it hands a client out, and the caller's
// code runs only on the next microtask: an error message in the same packet as
// the connection's ReadyForQuery (PostgreSQL shutting down) would be an uncaught
// 'error' event in between. 'connect' fires before the hand-out.
pool.on('connect', (client) => {
  client.on('error', (err) => log(`database connection error: ${err.message}`));
});

// One statement on a pooled connection. Any error destroys the connection
// (its state is unknown after a timeout), so the next call gets a fresh one.
async function q(text, params) {
  const client = await pool.connect();
  try {
    const r = await client.query(text, params);
    client.release();
    return r;
  } catch (err) {
    client.release(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

const SCHEMA_LOCK = 6172839401;
const SCHEMA_CHECK = `
SELECT to_regclass('na_auctions') IS NOT NULL
   AND to_regclass('na_bids') IS NOT NULL
   AND to_regprocedure('na_now_ms()') IS NOT NULL
   AND to_regprocedure('na_place_bid_v1(text,text,text,bigint,bigint,bigint)') IS NOT NULL
   AND to_regprocedure('na_close_v1(text)') IS NOT NULL AS ready`;

const SCHEMA_DDL = [
  `CREATE TABLE IF NOT EXISTS na_auctions (
     auction_id  text PRIMARY KEY,
     end_time    bigint NOT NULL,
     status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
     high_bid    text,
     high_amount bigint,
     winner      text,
     amount      bigint,
     closed_at   bigint,
     created_at  bigint NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS na_auctions_due ON na_auctions (end_time) WHERE status = 'open'`,
  `CREATE TABLE IF NOT EXISTS na_bids (
     bid_id      text PRIMARY KEY,
     auction_id  text NOT NULL,
     bidder      text NOT NULL,
     amount      bigint NOT NULL,
     status      text NOT NULL CHECK (status IN ('accepted', 'rejected')),
     reason      text,
     seq         bigserial,
     decided_at  bigint NOT NULL,
     client_time bigint
   )`,
  `CREATE INDEX IF NOT EXISTS na_bids_by_auction ON na_bids (auction_id, seq)`,
  // The clock authority: PostgreSQL's clock, ms since the epoch.
  `CREATE OR REPLACE FUNCTION na_now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
   $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$`,
  // One bid, decided atomically under the auction's row lock. p_as_of is
  // the time to decide at; NULL means "now on the clock authority".
  `CREATE OR REPLACE FUNCTION na_place_bid_v1(p_bid_id text, p_auction_id text, p_bidder text,
                                              p_amount bigint, p_client_time bigint, p_as_of bigint)
   RETURNS text LANGUAGE plpgsql VOLATILE AS $$
   DECLARE
     a na_auctions%ROWTYPE;
     b na_bids%ROWTYPE;
     v_now bigint;
     v_code text;
   BEGIN
     SELECT * INTO a FROM na_auctions WHERE auction_id = p_auction_id FOR UPDATE;
     IF NOT FOUND THEN RETURN 'no_auction'; END IF;
     -- a resend (same bid_id) gets the recorded outcome; resends of one bid
     -- are serialised by the auction's row lock
     SELECT * INTO b FROM na_bids WHERE bid_id = p_bid_id;
     IF FOUND THEN
       IF b.auction_id <> p_auction_id OR b.amount <> p_amount OR b.bidder <> p_bidder THEN
         RETURN 'mismatch';
       END IF;
       IF b.status = 'accepted' THEN RETURN 'accepted'; END IF;
       RETURN b.reason;
     END IF;
     v_now := coalesce(p_as_of, na_now_ms());
     IF a.status <> 'open' OR v_now >= a.end_time THEN
       v_code := 'closed';
     ELSIF a.high_amount IS NOT NULL AND p_amount <= a.high_amount THEN
       v_code := 'too_low';
     ELSE
       v_code := 'accepted';
     END IF;
     INSERT INTO na_bids (bid_id, auction_id, bidder, amount, status, reason, decided_at, client_time)
     VALUES (p_bid_id, p_auction_id, p_bidder, p_amount,
             CASE WHEN v_code = 'accepted' THEN 'accepted' ELSE 'rejected' END,
             CASE WHEN v_code = 'accepted' THEN NULL ELSE v_code END,
             na_now_ms(), p_client_time);
     IF v_code = 'accepted' THEN
       UPDATE na_auctions SET high_bid = p_bid_id, high_amount = p_amount
        WHERE auction_id = p_auction_id;
     END IF;
     RETURN v_code;
   END $$`,
  // Close one auction if it is due; safe from any number of processes: the
  // row lock waits for bids in flight, and the write is conditional on
  // status = 'open'.
  `CREATE OR REPLACE FUNCTION na_close_v1(p_auction_id text)
   RETURNS text LANGUAGE plpgsql VOLATILE AS $$
   DECLARE
     a na_auctions%ROWTYPE;
   BEGIN
     SELECT * INTO a FROM na_auctions WHERE auction_id = p_auction_id FOR UPDATE;
     IF NOT FOUND THEN RETURN 'no_auction'; END IF;
     IF a.status = 'closed' THEN RETURN 'closed'; END IF;
     IF na_now_ms() < a.end_time THEN RETURN 'not_ended'; END IF;
     UPDATE na_auctions
        SET status = 'closed', winner = a.high_bid, amount = a.high_amount, closed_at = na_now_ms()
      WHERE auction_id = p_auction_id AND status = 'open';
     RETURN 'closed';
   END $$`,
];

// Idempotent schema set-up, safe side by side: skip when present (no DDL
// while others serve traffic), else DDL in one transaction under an
// advisory lock (concurrent CREATE ... IF NOT EXISTS can collide).
async function ensureSchema() {
  const client = new pg.Client({ ...DB_CONFIG, statement_timeout: 10000, lock_timeout: 10000, query_timeout: 15000 });
  client.on('error', () => {});
  await client.connect();
  try {
    if ((await client.query(SCHEMA_CHECK)).rows[0].ready) return false;
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    let created = false;
    if (!(await client.query(SCHEMA_CHECK)).rows[0].ready) {
      for (const stmt of SCHEMA_DDL) await client.query(stmt);
      created = true;
    }
    await client.query('COMMIT');
    return created;
  } finally {
    await Promise.race([client.end().catch(() => {}), sleep(1000)]);
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Start-up retries until it works (the harness's start_timeout_s bounds it).
async function startUp() {
  for (let attempt = 1; ; attempt++) {
    try {
      const created = await ensureSchema();
      log(created ? 'schema created' : 'schema present');
      return;
    } catch (err) {
      if (attempt === 1 || attempt % 10 === 0) log(`start-up attempt ${attempt} failed: ${err.message}; retrying`);
      await sleep(300);
    }
  }
}

// ------------------------------------------------------------------ closer

let closerStopped = false;
async function closeDueOnce() {
  const due = await q(
    `SELECT auction_id FROM na_auctions WHERE status = 'open' AND end_time <= na_now_ms()
      ORDER BY end_time LIMIT 200`);
  for (const row of due.rows) {
    if (closerStopped) return;
    try {
      await q('SELECT na_close_v1($1) AS code', [row.auction_id]);
    } catch (err) {
      log(`closing ${row.auction_id} failed: ${err.message}`);
    }
  }
}

async function closerLoop(intervalMs) {
  while (!closerStopped) {
    try {
      await closeDueOnce();
    } catch (err) {
      log(`closer round failed: ${err.message}`);
    }
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------------- HTTP

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const isInt = (v) => typeof v === 'number' && Number.isSafeInteger(v);

function send(res, status, body) {
  if (res.writableEnded || res.destroyed) return;
  const data = JSON.stringify(body);
  try {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
    res.end(data);
  } catch (_) { /* client went away */ }
}

function unavailable(res, err) {
  send(res, 503, { error: `unavailable: ${err && err.message ? err.message : String(err)}` });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  });
}

function parseJson(text, allowEmpty) {
  if (text.trim() === '') return allowEmpty ? {} : undefined;
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch (_) {
    return undefined;
  }
}

async function getClock(req, res) {
  const r = await q('SELECT na_now_ms() AS now');
  send(res, 200, { now: r.rows[0].now });
}

async function putAuction(req, res, auctionId, body) {
  let endTime = null;
  let endsIn = null;
  if (body.end_time !== undefined && body.end_time !== null) {
    if (!isInt(body.end_time)) return send(res, 400, { error: 'end_time must be an integer' });
    endTime = body.end_time;
  } else if (body.ends_in_ms !== undefined && body.ends_in_ms !== null) {
    if (!isInt(body.ends_in_ms)) return send(res, 400, { error: 'ends_in_ms must be an integer' });
    endsIn = body.ends_in_ms;
  } else {
    return send(res, 400, { error: 'need end_time or ends_in_ms' });
  }
  const ins = await q(
    `INSERT INTO na_auctions (auction_id, end_time, created_at)
     VALUES ($1, coalesce($2::bigint, na_now_ms() + $3::bigint), na_now_ms())
     ON CONFLICT (auction_id) DO NOTHING RETURNING end_time`,
    [auctionId, endTime, endsIn]);
  let stored;
  if (ins.rows.length) stored = ins.rows[0].end_time;
  else {
    const sel = await q('SELECT end_time FROM na_auctions WHERE auction_id = $1', [auctionId]);
    if (!sel.rows.length) throw new Error('auction vanished');
    stored = sel.rows[0].end_time;
  }
  send(res, 200, { auction_id: auctionId, end_time: stored });
}

async function postBid(req, res, body) {
  const { bid_id: bidId, auction_id: auctionId, bidder, amount } = body;
  const clientTime = body.client_time === undefined ? null : body.client_time;
  if (typeof bidId !== 'string' || !ID_RE.test(bidId)) return send(res, 400, { error: 'bad bid_id' });
  if (typeof auctionId !== 'string' || !ID_RE.test(auctionId)) return send(res, 400, { error: 'bad auction_id' });
  if (typeof bidder !== 'string' && !isInt(bidder)) return send(res, 400, { error: 'bad bidder' });
  if (!isInt(amount) || amount <= 0) return send(res, 400, { error: 'amount must be a positive integer' });
  if (clientTime !== null && !isInt(clientTime)) return send(res, 400, { error: 'client_time must be an integer or null' });

  // correct: decide on the clock authority (p_as_of NULL).
  // client_clock (BUG): "honour the time the client says it bid at".
  const asOf = variant === 'client_clock' && clientTime !== null ? clientTime : null;

  const r = await q('SELECT na_place_bid_v1($1, $2, $3, $4, $5, $6) AS code',
    [bidId, auctionId, String(bidder), amount, clientTime, asOf]);
  const code = r.rows[0].code;
  switch (code) {
    case 'accepted':
      return send(res, 200, { bid_id: bidId, auction_id: auctionId, status: 'accepted' });
    case 'closed':
    case 'too_low':
      return send(res, 409, { bid_id: bidId, auction_id: auctionId, status: 'rejected', reason: code });
    case 'no_auction':
      return send(res, 404, { error: `no auction ${auctionId}` });
    case 'mismatch':
      return send(res, 409, { error: `bid ${bidId} was sent before with another body` });
    default:
      throw new Error(`unexpected outcome ${code}`);
  }
}

async function readAuctionRow(auctionId) {
  // one statement, one snapshot: status, result and bids agree
  const r = await q(
    `SELECT a.auction_id, a.end_time, a.status, a.winner, a.amount,
            coalesce((SELECT json_agg(b.bid_id ORDER BY b.seq) FROM na_bids b
                       WHERE b.auction_id = a.auction_id AND b.status = 'accepted'), '[]'::json) AS bids
       FROM na_auctions a WHERE a.auction_id = $1`,
    [auctionId]);
  return r.rows.length ? r.rows[0] : null;
}

async function closeAuction(req, res, auctionId) {
  const r = await q('SELECT na_close_v1($1) AS code', [auctionId]);
  const code = r.rows[0].code;
  if (code === 'no_auction') return send(res, 404, { error: `no auction ${auctionId}` });
  if (code === 'not_ended') return send(res, 409, { auction_id: auctionId, status: 'open', reason: 'not_ended' });
  const row = await readAuctionRow(auctionId);
  if (!row || row.status !== 'closed') throw new Error('closed auction not readable');
  send(res, 200, { auction_id: auctionId, status: 'closed', winner: row.winner, amount: row.amount });
}

async function getAuction(req, res, auctionId) {
  const row = await readAuctionRow(auctionId);
  if (!row) return send(res, 404, { error: `no auction ${auctionId}` });
  send(res, 200, {
    auction_id: row.auction_id,
    end_time: row.end_time,
    status: row.status,
    winner: row.winner,
    amount: row.amount,
    bids: row.bids,
  });
}

async function route(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  const method = req.method;
  let m;
  if (path === '/health' && method === 'GET') return send(res, 200, { status: 'ok' });
  if (path === '/clock' && method === 'GET') return getClock(req, res);
  if (path === '/bids' && method === 'POST') {
    const body = parseJson(await readBody(req), false);
    if (!body) return send(res, 400, { error: 'body must be a JSON object' });
    return postBid(req, res, body);
  }
  if ((m = /^\/auctions\/([^/]+)\/close$/.exec(path)) && method === 'POST') {
    const id = decodeURIComponent(m[1]);
    if (!ID_RE.test(id)) return send(res, 400, { error: 'bad auction_id' });
    const body = parseJson(await readBody(req), true);
    if (!body) return send(res, 400, { error: 'body must be empty or a JSON object' });
    return closeAuction(req, res, id);
  }
  if ((m = /^\/auctions\/([^/]+)$/.exec(path))) {
    const id = decodeURIComponent(m[1]);
    if (!ID_RE.test(id)) return send(res, 400, { error: 'bad auction_id' });
    if (method === 'GET') return getAuction(req, res, id);
    if (method === 'PUT') {
      const body = parseJson(await readBody(req), false);
      if (!body) return send(res, 400, { error: 'body must be a JSON object' });
      return putAuction(req, res, id, body);
    }
  }
  send(res, 404, { error: `no route ${method} ${path}` });
}

function handler(req, res) {
  // The work goes on even if the client disconnects: nothing here is tied
  // to the client's socket; every database call has its own deadline.
  route(req, res).catch((err) => {
    log(`${req.method} ${req.url} failed: ${err.message}`);
    unavailable(res, err);
  });
}

async function listen(server) {
  for (;;) {
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(PORT, '127.0.0.1', () => { server.removeListener('error', reject); resolve(); });
      });
      return;
    } catch (err) {
      log(`listen on 127.0.0.1:${PORT} failed: ${err.message}; retrying`);
      await sleep(300);
    }
  }
}

// ------------------------------------------------------------------- main

async function main() {
  let server = null;
  const stop = () => {
    closerStopped = true;
    if (server) server.close();
    pool.end().catch(() => {});
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await startUp();
  if (mode === 'closer') {
    log('closer running');
    await closerLoop(200);
    return;
  }
  server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  server.requestTimeout = 30000;
  await listen(server);
  log(`serving on 127.0.0.1:${PORT}`);
  // Replicas close due auctions too (belt and braces next to the closer
  // process); closing is safe from any number of processes.
  closerLoop(500);
}

process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err && err.stack ? err.stack : err}`));
main().catch((err) => {
  log(`fatal: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
