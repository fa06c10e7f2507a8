"""A design names its workload four ways -- a built-in, a [workload] table, a
workload file, a Python object -- and every mistake names the file, the place
and what was expected, on one line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.design import InvalidDesign, load_design
from harness.schedule.decode import schedule_from_json
from harness.workload.builtin import BUILTIN, INVENTORY

HEAD = """\
name = "wallet"
{workload}

[target]
command = ["./wallet"]
replicas = 2
variants = ["correct"]

[[rows]]
id = "crash"
failure_mode = "A replica crashes"
can_happen = "Yes"
correct_behaviour = "Reads agree"
mechanism = "Durable commit"
recovery = "Restart"
taxonomy = "infrastructure_failure"
faults = ["crash:target-*"]
invariants = {invariants}
"""

TABLE = """\
name = "wallet"

[keys]
account = 3
transfer = 8

[[operations]]
name = "transfer"
method = "POST"
path = "/transfers"
body = ["transfer_id", "from", "to"]
id = "transfer_id"
fields = { transfer_id = { key = "transfer" }, from = { key = "account" }, to = { key = "account", distinct_from = "from" } }
ok = [{ status = 200, echo = ["transfer_id"] }]

[[operations]]
name = "read_account"
method = "GET"
path = "/accounts/{account_id}"
id = "account_id"
read = true
fields = { account_id = { key = "account" } }
ok = [{ status = 200, types = { balance = "int" } }, { status = 404 }]

[[final]]
op = "read_account"
slot = "accounts"
keys = "account"
"""  # noqa: E501

PYTHON = '''\
from harness.workload import Answer, Key, Operation, Workload

WORKLOAD = Workload(
    name="pyload",
    keys={"thing": 2},
    operations=(
        Operation(name="touch", method="POST", path="/things/{thing}",
                  fields={"thing": Key("thing")}, ok=(Answer(204),)),
    ),
)
NOT_A_WORKLOAD = 3
'''


def design(tmp_path: Path, workload: str, invariants: str = '["consistent_reads"]') -> Path:
    path = tmp_path / "designs" / "wallet.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(HEAD.format(workload=workload, invariants=invariants), encoding="utf-8")
    return path


def inline(table: str = TABLE) -> str:
    """The table under [workload]: every header prefixed (after the design's top keys)."""
    out = []
    for line in table.splitlines():
        if line.startswith("[["):
            line = "[[workload." + line[2:]
        elif line.startswith("["):
            line = "[workload." + line[1:]
        out.append(line)
    return "[workload]\n" + "\n".join(out) + "\n"


def error(path: Path) -> str:
    with pytest.raises(InvalidDesign) as info:
        load_design(path)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_a_built_in_name() -> None:
    assert load_design(Path(__file__).parents[2] / "designs" / "checkout.toml").workload is (
        INVENTORY
    )


def test_an_inline_workload_table(tmp_path: Path) -> None:
    # The [workload] table must come after the design's own top-level keys: put it last.
    path = design(tmp_path, "")
    path.write_text(path.read_text() + "\n" + inline(), encoding="utf-8")
    loaded = load_design(path)
    assert loaded.workload.name == "wallet"
    assert [o.name for o in loaded.workload.operations] == ["transfer", "read_account"]
    assert loaded.rows[0].invariants == ("consistent_reads",)


def test_a_workload_file_next_to_the_design(tmp_path: Path) -> None:
    path = design(tmp_path, 'workload = { file = "wallet-api.toml" }')
    (path.parent / "wallet-api.toml").write_text(TABLE, encoding="utf-8")
    assert load_design(path).workload.keys == {"account": 3, "transfer": 8}
    (path.parent / "wallet-api.toml").write_text(
        TABLE.replace("account = 3", "account = 1"), encoding="utf-8"
    )
    assert error(path) == (
        f"{path.parent / 'wallet-api.toml'}: 'keys['account']' must be at least 2: "
        "transfer.to must differ from from (got 1)"
    )
    assert error(design(tmp_path, 'workload = { file = "nope.toml" }')).startswith(
        f"{path.parent / 'nope.toml'}: cannot read the workload file: No such file"
    )
    assert error(design(tmp_path, 'workload = { file = "x.toml", name = "y" }')) == (
        f"{path}: workload: unknown key(s) 'name'; accepted keys: file"
    )


def test_a_python_workload_importable_from_the_root(tmp_path: Path) -> None:
    package = tmp_path / "walletpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "api.py").write_text(PYTHON)
    path = design(tmp_path, 'workload = "walletpkg.api:WORKLOAD"')
    assert load_design(path).workload.name == "pyload"
    assert "naming a harness.workload.Workload (walletpkg.api:NOT_A_WORKLOAD is an int)" in error(
        design(tmp_path, 'workload = "walletpkg.api:NOT_A_WORKLOAD"')
    )
    assert "(walletpkg.api:MISSING is nothing)" in error(
        design(tmp_path, 'workload = "walletpkg.api:MISSING"')
    )
    missing = error(design(tmp_path, 'workload = "walletpkg.nope:WORKLOAD"'))
    assert missing.startswith(
        f"{path}: 'workload' must be \"module:NAME\" with a module importable from {tmp_path}"
    )
    assert "ModuleNotFoundError: No module named 'walletpkg.nope'" in missing
    (package / "broken.py").write_text("raise RuntimeError('boom\\nline two')\n")
    assert "RuntimeError: boom line two" in error(
        design(tmp_path, 'workload = "walletpkg.broken:WORKLOAD"')
    )
    assert "a dotted module path, or a .py file's path from the root, ':' and a Python name" in (
        error(design(tmp_path, 'workload = "walletpkg.api:"'))
    )


def test_a_python_workload_from_a_file_whose_folder_is_no_module_name(tmp_path: Path) -> None:
    """A target's folder named like ``py-leases`` cannot be imported by name;
    its hooks are named by the file's path from the root instead, loaded once."""
    folder = tmp_path / "examples" / "py-leases"
    folder.mkdir(parents=True)
    (folder / "hooks.py").write_text(PYTHON)
    path = design(tmp_path, 'workload = "examples/py-leases/hooks.py:WORKLOAD"')
    first = load_design(path).workload
    assert first.name == "pyload"
    assert load_design(path).workload is first  # the file is run once
    missing = error(design(tmp_path, 'workload = "examples/py-leases/nope.py:WORKLOAD"'))
    assert "with a module importable from" in missing and "No such file" in missing


def test_invariants_must_apply_to_the_workload(tmp_path: Path) -> None:
    path = design(tmp_path, 'workload = { file = "w.toml" }', '["no_oversell"]')
    (path.parent / "w.toml").write_text(TABLE, encoding="utf-8")
    assert "'invariants' must be invariants that apply to workload 'wallet'" in error(path)
    assert "known for wallet: consistent_reads" in error(path)


def test_a_workload_named_after_a_built_in_keeps_its_contract(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "harness" / "workload" / "builtin" / "inventory.toml")
    text = source.read_text()
    path = design(tmp_path, 'workload = { file = "shop.toml" }', '["no_oversell"]')
    # Another route for orders, the same operations and slots: the built-in invariants apply.
    (path.parent / "shop.toml").write_text(text.replace('path = "/orders"', 'path = "/v2/orders"'))
    loaded = load_design(path)
    assert loaded.workload.operation("order").path == "/v2/orders"
    assert loaded.workload is not BUILTIN["inventory"]
    (path.parent / "shop.toml").write_text(text.replace('slot = "orders"', 'slot = "order"'))
    assert error(path).endswith("; final slot 'orders' must be read with 'read_order'")
    (path.parent / "shop.toml").write_text(
        text.replace('name = "read_stock"', 'name = "stock"').replace(
            'op = "read_stock"', 'op = "stock"'
        )
    )
    assert error(path).endswith("; operation 'read_stock' is missing")


def test_shape_keys_are_the_workload_s_kinds(tmp_path: Path) -> None:
    path = design(tmp_path, 'workload = { file = "w.toml" }')
    (path.parent / "w.toml").write_text(TABLE, encoding="utf-8")
    path.write_text(path.read_text() + "\n[rows.shape.keys]\naccount = 1\n")
    assert "shape.keys: 'account' must be an integer in 2..1000 (got 1)" in error(path)
    path.write_text(path.read_text().replace("account = 1", "account = 6"))
    assert dict(load_design(path).rows[0].shape.keys) == {"account": 6}


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ('workload = "shop"', "'workload' must be a built-in workload (inventory, payments,"),
        ("workload = 3", "'workload' must be a built-in workload"),
        ("workload = []", "'workload' must be a built-in workload"),
        ('workload = { name = "x" }', "workload: 'keys' must be a table (got nothing"),
        ('workload = { file = "" }', "workload: 'file' must be a non-empty string"),
        ("", "'workload' must be a built-in workload (inventory, payments, matching, kv), "
             '"module:NAME" (a Python Workload), a [workload] table or { file = '
             '"workload.toml" } (got nothing (the key is missing))'),
    ],
)
def test_bad_workload_values(tmp_path: Path, workload: str, expected: str) -> None:
    path = design(tmp_path, workload)
    assert error(path).startswith(f"{path}: {expected}"), error(path)


@pytest.mark.parametrize(
    ("key", "shown"), [("\\n", '"\\n"'), ("a.b", '"a.b"'), ("amount", "amount")]
)
def test_a_field_s_key_is_named_on_one_line_as_one_key(
    tmp_path: Path, key: str, shown: str
) -> None:
    """A key holding a newline or a dot (found by the design fuzzer) is quoted in
    the error's path as TOML would write it, not spliced in raw."""
    path = design(tmp_path, "")
    table = TABLE.replace(
        "from = { key = \"account\" }", f'"{key}" = {{ ints = "x" }}, from = {{ key = "account" }}'
    )
    path.write_text(path.read_text() + "\n" + inline(table), encoding="utf-8")
    text = error(path)
    assert f"(name 'transfer').fields.{shown}: 'ints' must be an array" in text, text


def test_the_worked_example_of_docs_workloads_loads(tmp_path: Path) -> None:
    """docs/workloads.md's counter service, in both its forms, is a workload."""
    docs = (Path(__file__).parents[2] / "docs" / "workloads.md").read_text()
    blocks = [b.split("```", 1)[0] for b in docs.split("```toml\n")[1:]]
    counter = next(b for b in blocks if b.lstrip().startswith("# counter.toml"))
    path = design(tmp_path, 'workload = { file = "counter.toml" }')
    (path.parent / "counter.toml").write_text(textwrap.dedent(counter))
    toml_form = load_design(path).workload
    python = next(b for b in docs.split("```python\n")[1:] if "COUNTER = Workload(" in b)
    namespace: dict[str, object] = {}
    exec(python.split("```", 1)[0], namespace)  # our own documentation
    assert namespace["COUNTER"] == toml_form
    schedule = json.loads(docs.split("```json\n")[1].split("```", 1)[0])
    assert schedule_from_json(schedule, toml_form).to_json() == schedule
