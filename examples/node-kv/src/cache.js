'use strict';
// A per-process cache of values read from PostgreSQL. Entries are dropped
// when the store announces a change of their key (LISTEN on the table's
// change channel) and when this process writes the key; the whole cache is
// dropped, and not used, while the change feed is disconnected.

const MAX_ENTRIES = 10000;

class ReadCache {
  constructor(makeClient, channel, log) {
    this.makeClient = makeClient;
    this.channel = channel;
    this.log = log;
    this.entries = new Map();     // key -> value (string) or null (no value)
    this.generations = new Map(); // key -> count of changes seen
    this.epoch = 0;               // bumped whenever the feed (re)connects or drops
    this.live = false;
    this.client = null;
    this.stopped = false;
  }

  start() {
    this._connect();
  }

  async stop() {
    this.stopped = true;
    this.live = false;
    if (this.client) await this.client.end().catch(() => {});
  }

  _drop() {
    this.live = false;
    this.epoch++;
    this.entries.clear();
  }

  async _connect() {
    let delay = 100;
    while (!this.stopped) {
      const client = this.makeClient();
      let lost = false;
      let established = false;
      const onLost = (err) => {
        if (lost) return;
        lost = true;
        client.end().catch(() => {});
        if (!established) return; // the connecting loop below retries
        if (err) this.log(`change feed lost: ${err.message}`);
        this._drop();
        if (this.client === client) this.client = null;
        if (!this.stopped) setTimeout(() => this._connect(), 100);
      };
      client.on('error', onLost);
      client.on('end', () => onLost(null));
      client.on('notification', (msg) => {
        if (msg.channel === this.channel) this.forget(msg.payload);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${this.channel}`);
      } catch (err) {
        onLost(err);
      }
      if (lost) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
        continue;
      }
      established = true;
      this.client = client;
      this.epoch++;
      this.entries.clear();
      this.live = true;
      return;
    }
  }

  // -> { found: true, value } or { found: false, ticket } where the ticket is
  // handed back to fill() with the value read from the store.
  lookup(key) {
    if (this.live && this.entries.has(key)) return { found: true, value: this.entries.get(key) };
    return { found: false, ticket: this.live ? { epoch: this.epoch, gen: this.generations.get(key) || 0 } : null };
  }

  fill(key, value, ticket) {
    if (!ticket || !this.live || ticket.epoch !== this.epoch) return;
    if ((this.generations.get(key) || 0) !== ticket.gen) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, value);
  }

  forget(key) {
    this.generations.set(key, (this.generations.get(key) || 0) + 1);
    this.entries.delete(key);
    if (this.generations.size > 10 * MAX_ENTRIES) {
      this.generations.clear();
      this.epoch++;
      this.entries.clear();
    }
  }
}

module.exports = { ReadCache };
