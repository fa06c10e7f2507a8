'use strict';
// node-matching: failmodel's matching workload (docs/contracts.md section 5) in Node.js.
//
//   server.js serve [--variant NAME]   a replica: POST /swipes, GET /matches, GET /health
//   server.js relay [--variant NAME]   the outbox relay: announces every committed match
//
// PostgreSQL is the only store. A swipe is one autocommitted call of a PL/pgSQL
// function that takes a per-pair advisory lock, answers a known swipe_id with its
// recorded outcome, else records the swipe and, if the reverse right swipe exists,
// inserts the match (unique on the canonical pair) and its outbox row in the same
// transaction. Announcements go from the outbox to POST {PARTNER_URL}/notify/messages
// with Idempotency-Key match-<match_id>; the row is marked sent only after a 200.
// The relay polls every 50 ms; every replica also announces its own new matches right
// after the commit and polls for outbox rows older than 1.5 s, so a paused or crashed
// relay only delays announcements.
//
// Variant no_pair_lock (a deliberate bug): check-then-insert in separate autocommitted
// statements, no pair lock and no unique pair key, so two concurrent mutual right swipes
// can both see each other and both create a match.

const http = require('http');
const crypto = require('crypto');
const { Pool } = require('pg');

const VARIANTS = ['correct', 'no_pair_lock'];
const argv = process.argv.slice(2);
const mode = argv[0] || 'serve';
let variant = process.env.FAILMODEL_VARIANT || 'correct';
const vi = argv.indexOf('--variant');
if (vi >= 0) variant = argv[vi + 1] || '';
if (!VARIANTS.includes(variant)) {
  console.error(`node-matching: unknown variant ${JSON.stringify(variant)} (known: ${VARIANTS.join(', ')})`);
  process.exit(2);
}
if (mode !== 'serve' && mode !== 'relay') {
  console.error(`node-matching: usage: server.js serve|relay [--variant NAME]`);
  process.exit(2);
}
if (!process.env.DATABASE_URL) {
  console.error('node-matching: DATABASE_URL is not set (the design needs the postgres dependency)');
  process.exit(2);
}

// The buggy variant keeps its own tables: its schema "forgot" the unique pair key.
const T = variant === 'correct' ? 'nm' : 'nmb';
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PARTNER_URL = process.env.PARTNER_URL || '';
const who = mode === 'serve' ? `target-${process.env.INSTANCE_ID || '0'}` : 'relay';

function log(...a) {
  console.error(`node-matching[${who}]`, ...a);
}

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 8,
  connectionTimeoutMillis: 2000, // a refused or blackholed link fails fast
  query_timeout: 6000, // client-side deadline on every query
  statement_timeout: 5000, // server-side: a statement waiting on a lock gives up
  // a paused process's open transaction (and its locks) is ended by the server
  idle_in_transaction_session_timeout: 3000,
  keepAlive: true,
});
pool.on('error', (err) => log('idle client error:', err.message));
// pg-pool drops its idle listener while a client is checked out (the schema
// transaction, the buggy variant's match transaction): a connection that dies
// then must not become an uncaught 'error' event that ends the process.
pool.on('connect', (client) => client.on('error', (err) => log('database connection error:', err.message)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- schema

const SCHEMA_MARK_FN = `${T}_swipe_v1(text,text,text,text,text)`;

function schemaSql() {
  const pairIndex =
    variant === 'correct'
      ? `CREATE UNIQUE INDEX IF NOT EXISTS ${T}_matches_pair ON ${T}_matches (user_lo, user_hi)`
      : `CREATE INDEX IF NOT EXISTS ${T}_matches_pair ON ${T}_matches (user_lo, user_hi)`;
  return [
    `CREATE TABLE IF NOT EXISTS ${T}_swipes (
       swipe_id text PRIMARY KEY,
       swiper text NOT NULL,
       swipee text NOT NULL,
       direction text NOT NULL,
       match_id text,
       created_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    `CREATE INDEX IF NOT EXISTS ${T}_swipes_pair ON ${T}_swipes (swiper, swipee)`,
    `CREATE TABLE IF NOT EXISTS ${T}_matches (
       match_id text PRIMARY KEY,
       user_lo text NOT NULL,
       user_hi text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    pairIndex,
    `CREATE INDEX IF NOT EXISTS ${T}_matches_hi ON ${T}_matches (user_hi)`,
    `CREATE TABLE IF NOT EXISTS ${T}_outbox (
       match_id text PRIMARY KEY,
       user_lo text NOT NULL,
       user_hi text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
       sent_at timestamptz)`,
    `CREATE INDEX IF NOT EXISTS ${T}_outbox_unsent ON ${T}_outbox (created_at) WHERE sent_at IS NULL`,
    // The correct swipe, one round trip, one transaction (the statement's own).
    `CREATE OR REPLACE FUNCTION ${T}_swipe_v1(p_id text, p_swiper text, p_swipee text, p_dir text, p_new_match text)
     RETURNS TABLE(o_status text, o_match text) LANGUAGE plpgsql AS $fn$
     DECLARE
       lo text := least(p_swiper, p_swipee);
       hi text := greatest(p_swiper, p_swipee);
       r record;
       mid text;
     BEGIN
       -- every swipe of one unordered pair, in either direction, on any replica, serialises here
       PERFORM pg_advisory_xact_lock(73410, hashtext(lo || '|' || hi));
       SELECT s.swiper, s.swipee, s.direction, s.match_id INTO r FROM ${T}_swipes s WHERE s.swipe_id = p_id;
       IF FOUND THEN
         IF r.swiper <> p_swiper OR r.swipee <> p_swipee OR r.direction <> p_dir THEN
           RETURN QUERY SELECT 'conflict'::text, NULL::text;
         ELSE
           RETURN QUERY SELECT 'ok'::text, r.match_id;
         END IF;
         RETURN;
       END IF;
       INSERT INTO ${T}_swipes AS s (swipe_id, swiper, swipee, direction) VALUES (p_id, p_swiper, p_swipee, p_dir);
       IF p_dir = 'right' AND EXISTS (SELECT 1 FROM ${T}_swipes s
                                      WHERE s.swiper = p_swipee AND s.swipee = p_swiper AND s.direction = 'right') THEN
         INSERT INTO ${T}_matches AS m (match_id, user_lo, user_hi) VALUES (p_new_match, lo, hi)
           ON CONFLICT (user_lo, user_hi) DO NOTHING
           RETURNING m.match_id INTO mid;
         IF mid IS NULL THEN
           SELECT m.match_id INTO mid FROM ${T}_matches m WHERE m.user_lo = lo AND m.user_hi = hi;
         ELSE
           INSERT INTO ${T}_outbox AS o (match_id, user_lo, user_hi) VALUES (mid, lo, hi);
         END IF;
         UPDATE ${T}_swipes AS s SET match_id = mid WHERE s.swipe_id = p_id;
       END IF;
       RETURN QUERY SELECT 'ok'::text, mid;
     END
     $fn$`,
  ];
}

async function schemaPresent() {
  const r = await pool.query(
    `SELECT to_regclass($1) IS NOT NULL AND to_regprocedure($2) IS NOT NULL AS ok`,
    [`${T}_outbox_unsent`, SCHEMA_MARK_FN],
  );
  return r.rows[0].ok === true;
}

async function ensureSchema() {
  // Restarts happen while other replicas serve: skip the DDL when it is there.
  if (variant === 'correct' ? await schemaPresent() : await schemaPresentBuggy()) return;
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    // replicas start side by side: one creates, the others wait and find it done
    await client.query('SELECT pg_advisory_xact_lock(73409)');
    for (const sql of schemaSql()) {
      if (variant !== 'correct' && sql.startsWith('CREATE OR REPLACE FUNCTION')) continue;
      await client.query(sql);
    }
    await client.query('COMMIT');
  } catch (e) {
    broken = true;
    throw e;
  } finally {
    client.release(broken);
  }
}

async function schemaPresentBuggy() {
  const r = await pool.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${T}_outbox_unsent`]);
  return r.rows[0].ok === true;
}

async function untilSchema() {
  for (;;) {
    try {
      await ensureSchema();
      return;
    } catch (e) {
      log('schema not ready, retrying:', e.message);
      await sleep(500);
    }
  }
}

// ---------------------------------------------------------------- swipes

function newMatchId() {
  return 'm' + crypto.randomBytes(12).toString('hex');
}

function canonical(a, b) {
  return a < b ? [a, b] : [b, a];
}

async function swipeCorrect(s) {
  const r = await pool.query(`SELECT o_status, o_match FROM ${T}_swipe_v1($1, $2, $3, $4, $5)`, [
    s.swipe_id, s.swiper, s.swipee, s.direction, newMatchId(),
  ]);
  const row = r.rows[0];
  return { status: row.o_status, match_id: row.o_match };
}

// The bug: no pair lock, no unique pair key, check-then-insert across separate statements.
async function swipeNoPairLock(s) {
  const [lo, hi] = canonical(s.swiper, s.swipee);
  const ins = await pool.query(
    `INSERT INTO ${T}_swipes (swipe_id, swiper, swipee, direction) VALUES ($1, $2, $3, $4)
     ON CONFLICT (swipe_id) DO NOTHING RETURNING swipe_id`,
    [s.swipe_id, s.swiper, s.swipee, s.direction],
  );
  if (ins.rows.length === 0) {
    const ex = await pool.query(`SELECT swiper, swipee, direction, match_id FROM ${T}_swipes WHERE swipe_id = $1`, [s.swipe_id]);
    const r = ex.rows[0];
    if (!r || r.swiper !== s.swiper || r.swipee !== s.swipee || r.direction !== s.direction) return { status: 'conflict', match_id: null };
    return { status: 'ok', match_id: r.match_id };
  }
  if (s.direction !== 'right') return { status: 'ok', match_id: null };
  const rev = await pool.query(
    `SELECT 1 FROM ${T}_swipes WHERE swiper = $1 AND swipee = $2 AND direction = 'right' LIMIT 1`,
    [s.swipee, s.swiper],
  );
  if (rev.rows.length === 0) return { status: 'ok', match_id: null };
  const existing = await pool.query(`SELECT match_id FROM ${T}_matches WHERE user_lo = $1 AND user_hi = $2 LIMIT 1`, [lo, hi]);
  let mid;
  let created = false;
  if (existing.rows.length) {
    mid = existing.rows[0].match_id;
  } else {
    mid = newMatchId();
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${T}_matches (match_id, user_lo, user_hi) VALUES ($1, $2, $3)`, [mid, lo, hi]);
      await client.query(`INSERT INTO ${T}_outbox (match_id, user_lo, user_hi) VALUES ($1, $2, $3)`, [mid, lo, hi]);
      await client.query('COMMIT');
      created = true;
    } catch (e) {
      broken = true;
      throw e;
    } finally {
      client.release(broken);
    }
  }
  await pool.query(`UPDATE ${T}_swipes SET match_id = $2 WHERE swipe_id = $1`, [s.swipe_id, mid]);
  return { status: 'ok', match_id: mid, created };
}

// ---------------------------------------------------------------- announcements

const inFlight = new Set();

async function announce(row) {
  if (!PARTNER_URL) return;
  if (inFlight.has(row.match_id)) return;
  inFlight.add(row.match_id);
  try {
    // The body is rebuilt from the stored row, byte for byte the same on every attempt.
    const body = JSON.stringify({ match_id: row.match_id, users: [row.user_lo, row.user_hi] });
    let res;
    try {
      res = await fetch(`${PARTNER_URL}/notify/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `match-${row.match_id}` },
        body,
        signal: AbortSignal.timeout(2000),
      });
    } catch (e) {
      return; // unknown outcome: the key makes the next attempt safe
    }
    let parsed = null;
    try {
      parsed = await res.json();
    } catch (e) {
      parsed = null;
    }
    if (res.status === 200 && parsed && typeof parsed.message_id === 'string') {
      await pool.query(`UPDATE ${T}_outbox SET sent_at = clock_timestamp() WHERE match_id = $1 AND sent_at IS NULL`, [row.match_id]);
    } else if (res.status !== 503) {
      log(`notify for ${row.match_id} answered ${res.status}`, JSON.stringify(parsed));
    }
  } catch (e) {
    // marking it sent failed: it is sent again later, a replay of the same key
  } finally {
    inFlight.delete(row.match_id);
  }
}

async function outboxLoop(olderThanMs, intervalMs) {
  for (;;) {
    try {
      const r = await pool.query(
        `SELECT match_id, user_lo, user_hi FROM ${T}_outbox
         WHERE sent_at IS NULL AND created_at <= clock_timestamp() - $1::interval
         ORDER BY created_at LIMIT 100`,
        [`${olderThanMs} milliseconds`],
      );
      await Promise.all(r.rows.map(announce));
    } catch (e) {
      // store unreachable: try again next round
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- HTTP

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

let ready = false;

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/health') {
    return ready ? send(res, 200, { status: 'ok' }) : send(res, 503, { status: 'starting' });
  }
  if (!ready) return send(res, 503, { error: 'starting' });
  if (req.method === 'POST' && url.pathname === '/swipes') {
    let s;
    try {
      s = JSON.parse(await readBody(req));
    } catch (e) {
      return send(res, 400, { error: 'body must be JSON' });
    }
    if (!s || typeof s !== 'object' || !ID_RE.test(s.swipe_id) || !ID_RE.test(s.swiper) || !ID_RE.test(s.swipee) ||
        (s.direction !== 'right' && s.direction !== 'left') || s.swiper === s.swipee) {
      return send(res, 400, { error: 'expected {swipe_id, swiper, swipee, direction: right|left} with ids, swiper != swipee' });
    }
    let out;
    try {
      out = variant === 'correct' ? await swipeCorrect(s) : await swipeNoPairLock(s);
    } catch (e) {
      // may or may not have committed: indeterminate, the client resends the swipe_id
      return send(res, 503, { error: `store: ${e.message}` });
    }
    if (out.status === 'conflict') return send(res, 409, { error: 'swipe_id reused with a different body' });
    if (out.match_id) {
      // fast path; the relay and the replicas' outbox poll make sure of it
      const [lo, hi] = canonical(s.swiper, s.swipee);
      announce({ match_id: out.match_id, user_lo: lo, user_hi: hi });
    }
    return send(res, 200, { swipe_id: s.swipe_id, matched: !!out.match_id, match_id: out.match_id || null });
  }
  if (req.method === 'GET' && url.pathname === '/matches') {
    const user = url.searchParams.get('user');
    if (!user || !ID_RE.test(user)) return send(res, 400, { error: 'user must be an id' });
    try {
      const r = await pool.query(
        `SELECT match_id, user_lo, user_hi FROM ${T}_matches WHERE user_lo = $1 OR user_hi = $1 ORDER BY match_id`,
        [user],
      );
      return send(res, 200, { matches: r.rows.map((m) => ({ match_id: m.match_id, users: [m.user_lo, m.user_hi] })) });
    } catch (e) {
      return send(res, 503, { error: `store: ${e.message}` });
    }
  }
  return send(res, 404, { error: 'not found' });
}

async function main() {
  if (mode === 'relay') {
    await untilSchema();
    log(`relay ready (variant ${variant})`);
    await outboxLoop(0, 50);
    return;
  }
  const port = parseInt(process.env.PORT || '', 10);
  if (!port) {
    console.error('node-matching: PORT is not set');
    process.exit(2);
  }
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      try {
        send(res, 500, { error: e.message });
      } catch (_) {
        /* answer already started */
      }
    });
  });
  server.keepAliveTimeout = 5000;
  server.listen(port, '127.0.0.1');
  await untilSchema();
  ready = true;
  log(`ready on ${port} (variant ${variant})`);
  outboxLoop(1500, 500);
}

main().catch((e) => {
  log('fatal:', e.stack || e.message);
  process.exit(1);
});
