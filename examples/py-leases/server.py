"""py-leases: a lease (distributed lock) service with fencing tokens.

PostgreSQL is the only source of truth (and its clock the only clock).
Every write request carries a client-chosen id; its answer is stored in the
same transaction as its effect, so a resend gets the first answer and no
second effect.

  POST /locks/{lock}/acquire   {acquire_id, holder, ttl_ms}
       200 {acquire_id, lock, holder, token, status: "granted"}
       409 {acquire_id, lock, status: "held"}
  POST /locks/{lock}/renew     {renew_id, holder, ttl_ms}
       200 {renew_id, lock, holder, token, status: "renewed"}
       409 {renew_id, lock, status: "not_holder"}
  POST /locks/{lock}/release   {release_id, holder}
       200 {release_id, lock, holder, status: "released"}
       409 {release_id, lock, status: "not_holder"}
  POST /resources/{lock}/writes {write_id, token}
       200 {write_id, lock, token, status: "accepted"}
       409 {write_id, lock, status: "stale_token"}
  GET /locks/{lock}             200 {lock, token, holder, writes, last_write_token} | 404
  GET /requests/{id}            200 {id, kind, status, token?} | 404
  GET /health
Anything else (503 on a store error or deadline) is indeterminate.
"""
import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from psycopg.types.json import Jsonb

VARIANTS = ("correct", "variant_a", "variant_b", "variant_c", "variant_d")
DEADLINE_S = 3.0
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

ap = argparse.ArgumentParser()
ap.add_argument("--variant", default=os.environ.get("FAILMODEL_VARIANT", "correct"))
args = ap.parse_args()
VARIANT = args.variant
if VARIANT not in VARIANTS:
    print(f"unknown variant {VARIANT!r}; known: {', '.join(VARIANTS)}", file=sys.stderr)
    sys.exit(2)
for var in ("PORT", "DATABASE_URL"):
    if not os.environ.get(var):
        print(f"{var} is not set", file=sys.stderr)
        sys.exit(2)
PORT = int(os.environ["PORT"])
DB_URL = os.environ["DATABASE_URL"]

# variant_c: fence cache per replica
_fence_cache = {}
_fence_lock = threading.Lock()


class StoreError(Exception):
    pass


class Conn:
    """A connection with a hard client-side deadline: a watchdog shuts the
    socket down, so a blackholed link becomes an error, never a hang."""

    def __init__(self):
        self.conn = psycopg.connect(DB_URL, connect_timeout=3, autocommit=False,
                                    options="-c statement_timeout=3000 -c lock_timeout=3000")
        self.timer = threading.Timer(DEADLINE_S + 0.5, self._kill)
        self.timer.daemon = True
        self.timer.start()

    def _kill(self):
        try:
            fd = self.conn.pgconn.socket
            s = socket.socket(fileno=os.dup(fd))
            s.shutdown(socket.SHUT_RDWR)
            s.close()
        except Exception:
            pass

    def close(self):
        self.timer.cancel()
        try:
            self.conn.close()
        except Exception:
            pass


def db():
    try:
        return Conn()
    except Exception as e:
        raise StoreError(str(e))


SCHEMA = """
CREATE TABLE IF NOT EXISTS lk_locks (
  lock text PRIMARY KEY,
  token bigint NOT NULL DEFAULT 0,
  holder text,
  expires_at timestamptz,
  writes bigint NOT NULL DEFAULT 0,
  last_write_token bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS lk_requests (
  id text PRIMARY KEY,
  kind text NOT NULL,
  lock text NOT NULL,
  code int NOT NULL,
  answer jsonb NOT NULL
);
"""


def ensure_schema():
    while True:
        c = None
        try:
            c = db()
            with c.conn.cursor() as cur:
                cur.execute("SELECT to_regclass('lk_locks') IS NOT NULL AND to_regclass('lk_requests') IS NOT NULL")
                if cur.fetchone()[0]:
                    c.conn.commit()
                    return
                cur.execute("SELECT pg_advisory_xact_lock(7265113)")
                cur.execute(SCHEMA)
            c.conn.commit()
            return
        except Exception as e:
            print(f"schema not ready: {e}", file=sys.stderr, flush=True)
            time.sleep(0.3)
        finally:
            if c:
                c.close()


def stored(cur, rid):
    cur.execute("SELECT code, answer FROM lk_requests WHERE id = %s", (rid,))
    return cur.fetchone()


def store(cur, rid, kind, lock, code, answer):
    cur.execute("INSERT INTO lk_requests (id, kind, lock, code, answer) VALUES (%s,%s,%s,%s,%s)",
                (rid, kind, lock, code, Jsonb(answer)))


def lock_row(cur, lock):
    cur.execute("INSERT INTO lk_locks (lock) VALUES (%s) ON CONFLICT (lock) DO NOTHING", (lock,))
    cur.execute("SELECT token, holder, expires_at, (expires_at IS NOT NULL AND expires_at > clock_timestamp()) AS live,"
                " clock_timestamp() FROM lk_locks WHERE lock = %s FOR UPDATE", (lock,))
    return cur.fetchone()


def in_tx(fn):
    """Run fn(cur) in one transaction; any store error is indeterminate."""
    c = db()
    try:
        with c.conn.cursor() as cur:
            res = fn(cur)
        c.conn.commit()
        return res
    except StoreError:
        raise
    except Exception as e:
        raise StoreError(str(e))
    finally:
        c.close()


def acquire(lock, b):
    rid, holder, ttl = b["acquire_id"], b["holder"], int(b["ttl_ms"])

    def tx(cur):
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        if VARIANT == "variant_a":
            cur.execute("INSERT INTO lk_locks (lock) VALUES (%s) ON CONFLICT (lock) DO NOTHING", (lock,))
            cur.execute("SELECT token, holder, (expires_at IS NOT NULL AND expires_at > clock_timestamp()) "
                        "FROM lk_locks WHERE lock = %s", (lock,))
            token, cur_holder, live = cur.fetchone()
            if live and cur_holder != holder:
                code, ans = 409, {"acquire_id": rid, "lock": lock, "status": "held"}
            else:
                new = token + 1
                cur.execute("UPDATE lk_locks SET token = %s, holder = %s, "
                            "expires_at = clock_timestamp() + make_interval(secs => %s) WHERE lock = %s",
                            (new, holder, ttl / 1000.0, lock))
                code, ans = 200, {"acquire_id": rid, "lock": lock, "holder": holder, "token": new, "status": "granted"}
            store(cur, rid, "acquire", lock, code, ans)
            return code, ans
        token, cur_holder, _exp, live, _now = lock_row(cur, lock)
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        if VARIANT == "variant_b":
            cur.execute("SELECT extract(epoch FROM expires_at) FROM lk_locks WHERE lock = %s", (lock,))
            exp = cur.fetchone()[0]
            live = exp is not None and float(exp) > time.time()
        if live and cur_holder != holder:
            code, ans = 409, {"acquire_id": rid, "lock": lock, "status": "held"}
        else:
            new = token + 1
            if VARIANT == "variant_b":
                cur.execute("UPDATE lk_locks SET token = %s, holder = %s, expires_at = to_timestamp(%s) WHERE lock = %s",
                            (new, holder, time.time() + ttl / 1000.0, lock))
            else:
                cur.execute("UPDATE lk_locks SET token = %s, holder = %s, "
                            "expires_at = clock_timestamp() + make_interval(secs => %s) WHERE lock = %s",
                            (new, holder, ttl / 1000.0, lock))
            code, ans = 200, {"acquire_id": rid, "lock": lock, "holder": holder, "token": new, "status": "granted"}
        store(cur, rid, "acquire", lock, code, ans)
        return code, ans

    return in_tx(tx)


def renew(lock, b):
    rid, holder, ttl = b["renew_id"], b["holder"], int(b["ttl_ms"])

    def tx(cur):
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        token, cur_holder, _exp, live, _now = lock_row(cur, lock)
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        if VARIANT == "variant_b":
            cur.execute("SELECT extract(epoch FROM expires_at) FROM lk_locks WHERE lock = %s", (lock,))
            exp = cur.fetchone()[0]
            live = exp is not None and float(exp) > time.time()
        if live and cur_holder == holder:
            if VARIANT == "variant_b":
                cur.execute("UPDATE lk_locks SET expires_at = to_timestamp(%s) WHERE lock = %s",
                            (time.time() + ttl / 1000.0, lock))
            else:
                cur.execute("UPDATE lk_locks SET expires_at = clock_timestamp() + make_interval(secs => %s) "
                            "WHERE lock = %s", (ttl / 1000.0, lock))
            code, ans = 200, {"renew_id": rid, "lock": lock, "holder": holder, "token": token, "status": "renewed"}
        else:
            code, ans = 409, {"renew_id": rid, "lock": lock, "status": "not_holder"}
        store(cur, rid, "renew", lock, code, ans)
        return code, ans

    return in_tx(tx)


def release(lock, b):
    rid, holder = b["release_id"], b["holder"]

    def tx(cur):
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        token, cur_holder, _exp, live, _now = lock_row(cur, lock)
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        if VARIANT == "variant_b":
            cur.execute("SELECT extract(epoch FROM expires_at) FROM lk_locks WHERE lock = %s", (lock,))
            exp = cur.fetchone()[0]
            live = exp is not None and float(exp) > time.time()
        if live and cur_holder == holder:
            cur.execute("UPDATE lk_locks SET holder = NULL, expires_at = NULL WHERE lock = %s", (lock,))
            code, ans = 200, {"release_id": rid, "lock": lock, "holder": holder, "status": "released"}
        else:
            code, ans = 409, {"release_id": rid, "lock": lock, "status": "not_holder"}
        store(cur, rid, "release", lock, code, ans)
        return code, ans

    return in_tx(tx)


def write(lock, b):
    rid, tok = b["write_id"], int(b["token"])

    if VARIANT == "variant_d":
        # effect first, answer recorded afterwards
        def check(cur):
            return stored(cur, rid)
        s = in_tx(check)
        if s:
            return s[0], s[1]

        def eff(cur):
            token = lock_row(cur, lock)[0]
            if tok == token and tok > 0:
                cur.execute("UPDATE lk_locks SET writes = writes + 1, last_write_token = %s WHERE lock = %s", (tok, lock))
                return 200, {"write_id": rid, "lock": lock, "token": tok, "status": "accepted"}
            return 409, {"write_id": rid, "lock": lock, "status": "stale_token"}
        code, ans = in_tx(eff)

        def rec(cur):
            cur.execute("INSERT INTO lk_requests (id, kind, lock, code, answer) VALUES (%s,%s,%s,%s,%s) "
                        "ON CONFLICT (id) DO NOTHING", (rid, "write", lock, code, Jsonb(ans)))
        in_tx(rec)
        return code, ans

    def tx(cur):
        s = stored(cur, rid)
        if s:
            return s[0], s[1]
        if VARIANT == "variant_c":
            now = time.monotonic()
            with _fence_lock:
                hit = _fence_cache.get(lock)
            if hit is None or now - hit[1] > 2.0:
                cur.execute("SELECT token FROM lk_locks WHERE lock = %s", (lock,))
                row = cur.fetchone()
                hit = (row[0] if row else 0, now)
                with _fence_lock:
                    _fence_cache[lock] = hit
            token = hit[0]
            cur.execute("INSERT INTO lk_locks (lock) VALUES (%s) ON CONFLICT (lock) DO NOTHING", (lock,))
        else:
            token = lock_row(cur, lock)[0]
            s = stored(cur, rid)
            if s:
                return s[0], s[1]
        if tok == token and tok > 0:
            cur.execute("UPDATE lk_locks SET writes = writes + 1, last_write_token = %s WHERE lock = %s", (tok, lock))
            code, ans = 200, {"write_id": rid, "lock": lock, "token": tok, "status": "accepted"}
        else:
            code, ans = 409, {"write_id": rid, "lock": lock, "status": "stale_token"}
        store(cur, rid, "write", lock, code, ans)
        return code, ans

    return in_tx(tx)


def read_lock(lock):
    def tx(cur):
        cur.execute("SELECT token, holder, writes, last_write_token FROM lk_locks WHERE lock = %s", (lock,))
        r = cur.fetchone()
        if not r:
            return 404, {"error": "not_found"}
        return 200, {"lock": lock, "token": r[0], "holder": r[1], "writes": r[2], "last_write_token": r[3]}
    return in_tx(tx)


def read_request(rid):
    def tx(cur):
        r = stored(cur, rid)
        if not r:
            return 404, {"error": "not_found"}
        ans = r[1]
        out = {"id": rid, "status": ans.get("status")}
        if "token" in ans:
            out["token"] = ans["token"]
        return 200, out
    return in_tx(tx)


ROUTES = [
    (re.compile(r"^/locks/([^/]+)/acquire$"), acquire, ("acquire_id", "holder", "ttl_ms")),
    (re.compile(r"^/locks/([^/]+)/renew$"), renew, ("renew_id", "holder", "ttl_ms")),
    (re.compile(r"^/locks/([^/]+)/release$"), release, ("release_id", "holder")),
    (re.compile(r"^/resources/([^/]+)/writes$"), write, ("write_id", "token")),
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body):
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except Exception:
            pass

    def do_GET(self):
        path = self.path.split("?")[0]
        try:
            if path == "/health":
                return self.send(200, {"ok": True})
            m = re.match(r"^/locks/([^/]+)$", path)
            if m:
                return self.send(*read_lock(m.group(1)))
            m = re.match(r"^/requests/([^/]+)$", path)
            if m:
                return self.send(*read_request(m.group(1)))
            return self.send(404, {"error": "no_route"})
        except StoreError as e:
            return self.send(503, {"error": "store", "detail": str(e)[:200]})
        except Exception as e:
            return self.send(500, {"error": "internal", "detail": str(e)[:200]})

    def do_POST(self):
        path = self.path.split("?")[0]
        try:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
        except Exception:
            return
        try:
            body = json.loads(raw or b"{}")
        except Exception:
            return self.send(400, {"error": "bad_json"})
        for rx, fn, need in ROUTES:
            m = rx.match(path)
            if not m:
                continue
            lock = m.group(1)
            if not isinstance(body, dict) or any(k not in body for k in need) or not ID_RE.match(lock) \
                    or not ID_RE.match(str(body[need[0]])):
                return self.send(400, {"error": "bad_request"})
            try:
                code, ans = fn(lock, body)
                return self.send(code, ans)
            except StoreError as e:
                return self.send(503, {"error": "store", "detail": str(e)[:200]})
            except Exception as e:
                return self.send(500, {"error": "internal", "detail": str(e)[:200]})
        return self.send(404, {"error": "no_route"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # a client that went away (timeout, reset) is not an error


def main():
    ensure_schema()
    srv = Server(("127.0.0.1", PORT), Handler)
    signal.signal(signal.SIGTERM, lambda *a: (srv.server_close(), os._exit(0)))
    print(f"py-leases {VARIANT} on 127.0.0.1:{PORT}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
