"""Fields taken from earlier answers (`FromAnswer`, docs/workloads.md section 4):
the records and the TOML form name their mistakes, a schedule draws how far
back each looks, and the client fills them in when a request is first sent --
from a real HTTP service on loopback, whose answers it has just heard."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from harness.history import Recorder
from harness.plain import Where
from harness.schedule.decode import schedule_from_json
from harness.schedule.model import materialize
from harness.workload import (
    Answer,
    FromAnswer,
    InvalidWorkload,
    Key,
    Operation,
    Workload,
    WorkloadClient,
    load_workload_file,
)
from harness.workload.keys import KeySpace
from harness.workload.ops import OpSpec, RetryPolicy

ACQUIRE = Operation(
    name="acquire",
    method="POST",
    path="/locks/{lock}/acquire",
    body=("acquire_id",),
    fields={"acquire_id": Key("acq"), "lock": Key("lock")},
    id="acquire_id",
    ok=(Answer(200, echo=("acquire_id", "lock"), types={"token": "int"}),),
)


def write(token: Any = None) -> Operation:
    return Operation(
        name="write",
        method="POST",
        path="/locks/{lock}/writes",
        body=("write_id", "token"),
        fields={
            "write_id": Key("wr"),
            "lock": Key("lock"),
            "token": token or FromAnswer(("acquire",), "token", match=("lock",), default=0),
        },
        id="write_id",
        ok=(Answer(200, echo=("write_id", "token")),),
    )


def leases(*operations: Operation) -> Workload:
    return Workload(
        name="leases",
        keys={"lock": 2, "acq": 8, "wr": 8},
        operations=operations or (ACQUIRE, write()),
    )


def message(make: Any) -> str:
    with pytest.raises(InvalidWorkload) as info:
        make()
    return str(info.value)


def test_an_answered_field_names_its_mistakes() -> None:
    assert "'back' must be an int in 1..8 (got 0)" in message(
        lambda: FromAnswer(("acquire",), "token", back=0)
    )
    assert "'ops' must be one or more operation names (got ())" in message(
        lambda: FromAnswer((), "token")
    )
    assert "'fields['token'].match' must be names of its other fields (got ['holder'])" in (
        message(lambda: write(FromAnswer(("acquire",), "token", match=("holder",))))
    )
    assert "fields['token'].ops' must be operations of the workload (acquire, write) " in (
        message(lambda: leases(ACQUIRE, write(FromAnswer(("grant",), "token"))))
    )
    assert "fields['token'].match' must be fields that 'acquire' has too" in message(
        lambda: leases(ACQUIRE, write(FromAnswer(("acquire",), "token", match=("write_id",))))
    )
    assert (
        "fields['token'].field' must be a field an ok answer of 'acquire' names in its echo, "
        "equals or types (or one with a check) (got 'tokn')"
    ) in message(lambda: leases(ACQUIRE, write(FromAnswer(("acquire",), "tokn"))))
    assert leases().operation("write").args() == ("lock", "token")  # drawn: how far back


def test_the_toml_form_declares_one(tmp_path: Path) -> None:
    path = tmp_path / "leases.toml"
    text = """
name = "leases"
keys = { lock = 2, acq = 8, wr = 8 }

[[operations]]
name = "acquire"
method = "POST"
path = "/locks/{lock}/acquire"
body = ["acquire_id"]
id = "acquire_id"
fields = { acquire_id = { key = "acq" }, lock = { key = "lock" } }
ok = [{ status = 200, echo = ["acquire_id", "lock"], types = { token = "int" } }]

[[operations]]
name = "write"
method = "POST"
path = "/locks/{lock}/writes"
body = ["write_id", "token"]
id = "write_id"
fields.write_id = { key = "wr" }
fields.lock = { key = "lock" }
fields.token = { answer = "acquire", field = "token", match = ["lock"], default = 0 }
ok = [{ status = 200, echo = ["write_id", "token"] }]
"""
    path.write_text(text, encoding="utf-8")
    assert load_workload_file(path, Where(path="")) == leases()
    path.write_text(text.replace('field = "token", ', ""), encoding="utf-8")
    with pytest.raises(ValueError, match=r"fields.token: 'field' must be the answer field to "
                       r"take \(a name\)"):
        load_workload_file(path, Where(path=""))
    path.write_text(text.replace("default = 0", "back = 9"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"fields.token: 'back' must be an int in "
                       r"1..8 \(got 9\)"):
        load_workload_file(path, Where(path=""))


def test_a_schedule_draws_how_far_back_and_sends_the_default_until_filled_in() -> None:
    workload = leases()
    op = {"f": "write", "key": 3, "args": {"lock": 1, "token": 1}}
    schedule = schedule_from_json(
        {"version": 2, "workload": "leases", "steps": [{"step": "batch", "ops": [op]}]},
        workload,
    )
    (client_op,) = schedule.client_ops()
    spec = materialize(client_op, KeySpace("ex"), workload, replicas=1)
    assert spec.body == {"write_id": "ex-wr-3", "lock": "ex-lock-1", "token": 0}
    assert dict(spec.answered) == {"token": (workload.operation("write").fields["token"], 1)}
    assert schedule.describe(workload) == [
        "0: batch [c0->n0 write#3(lock=1,token=answer-1) t=2000ms]"
    ]
    bad = {**op, "args": {"lock": 1, "token": 2}}
    with pytest.raises(ValueError, match=r"args.token must be an int in 0..1 \(got 2\)"):
        schedule_from_json(
            {"version": 2, "workload": "leases", "steps": [{"step": "batch", "ops": [bad]}]},
            workload,
        )


async def _lock_service() -> tuple[web.AppRunner, str]:
    """A lock service on loopback: every acquire answers the lock's next token."""
    tokens: dict[str, itertools.count[int]] = {}

    async def acquire(request: web.Request) -> web.Response:
        body = await request.json()
        lock = request.match_info["lock"]
        token = next(tokens.setdefault(lock, itertools.count(1)))
        return web.json_response({"acquire_id": body["acquire_id"], "lock": lock, "token": token})

    async def writes(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    app = web.Application()
    app.router.add_post("/locks/{lock}/acquire", acquire)
    app.router.add_post("/locks/{lock}/writes", writes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def test_the_client_takes_the_newest_or_an_older_answer_of_the_same_lock() -> None:
    """Token 0 (the default) before any grant; then the newest of lock 0's
    grants, or one back; lock 1's grants are not lock 0's; a resend, even
    after a newer grant, carries what the request was first sent with."""
    workload = leases(ACQUIRE, write(FromAnswer(("acquire",), "token", match=("lock",),
                                              default=0, back=3)))

    def spec(f: str, ident: str, lock: str, back: int = 0, retries: int = 0) -> OpSpec:
        body = {"acquire_id" if f == "acquire" else "write_id": ident, "lock": lock}
        answered = {}
        if f == "write":
            body["token"] = 0
            answered = {"token": (workload.operation("write").fields["token"], back)}
        retry = RetryPolicy("immediate", retries) if retries else RetryPolicy()
        return OpSpec(f=f, body=body, answered=answered, process=0, retry=retry)

    async def play() -> list[Any]:
        runner, url = await _lock_service()
        recorder = Recorder()
        sent = []
        try:
            async with WorkloadClient(workload, [url], recorder) as client:
                for s in (
                    spec("write", "w-0", "l-0"),  # no grant yet: the default
                    spec("acquire", "a-0", "l-0"),  # token 1
                    spec("acquire", "a-0", "l-0"),  # its resend: token 2 answered, one value
                    spec("acquire", "a-1", "l-1"),  # lock 1's token 1
                    spec("acquire", "a-2", "l-0"),  # token 3
                    spec("write", "w-1", "l-0"),  # newest: 3
                    spec("write", "w-2", "l-0", back=1),  # one back: 2
                    spec("write", "w-3", "l-0", back=2, retries=1),  # two back: 1, twice
                    spec("acquire", "a-3", "l-0"),  # token 4
                    spec("write", "w-1", "l-0"),  # w-1 resent: still 3
                    spec("write", "w-4", "l-1", back=2),  # lock 1 has one token: the oldest
                ):
                    for event in await client.execute(s):
                        assert event.type == "ok", event
                sent = [
                    e.value["body"].get("token")
                    for e in recorder.history().events
                    if e.type == "invoke" and e.f == "write"
                ]
        finally:
            await runner.cleanup()
        return sent

    assert asyncio.run(play()) == [0, 3, 2, 1, 1, 3, 1]



def test_two_fields_of_one_answer_are_taken_together() -> None:
    """A write carries the token and the id of one grant: the first field draws
    how far back, the second follows it (never the token of one grant with
    the id of another), and only the first is a schedule arg."""
    paired = Operation(
        name="write",
        method="POST",
        path="/locks/{lock}/writes",
        body=("write_id", "token", "grant"),
        fields={
            "write_id": Key("wr"),
            "lock": Key("lock"),
            "token": FromAnswer(("acquire",), "token", match=("lock",), default=0, back=3),
            "grant": FromAnswer(("acquire",), "acquire_id", match=("lock",), default="x", back=3),
        },
        id="write_id",
        ok=(Answer(200, echo=("write_id", "token")),),
    )
    workload = leases(ACQUIRE, paired)
    assert paired.args() == ("lock", "token")
    op = {"f": "write", "key": 0, "args": {"lock": 0, "token": 2}}
    schedule = schedule_from_json(
        {"version": 2, "workload": "leases", "steps": [{"step": "batch", "ops": [op]}]},
        workload,
    )
    (client_op,) = schedule.client_ops()
    spec = materialize(client_op, KeySpace("ex"), workload, replicas=1)
    assert {name: back for name, (_, back) in spec.answered.items()} == {"token": 2, "grant": 2}

    async def play() -> list[tuple[Any, Any]]:
        runner, url = await _lock_service()
        recorder = Recorder()
        try:
            async with WorkloadClient(workload, [url], recorder) as client:
                for ident in ("a-0", "a-1", "a-0"):  # tokens 1, 2, 3: a-0 twice
                    body = {"acquire_id": ident, "lock": "ex-lock-0"}
                    await client.execute(OpSpec(f="acquire", body=body, process=0))
                await client.execute(spec)
                newest = replace(spec, body={**spec.body, "write_id": "ex-wr-1"},
                                 answered={n: (s, 0) for n, (s, _) in spec.answered.items()})
                await client.execute(newest)
        finally:
            await runner.cleanup()
        return [
            (e.value["body"]["token"], e.value["body"]["grant"])
            for e in recorder.history().events
            if e.type == "invoke" and e.f == "write"
        ]

    # Two back among the answers (3, a-0), (2, a-1), (1, a-0): a field on its
    # own would take two back among a-0, a-1 (the oldest there is): a-1.
    assert asyncio.run(play()) == [(1, "a-0"), (3, "a-0")]
