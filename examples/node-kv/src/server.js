'use strict';
// HTTP/1.1 + JSON, the kv contract (docs/contracts.md section 8):
//   PUT  /kv/{key}        {"value": str}                  200 {"key", "value"}
//   GET  /kv/{key}                                        200 {"key", "value"}; 404
//   POST /kv/{key}/cas    {"expected": str|null, "new": str}
//                                      200 {"key", "value": new}; 409 {"key", "value": current|null}
//   GET  /health                                          200 once the schema exists
// Anything that is not a definite answer (a store error, a timeout) is a 503:
// the harness takes it as "may or may not have happened".

const http = require('http');
const { OutcomeUnknown } = require('./store');

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_VALUE = 256;
const MAX_BODY = 64 * 1024;

function send(res, status, body) {
  if (res.writableEnded || res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('aborted', () => reject(Object.assign(new Error('client went away'), { status: 499 })));
  });
}

async function readJson(req) {
  const text = await readBody(req);
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (err) {
    throw Object.assign(new Error(`body must be a JSON object (${err.message})`), { status: 400 });
  }
}

function isValue(v) {
  return typeof v === 'string' && v.length <= MAX_VALUE;
}

function createServer(store, log) {
  let errorsLogged = 0;
  const storeError = (res, key, err) => {
    // Rate-limited: a partitioned store fails every request.
    if (errorsLogged < 20 || errorsLogged % 100 === 0) log(`store error (${key}): ${err.message}`);
    errorsLogged++;
    send(res, 503, { key, error: 'outcome unknown: ' + (err instanceof OutcomeUnknown ? err.message : 'store unavailable') });
  };

  const handle = async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname;
    if (path === '/health' && req.method === 'GET') return send(res, 200, { status: 'ok' });

    const m = /^\/kv\/([^/]+)(\/cas)?$/.exec(path);
    if (!m) return send(res, 404, { error: 'not found' });
    let key;
    try {
      key = decodeURIComponent(m[1]);
    } catch {
      return send(res, 400, { error: 'bad key' });
    }
    if (!ID.test(key)) return send(res, 400, { error: 'keys are 1 to 64 of [A-Za-z0-9_-]' });

    if (!m[2] && req.method === 'GET') {
      let value;
      try {
        value = await store.get(key);
      } catch (err) {
        return storeError(res, key, err);
      }
      if (value === null) return send(res, 404, { key, error: 'no value' });
      return send(res, 200, { key, value });
    }

    if (!m[2] && req.method === 'PUT') {
      const body = await readJson(req);
      if (!isValue(body.value)) return send(res, 400, { error: '"value" must be a string of at most 256 characters' });
      try {
        await store.put(key, body.value);
      } catch (err) {
        return storeError(res, key, err);
      }
      return send(res, 200, { key, value: body.value });
    }

    if (m[2] && req.method === 'POST') {
      const body = await readJson(req);
      if (!(body.expected === null || isValue(body.expected)) || !isValue(body.new)) {
        return send(res, 400, { error: '"expected" must be null or a string, "new" a string (at most 256 characters)' });
      }
      let outcome;
      try {
        outcome = await store.cas(key, body.expected, body.new);
      } catch (err) {
        return storeError(res, key, err);
      }
      if (outcome.swapped) return send(res, 200, { key, value: body.new });
      return send(res, 409, { key, value: outcome.current });
    }

    return send(res, 405, { error: 'method not allowed' });
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (err && err.status) return send(res, err.status, { error: err.message });
      log(`unexpected error: ${err && err.stack ? err.stack : err}`);
      send(res, 500, { error: 'internal error' });
    });
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  server.keepAliveTimeout = 30000;
  server.headersTimeout = 35000;
  return server;
}

module.exports = { createServer };
