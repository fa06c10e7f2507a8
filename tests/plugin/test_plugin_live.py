"""The pytest plugin on real rows and real systems, through ``pytester``.

The designs are small copies of ``tests/fixtures/designs/toy_shop.toml``: the
toy inventory target needs no stores, only the partner and Toxiproxy, so a
row takes seconds. ``bad.toml`` runs the toy with its ``reads_500`` bug under
the variant name ``correct``, so its rows fail (INCONCLUSIVE) while
``good.toml``'s pass: a mix to select with ``-k``, stop with ``-x`` and
rerun with ``--lf``. With pytest-xdist, two workers run rows side by side,
each on a system of its own.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "toy_inventory.py"
# A toy row passes, or is NOT EXERCISED when two examples drew no retry: skipped
# then, so that a row only fails for its verdict.
PLUGIN = ("-p", "harness.pytest_plugin", "--failmodel-allow-unexercised")

ROW = """
[[rows]]
id = "{id}"
taxonomy = "client_retry_timeout"
failure_mode = "Client times out on POST /orders and resends the same order_id"
can_happen = "Yes (client timeouts)"
correct_behaviour = "Same outcome as the first attempt; stock taken and order shipped once"
mechanism = "One write transaction per order_id; shipments keyed by order_id"
recovery = "Cancel the duplicate"
faults = ["retry", "client_timeout"]
invariants = ["idempotent_retry", "stock_accounting", "no_oversell", "exactly_once_shipment"]
exercised_by = ["retries"]
examples = {examples}
"""


def toy_design(name: str, *rows: str, bug: str | None = None, examples: int = 2) -> str:
    """A toy-shop design (the toy target at ``{root}/toy_inventory.py``)."""
    command = '["{python}", "{root}/toy_inventory.py"' + (f', "--bug", "{bug}"]' if bug else "]")
    head = f"""
name = "{name}"
workload = "inventory"

[target]
command = {command}
dependencies = ["partner"]
variants = ["correct", "oversell"]
start_timeout_s = 20
settle_timeout_s = 3
late_effects_s = 1
"""
    return head + "".join(ROW.format(id=r, examples=examples) for r in rows)


@pytest.fixture
def shop(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A folder with the toy target and designs under ``designs/`` (root: the folder)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # When this test itself runs in an xdist worker, the pytest it starts is no worker.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    shutil.copy(TOY, pytester.path / "toy_inventory.py")
    designs = pytester.mkdir("designs")
    (designs / "good.toml").write_text(toy_design("good", "client-retry"))
    (designs / "bad.toml").write_text(toy_design("bad", "client-retry", bug="reads_500"))
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The run's outcome counts, a skipped (unexercised) row counted as passed."""
    counts = {k: v for k, v in result.parseoutcomes().items() if k != "seconds"}
    skipped = counts.pop("skipped", 0)
    if skipped:
        counts["passed"] = counts.get("passed", 0) + skipped
    return counts


def test_k_x_and_lf_select_and_stop_rows(shop: pytest.Pytester) -> None:
    only_good = shop.runpytest(*PLUGIN, "designs", "-k", "good and client")
    assert outcomes(only_good) == {"passed": 1, "deselected": 1}

    first = shop.runpytest(*PLUGIN, "designs/bad.toml", "designs/good.toml", "-x")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes(first) == {"failed": 1}, "-x stops after the first failing row"
    first.stdout.fnmatch_lines(["*row client-retry INCONCLUSIVE*", "*stopping after 1 failures*"])

    both = shop.runpytest(*PLUGIN, "designs")
    assert outcomes(both) == {"failed": 1, "passed": 1}
    rerun = shop.runpytest(*PLUGIN, "designs", "--lf")
    assert outcomes(rerun) == {"failed": 1}
    rerun.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure (skipped 1 file)"])
    rerun.stdout.fnmatch_lines(["FAILED designs/bad.toml::client-retry*"])


RECORD_ROWS = """
import json, os

def pytest_runtest_logreport(report):
    if report.when == "call" and "PYTEST_XDIST_WORKER" not in os.environ:
        with open("rows.jsonl", "a") as out:
            out.write(json.dumps({"nodeid": report.nodeid, **dict(report.user_properties)}) + "\\n")
"""


def test_xdist_workers_run_rows_side_by_side_on_their_own_systems(
    shop: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run under pytest-xdist itself, this test's subprocess would inherit the
    # worker's variables, and its controller would take itself for a worker.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    rows = [f"row-{i}" for i in range(4)]
    (shop.path / "designs" / "good.toml").write_text(toy_design("good", *rows))
    (shop.path / "designs" / "bad.toml").unlink()
    shop.makeconftest(RECORD_ROWS)

    result = shop.runpytest_subprocess(
        *PLUGIN, "-p", "xdist.plugin", "-n", "2", "designs", "--failmodel-report", "out"
    )

    assert outcomes(result) == {"passed": 4}, result.stdout.str()
    records: list[dict[str, Any]] = [
        json.loads(line) for line in (shop.path / "rows.jsonl").read_text().splitlines()
    ]
    assert sorted(r["nodeid"] for r in records) == [f"designs/good.toml::{r}" for r in rows]
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        system = record["failmodel_system"]
        by_worker.setdefault(system["worker"], []).append(system)
    assert sorted(by_worker) == ["gw0", "gw1"], "the rows of one design were spread"
    one, other = by_worker["gw0"], by_worker["gw1"]
    for worker, systems in by_worker.items():
        assert {s["run_dir"] for s in systems} == {str(shop.path / "out" / "good-correct" / worker)}
        assert (shop.path / "out" / "good-correct" / worker / "report.json").exists()
    ports = [{p for s in systems for p in s["ports"].values()} for systems in (one, other)]
    pids = [{p for s in systems for p in s["pids"].values()} for systems in (one, other)]
    assert ports[0] and ports[1] and not ports[0] & ports[1], "each worker its own ports"
    assert pids[0] and pids[1] and not pids[0] & pids[1], "each worker its own processes"
    assert any(
        a["started"] < b["ended"] and b["started"] < a["ended"] for a in one for b in other
    ), "rows of the two workers ran at the same time"


FIXTURE_TESTS = '''
import time

import pytest

from harness.schedule.model import Batch, ClientOp, Schedule, Setup
from harness.workload.ops import RetryPolicy

pytestmark = pytest.mark.failmodel_design("designs/good.toml")


def shipments(partner, order_id):
    return [e for e in partner.effects("shipment") if e.body["order_id"] == order_id]


def test_an_order_taken_during_a_partner_outage_ships_once(
    failmodel_client, failmodel_nemesis, failmodel_partner
):
    keys = failmodel_client.keys
    assert failmodel_client.set_stock(keys.sku(0), 5).outcome == "ok"
    with failmodel_nemesis.start("partition:partner"):
        reply = failmodel_client.order(keys.order_id(0), keys.sku(0), 2)
        assert reply.outcome == "ok" and reply.body["status"] == "accepted"
        time.sleep(0.3)
        assert shipments(failmodel_partner, keys.order_id(0)) == []
    deadline = time.monotonic() + 8
    while not shipments(failmodel_partner, keys.order_id(0)) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert len(shipments(failmodel_partner, keys.order_id(0))) == 1
    faults = [e for e in failmodel_client.history().events if e.type == "nemesis"]
    assert [e.f for e in faults] == ["start", "heal"]


def test_faults_are_healed_after_each_test_and_names_are_checked(
    failmodel_system, failmodel_nemesis
):
    assert failmodel_system.live.proxy("partner").enabled, "the last test's partition is healed"
    failmodel_nemesis.start("latency:partner", latency_ms=50)
    with pytest.raises(ValueError, match="no link matches 'kafka'"):
        failmodel_nemesis.start("partition:kafka")
    with pytest.raises(ValueError, match="client-side"):
        failmodel_nemesis.start("retry")


def test_a_schedule_is_played_and_judged(failmodel_run, failmodel_system):
    assert not failmodel_system.live.proxy("partner").toxics(), "the last test's latency is gone"
    retried = ClientOp(
        f="order", key=0, args={"sku": 0, "qty": 2}, retry=RetryPolicy(mode="concurrent", count=2)
    )
    setup = Setup(values={"set_stock": ({"available": 3},)})
    schedule = Schedule(workload="inventory", setup=setup, steps=(Batch(ops=(retried,)),))
    outcome = failmodel_run(schedule, row="client-retry")
    assert not outcome.failed, [v.summary for v in outcome.verdicts]
    assert {v.invariant for v in outcome.verdicts} >= {"idempotent_retry", "exactly_once_shipment"}
    assert outcome.history_path.exists()


@pytest.mark.parametrize("failmodel_design", ["designs/good.toml"], indirect=True)
def test_a_parameter_names_the_design(failmodel_design, failmodel_system):
    assert failmodel_system.design is failmodel_design and failmodel_design.name == "good"


@pytest.mark.failmodel_design("designs/good.toml", variant="oversell")
def test_the_marker_chooses_the_variant(failmodel_run, failmodel_system):
    assert failmodel_system.variant == "oversell"
    race = tuple(
        ClientOp(f="order", key=i, args={"sku": 0, "qty": 2}, client=i) for i in range(6)
    )
    setup = Setup(values={"set_stock": ({"available": 3},)})
    schedule = Schedule(workload="inventory", setup=setup, steps=(Batch(ops=race),))
    for _ in range(3):  # a race: on a loaded machine the orders may not overlap every time
        outcome = failmodel_run(schedule, invariants=["no_oversell"])
        if outcome.violated():
            break
    assert "no_oversell" in {v.invariant for v in outcome.violated()}
'''

UNNAMED = """
def test_no_design_named_is_a_clear_error(failmodel_system):
    pass
"""


def test_fixtures_drive_a_live_system(shop: pytest.Pytester) -> None:
    shop.makepyfile(test_shop=FIXTURE_TESTS, test_unnamed=UNNAMED)
    shop.makeini("[pytest]\n")  # rootdir: the shop folder; no failmodel_design ini option

    result = shop.runpytest(*PLUGIN, "test_shop.py", "test_unnamed.py", "-rA")

    assert outcomes(result) == {"passed": 5, "errors": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*test_no_design_named_is_a_clear_error uses a failmodel fixture but names no design*"]
    )
    history = shop.path / "reports" / "pytest" / "tests"
    assert any(history.rglob("history.jsonl")), "each test's history is in the report folder"
