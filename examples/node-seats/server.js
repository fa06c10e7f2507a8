'use strict';
// node-seats: seat booking for events on PostgreSQL, a failmodel target with an
// API of its own (declared as a workload in design.toml).
//
//   node server.js serve [--variant NAME]   a replica: HTTP on 127.0.0.1:$PORT
//   node server.js relay [--variant NAME]   the outbox relay: confirmations to the partner
//
// API
//   PUT  /events/{event_id}          {"capacity"}               200 {"event_id","capacity"} (set-up)
//   POST /bookings                   {"booking_id","event_id","seat"}
//        200 {"booking_id","event_id","seat","status":"booked"}
//        409 {"booking_id","event_id","seat","status":"refused","reason":"seat_taken"|"no_such_seat"}
//        a booking_id sent again gets the first answer and books nothing more
//   POST /bookings/{booking_id}/cancel
//        200 {"booking_id","status":"cancelled"}   (also for a resend)
//        409 {"booking_id","status":"refused"}     (the booking was refused: nothing to cancel)
//        404 {"booking_id","status":"not_found"}   (no such booking yet)
//   GET  /bookings/{booking_id}      200 {"booking_id","event_id","seat","status"}; 404
//   GET  /events/{event_id}          200 {"event_id","capacity","booked","free"}; 404
//   GET  /health                     200 once the schema exists
// Anything that may or may not have happened (a database error, a timeout) is a 503.
//
// Variants ($FAILMODEL_VARIANT or --variant):
//   correct          one transaction per booking: the seat row is locked (FOR UPDATE),
//                    the booking_id is the primary key, a partial unique index allows one
//                    live booking per seat, the confirmation goes into an outbox in the
//                    same transaction.
//   check_then_book  reads whether the seat is free, then inserts the booking in a
//                    separate statement, with no unique constraint on the seat.

const http = require('http');
const { Pool } = require('pg');

const VARIANTS = ['correct', 'check_then_book'];

function die(msg) {
  process.stderr.write(`node-seats: ${msg}\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const mode = argv[0];
if (mode !== 'serve' && mode !== 'relay') die('usage: server.js serve|relay [--variant NAME]');
let variant = process.env.FAILMODEL_VARIANT || 'correct';
for (let i = 1; i < argv.length; i++) {
  if (argv[i] === '--variant' && i + 1 < argv.length) variant = argv[++i];
  else if (argv[i].startsWith('--variant=')) variant = argv[i].slice('--variant='.length);
  else die(`unknown argument ${argv[i]}`);
}
if (!VARIANTS.includes(variant)) die(`unknown variant ${variant} (known: ${VARIANTS.join(', ')})`);
if (!process.env.DATABASE_URL) die('DATABASE_URL is not set (the design must list the postgres dependency)');
if (mode === 'serve' && !process.env.PORT) die('PORT is not set');
if (mode === 'relay' && !process.env.PARTNER_URL) die('PARTNER_URL is not set (the design must list the partner dependency)');

const CORRECT = variant === 'correct';
// Separate tables per variant: the buggy variant must not inherit the correct one's
// unique index should both ever run on one database.
const P = CORRECT ? 'ns' : 'nsb';
const T = {
  events: `${P}_events`,
  seats: `${P}_seats`,
  bookings: `${P}_bookings`,
  outbox: `${P}_outbox`,
};

const log = (...a) => process.stderr.write(`[node-seats ${mode} ${process.env.INSTANCE_ID || '0'}] ${a.join(' ')}\n`);

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 10,
  connectionTimeoutMillis: 3000,
  idleTimeoutMillis: 10000,
  statement_timeout: 3000,
  lock_timeout: 2500,
  query_timeout: 4000,
  idle_in_transaction_session_timeout: 5000,
  application_name: `node-seats-${mode}-${process.env.INSTANCE_ID || '0'}`,
});
// An idle client whose connection dies (a partition, PostgreSQL restarted) emits
// 'error' on the pool; without a listener node would exit.
pool.on('error', (err) => log('idle client error:', err.message));
// pg-pool drops its idle listener while a client is checked out, and hands it out
// a microtask before the caller's code runs: a connection that dies then
// (PostgreSQL paused or shutting down, a partition) must not become an uncaught
// 'error' event that ends the process. 'connect' fires before the first hand-out.
pool.on('connect', (client) => client.on('error', (err) => log('database connection error:', err.message)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Run fn(client) in one transaction. Any error rolls back and destroys the
// connection (it may be in an unknown state after a timeout); the error is rethrown.
async function tx(fn) {
  const client = await pool.connect();
  let broken = null;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken = err;
    try { await client.query('ROLLBACK'); } catch (_) { /* connection gone */ }
    throw err;
  } finally {
    client.release(broken ? true : undefined);
  }
}

async function q(text, params) {
  return pool.query(text, params);
}

// ---------------------------------------------------------------- schema

async function ensureSchema() {
  const names = Object.values(T);
  const present = await q(
    `SELECT bool_and(to_regclass(n) IS NOT NULL) AS ok FROM unnest($1::text[]) AS n`, [names]);
  if (present.rows[0].ok) return;
  await tx(async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(7265101)');
    await c.query(`CREATE TABLE IF NOT EXISTS ${T.events} (
      event_id text PRIMARY KEY,
      capacity int NOT NULL CHECK (capacity > 0),
      created_at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${T.seats} (
      event_id text NOT NULL REFERENCES ${T.events}(event_id),
      seat int NOT NULL,
      holder text,
      PRIMARY KEY (event_id, seat))`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${T.bookings} (
      booking_id text PRIMARY KEY,
      event_id text NOT NULL,
      seat int NOT NULL,
      answer text NOT NULL,            -- the first answer: booked | refused
      reason text,                     -- seat_taken | no_such_seat when refused
      status text NOT NULL,            -- booked | cancelled | refused (now)
      created_at timestamptz NOT NULL DEFAULT now())`);
    if (CORRECT) {
      await c.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${T.bookings}_one_live
        ON ${T.bookings}(event_id, seat) WHERE status = 'booked'`);
    }
    await c.query(`CREATE TABLE IF NOT EXISTS ${T.outbox} (
      booking_id text PRIMARY KEY,
      body text NOT NULL,              -- the exact JSON sent, identical on every resend
      created_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz,
      attempts int NOT NULL DEFAULT 0)`);
    await c.query(`CREATE INDEX IF NOT EXISTS ${T.outbox}_unsent ON ${T.outbox}(created_at) WHERE sent_at IS NULL`);
  });
}

async function startUp() {
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureSchema();
      return;
    } catch (err) {
      if (attempt % 10 === 1) log(`schema not ready (attempt ${attempt}): ${err.message}`);
      await sleep(300);
    }
  }
}

// ---------------------------------------------------------------- HTTP helpers

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function send(res, status, body) {
  const text = JSON.stringify(body);
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
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
  });
}

function parseJson(text) {
  if (text.trim() === '') return {};
  const v = JSON.parse(text);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('body must be a JSON object');
  return v;
}

const isPosInt = (v) => Number.isInteger(v) && v > 0 && v <= 100000;

// ---------------------------------------------------------------- handlers

async function createEvent(eventId, body) {
  const capacity = body.capacity;
  if (!isPosInt(capacity) || capacity > 1000) return [400, { error: 'capacity must be an integer in 1..1000' }];
  const row = await tx(async (c) => {
    const ins = await c.query(
      `INSERT INTO ${T.events}(event_id, capacity) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING RETURNING capacity`,
      [eventId, capacity]);
    if (ins.rowCount === 1 && CORRECT) {
      await c.query(
        `INSERT INTO ${T.seats}(event_id, seat) SELECT $1, g FROM generate_series(1, $2::int) AS g`,
        [eventId, capacity]);
    }
    const r = await c.query(`SELECT capacity FROM ${T.events} WHERE event_id = $1`, [eventId]);
    return r.rows[0];
  });
  // A resend gets the capacity first stored.
  return [200, { event_id: eventId, capacity: row.capacity }];
}

function bookingAnswer(b) {
  if (b.answer === 'booked') {
    return [200, { booking_id: b.booking_id, event_id: b.event_id, seat: b.seat, status: 'booked' }];
  }
  return [409, { booking_id: b.booking_id, event_id: b.event_id, seat: b.seat, status: 'refused', reason: b.reason }];
}

function confirmationBody(bookingId, eventId, seat) {
  // The notify endpoint's shape ({"match_id", "users": [id, id]}) plus our own fields;
  // stored as text so every resend carries the very same body.
  return JSON.stringify({ match_id: bookingId, users: [eventId, bookingId], booking_id: bookingId, event_id: eventId, seat });
}

// correct: one transaction; the seat row is locked before anything is decided.
async function bookCorrect(bookingId, eventId, seat) {
  return tx(async (c) => {
    const s = await c.query(
      `SELECT holder FROM ${T.seats} WHERE event_id = $1 AND seat = $2 FOR UPDATE`, [eventId, seat]);
    const prior = await c.query(
      `SELECT booking_id, event_id, seat, answer, reason FROM ${T.bookings} WHERE booking_id = $1`, [bookingId]);
    if (prior.rowCount === 1) return bookingAnswer(prior.rows[0]);      // a resend: the first answer
    if (s.rowCount === 0) {
      const ev = await c.query(`SELECT 1 FROM ${T.events} WHERE event_id = $1`, [eventId]);
      if (ev.rowCount === 0) return [404, { booking_id: bookingId, error: 'no such event' }];
      const b = { booking_id: bookingId, event_id: eventId, seat, answer: 'refused', reason: 'no_such_seat' };
      await c.query(
        `INSERT INTO ${T.bookings}(booking_id, event_id, seat, answer, reason, status) VALUES ($1,$2,$3,'refused','no_such_seat','refused')`,
        [bookingId, eventId, seat]);
      return bookingAnswer(b);
    }
    if (s.rows[0].holder !== null) {
      await c.query(
        `INSERT INTO ${T.bookings}(booking_id, event_id, seat, answer, reason, status) VALUES ($1,$2,$3,'refused','seat_taken','refused')`,
        [bookingId, eventId, seat]);
      return bookingAnswer({ booking_id: bookingId, event_id: eventId, seat, answer: 'refused', reason: 'seat_taken' });
    }
    await c.query(
      `INSERT INTO ${T.bookings}(booking_id, event_id, seat, answer, reason, status) VALUES ($1,$2,$3,'booked',NULL,'booked')`,
      [bookingId, eventId, seat]);
    await c.query(`UPDATE ${T.seats} SET holder = $3 WHERE event_id = $1 AND seat = $2`, [eventId, seat, bookingId]);
    await c.query(`INSERT INTO ${T.outbox}(booking_id, body) VALUES ($1, $2) ON CONFLICT (booking_id) DO NOTHING`,
      [bookingId, confirmationBody(bookingId, eventId, seat)]);
    return bookingAnswer({ booking_id: bookingId, event_id: eventId, seat, answer: 'booked' });
  });
}

// check_then_book (the bug): is the seat free? then book it, in another statement,
// with nothing in the schema to stop a second live booking of the seat.
async function bookCheckThenBook(bookingId, eventId, seat) {
  const prior = await q(
    `SELECT booking_id, event_id, seat, answer, reason FROM ${T.bookings} WHERE booking_id = $1`, [bookingId]);
  if (prior.rowCount === 1) return bookingAnswer(prior.rows[0]);
  const ev = await q(`SELECT capacity FROM ${T.events} WHERE event_id = $1`, [eventId]);
  if (ev.rowCount === 0) return [404, { booking_id: bookingId, error: 'no such event' }];
  let answer = 'booked';
  let reason = null;
  if (seat > ev.rows[0].capacity) { answer = 'refused'; reason = 'no_such_seat'; } else {
    const taken = await q(
      `SELECT 1 FROM ${T.bookings} WHERE event_id = $1 AND seat = $2 AND status = 'booked' LIMIT 1`, [eventId, seat]);
    if (taken.rowCount > 0) { answer = 'refused'; reason = 'seat_taken'; }
  }
  await tx(async (c) => {
    const ins = await c.query(
      `INSERT INTO ${T.bookings}(booking_id, event_id, seat, answer, reason, status) VALUES ($1,$2,$3,$4,$5,$4)
       ON CONFLICT (booking_id) DO NOTHING`, [bookingId, eventId, seat, answer, reason]);
    if (ins.rowCount === 1 && answer === 'booked') {
      await c.query(`INSERT INTO ${T.outbox}(booking_id, body) VALUES ($1, $2) ON CONFLICT (booking_id) DO NOTHING`,
        [bookingId, confirmationBody(bookingId, eventId, seat)]);
    }
  });
  const after = await q(
    `SELECT booking_id, event_id, seat, answer, reason FROM ${T.bookings} WHERE booking_id = $1`, [bookingId]);
  return bookingAnswer(after.rows[0]);
}

async function book(body) {
  const { booking_id: bookingId, event_id: eventId, seat } = body;
  if (typeof bookingId !== 'string' || !ID.test(bookingId)) return [400, { error: 'booking_id must be an id' }];
  if (typeof eventId !== 'string' || !ID.test(eventId)) return [400, { error: 'event_id must be an id' }];
  if (!isPosInt(seat)) return [400, { error: 'seat must be a positive integer' }];
  for (let attempt = 1; ; attempt++) {
    try {
      return CORRECT ? await bookCorrect(bookingId, eventId, seat) : await bookCheckThenBook(bookingId, eventId, seat);
    } catch (err) {
      // 23505: two first attempts of one booking_id met (cannot happen under the seat
      // lock, kept as a guard); 40P01: deadlock. Both rolled back: try again once.
      if ((err.code === '23505' || err.code === '40P01') && attempt < 3) continue;
      throw err;
    }
  }
}

async function cancel(bookingId) {
  if (!ID.test(bookingId)) return [400, { error: 'booking_id must be an id' }];
  return tx(async (c) => {
    const b = await c.query(
      `SELECT event_id, seat, status FROM ${T.bookings} WHERE booking_id = $1 FOR UPDATE`, [bookingId]);
    if (b.rowCount === 0) return [404, { booking_id: bookingId, status: 'not_found' }];
    const { event_id: eventId, seat, status } = b.rows[0];
    if (status === 'refused') return [409, { booking_id: bookingId, status: 'refused' }];
    if (status === 'booked') {
      await c.query(`UPDATE ${T.bookings} SET status = 'cancelled' WHERE booking_id = $1`, [bookingId]);
      if (CORRECT) {
        await c.query(`UPDATE ${T.seats} SET holder = NULL WHERE event_id = $1 AND seat = $2 AND holder = $3`,
          [eventId, seat, bookingId]);
      }
    }
    return [200, { booking_id: bookingId, status: 'cancelled' }];
  });
}

async function readBooking(bookingId) {
  const r = await q(`SELECT booking_id, event_id, seat, status FROM ${T.bookings} WHERE booking_id = $1`, [bookingId]);
  if (r.rowCount === 0) return [404, { booking_id: bookingId, status: 'not_found' }];
  return [200, r.rows[0]];
}

async function readEvent(eventId) {
  // One statement: one snapshot of the event's seats.
  const r = CORRECT
    ? await q(`SELECT e.event_id, e.capacity,
                 (SELECT count(*) FROM ${T.seats} s WHERE s.event_id = e.event_id AND s.holder IS NOT NULL)::int AS booked
               FROM ${T.events} e WHERE e.event_id = $1`, [eventId])
    : await q(`SELECT e.event_id, e.capacity,
                 (SELECT count(*) FROM ${T.bookings} b WHERE b.event_id = e.event_id AND b.status = 'booked')::int AS booked,
                 (SELECT count(DISTINCT seat) FROM ${T.bookings} b WHERE b.event_id = e.event_id AND b.status = 'booked')::int AS seats_held
               FROM ${T.events} e WHERE e.event_id = $1`, [eventId]);
  if (r.rowCount === 0) return [404, { event_id: eventId, error: 'no such event' }];
  const row = r.rows[0];
  const held = CORRECT ? row.booked : row.seats_held;
  return [200, { event_id: row.event_id, capacity: row.capacity, booked: row.booked, free: row.capacity - held }];
}

let ready = false;

async function route(req) {
  const url = new URL(req.url, 'http://localhost');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const m = req.method;
  if (m === 'GET' && parts.length === 1 && parts[0] === 'health') {
    return ready ? [200, { status: 'ok' }] : [503, { status: 'starting' }];
  }
  if (!ready) return [503, { error: 'starting' }];
  const text = await readBody(req);
  let body;
  try { body = parseJson(text); } catch (err) { return [400, { error: `bad JSON: ${err.message}` }]; }
  if (parts[0] === 'events' && parts.length === 2) {
    if (!ID.test(parts[1])) return [400, { error: 'event_id must be an id' }];
    if (m === 'PUT') return createEvent(parts[1], body);
    if (m === 'GET') return readEvent(parts[1]);
  }
  if (parts[0] === 'bookings') {
    if (m === 'POST' && parts.length === 1) return book(body);
    if (m === 'GET' && parts.length === 2 && ID.test(parts[1])) return readBooking(parts[1]);
    if (m === 'POST' && parts.length === 3 && parts[2] === 'cancel') return cancel(parts[1]);
  }
  return [404, { error: `no route ${m} ${url.pathname}` }];
}

function serve() {
  const server = http.createServer((req, res) => {
    route(req).then(
      ([status, body]) => send(res, status, body),
      (err) => {
        // The outcome is unknown (a timeout, a lost connection, a failed COMMIT):
        // 503 is undocumented, so the harness takes it as "may or may not".
        log(`${req.method} ${req.url}: ${err.code || ''} ${err.message}`);
        send(res, 503, { error: 'unavailable', detail: err.message });
      });
  });
  server.keepAliveTimeout = 5000;
  startUp().then(() => {
    ready = true;
    server.listen(Number(process.env.PORT), '127.0.0.1', () => log(`variant ${variant}, listening on ${process.env.PORT}`));
  });
  const stop = () => {
    server.close();
    pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---------------------------------------------------------------- relay

function postPartner(path, key, text) {
  return new Promise((resolve) => {
    const url = new URL(path, process.env.PARTNER_URL);
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'Idempotency-Key': key },
      timeout: 3000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => resolve({ status: null, text: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('partner timeout')));
    req.on('error', (err) => resolve({ status: null, text: err.message }));
    req.end(text);
  });
}

// Rows the partner did not take are tried again after a pause that doubles up to
// RETRY_MAX_MS while it keeps failing, not at once: a partner that is down is not
// hammered, and one that is back is served within a second.
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 1000;

// One round over the unsent rows: how many there were, and how many the partner did not take.
async function relayOnce() {
  const r = await q(
    `SELECT booking_id, body FROM ${T.outbox} WHERE sent_at IS NULL ORDER BY created_at LIMIT 20`);
  let failed = 0;
  for (const row of r.rows) {
    // One key per booking, the same body every time: a resend after a lost answer
    // (partner 503 after the effect, a dropped connection, a relay crash) is replayed
    // by the partner, not sent twice.
    const ans = await postPartner('/notify/messages', `ns-confirm-${row.booking_id}`, row.body);
    if (ans.status === 200) {
      await q(`UPDATE ${T.outbox} SET sent_at = now(), attempts = attempts + 1 WHERE booking_id = $1`, [row.booking_id]);
    } else {
      failed += 1;
      log(`confirmation ${row.booking_id}: ${ans.status} ${ans.text.slice(0, 200)}`);
      await q(`UPDATE ${T.outbox} SET attempts = attempts + 1 WHERE booking_id = $1`, [row.booking_id]).catch(() => {});
      if (ans.status === 400 || ans.status === 422) log('partner refused the body: a bug, the row stays unsent');
    }
  }
  return { rows: r.rowCount, failed };
}

async function relay() {
  let stopping = false;
  const stop = () => { stopping = true; pool.end().finally(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await startUp();
  log(`variant ${variant}, relaying to ${process.env.PARTNER_URL}`);
  let backoff = RETRY_FIRST_MS;
  while (!stopping) {
    let round = { rows: 0, failed: 0 };
    try { round = await relayOnce(); } catch (err) { log(`relay: ${err.message}`); await sleep(300); }
    if (round.failed > 0) {
      await sleep(backoff);
      backoff = Math.min(2 * backoff, RETRY_MAX_MS);
    } else {
      backoff = RETRY_FIRST_MS;
      if (round.rows === 0) await sleep(100);
    }
  }
}

process.on('unhandledRejection', (err) => log('unhandled rejection:', err && err.stack ? err.stack : String(err)));

if (mode === 'serve') serve(); else relay();
