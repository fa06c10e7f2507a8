'use strict';
// The store: one PostgreSQL table, every operation a single statement on the
// primary, so the database's row locks decide the order operations take
// effect in. Nothing is answered before its statement committed.

const { Pool, Client } = require('pg');
const { ReadCache } = require('./cache');

const TABLE = 'nodekv_kv';
const CHANNEL = 'nodekv_changes';
const SCHEMA_LOCK = 7265117; // pg_advisory_xact_lock id for schema creation

const QUERY_TIMEOUT_MS = 3000;   // client-side deadline on every statement
const CONNECT_TIMEOUT_MS = 2000; // connecting, or waiting for a pooled connection

class OutcomeUnknown extends Error {
  constructor(message, cause) {
    super(message);
    this.name = 'OutcomeUnknown';
    this.cause = cause;
  }
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'not queryable',
  'Client was closed',
];

function isTransient(err) {
  if (!err) return false;
  if (TRANSIENT_CODES.has(err.code)) return true;
  if (typeof err.code === 'string' && (err.code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(err.code))) return true;
  const msg = String(err.message || '');
  return TRANSIENT_MESSAGES.some((m) => msg.includes(m));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sessionOptions(extra) {
  const settings = {
    statement_timeout: String(QUERY_TIMEOUT_MS),
    lock_timeout: String(QUERY_TIMEOUT_MS),
    idle_in_transaction_session_timeout: '5000',
    ...extra,
  };
  return Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
}

class Store {
  constructor(databaseUrl, profile, log) {
    this.profile = profile;
    this.log = log;
    this.databaseUrl = databaseUrl;
    this.connConfig = {
      connectionString: databaseUrl,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      application_name: `node-kv-${process.env.INSTANCE_ID || '0'}`,
      options: sessionOptions(profile.sessionSettings),
    };
    this.pool = new Pool({ ...this.connConfig, max: 10, idleTimeoutMillis: 10000 });
    // Idle pooled connections that die (a store crash, a partition) report
    // here; without a listener the process would exit.
    this.pool.on('error', (err) => this.log(`idle connection lost: ${err.message}`));
    // A client is handed out a microtask before the caller can listen on it, with
    // the pool's idle listener already gone: an error in that gap (PostgreSQL
    // shutting down as the connection opens) must not end the process.
    this.pool.on('connect', (client) => client.on('error', (err) => this.log(`connection lost: ${err.message}`)));
    this.cache = profile.readCache ? new ReadCache(() => this._listenerClient(), CHANNEL, log) : null;
  }

  async init() {
    await this._ensureSchema();
    if (this.cache) this.cache.start();
  }

  async close() {
    if (this.cache) await this.cache.stop();
    await this.pool.end().catch(() => {});
  }

  _listenerClient() {
    const c = new Client({ ...this.connConfig, query_timeout: undefined });
    return c;
  }

  async _ensureSchema() {
    // Restarts happen while other replicas serve traffic: no DDL (and so no
    // lock) when the schema is already there.
    const present = await this.pool.query(`SELECT to_regclass('${TABLE}') IS NOT NULL AS ok`);
    if (present.rows[0].ok) return;
    const client = await this.pool.connect();
    let failed = null;
    const onError = (err) => { failed = err; };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      // Replicas start side by side: concurrent CREATE ... IF NOT EXISTS can
      // still collide in the catalog, so serialise.
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      const again = await client.query(`SELECT to_regclass('${TABLE}') IS NOT NULL AS ok`);
      if (!again.rows[0].ok) {
        await client.query(`CREATE TABLE ${TABLE} (
          key   text PRIMARY KEY,
          value text NOT NULL
        )`);
        await client.query(`CREATE OR REPLACE FUNCTION ${TABLE}_notify() RETURNS trigger
          LANGUAGE plpgsql AS $$
          BEGIN
            PERFORM pg_notify('${CHANNEL}', NEW.key);
            RETURN NEW;
          END $$`);
        await client.query(`CREATE TRIGGER ${TABLE}_changed AFTER INSERT OR UPDATE ON ${TABLE}
          FOR EACH ROW EXECUTE FUNCTION ${TABLE}_notify()`);
      }
      await client.query('COMMIT');
      client.release();
    } catch (err) {
      client.release(err);
      throw err;
    } finally {
      client.removeListener('error', onError);
      if (failed) this.log(`schema connection lost: ${failed.message}`);
    }
  }

  // One statement on a pooled connection; the pool destroys a connection
  // whose statement failed or timed out.
  _query(sql, params) {
    return this.pool.query(sql, params);
  }

  async _withRetry(fn) {
    const delays = [100, 250];
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= delays.length || !isTransient(err)) throw err;
        await sleep(delays[attempt]);
      }
    }
  }

  _read(sql, params) {
    return this._withRetry(() => this._query(sql, params));
  }

  _write(sql, params) {
    if (this.profile.retryWrites) return this._withRetry(() => this._query(sql, params));
    return this._query(sql, params);
  }

  async _current(key) {
    const r = await this._read(`SELECT value FROM ${TABLE} WHERE key = $1`, [key]);
    return r.rows.length ? r.rows[0].value : null;
  }

  // -> the value (a string) or null when the key has none
  async get(key) {
    if (this.cache) {
      const hit = this.cache.lookup(key);
      if (hit.found) return hit.value;
      const value = await this._current(key);
      this.cache.fill(key, value, hit.ticket);
      return value;
    }
    return this._current(key);
  }

  async put(key, value) {
    await this._write(
      `INSERT INTO ${TABLE} (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [key, value],
    );
    if (this.cache) this.cache.forget(key);
  }

  // -> { swapped: true } or { swapped: false, current: string|null };
  // throws OutcomeUnknown when the answer cannot be a definite one.
  async cas(key, expected, next) {
    let swapped;
    if (expected === null) {
      swapped = this.profile.createMode === 'probe'
        ? await this._createProbe(key, next)
        : await this._createInsert(key, next);
    } else {
      const r = await this._write(
        `UPDATE ${TABLE} SET value = $3 WHERE key = $1 AND value = $2 RETURNING value`,
        [key, expected, next],
      );
      swapped = r.rowCount === 1;
    }
    if (this.cache && swapped) this.cache.forget(key);
    if (swapped) return { swapped: true };
    // Not swapped: answer the value the key has now (a value it had during
    // this call). If that is `expected` again, a definite refusal would be
    // wrong, so the outcome stays unknown.
    const current = await this._current(key);
    if (current === expected) throw new OutcomeUnknown('the compared value came back');
    return { swapped: false, current };
  }

  async _createInsert(key, next) {
    const r = await this._write(
      `INSERT INTO ${TABLE} (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO NOTHING RETURNING value`,
      [key, next],
    );
    return r.rowCount === 1;
  }

  async _createProbe(key, next) {
    const existing = await this._read(`SELECT 1 FROM ${TABLE} WHERE key = $1`, [key]);
    if (existing.rows.length) return false;
    await this._write(
      `INSERT INTO ${TABLE} (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [key, next],
    );
    return true;
  }
}

module.exports = { Store, OutcomeUnknown, isTransient };
