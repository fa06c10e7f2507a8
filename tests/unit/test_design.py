"""Design files: the three real ones load, and every mistake names file, row and key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.design import Design, InvalidDesign, load_design
from harness.schedule.shape import Shape
from harness.workload.builtin import BUILTIN

DESIGNS = Path(__file__).resolve().parents[2] / "designs"

MINI = """\
name = "mini"
workload = "inventory"
description = "a small design for tests"

[target]
command = ["{python}", "-m", "mini", "serve", "--root={root}"]
replicas = 2
dependencies = ["postgres", "partner"]
variants = ["correct", "buggy"]
cwd = "src"

[target.extra]
consumer = ["{python}", "-m", "mini", "consumer"]

[[rows]]
id = "client-retry"
failure_mode = "Client resends an order"
can_happen = "Yes"
correct_behaviour = "Same outcome"
mechanism = "Idempotency key"
recovery = "Audit"
taxonomy = "client_retry_timeout"
faults = ["retry", "latency:target-*"]
invariants = ["idempotent_retry", "no_oversell"]

[[rows]]
id = "crash"
failure_mode = "A replica crashes"
can_happen = "Yes"
correct_behaviour = "Acknowledged orders survive"
mechanism = "Durable commit"
recovery = "Restart"
taxonomy = "infrastructure_failure"
faults = ["crash:target-*"]
invariants = ["acknowledged_writes_survive"]
examples = 12
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "designs" / "mini.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> tuple[str, str]:
    path = write(tmp_path, text)
    with pytest.raises(InvalidDesign) as info:
        load_design(path)
    return str(info.value), str(path)


# --- the real design files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "workload", "extra"),
    [
        ("checkout", "inventory", ("relay", "consumer")),
        ("payments", "payments", ("reconciler",)),
        ("matching", "matching", ("relay", "consumer")),
    ],
)
def test_real_designs_load(name: str, workload: str, extra: tuple[str, ...]) -> None:
    design = load_design(DESIGNS / f"{name}.toml")
    assert design.name == name
    assert design.workload is BUILTIN[workload]
    assert tuple(design.target.extra) == extra
    assert design.target.replicas == 2
    assert design.target.command[0] == sys.executable
    assert design.target.command[1:] == ("-m", f"targets.{name}", "serve")
    assert design.target.cwd == DESIGNS.parent
    assert "correct" in design.target.variants
    assert 5 <= len(design.rows) <= 8
    for row in design.rows:
        assert 1 <= len(row.families) <= 4, row.id
        assert row.shape.replicas == 2
    taxonomy = {row.taxonomy for row in design.rows}
    assert {
        "client_retry_timeout",
        "duplicate_delivery",
        "partial_write",
        "out_of_order",
        "infrastructure_failure",
    } <= taxonomy


def test_the_kv_design_judges_every_row_by_the_register_it_promises() -> None:
    design = load_design(DESIGNS / "kv.toml")
    assert design.workload is BUILTIN["kv"]
    assert design.target.command[1:] == ("-m", "targets.kv", "serve")
    assert design.target.dependencies == frozenset({"postgres"})
    for row in design.rows:
        assert set(row.invariants) == {"linearizable", "acknowledged_writes_survive"}, row.id
    assert {row.taxonomy for row in design.rows} == {
        "client_retry_timeout",
        "partial_write",
        "out_of_order",
        "infrastructure_failure",
    }


def test_the_auction_design_names_a_workload_declared_with_the_api() -> None:
    """No built-in auction: the design imports targets/auction/workload.py's Workload,
    as a user's design would, and every temporal-boundary row is there."""
    from targets.auction.workload import AUCTION

    design = load_design(DESIGNS / "auction.toml")
    assert design.workload is AUCTION
    assert "auction" not in BUILTIN
    assert tuple(design.target.extra) == ("closer",)
    rows = {row.id: row for row in design.rows}
    assert {"bid-at-deadline", "replica-clock-skew", "client-clock-lies",
            "closer-paused-past-lease"} <= set(rows)
    assert {row.taxonomy for row in design.rows} >= {
        "temporal_boundary", "out_of_order", "client_retry_timeout", "infrastructure_failure"
    }
    assert design.clock_processes == {"target-0", "target-1"}
    assert [slo.text for slo in rows["close-freshness"].slos] == [
        "auction_closed within 2 s", "p95(bid) < 300 ms"
    ]


# Which row catches each buggy variant: (design, variant) -> (a fault family kind or
# token that must be in the row, or None for concurrency alone, and the invariant).
CATCHES = [
    ("checkout", "read_then_write", None, "no_oversell"),
    ("checkout", "no_idempotency", "retry", "idempotent_retry"),
    ("checkout", "dual_write", "partition:kafka", "exactly_once_shipment"),
    ("checkout", "redis_truth", "cache_loss", "no_oversell"),
    ("checkout", "non_idempotent_consumer", "redelivery:consumer", "exactly_once_shipment"),
    ("payments", "psp_retry_without_key", "partner:fail_after:psp", "no_duplicate_charge"),
    ("payments", "check_then_act", "retry", "no_duplicate_charge"),
    ("payments", "no_idempotency", "retry", "no_duplicate_charge"),
    ("payments", "dual_write", "partner:slow:psp", "no_unrecorded_money"),
    ("matching", "no_canonical_key", "reorder", "at_most_one_match"),
    ("matching", "no_pair_lock", "reorder", "mutual_right_swipes_match"),
    ("matching", "at_most_once_consumer", "partner:fail_before:notify", "every_match_announced"),
    ("kv", "stale_cache", None, "linearizable"),
    ("kv", "read_then_write", None, "linearizable"),
]


@pytest.mark.parametrize(("name", "variant", "fault", "invariant"), CATCHES)
def test_every_buggy_variant_has_a_row_that_can_catch_it(
    name: str, variant: str, fault: str | None, invariant: str
) -> None:
    design = load_design(DESIGNS / f"{name}.toml")
    assert variant in design.target.variants
    rows = [
        r for r in design.rows if invariant in r.invariants and (fault is None or fault in r.faults)
    ]
    assert rows, f"no row of {name} has {fault!r} and {invariant!r}"


# Degraded variants: correct, but too slow for the design's SLO row (design,
# variant, row, the SLO subject that must be listed there).
DEGRADED = [
    ("checkout", "slow_relay", "shipment-freshness", "exactly_once_shipment"),
    ("payments", "inline_psp_retry", "psp-latency-budget", "pay"),
    ("matching", "slow_relay", "announcement-freshness", "every_match_announced"),
]


@pytest.mark.parametrize(("name", "variant", "row_id", "subject"), DEGRADED)
def test_every_degraded_variant_has_an_slo_row_that_can_catch_it(
    name: str, variant: str, row_id: str, subject: str
) -> None:
    design = load_design(DESIGNS / f"{name}.toml")
    assert variant in design.target.variants
    assert subject in {slo.subject for slo in design.row(row_id).slos}


def test_every_variant_of_each_real_design_is_in_the_catch_list() -> None:
    for name in ("checkout", "payments", "matching", "kv"):
        buggy = set(load_design(DESIGNS / f"{name}.toml").target.variants) - {"correct"}
        listed = {v for n, v, _, _ in CATCHES if n == name}
        assert buggy == listed | {v for n, v, _, _ in DEGRADED if n == name}


# --- a valid small design -------------------------------------------------------------


def test_a_prepare_command_reaches_the_target_spec_with_its_placeholders(tmp_path: Path) -> None:
    text = MINI.replace(
        'cwd = "src"', 'cwd = "src"\nprepare = ["{root}/bin/build", "--release"]\n'
        "prepare_timeout_s = 900"
    )
    with pytest.raises(InvalidDesign, match=r"prepare_timeout_s.*600"):
        load_design(write(tmp_path, text))
    design = load_design(write(tmp_path, text.replace("900", "120")))
    spec = design.target_spec("buggy")
    assert spec.prepare == (f"{tmp_path.resolve()}/bin/build", "--release")
    assert spec.prepare_timeout_s == 120.0


def test_mini_design_fields(tmp_path: Path) -> None:
    design = load_design(write(tmp_path, MINI))
    root = tmp_path.resolve()
    assert design.target.command == (sys.executable, "-m", "mini", "serve", f"--root={root}")
    assert design.target.cwd == root / "src"
    assert design.target.start_timeout_s == 30.0
    assert design.target.prepare == ()
    assert design.target.prepare_timeout_s == 600.0
    assert design.services.redis_persistence == "none"
    assert design.topology.links == (
        "postgres", "partner", "target-0", "target-1",
        "target-0>postgres", "target-0>partner", "target-1>postgres", "target-1>partner",
        "consumer>postgres", "consumer>partner",
    )
    assert design.topology.processes == ("target-0", "target-1", "consumer", "postgres")
    assert design.topology.has_partner
    retry, crash = design.rows
    assert retry.exercised_by == ("faults_during_ops", "faults_during_effects")
    assert crash.families[0].names == ("target-0", "target-1")
    assert crash.examples == 12 and retry.examples is None
    assert crash.shape == Shape(replicas=2)


def test_exercised_by_defaults_to_retries_without_server_side_faults(tmp_path: Path) -> None:
    text = MINI.replace('faults = ["retry", "latency:target-*"]', 'faults = ["retry"]')
    assert load_design(write(tmp_path, text)).rows[0].exercised_by == ("retries",)


def test_root_argument_overrides_the_default_root(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    design = load_design(write(tmp_path, MINI), root=other)
    assert design.target.command[-1] == f"--root={other.resolve()}"
    assert design.target.cwd == other.resolve() / "src"


def test_shape_overrides_keep_target_replicas(tmp_path: Path) -> None:
    text = MINI + "\n[rows.shape]\nclients = 2\nmax_steps = 3\n"
    shape = load_design(write(tmp_path, text)).rows[1].shape
    assert shape == Shape(replicas=2, clients=2, max_steps=3)


def test_row_lookup_names_the_known_ids(tmp_path: Path) -> None:
    design = load_design(write(tmp_path, MINI))
    assert design.row("crash").id == "crash"
    with pytest.raises(KeyError, match="client-retry, crash"):
        design.row("crahs")


def test_target_spec_checks_the_variant(tmp_path: Path) -> None:
    design: Design = load_design(write(tmp_path, MINI))
    spec = design.target_spec("buggy")
    assert (spec.variant, spec.replicas, spec.name) == ("buggy", 2, "mini")
    with pytest.raises(ValueError, match="correct, buggy"):
        design.target_spec("nope")


# --- every error names file, row and key ----------------------------------------------


def test_the_documented_message_shape(tmp_path: Path) -> None:
    text = MINI.replace(
        'invariants = ["idempotent_retry", "no_oversell"]', 'invariants = "no_oversell"'
    )
    message, path = error_of(tmp_path, text)
    assert message.startswith(
        f"{path}: rows[0] (id 'client-retry'): 'invariants' must be a non-empty list of "
        "invariant names (got 'no_oversell'); known: no_oversell, stock_accounting,"
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message, path = error_of(
        tmp_path, MINI.replace('workload = "inventory"', 'workload = "inventory"\nnmae = "x"')
    )
    assert message.startswith(f"{path}: unknown key(s) 'nmae'; accepted keys: name, workload")


def test_unknown_row_key(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace("examples = 12", "exampels = 12"))
    assert message.startswith(f"{path}: rows[1] (id 'crash'): unknown key(s) 'exampels'")
    assert "accepted keys: id, failure_mode" in message and "examples" in message


def test_unknown_target_key(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace("replicas = 2", "replica = 2"))
    assert message.startswith(f"{path}: target: unknown key(s) 'replica'")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "replicas = 2",
            'replicas = "2"',
            "target: 'replicas' must be an integer in 1..16 (got '2')",
        ),
        ("replicas = 2", "replicas = 0", "target: 'replicas' must be an integer in 1..16 (got 0)"),
        (
            'variants = ["correct", "buggy"]',
            'variants = ["buggy"]',
            "target: 'variants' must be a list that includes 'correct'",
        ),
        (
            'dependencies = ["postgres", "partner"]',
            'dependencies = ["postgres", "mysql"]',
            "target: 'dependencies' must be a list of dependency names",
        ),
        ('"serve", "--root={root}"', '"serve", "{pyhton}"', "unknown placeholder {pyhton}"),
        (
            'workload = "inventory"',
            'workload = "auctions"',
            "'workload' must be a built-in workload (inventory, payments, matching, kv), "
            '"module:NAME" (a Python Workload), a [workload] table or { file = '
            '"workload.toml" } (got \'auctions\')',
        ),
        (
            "examples = 12",
            "examples = 0",
            "rows[1] (id 'crash'): 'examples' must be an integer in 1..100000 (got 0)",
        ),
        (
            "examples = 12",
            "examples = 12\nmin_judged = 0",
            "rows[1] (id 'crash'): 'min_judged' must be an integer in 1..100000 (got 0)",
        ),
        (
            'taxonomy = "infrastructure_failure"',
            'taxonomy = "infra"',
            "rows[1] (id 'crash'): 'taxonomy' must be one of client_retry_timeout,",
        ),
        (
            'mechanism = "Durable commit"',
            'mechanism = ""',
            "rows[1] (id 'crash'): 'mechanism' must be a non-empty string (got '')",
        ),
        (
            'recovery = "Restart"\n',
            "",
            "rows[1] (id 'crash'): 'recovery' must be a non-empty string "
            "(got nothing (the key is missing))",
        ),
    ],
)
def test_wrong_values_name_the_key_and_what_was_got(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in MINI
    message, path = error_of(tmp_path, MINI.replace(old, new, 1))
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_unknown_invariant(tmp_path: Path) -> None:
    text = MINI.replace('["acknowledged_writes_survive"]', '["no_overselll"]')
    message, path = error_of(tmp_path, text)
    assert message.startswith(f"{path}: rows[1] (id 'crash'): 'invariants' ")
    assert "unknown: ['no_overselll']" in message and "known: no_oversell," in message


def test_invariant_of_another_workload(tmp_path: Path) -> None:
    text = MINI.replace('["acknowledged_writes_survive"]', '["no_duplicate_charge"]')
    message, path = error_of(tmp_path, text)
    assert message.startswith(f"{path}: rows[1] (id 'crash'): 'invariants' must be invariants")
    assert "'no_duplicate_charge' applies to payments" in message
    assert "known for inventory: no_oversell" in message


def test_unknown_fault_family(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace('"crash:target-*"', '"crsh:target-*"'))
    assert message.startswith(
        f"{path}: rows[1] (id 'crash'): 'faults': unknown fault family 'crsh'"
    )


def test_fault_glob_matching_nothing(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace('"crash:target-*"', '"crash:relay"'))
    assert message.startswith(f"{path}: rows[1] (id 'crash'): 'faults': ")
    assert "no process matches 'relay'" in message
    assert "target-0, target-1, consumer, postgres" in message


def test_fault_on_an_undeclared_dependency(tmp_path: Path) -> None:
    message, _ = error_of(tmp_path, MINI.replace('"crash:target-*"', '"cache_loss"'))
    assert "rows[1] (id 'crash'): 'faults'" in message and "no redis dependency" in message


def test_duplicate_row_id(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace('id = "crash"', 'id = "client-retry"'))
    assert message == (
        f"{path}: rows[1] (id 'client-retry'): 'id' must be unique "
        "(got 'client-retry', already used by rows[0])"
    )


def test_bad_row_id_and_missing_id(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace('id = "crash"', 'id = "Node Crash"'))
    assert message.startswith(f"{path}: rows[1] (id 'Node Crash'): 'id' must be lowercase")
    message, path = error_of(tmp_path, MINI.replace('id = "crash"\n', ""))
    assert message.startswith(f"{path}: rows[1]: 'id' must be a non-empty string")


def test_missing_correct_variant(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace('["correct", "buggy"]', '["buggy"]'))
    assert message == (
        f"{path}: target: 'variants' must be a list that includes 'correct' "
        "(the design as intended) (got ['buggy'])"
    )


def test_bad_toml_syntax_names_file_and_line(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.replace('recovery = "Audit"', 'recovery "Audit"'))
    line = MINI.splitlines().index('recovery = "Audit"') + 1
    assert message.startswith(f"{path}: line {line}, column ")
    assert "invalid TOML" in message


def test_row_that_can_never_be_exercised(tmp_path: Path) -> None:
    text = MINI.replace(
        'invariants = ["acknowledged_writes_survive"]',
        'invariants = ["acknowledged_writes_survive"]\nexercised_by = ["retries"]',
    )
    message, path = error_of(tmp_path, text)
    assert message.startswith(f"{path}: rows[1] (id 'crash'): 'exercised_by' must be coverage")
    assert "retries needs 'retry'" in message


def test_unknown_coverage_counter(tmp_path: Path) -> None:
    text = MINI.replace("examples = 12", 'exercised_by = ["retry"]')
    message, _ = error_of(tmp_path, text)
    assert "rows[1] (id 'crash'): 'exercised_by'" in message and "unknown: ['retry']" in message


def test_shape_cannot_set_replicas_or_unknown_keys(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI + "\n[rows.shape]\nreplicas = 3\n")
    assert message.startswith(f"{path}: rows[1] (id 'crash'): shape: 'replicas' cannot be set")
    message, _ = error_of(tmp_path, MINI + "\n[rows.shape]\nclient = 3\n")
    assert "rows[1] (id 'crash'): shape: unknown key(s) 'client'" in message
    message, _ = error_of(tmp_path, MINI + "\n[rows.shape]\nusers = 1\n")
    assert "shape: 'users': key counts are per kind now, [rows.shape.keys] <kind> = N" in message
    message, _ = error_of(tmp_path, MINI + "\n[rows.shape.keys]\nuser = 1\n")
    assert "shape.keys: unknown key(s) 'user'; accepted keys: sku, order" in message
    message, _ = error_of(tmp_path, MINI + "\n[rows.shape.keys]\norder = 0\n")
    assert "shape.keys: 'order' must be an integer in 1..1000 (got 0)" in message
    shape = load_design(write(tmp_path, MINI + "\n[rows.shape.keys]\norder = 3\n")).rows[1].shape
    assert shape == Shape(replicas=2, keys={"order": 3})


def test_shape_bounds_latencies(tmp_path: Path) -> None:
    text = MINI + "\n[rows.shape]\nmin_latency_ms = 150\nmax_latency_ms = 300\n"
    shape = load_design(write(tmp_path, text)).rows[1].shape
    assert (shape.min_latency_ms, shape.max_latency_ms) == (150, 300)
    message, path = error_of(tmp_path, MINI + "\n[rows.shape]\nmin_latency_ms = 500\n")
    assert message.startswith(
        f"{path}: rows[1] (id 'crash'): shape: min_latency_ms (500) is above max_latency_ms "
        "(400): expected min_latency_ms <= max_latency_ms"
    )
    message, _ = error_of(tmp_path, MINI + "\n[rows.shape]\nmax_latency_ms = 0\n")
    assert "shape: 'max_latency_ms' must be an integer in 1..10000 (got 0)" in message


def test_redis_persistence_needs_redis(tmp_path: Path) -> None:
    text = MINI.replace("[[rows]]", '[services]\nredis_persistence = "aof"\n\n[[rows]]', 1)
    message, path = error_of(tmp_path, text)
    assert message.startswith(f"{path}: services: 'redis_persistence' must be 'none'")


def test_no_rows(tmp_path: Path) -> None:
    message, path = error_of(tmp_path, MINI.split("[[rows]]")[0])
    assert message.startswith(f"{path}: 'rows' must be a non-empty array of tables")


def test_the_example_in_the_docs_loads(tmp_path: Path) -> None:
    doc = (DESIGNS.parent / "docs" / "design-files.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    design = load_design(write(tmp_path, example))
    row = design.row("client-retry")
    assert (row.examples, row.shape.clients, row.exercised_by) == (50, 3, ("retries",))


def test_rows_list_slos_the_row_can_measure(tmp_path: Path) -> None:
    text = MINI.replace(
        'invariants = ["acknowledged_writes_survive"]',
        'invariants = ["acknowledged_writes_survive"]\n'
        'slos = ["p95(order) < 300 ms", "exactly_once_shipment within 5 s at p99", '
        '"availability >= 90%"]',
    )
    row = load_design(write(tmp_path, text)).row("crash")
    assert [(s.kind, s.subject, s.stat) for s in row.slos] == [
        ("latency", "order", "p95"),
        ("freshness", "exactly_once_shipment", "p99"),
        ("availability", "availability", "share"),
    ]
    assert load_design(write(tmp_path, MINI)).row("client-retry").slos == ()


@pytest.mark.parametrize(
    ("slos", "message"),
    [
        ('["p95(swipe) < 1 s"]', "times 'swipe', not an operation of workload 'inventory'"),
        ('["every_match_announced within 2 s"]',
         "no freshness measure 'every_match_announced' for workload 'inventory' "
         "(measures: exactly_once_shipment)"),
        ('["p95(order) > 1 s"]', "does not parse; the forms are"),
        ('"p95(order) < 1 s"', "'slos' must be a list of at most 16 SLO lines"),
    ],
)
def test_slos_that_cannot_be_measured_are_refused(
    tmp_path: Path, slos: str, message: str
) -> None:
    text = MINI.replace(
        'invariants = ["idempotent_retry", "no_oversell"]',
        f'invariants = ["idempotent_retry", "no_oversell"]\nslos = {slos}',
    )
    error, path = error_of(tmp_path, text)
    assert error.startswith(f"{path}: rows[0] (id 'client-retry'): ")
    assert message in error


def test_availability_needs_a_fault_to_be_measured_under(tmp_path: Path) -> None:
    text = MINI.replace('faults = ["retry", "latency:target-*"]', 'faults = ["retry"]').replace(
        'invariants = ["idempotent_retry", "no_oversell"]',
        'invariants = ["idempotent_retry", "no_oversell"]\nslos = ["availability >= 99%"]',
    )
    error, _ = error_of(tmp_path, text)
    assert "is measured while a fault is active, and the row has no server-side fault" in error


def test_every_example_design_loads_and_has_bugs_to_catch() -> None:
    """The examples are designs users copy: each loads as written and carries at
    least one buggy variant (the blind targets of docs/unseen-bugs.md eight)."""
    examples = DESIGNS.parent / "examples"
    paths = [
        *examples.glob("*.toml"),
        *examples.glob("*/design.toml"),
        examples / "wallet" / "wallet.toml",
        examples / "java-journal" / "granted.toml",
    ]
    assert len(paths) >= 15
    for path in sorted(paths):
        variants = load_design(path).target.variants
        assert "correct" in variants and len(variants) >= 2, path
    unseen = (
        "rust-checkout",
        "go-matching",
        "node-kv",
        "py-shop",
        "ts-payments",
        "go-promo",
        "java-journal",
        "go-loyalty",
        "node-holds",
        "py-wallet",
        "py-leases",
        "go-jobs",
    )
    for name in unseen:
        variants = load_design(examples / f"{name}.toml").target.variants
        assert variants == ("correct", "variant_a", "variant_b", "variant_c", "variant_d")
        assert (examples / name / "BUGS.md").is_file()
