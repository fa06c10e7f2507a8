"""py-wallet: a prepaid wallet service; Redis is the source of truth.

API (JSON over HTTP/1.1 on 127.0.0.1:$PORT):
  PUT  /accounts/{account_id}          {"balance", "cap"}   -> 200 {"account_id", "balance", "cap"}
  POST /accounts/{account_id}/freeze   {"freeze_id"}        -> 200 {"account_id", "freeze_id", "frozen": true}
  POST /transfers {"transfer_id", "from", "to", "amount"}   -> 200 {"transfer_id", "status": "done"}
                                                               409 {"transfer_id", "status": "rejected", "reason"}
  GET  /accounts/{account_id}  -> 200 {"account_id", "balance", "cap", "frozen"} | 404
  GET  /transfers/{transfer_id} -> 200 {"transfer_id", "status", "reason", "from", "to", "amount"} | 404
  GET  /health
Anything the service cannot decide for sure is answered 503 (indeterminate).
"""
import argparse
import asyncio
import json
import os
import sys
import time

from aiohttp import web
import redis.asyncio as aioredis
from redis.exceptions import RedisError

VARIANTS = ("correct", "variant_a", "variant_b", "variant_c", "variant_d")
P = "pw:"  # key prefix
OP_TIMEOUT = 1.5  # seconds: every Redis call has a deadline (clients wait at most 2 s)


def acct_key(a):
    return f"{P}acct:{a}"


def tx_key(t):
    return f"{P}tx:{t}"


# Create an account once: a resend answers what is stored.
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'balance', ARGV[1], 'cap', ARGV[2], 'frozen', '0')
end
return redis.call('HMGET', KEYS[1], 'balance', 'cap')
"""

FREEZE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'frozen', '1')
return 1
"""

# The whole transfer as one atomic step: idempotency record, checks, effect.
TRANSFER = """
local st = redis.call('HGET', KEYS[1], 'status')
if st then return {st, redis.call('HGET', KEYS[1], 'reason') or ''} end
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('EXISTS', KEYS[3]) == 0 then
  return {'no_account', ''}
end
local amount = tonumber(ARGV[4])
local bal = tonumber(redis.call('HGET', KEYS[2], 'balance'))
local cap = tonumber(redis.call('HGET', KEYS[2], 'cap'))
local frozen = redis.call('HGET', KEYS[2], 'frozen')
local status, reason = 'done', ''
if frozen == '1' then status, reason = 'rejected', 'frozen'
elseif amount > cap then status, reason = 'rejected', 'over_cap'
elseif bal < amount then status, reason = 'rejected', 'insufficient_funds'
end
if status == 'done' then
  redis.call('HINCRBY', KEYS[2], 'balance', -amount)
  redis.call('HINCRBY', KEYS[3], 'balance', amount)
end
redis.call('HSET', KEYS[1], 'status', status, 'reason', reason,
           'from', ARGV[2], 'to', ARGV[3], 'amount', ARGV[4])
return {status, reason}
"""

# Checks and effect, the frozen flag and cap given by the caller (variant_b).
TRANSFER_GIVEN_CONFIG = """
local st = redis.call('HGET', KEYS[1], 'status')
if st then return {st, redis.call('HGET', KEYS[1], 'reason') or ''} end
local amount = tonumber(ARGV[4])
local bal = tonumber(redis.call('HGET', KEYS[2], 'balance'))
if bal == nil or redis.call('EXISTS', KEYS[3]) == 0 then return {'no_account', ''} end
local status, reason = 'done', ''
if ARGV[5] == '1' then status, reason = 'rejected', 'frozen'
elseif amount > tonumber(ARGV[6]) then status, reason = 'rejected', 'over_cap'
elseif bal < amount then status, reason = 'rejected', 'insufficient_funds'
end
if status == 'done' then
  redis.call('HINCRBY', KEYS[2], 'balance', -amount)
  redis.call('HINCRBY', KEYS[3], 'balance', amount)
end
redis.call('HSET', KEYS[1], 'status', status, 'reason', reason,
           'from', ARGV[2], 'to', ARGV[3], 'amount', ARGV[4])
return {status, reason}
"""

# Checks and effect without looking at the transfer record (variant_c).
APPLY = """
local amount = tonumber(ARGV[4])
local bal = tonumber(redis.call('HGET', KEYS[2], 'balance'))
if bal == nil or redis.call('EXISTS', KEYS[3]) == 0 then return {'no_account', ''} end
local cap = tonumber(redis.call('HGET', KEYS[2], 'cap'))
local status, reason = 'done', ''
if redis.call('HGET', KEYS[2], 'frozen') == '1' then status, reason = 'rejected', 'frozen'
elseif amount > cap then status, reason = 'rejected', 'over_cap'
elseif bal < amount then status, reason = 'rejected', 'insufficient_funds'
end
if status == 'done' then
  redis.call('HINCRBY', KEYS[2], 'balance', -amount)
  redis.call('HINCRBY', KEYS[3], 'balance', amount)
end
redis.call('HSET', KEYS[1], 'status', status, 'reason', reason,
           'from', ARGV[2], 'to', ARGV[3], 'amount', ARGV[4])
return {status, reason}
"""


class Unavailable(Exception):
    pass


def j(status, body):
    return web.json_response(body, status=status)


def s(v):
    return v.decode() if isinstance(v, bytes) else v


class Wallet:
    def __init__(self, url, variant):
        self.variant = variant
        self.r = aioredis.from_url(
            url, socket_timeout=OP_TIMEOUT, socket_connect_timeout=1.0,
            health_check_interval=0, max_connections=64)
        self.scripts = {}
        self.config_cache = {}  # variant_b: account -> (expires_at, frozen, cap)

    async def call(self, coro_fn, *, retries=0):
        """One Redis call with a deadline; retried only when the caller says it is safe."""
        last = None
        for attempt in range(retries + 1):
            try:
                return await asyncio.wait_for(coro_fn(), OP_TIMEOUT + 0.5)
            except (RedisError, OSError, asyncio.TimeoutError) as e:
                last = e
                if attempt < retries:
                    await asyncio.sleep(0.05 * (attempt + 1))
        raise Unavailable(repr(last))

    def script(self, name, src):
        if name not in self.scripts:
            self.scripts[name] = self.r.register_script(src)
        return self.scripts[name]

    async def wait_ready(self):
        while True:
            try:
                await asyncio.wait_for(self.r.ping(), 2.0)
                return
            except Exception as e:  # noqa: BLE001 - keep trying until the store is up
                print(f"waiting for redis: {e!r}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.2)

    # ---- handlers -------------------------------------------------------

    async def health(self, request):
        return j(200, {"status": "ok"})

    async def create_account(self, request):
        aid = request.match_info["account_id"]
        body = await request.json()
        bal, cap = int(body["balance"]), int(body["cap"])
        sc = self.script("create", CREATE)
        try:
            got = await self.call(lambda: sc(keys=[acct_key(aid)], args=[bal, cap]), retries=2)
        except Unavailable:
            return j(503, {"account_id": aid, "error": "store unavailable"})
        return j(200, {"account_id": aid, "balance": int(got[0]), "cap": int(got[1])})

    async def freeze(self, request):
        aid = request.match_info["account_id"]
        body = await request.json()
        fid = body.get("freeze_id")
        sc = self.script("freeze", FREEZE)
        try:
            got = await self.call(lambda: sc(keys=[acct_key(aid)]), retries=2)
        except Unavailable:
            return j(503, {"account_id": aid, "error": "store unavailable"})
        if not got:
            return j(404, {"account_id": aid, "error": "no such account"})
        self.config_cache.pop(aid, None)
        return j(200, {"account_id": aid, "freeze_id": fid, "frozen": True})

    async def transfer(self, request):
        body = await request.json()
        tid, src, dst, amount = body["transfer_id"], body["from"], body["to"], int(body["amount"])
        if src == dst or amount <= 0:
            return j(400, {"transfer_id": tid, "error": "invalid transfer"})
        # the work outlives a client that hangs up
        return await asyncio.shield(self._transfer(tid, src, dst, amount))

    async def _transfer(self, tid, src, dst, amount):
        keys = [tx_key(tid), acct_key(src), acct_key(dst)]
        args = [tid, src, dst, amount]
        try:
            if self.variant == "variant_a":
                status, reason = await self._transfer_a(tid, src, dst, amount)
            elif self.variant == "variant_b":
                frozen, cap = await self._account_config(src)
                sc = self.script("given", TRANSFER_GIVEN_CONFIG)
                status, reason = await self.call(
                    lambda: sc(keys=keys, args=args + [frozen, cap]), retries=2)
            elif self.variant == "variant_c":
                rec = await self.call(lambda: self.r.hmget(tx_key(tid), "status", "reason"), retries=2)
                if rec[0] is not None:
                    status, reason = rec
                else:
                    sc = self.script("apply", APPLY)
                    status, reason = await self.call(lambda: sc(keys=keys, args=args), retries=2)
            elif self.variant == "variant_d":
                sc = self.script("transfer", TRANSFER)
                try:
                    status, reason = await self.call(lambda: sc(keys=keys, args=args))
                except Unavailable:
                    status, reason = "rejected", "try_again"
            else:
                sc = self.script("transfer", TRANSFER)
                # safe to run again: the script finds its own record first
                status, reason = await self.call(lambda: sc(keys=keys, args=args), retries=2)
        except Unavailable as e:
            return j(503, {"transfer_id": tid, "error": f"store unavailable: {e}"})
        status, reason = s(status), s(reason)
        if status == "done":
            return j(200, {"transfer_id": tid, "status": "done"})
        if status == "rejected":
            return j(409, {"transfer_id": tid, "status": "rejected", "reason": reason})
        return j(404 if status == "no_account" else 503, {"transfer_id": tid, "error": status})

    async def _account_config(self, aid):
        now = time.monotonic()
        hit = self.config_cache.get(aid)
        if hit and hit[0] > now:
            return hit[1], hit[2]
        frozen, cap = await self.call(lambda: self.r.hmget(acct_key(aid), "frozen", "cap"), retries=2)
        frozen, cap = s(frozen) or "0", int(cap or 0)
        self.config_cache[aid] = (now + 3.0, frozen, cap)
        return frozen, cap

    async def _transfer_a(self, tid, src, dst, amount):
        rec = await self.call(lambda: self.r.hmget(tx_key(tid), "status", "reason"), retries=2)
        if rec[0] is not None:
            return rec
        acct = await self.call(lambda: self.r.hmget(acct_key(src), "balance", "cap", "frozen"), retries=2)
        if acct[0] is None:
            return "no_account", ""
        bal, cap, frozen = int(acct[0]), int(acct[1]), s(acct[2])
        status, reason = "done", ""
        if frozen == "1":
            status, reason = "rejected", "frozen"
        elif amount > cap:
            status, reason = "rejected", "over_cap"
        elif bal < amount:
            status, reason = "rejected", "insufficient_funds"

        async def write():
            pipe = self.r.pipeline(transaction=True)
            if status == "done":
                pipe.hincrby(acct_key(src), "balance", -amount)
                pipe.hincrby(acct_key(dst), "balance", amount)
            pipe.hset(tx_key(tid), mapping={"status": status, "reason": reason, "from": src,
                                            "to": dst, "amount": amount})
            return await pipe.execute()
        await self.call(write)
        return status, reason

    async def read_account(self, request):
        aid = request.match_info["account_id"]
        try:
            got = await self.call(lambda: self.r.hmget(acct_key(aid), "balance", "cap", "frozen"), retries=1)
        except Unavailable:
            return j(503, {"account_id": aid, "error": "store unavailable"})
        if got[0] is None:
            return j(404, {"account_id": aid, "error": "not found"})
        return j(200, {"account_id": aid, "balance": int(got[0]), "cap": int(got[1]),
                       "frozen": s(got[2]) == "1"})

    async def read_transfer(self, request):
        tid = request.match_info["transfer_id"]
        try:
            got = await self.call(lambda: self.r.hgetall(tx_key(tid)), retries=1)
        except Unavailable:
            return j(503, {"transfer_id": tid, "error": "store unavailable"})
        if not got:
            return j(404, {"transfer_id": tid, "error": "not found"})
        got = {s(k): s(v) for k, v in got.items()}
        return j(200, {"transfer_id": tid, "status": got.get("status"), "reason": got.get("reason", ""),
                       "from": got.get("from"), "to": got.get("to"), "amount": int(got.get("amount", 0))})


@web.middleware
async def errors(request, handler):
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (json.JSONDecodeError, KeyError, ValueError, TypeError) as e:
        return j(400, {"error": f"bad request: {e!r}"})
    except Exception as e:  # noqa: BLE001 - never die on a request; say "unknown"
        print(f"error: {e!r}", file=sys.stderr, flush=True)
        return j(503, {"error": repr(e)})


async def serve(variant):
    url = os.environ.get("REDIS_URL")
    port = os.environ.get("PORT")
    if not url or not port:
        print("REDIS_URL and PORT must be set", file=sys.stderr)
        sys.exit(2)
    w = Wallet(url, variant)
    await w.wait_ready()
    app = web.Application(middlewares=[errors])
    app.add_routes([
        web.get("/health", w.health),
        web.put("/accounts/{account_id}", w.create_account),
        web.post("/accounts/{account_id}/freeze", w.freeze),
        web.get("/accounts/{account_id}", w.read_account),
        web.post("/transfers", w.transfer),
        web.get("/transfers/{transfer_id}", w.read_transfer),
    ])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(port))
    await site.start()
    print(f"py-wallet ({variant}) on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main():
    ap = argparse.ArgumentParser(prog="py-wallet")
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("--variant", default=os.environ.get("FAILMODEL_VARIANT", "correct") or "correct")
    a = ap.parse_args()
    if a.variant not in VARIANTS:
        print(f"unknown variant {a.variant!r}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        sys.exit(2)
    asyncio.run(serve(a.variant))


if __name__ == "__main__":
    main()
