"""The workload API (docs/workloads.md): records check themselves with messages
that name the field, answers classify exactly, the TOML form builds the same
records and names the file and place of a mistake, and the default strategy,
``materialize`` and schedule JSON work for a workload the harness never saw."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.plain import Where
from harness.schedule.decode import schedule_from_json
from harness.schedule.model import Schedule, materialize, setup_specs
from harness.schedule.shape import Shape
from harness.schedule.strategies import schedules
from harness.workload import (
    BUILTIN,
    Answer,
    Const,
    DrawContext,
    FinalRead,
    FromKey,
    Ints,
    InvalidWorkload,
    Key,
    OneOf,
    Operation,
    PartnerDecline,
    SetupStep,
    Workload,
    load_workload_file,
    workload_from_table,
)
from harness.workload.contract import classify, path_of, payload_of
from harness.workload.keys import KeySpace

OK = (Answer(200),)


def transfer(**changes: Any) -> Operation:
    fields: dict[str, Any] = {
        "transfer_id": Key("transfer"),
        "from": Key("account"),
        "to": Key("account", distinct_from="from"),
        "amount": Ints(1, 50),
    }
    options: dict[str, Any] = {
        "name": "transfer",
        "method": "POST",
        "path": "/transfers",
        "body": ("transfer_id", "from", "to", "amount"),
        "fields": fields,
        "id": "transfer_id",
        "ok": (Answer(200, echo=("transfer_id",), equals={"status": "done"}),),
        "fail": (Answer(409, echo=("transfer_id",), equals={"status": "rejected"}),),
        "weight": 4,
    }
    return Operation(**{**options, **changes})


READ = Operation(
    name="read_account",
    method="GET",
    path="/accounts/{account_id}",
    fields={"account_id": Key("account")},
    id="account_id",
    read=True,
    ok=(Answer(200, echo=("account_id",), types={"balance": "int"}), Answer(404)),
)
OPEN = Operation(
    name="open_account",
    method="PUT",
    path="/accounts/{account_id}",
    body=("balance",),
    fields={"account_id": Key("account"), "balance": Ints(0, 100)},
    id="account_id",
    weight=0,
    ok=(Answer(200, echo=("account_id", "balance")),),
)
WALLET = Workload(
    name="wallet",
    keys={"account": 4, "transfer": 8},
    setup=(SetupStep(op="open_account", each="account"),),
    operations=(OPEN, transfer(), READ),
    final=(FinalRead(op="read_account", slot="accounts", keys="account", not_found="absent"),),
)


def message(make: Any) -> str:
    with pytest.raises(InvalidWorkload) as info:
        make()
    assert "\n" not in str(info.value)
    return str(info.value)


# --- the records check themselves -----------------------------------------------------


def test_an_operation_names_its_mistakes() -> None:
    assert message(lambda: transfer(ok=())) == (
        "Operation 'transfer': 'ok' must be a non-empty tuple of at most 16 Answer (got ())"
    )
    assert message(lambda: transfer(path="/t/{nope}")) == (
        "Operation 'transfer': 'path' must be a path whose placeholders are fields ('nope' is "
        "not) (got '/t/{nope}')"
    )
    assert "'fields' must be all sent, in 'path' or 'body' (got ['amount'])" in message(
        lambda: transfer(body=("transfer_id", "from", "to"))
    )
    assert "'body' must be empty for a GET" in message(lambda: transfer(method="GET"))
    assert "'method' must be one of GET, POST, PUT, PATCH, DELETE (got 'SEND')" in message(
        lambda: transfer(method="SEND")
    )
    assert "'id' must be None or the name of a field drawn from a Key (got 'amount')" in (
        message(lambda: transfer(id="amount"))
    )
    assert "'weight' must be an int in 0..1000 (got -1)" in message(lambda: transfer(weight=-1))
    assert "'echo' must be names of its fields" in message(
        lambda: transfer(ok=(Answer(200, echo=("nope",)),))
    )
    assert "'fields['to'].distinct_from' must be another drawn Key field of kind 'account'" in (
        message(lambda: transfer(fields={**transfer().fields, "to": Key("account",
                                                                        distinct_from="amount")}))
    )


def test_value_sources_and_answers_name_their_mistakes() -> None:
    assert message(lambda: Key("Account")).startswith("Key: 'kind' must be a key kind")
    assert message(lambda: Key("a", distinct_from="x", same_as="y")).startswith(
        "Key: give 'distinct_from' or 'same_as', not both"
    )
    assert message(lambda: Ints(5, 1)) == "Ints: 'hi' must be an int in 5..1000000000 (got 1)"
    assert message(lambda: Ints(0, 10**10)).startswith("Ints: 'hi' must be an int in 0..")
    assert message(lambda: OneOf(())).startswith("OneOf: 'values' must be a tuple of 1..100")
    assert message(lambda: OneOf(("a", "b"), weights=(1,))).startswith(
        "OneOf: 'weights' must be None or one int in 1..1000 per value (2)"
    )
    assert message(lambda: Const([1])).startswith("Const: 'value' must be a JSON scalar")
    assert message(lambda: Answer(200, types={"x": "integer"})).startswith(
        "Answer: 'types['x']' must be a JSON type (int, number, str, bool, object, list, null)"
    )
    assert message(lambda: Answer(700)) == "Answer: 'status' must be an int in 100..599 (got 700)"


def test_a_workload_names_its_mistakes() -> None:
    def wallet(**changes: Any) -> Workload:
        options: dict[str, Any] = {
            "name": "wallet",
            "keys": {"account": 4, "transfer": 8},
            "operations": (OPEN, transfer(), READ),
        }
        return Workload(**{**options, **changes})

    assert "'operations['transfer']' must be key kinds of 'keys' (account)" in message(
        lambda: wallet(keys={"account": 4})
    )
    assert "'keys['account']' must be at least 2: transfer.to must differ from from" in message(
        lambda: wallet(keys={"account": 1, "transfer": 8})
    )
    assert "'operations' must be a tuple with a write (not read) of weight > 0" in message(
        lambda: wallet(operations=(OPEN, READ))
    )
    assert "'operations' must be distinct (got ['read_account'])" in message(
        lambda: wallet(operations=(OPEN, transfer(), READ, READ))
    )
    assert "'setup['nope']' must be an operation" in message(
        lambda: wallet(setup=(SetupStep(op="nope"),))
    )
    assert "'setup['read_account']' must be a write" in message(
        lambda: wallet(setup=(SetupStep(op="read_account"),))
    )
    assert "'setup['transfer'].values['to']' must be a Key without distinct_from" in message(
        lambda: wallet(setup=(SetupStep(op="transfer"),))
    )
    assert (
        "'setup['transfer'].values['from']' must be a key of a kind set up before this step "
        "(the 'account' keys are made by this step or a later one) (got 'account')"
    ) in message(
        lambda: wallet(
            setup=(
                SetupStep(op="transfer", values={"to": Key("account")}),
                SetupStep(op="open_account", each="account"),
            )
        )
    )
    assert "'final['x'].op' must be a read operation with an 'id' field" in message(
        lambda: wallet(final=(FinalRead(op="transfer", slot="x", keys="account"),))
    )
    assert "give 'keys' (a key kind) or 'fields'" in message(
        lambda: FinalRead(op="read_account", slot="x")
    )
    assert "'effects' must be partner endpoints (psp, warehouse, notify)" in message(
        lambda: wallet(effects=("bank",))
    )
    assert "'setup' must be a tuple of at most 16 SetupStep or PartnerDecline" in message(
        lambda: wallet(setup=("x",))
    )


# --- answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"transfer_id": "t-1", "status": "done"}, "ok"),
        (200, {"transfer_id": "t-2", "status": "done"}, "info"),  # another request's answer
        (200, {"transfer_id": "t-1", "status": "pending"}, "info"),
        (200, None, "info"),
        (409, {"transfer_id": "t-1", "status": "rejected", "extra": 1}, "fail"),
        (500, {"transfer_id": "t-1", "status": "done"}, "info"),
    ],
)
def test_answers_classify_exactly(status: int, body: Any, expected: str) -> None:
    request = {"transfer_id": "t-1", "from": "a", "to": "b", "amount": 5}
    assert classify(transfer(), request, status, body)[0] == expected


def test_an_answer_that_matches_no_documented_one_says_where_it_differs() -> None:
    """A setup that fails (an answer of another request) shows which field of
    which documented answer differed, not only the body."""
    request = {"transfer_id": "t-1", "from": "a", "to": "b", "amount": 5}
    outcome, error = classify(transfer(), request, 200, {"transfer_id": "t-2", "status": "done"})
    assert outcome == "info"
    assert error is not None and error.startswith(
        "HTTP 200 body does not match the contract (not its ok answer: echo 'transfer_id': "
        "sent 't-1', answered 't-2'): "
    )
    _, error = classify(transfer(), request, 200, {"transfer_id": "t-1"})
    assert "equals 'status': expected 'done', answered nothing" in str(error)
    assert Answer(200, types={"n": "int"}).mismatch({}, {"n": "3"}) == (
        "types 'n': expected int, answered '3'"
    )


def test_types_equals_and_checks() -> None:
    nullable = Answer(200, types={"charge_id": "str|null"}, equals={"matched": True})
    assert nullable.matches({}, {"matched": True})  # absent counts as null
    assert nullable.matches({}, {"matched": True, "charge_id": None})
    assert not nullable.matches({}, {"matched": 1})  # JSON: true is not 1
    assert not nullable.matches({}, {"matched": True, "charge_id": 3})
    assert Answer(200, types={"n": "int"}).matches({}, {"n": 3})
    assert not Answer(200, types={"n": "int"}).matches({}, {"n": True})
    assert Answer(404).matches({}, "not json at all")
    checked = Answer(200, check=lambda request, body: body["n"] == request["n"])
    assert checked.matches({"n": 2}, {"n": 2}) and not checked.matches({"n": 2}, {"n": 3})


def test_paths_and_payloads() -> None:
    read = Operation(
        name="read", method="GET", path="/m?user={user}&x={x}", read=True, id="user",
        fields={"user": Key("user"), "x": Const("a b")}, ok=OK,
    )
    assert path_of(read, {"user": "u/1", "x": "a b"}) == "/m?user=u%2F1&x=a%20b"
    assert payload_of(read, {"user": "u"}) is None
    assert payload_of(OPEN, {"account_id": "a", "balance": 3}) == {"balance": 3}


# --- the TOML form ------------------------------------------------------------------------

WALLET_TOML = """
name = "wallet"

[keys]
account = 4
transfer = 8

[[setup]]
op = "open_account"
each = "account"

[[operations]]
name = "open_account"
method = "PUT"
path = "/accounts/{account_id}"
body = ["balance"]
id = "account_id"
weight = 0
fields = { account_id = { key = "account" }, balance = { ints = [0, 100] } }
ok = [{ status = 200, echo = ["account_id", "balance"] }]

[[operations]]
name = "transfer"
method = "POST"
path = "/transfers"
body = ["transfer_id", "from", "to", "amount"]
id = "transfer_id"
weight = 4
fields = { transfer_id = { key = "transfer" }, from = { key = "account" }, to = { key = "account", distinct_from = "from" }, amount = { ints = [1, 50] } }
ok = [{ status = 200, echo = ["transfer_id"], equals = { status = "done" } }]
fail = [{ status = 409, echo = ["transfer_id"], equals = { status = "rejected" } }]

[[operations]]
name = "read_account"
method = "GET"
path = "/accounts/{account_id}"
id = "account_id"
read = true
fields = { account_id = { key = "account" } }
ok = [{ status = 200, echo = ["account_id"], types = { balance = "int" } }, { status = 404 }]

[[final]]
op = "read_account"
slot = "accounts"
keys = "account"
not_found = "absent"
"""  # noqa: E501


def test_the_toml_form_builds_the_same_records(tmp_path: Path) -> None:
    path = tmp_path / "wallet.toml"
    path.write_text(WALLET_TOML, encoding="utf-8")
    assert load_workload_file(path, Where(path="")) == WALLET


def toml_error(tmp_path: Path, old: str, new: str) -> str:
    path = tmp_path / "wallet.toml"
    path.write_text(WALLET_TOML.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_workload_file(path, Where(path=""))
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: "), text
    return text.removeprefix(f"{path}: ")


def test_toml_mistakes_name_the_place(tmp_path: Path) -> None:
    assert toml_error(tmp_path, "amount = { ints = [1, 50] }", "amount = { ints = [1] }") == (
        "operations[1] (name 'transfer').fields.amount: 'ints' must be an array [lo, hi] of two "
        "integers (got [1])"
    )
    assert toml_error(tmp_path, "amount = { ints = [1, 50] }", "amount = 5") == (
        "operations[1] (name 'transfer').fields.amount: must be one of { key = \"kind\" }, "
        "{ ints = [lo, hi] }, { one_of = [...] }, { const = value }, "
        "{ answer = \"op\", field = \"name\" } (got 5)"
    )
    assert toml_error(tmp_path, "weight = 4", "weight = 100000") == (
        "operations[1] (name 'transfer'): 'weight' must be an int in 0..1000 (got 100000)"
    )
    assert toml_error(tmp_path, "status = 409", "state = 409").startswith(
        "operations[1] (name 'transfer').fail[0]: unknown key(s) 'state'"
    )
    assert toml_error(tmp_path, "account = 4", "account = 10000") == (
        "'keys['account']' must be an int in 1..1000 (got 10000)"
    )
    assert toml_error(tmp_path, 'not_found = "absent"', 'not_found = "gone"') == (
        "final[0]: 'not_found' must be 'absent' or 'unknown' (got 'gone')"
    )
    assert toml_error(tmp_path, "[[setup]]", "[[setup]]\ndecline = 'nope'\n[[setup]]") == (
        "'setup' must be key kinds of 'keys' (account, transfer) (got 'nope')"
    )
    assert toml_error(tmp_path, "account = 4", "account = 4\n[[x]]").startswith(
        "unknown key(s) 'x'; accepted keys: name, keys, operations, setup, final, effects"
    )
    assert "line 2" in toml_error(tmp_path, 'name = "wallet"', "name = ")


def test_the_toml_form_in_a_design_table_names_the_design(tmp_path: Path) -> None:
    import tomllib

    table = tomllib.loads(WALLET_TOML)
    table["operations"][1]["method"] = "SEND"
    with pytest.raises(ValueError) as info:
        workload_from_table(table, Where(path="d.toml", place="workload"))
    assert str(info.value).startswith(
        "d.toml: workload.operations[1] (name 'transfer'): 'method' must be one of GET, POST,"
    )


def test_lists_are_taken_as_tuples() -> None:
    listed = Workload(
        name="wallet",
        keys={"account": 4, "transfer": 8},
        setup=[SetupStep(op="open_account", each="account")],  # type: ignore[arg-type]
        operations=[OPEN, transfer(), READ],  # type: ignore[arg-type]
        final=[  # type: ignore[arg-type]
            FinalRead(op="read_account", slot="accounts", keys="account", not_found="absent")
        ],
    )
    assert listed == WALLET and isinstance(listed.operations, tuple)


def test_the_built_ins_are_declared_with_the_api() -> None:
    assert set(BUILTIN) == {"inventory", "payments", "matching", "kv"}
    inventory = BUILTIN["inventory"]
    assert [o.name for o in inventory.drawable()] == ["order", "read_order", "read_stock"]
    assert inventory.set_up_kinds()["sku"].op == "set_stock"
    assert [r.slot for r in inventory.final] == ["stock", "orders"]
    assert BUILTIN["payments"].declines() == (PartnerDecline(kind="payment", at_most=2),)
    assert BUILTIN["matching"].draw is not None


# --- drawing, materializing and reading back a workload the harness never saw ---------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(WALLET, (), Shape(keys={"transfer": 3}, max_batch=6)))
def test_the_default_strategy_serves_any_workload(schedule: Schedule) -> None:
    accounts = len(schedule.setup.values["open_account"])
    assert 1 <= accounts <= 4
    for drawn in schedule.setup.values["open_account"]:
        assert 0 <= drawn["balance"] <= 100
    first: dict[int | None, Mapping[str, Any]] = {}
    for op in schedule.client_ops():
        assert op.f in ("transfer", "read_account")
        if op.f == "transfer":
            assert op.key is not None and 0 <= op.key < 3
            assert op.args["from"] != op.args["to"] < accounts
            # The first draw of a transfer id fixes its body: a later one is a resend.
            assert first.setdefault(op.key, op.args) == op.args
    data = json.loads(schedule.dumps())
    assert data["version"] == 2
    assert schedule_from_json(data, WALLET) == schedule


def test_materialize_and_setup_build_bodies_from_fields() -> None:
    keys = KeySpace("ex")
    schedule = schedule_from_json(
        {
            "version": 2,
            "workload": "wallet",
            "setup": {"values": {"open_account": [{"balance": 5}, {"balance": 0}]}},
            "steps": [
                {"step": "batch", "ops": [
                    {"f": "transfer", "key": 2, "args": {"from": 1, "to": 0, "amount": 7}},
                ]},
            ],
        },
        WALLET,
    )
    ((spec,),) = [[materialize(op, keys, WALLET, replicas=1) for op in schedule.client_ops()]]
    assert spec.body == {
        "transfer_id": "ex-transfer-2", "from": "ex-account-1", "to": "ex-account-0", "amount": 7,
    }
    (opened,) = setup_specs(WALLET, schedule.setup, keys)
    assert [s.body for s in opened] == [
        {"account_id": "ex-account-0", "balance": 5},
        {"account_id": "ex-account-1", "balance": 0},
    ]
    with pytest.raises(ValueError, match=r"args.from must be a key index of kind 'account', an "
                       r"int in 0..1 \(as many as are set up\) \(got 2\)"):
        schedule_from_json(
            {"version": 2, "workload": "wallet",
             "setup": {"values": {"open_account": [{"balance": 5}, {"balance": 0}]}},
             "steps": [{"step": "batch", "ops": [
                 {"f": "transfer", "key": 2, "args": {"from": 2, "to": 0, "amount": 7}}]}]},
            WALLET,
        )


SHARE = Operation(
    name="share",
    method="POST",
    path="/accounts/{account_id}/members",
    body=("share_id", "user"),
    fields={"share_id": Key("share"), "account_id": Key("account"), "user": Key("user")},
    id="share_id",
    weight=0,
    ok=OK,
)
SHARED = Workload(
    name="shared",
    keys={"account": 4, "transfer": 8, "share": 6, "user": 3},
    setup=(SetupStep(op="open_account", each="account"), SetupStep(op="share", each="share")),
    operations=(OPEN, SHARE, transfer(), READ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(SHARED, ()))
def test_setup_relates_keys_made_before_it(schedule: Schedule) -> None:
    """A setup step's other `Key` fields (a share's account and user) are drawn
    among the keys that exist by then: the accounts set up before it, the users
    of the row."""
    accounts = len(schedule.setup.values["open_account"])
    shares = schedule.setup.values["share"]
    assert 1 <= len(shares) <= 6
    for drawn in shares:
        assert set(drawn) == {"account_id", "user"}
        assert 0 <= drawn["account_id"] < accounts and 0 <= drawn["user"] < 3
    assert schedule_from_json(json.loads(schedule.dumps()), SHARED) == schedule
    opened, shared = setup_specs(SHARED, schedule.setup, KeySpace("ex"))
    assert [s.body["share_id"] for s in shared] == [f"ex-share-{i}" for i in range(len(shares))]
    assert {s.body["account_id"] for s in shared} <= {s.body["account_id"] for s in opened}


def test_a_setup_key_past_those_made_before_it_is_refused() -> None:
    data = {
        "version": 2,
        "workload": "shared",
        "setup": {"values": {"open_account": [{"balance": 5}],
                             "share": [{"account_id": 1, "user": 0}]}},
        "steps": [],
    }
    with pytest.raises(ValueError, match=r"account_id must be a key index of kind 'account', "
                       r"an int in 0..0 \(as many as are set up\) \(got 1\)"):
        schedule_from_json(data, SHARED)


def test_two_setup_steps_over_one_kind_are_refused_saying_what_to_do() -> None:
    with pytest.raises(InvalidWorkload) as refused:
        Workload(
            name="shared",
            keys={"account": 4, "transfer": 8, "share": 6, "user": 3},
            setup=(SetupStep(op="open_account", each="account"),
                   SetupStep(op="share", each="account")),
            operations=(OPEN, SHARE, transfer(), READ),
        )
    assert "setup steps 'open_account', 'share' both have each = 'account'" in str(refused.value)
    assert "a Key field of kind 'account': in setup it is drawn among" in str(refused.value)


def test_derived_fields_and_ops_without_an_id() -> None:
    put = Operation(
        name="put", method="PUT", path="/kv/{key}", body=("value", "source", "version"),
        fields={"key": Key("item"), "value": Ints(0, 9), "source": Const("fm"),
                "version": FromKey(lambda i: i * 10, of="key")},
        ok=OK,
    )
    kv = Workload(name="kv", keys={"item": 2}, operations=(put,))
    schedule = schedule_from_json(
        {"version": 2, "workload": "kv", "steps": [
            {"step": "batch", "ops": [{"f": "put", "key": None, "args": {"key": 1, "value": 3}}]},
        ]},
        kv,
    )
    (op,) = schedule.client_ops()
    assert op.key is None
    spec = materialize(op, KeySpace("ex"), kv, replicas=1)
    assert spec.body == {"key": "ex-item-1", "value": 3, "source": "fm", "version": 10}
    with pytest.raises(ValueError, match=r"key must be null: 'put' has no id field"):
        schedule_from_json({"version": 2, "workload": "kv", "steps": [{"step": "batch", "ops": [
            {"f": "put", "key": 0, "args": {"key": 1, "value": 3}}]}]}, kv)


def biased(ctx: DrawContext) -> Mapping[str, Any] | None:
    """Transfers always from account 0, to one drawn; reads: the default."""
    to = ctx.draw(st.integers(1, ctx.count("account") - 1)) if ctx.count("account") > 1 else 0
    tid = len([o for o in ctx.ops_so_far if o.op == "transfer"])
    return {"transfer_id": tid, "from": 0, "to": to, "amount": 1}


def test_a_draw_hook_biases_and_is_checked() -> None:
    hooked = Workload(
        name="wallet", keys={"account": 4, "transfer": 8}, operations=(OPEN, transfer(), READ),
        setup=(SetupStep(op="open_account", each="account", values={"balance": Const(10)}),),
        draw=biased,
    )

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(schedule=schedules(hooked, ()))
    def check(schedule: Schedule) -> None:
        assert schedule.setup.values["open_account"][0] == {}  # a Const is not drawn
        for op in schedule.client_ops():
            if op.f == "transfer":
                assert op.args["from"] == 0

    check()

    def bad(ctx: DrawContext) -> Mapping[str, Any] | None:
        return {"transfer_id": 0, "from": 0, "to": 0, "amount": 1}

    broken = Workload(name="w", keys={"account": 4, "transfer": 8},
                      operations=(transfer(),), draw=bad)

    @settings(max_examples=5, deadline=None)
    @given(schedule=schedules(broken, ()))
    def draw_broken(schedule: Schedule) -> None:
        pass

    with pytest.raises(InvalidWorkload, match=r"draw hook of workload 'w' for 'transfer': 'to' "
                       r"must be another key than 'from' \(got 0\)"):
        draw_broken()
