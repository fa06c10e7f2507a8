"""The user-facing commands: list, doctor, init, verify's new options, progress output."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.console import PlainSetupProgress, PlainVerifyProgress
from harness.design import Design, load_design
from harness.doctor import Check, check_container_engine, render
from harness.progress import SetupEvent, VerifyEvent
from harness.report import RowResult
from harness.setup.engine import EngineStatus
from harness.starter import starter_design

ROOT = Path(__file__).resolve().parents[2]


def test_list_shows_rows_faults_invariants_and_variants(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["list", str(ROOT / "designs" / "checkout.toml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checkout (")
    assert "workload inventory, 2 replicas" in out
    assert "buggy (must be caught): read_then_write, no_idempotency" in out
    assert "  client-retry  [client_retry_timeout]" in out
    assert "faults: retry, client_timeout, latency:target-* (target-0, target-1)" in out
    assert "invariants: idempotent_retry, stock_accounting" in out
    assert "extra process relay:" in out
    assert "late effects watched 3 s" in out  # its partner ships orders
    assert cli.main(["list", str(ROOT / "designs" / "kv.toml")]) == 0
    assert "no partner: no late effects to watch" in capsys.readouterr().out


def test_list_names_a_program_that_is_not_there_and_what_root_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A design beside the project (``{root}`` is then the folder above it) whose
    command is not there (verify says it too, before anything is provisioned)."""
    out = tmp_path / "examples" / "shop.toml"
    argv = ["init", "--workload", "kv", "--command", "{root}/shop/run serve", "--out", str(out)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["list", str(out)]) == 0
    note = (
        f"note: {out}: target.command runs {tmp_path}/shop/run, which does not exist "
        f"({{root}} is {tmp_path}, the folder above the design file's folder; the target "
        "will not start)"
    )
    assert note in capsys.readouterr().out
    program = tmp_path / "shop" / "run"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    assert cli.main(["list", str(out)]) == 0
    assert "does not exist" not in capsys.readouterr().out


def test_list_of_a_missing_design_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["list", str(tmp_path / "nope.toml")]) == 2
    assert "no design file or folder" in capsys.readouterr().err


@pytest.mark.parametrize("workload", ["inventory", "payments", "matching", "kv"])
def test_init_writes_a_design_that_loads_and_lists_it(
    tmp_path: Path, workload: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "designs" / "shop.toml"
    argv = ["init", "--workload", workload, "--command", "./bin/shop serve --port $PORT"]
    argv += ["--name", "shop", "--dependencies", "postgres,partner", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: answer every 'EDIT:'")
    assert f"shop ({out}): workload {workload}" in printed
    prompts = 1 + 3 * len(load_design(out).rows)
    assert f"note: {out}: {prompts} 'EDIT:' prompts not answered yet (description, " in printed
    assert f"# Check it: failmodel list {out}; run it: failmodel verify {out}\n" in (
        out.read_text()
    )
    design = load_design(out)
    assert design.target.command == ("./bin/shop", "serve", "--port", "$PORT")
    assert design.target.dependencies == {"postgres", "partner"}
    # With the partner, each workload but kv has a row where the partner is down;
    # with PostgreSQL, each has a row of lost answers.
    assert len(design.rows) == (5 if workload == "kv" else 6)
    for row in design.rows:
        for column in (row.can_happen, row.mechanism, row.recovery):
            assert column.startswith("EDIT: "), (row.id, column)
        assert row.failure_mode and row.correct_behaviour
    assert cli.main(argv) == 2, "an existing file is not overwritten"
    assert "pass --force" in capsys.readouterr().err
    assert cli.main([*argv, "--force"]) == 0


def test_init_without_partner_leaves_out_the_partner_rows(tmp_path: Path) -> None:
    path = tmp_path / "designs" / "pay.toml"
    path.parent.mkdir()
    path.write_text(
        starter_design(name="pay", workload="payments", command=["x"], dependencies=["postgres"])
    )
    assert [r.id for r in load_design(path).rows] == [
        "client-retry", "node-crash", "store-answer-lost"
    ]


def test_the_payments_starters_crash_row_can_catch_the_crash_it_names(tmp_path: Path) -> None:
    """"A replica crashes between charging and recording": only the PSP's ledger
    shows the money then (no_unrecorded_money, charge_recorded), and only a crash
    while a charge is in flight (a slow PSP) makes it. Listing only
    acknowledged_writes_survive and no_duplicate_charge, the row passed a target
    that charges before it records (a Java target written from the docs)."""
    path = tmp_path / "pay.toml"
    path.write_text(
        starter_design(
            name="pay", workload="payments", command=["x"], dependencies=["postgres", "partner"]
        )
    )
    (row,) = [r for r in load_design(path).rows if r.id == "node-crash"]
    assert "between charging and recording" in row.failure_mode
    assert {"no_unrecorded_money", "charge_recorded"} <= set(row.invariants)
    assert {"crash:target-*", "crash_in_call:target-*", "partner:slow:psp"} <= set(row.faults)


@pytest.mark.parametrize(
    ("workload", "effect", "slowed"),
    [
        ("inventory", "exactly_once_shipment", "partner:slow:warehouse"),
        ("matching", "every_match_announced", "partner:slow:notify"),
    ],
)
def test_a_starters_crash_row_judges_the_side_effects_a_crash_can_lose(
    tmp_path: Path, workload: str, effect: str, slowed: str
) -> None:
    """A relay that marks a shipment or a message sent before it sends it loses it
    when the replica crashes in between: two blind targets' bugs the starters
    missed, since their crash rows did not judge the side effect and the rows that
    did had no crash. A crash aimed at a call in flight lands in that window."""
    path = tmp_path / "d.toml"
    path.write_text(
        starter_design(
            name="d", workload=workload, command=["x"], dependencies=["postgres", "partner"]
        )
    )
    (row,) = [r for r in load_design(path).rows if r.id == "node-crash"]
    assert effect in row.invariants
    assert {"crash:target-*", "crash_in_call:target-*", slowed} <= set(row.faults)
    path.write_text(
        starter_design(name="d", workload=workload, command=["x"], dependencies=["postgres"])
    )
    (row,) = [r for r in load_design(path).rows if r.id == "node-crash"]
    assert effect not in row.invariants and slowed not in row.faults
    assert "crash_in_call:target-*" not in row.faults


def test_the_kv_starters_rows_race_several_clients_on_each_key(tmp_path: Path) -> None:
    """A stale read or a lost compare-and-set shows only when one key sees writes
    and reads from clients on both replicas close together: the starter's rows
    take the reference kv design's shape (6 clients, 8 steps of up to 8
    operations on the workload's 2 keys), not the default (4, 5, 5)."""
    path = tmp_path / "kv.toml"
    path.write_text(
        starter_design(name="kv", workload="kv", command=["x"], dependencies=["postgres"])
    )
    for row in load_design(path).rows:
        assert (row.shape.clients, row.shape.max_steps, row.shape.max_batch) == (6, 8, 8)


def test_the_kv_starters_stale_read_row_slows_each_replicas_own_path(tmp_path: Path) -> None:
    """A replica's copy (a cache invalidated by LISTEN/NOTIFY) learns of another
    replica's write over its own link to the store: slowing every link alike
    delays the writer's answer as much, and the window stays a few ms."""
    path = tmp_path / "kv.toml"
    for deps, own in ((["postgres"], {"latency:target-*>postgres"}),
                      (["postgres", "redis"], {"latency:target-*>postgres",
                                               "latency:target-*>redis"})):
        path.write_text(starter_design(name="kv", workload="kv", command=["x"], dependencies=deps))
        (row,) = [r for r in load_design(path).rows if r.id == "stale-read"]
        assert own <= set(row.faults) and "reorder" in row.faults


@pytest.mark.parametrize("workload", ["inventory", "payments", "matching", "kv", "custom"])
def test_a_starter_with_a_store_has_a_row_of_lost_answers(tmp_path: Path, workload: str) -> None:
    """A commit whose answer is lost, the store back when the service learns of it:
    a service that runs the work again on its own (a blind node target's retry
    helper) acts twice or answers its own first effect as a refusal. The row
    judges what the starter's crash row judges; without PostgreSQL or Redis it
    is left out."""
    path = tmp_path / "d.toml"
    path.write_text(starter_design(name="d", workload=workload, command=["x"],
                                   dependencies=["postgres", "redis", "kafka"]))
    rows = {r.id: r for r in load_design(path).rows}
    row = rows["store-answer-lost"]
    assert {f for f in row.faults if f.startswith("lost_answer:")} == {
        "lost_answer:postgres", "lost_answer:redis"
    }
    crash = rows.get("node-crash") or rows["replica-crash"]
    assert row.invariants == crash.invariants and row.shape == crash.shape
    assert row.taxonomy == "partial_write"
    path.write_text(starter_design(name="d", workload=workload, command=["x"],
                                   dependencies=["kafka"]))
    assert "store-answer-lost" not in {r.id for r in load_design(path).rows}


@pytest.mark.parametrize(
    ("workload", "row_id"),
    [("inventory", "client-retry"), ("payments", "client-retry"),
     ("matching", "swipe-retry"), ("custom", "client-retry")],
)
def test_a_starters_retry_row_slows_the_store_past_a_server_deadline(
    tmp_path: Path, workload: str, row_id: str
) -> None:
    """A server that answers a definite refusal when its own deadline (1.5 s)
    passes while the work still commits: two or three round trips must outlast
    it, so the retry row's store latency goes to 1 s a round trip (the default
    400 ms missed a blind Python target's bug at ci)."""
    path = tmp_path / "d.toml"
    path.write_text(starter_design(name="d", workload=workload, command=["x"],
                                   dependencies=["postgres", "partner"]))
    (row,) = [r for r in load_design(path).rows if r.id == row_id]
    assert "latency:postgres" in row.faults and "client_timeout" in row.faults
    assert row.shape.max_latency_ms == 1000
    path.write_text(starter_design(name="d", workload=workload, command=["x"],
                                   dependencies=["partner"]))
    (row,) = [r for r in load_design(path).rows if r.id == row_id]
    assert row.shape.max_latency_ms == 400  # no store to slow: the default


def test_init_refuses_an_unknown_workload(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init", "--workload", "shop", "--command", "x"]) == 2
    err = capsys.readouterr().err
    assert "--workload must be one of inventory, payments, matching, kv, custom" in err


def test_init_prepare_is_run_before_the_replicas_and_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "svc" / "svc.toml"
    argv = ["init", "--workload", "kv", "--command", "{root}/bin/kv serve", "--name", "svc"]
    assert cli.main([*argv, "--prepare", "make -C {root} build", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"prepare (once, before the replicas; up to 600 s): make -C {tmp_path} build" in printed
    assert load_design(out).target.prepare == ("make", "-C", str(tmp_path), "build")


def test_verify_names_the_edit_prompts_a_design_still_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "designs" / "kv.toml"
    assert cli.main(["init", "--workload", "kv", "--command", "x", "--out", str(out)]) == 0
    capsys.readouterr()
    assert load_design(out).target.dependencies == {"postgres"}, "kv has no partner effects"
    # A variant the design does not have: verify stops before starting anything.
    assert cli.main(["verify", str(out), "--variant", "nope"]) == 2
    assert "'EDIT:' prompt" not in capsys.readouterr().err, "a usage error comes alone"
    text = out.read_text()
    answered = re.sub(r'"EDIT: [^"]*"', '"answered"', text, count=3)
    out.write_text(answered)
    assert cli.main(["list", str(out)]) == 0
    note = capsys.readouterr().out.splitlines()[-1]
    assert note == (
        f"note: {out}: 13 'EDIT:' prompts not answered yet (stale-read.recovery, "
        "client-retry.can_happen, client-retry.mechanism, client-retry.recovery and 9 more); "
        "the report shows them as written"
    )
    out.write_text(re.sub(r'"EDIT: [^"]*"', '"answered"', text))
    assert cli.main(["list", str(out)]) == 0
    assert "'EDIT:'" not in capsys.readouterr().out


def test_init_custom_with_the_partner_has_its_rows_and_says_rows_judge_nothing_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A custom API whose service calls the partner: the rows every partner
    caller meets, with faults on any endpoint (the starter cannot know its
    names), and a crash aimed at a call in flight."""
    out = tmp_path / "designs" / "store.toml"
    argv = ["init", "--workload", "custom", "--command", "./store", "--name", "store"]
    argv += ["--dependencies", "postgres,partner", "--out", str(out)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    design = load_design(out)
    faults = {row.id: row.faults for row in design.rows}
    assert faults["partner-fails-after-acting"] == (
        "partner:fail_after_drop", "partner:fail_after", "retry"
    )
    assert faults["partner-unreachable"] == (
        "partition:partner", "partner:fail_before", "latency:partner"
    )
    assert {"crash_in_call:target-*", "partner:slow"} <= set(faults["node-crash"])
    assert "until you do, every row\n# judges nothing" in out.read_text()
    without = ["init", "--workload", "custom", "--command", "./store", "--name", "store"]
    assert cli.main([*without, "--dependencies", "postgres", "--out", str(out), "--force"]) == 0
    assert not any("partner" in r.id for r in load_design(out).rows)


def test_init_custom_writes_a_workload_skeleton_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "designs" / "store.toml"
    argv = [
        "init", "--workload", "custom", "--command", "./store", "--name", "store", "--out", str(out)
    ]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"store ({out}): workload store" in printed
    assert "operations: put (PUT /items/{item}), get (GET /items/{item}, read)" in printed
    text = out.read_text()
    assert "[workload]" in text and text.count("# EDIT:") >= 4
    design = load_design(out)
    assert [o.name for o in design.workload.operations] == ["put", "get"]
    assert [r.slot for r in design.workload.final] == ["items"]
    assert {i for row in design.rows for i in row.invariants} == {"consistent_reads"}
    assert all(row.mechanism.startswith("EDIT: ") for row in design.rows)
    for builtin in ("inventory", "kv"):
        clash = ["init", "--workload", "custom", "--command", "./store", "--name", builtin]
        assert cli.main([*clash, "--out", str(out), "--force"]) == 2
        assert "must not be a built-in workload's name" in capsys.readouterr().err
    unnamed = ["init", "--workload", "custom", "--command", "./store", "--out", str(out), "--force"]
    assert cli.main(unnamed) == 2
    assert "--workload custom needs --name NAME" in capsys.readouterr().err


def test_a_starter_with_kafka_shows_how_to_declare_a_consumer_and_its_row(
    tmp_path: Path,
) -> None:
    """Kafka's faults are about a relay or a consumer, which only the design can
    name: the starter says how, in comments that load once uncommented."""
    plain = starter_design(
        name="store", workload="custom", command=["x"], dependencies=["postgres"]
    )
    assert "redelivery" not in plain and "[target.extra]" not in plain
    for deps in (["postgres", "kafka"], ["postgres", "kafka", "partner"]):
        text = starter_design(name="store", workload="custom", command=["x"], dependencies=deps)
        assert "# [target.extra]" in text and '# faults = ["redelivery:consumer"' in text
        design = _uncommented(text, tmp_path)
        assert set(design.target.extra) == {"relay", "consumer"}
        (consumer,) = [r for r in design.rows if r.id == "consumer-redelivery"]
        # Only a kill that left messages uncommitted provokes a redelivery.
        assert consumer.exercised_by == ("kills_during_lag",)


def _uncommented(text: str, tmp_path: Path) -> Design:
    """The starter with its [target.extra] and its consumer row uncommented."""
    lines = text.splitlines()
    extra = lines.index("# [target.extra]")
    row = lines.index("# [[rows]]")
    for i in (*range(extra, extra + 3), *range(row, len(lines))):
        lines[i] = lines[i].removeprefix("# ")
    edited = "\n".join(lines).replace(
        '["EDIT: your propagation and uniqueness invariants"]', '["consistent_reads"]'
    )
    path = tmp_path / "designs" / "store.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(edited)
    return load_design(path)


def test_verify_options_parse() -> None:
    args = cli._parser().parse_args(
        ["verify", "designs/", "--report-dir", "out", "--examples", "3", "--junit", "j.xml"]
    )
    assert (args.out, args.examples, args.junit) == (Path("out"), 3, Path("j.xml"))
    assert cli._parser().parse_args(["verify", "d.toml", "--out", "o"]).out == Path("o")
    with pytest.raises(cli.UsageError, match=r"--examples: must be an integer in 1\.\.100000"):
        cli._parser().parse_args(["verify", "d.toml", "--examples", "0"])


def test_setup_options_parse() -> None:
    args = cli._parser().parse_args(["setup", "--brief", "--with", "chromium"])
    assert args.brief and args.components == ["chromium"]


def test_doctor_prints_every_check_and_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    for name in (
        "Python", "PostgreSQL", "Redis", "Toxiproxy server", "Kafka broker", "libfaketime",
        "Chromium",
    ):
        assert name in out
    assert "container engine" in out
    assert code == (1 if "missing " in out else 0)


def test_doctor_render_gives_fixes_for_what_is_missing() -> None:
    text = render(
        [
            Check(name="Redis", state="missing", detail="not on PATH", fix="failmodel setup"),
            Check(name="PostgreSQL", state="ok", detail="15", fix="never shown"),
        ]
    )
    assert "missing   Redis" in text and "fix: failmodel setup" in text
    assert "never shown" not in text
    assert text.splitlines()[-1].startswith("missing: Redis")


def test_the_container_engine_check_says_what_engine_status_says() -> None:
    def down() -> EngineStatus:
        return EngineStatus(
            False, "no Docker engine answers", "failmodel setup --backend containers"
        )

    check = check_container_engine(down)
    assert (check.state, check.detail, check.fix) == (
        "optional",
        "no Docker engine answers",
        "failmodel setup --backend containers",
    )
    assert check_container_engine(lambda: EngineStatus(True, "Docker 27")).state == "ok"


def test_doctor_asks_the_engine_itself() -> None:
    # Whether or not an engine runs here, doctor reports on the real socket
    # (it once looked for engine_status() in the wrong module and said "not checked").
    check = check_container_engine()
    assert check.state in ("ok", "optional")
    assert "answers on" in check.detail and "docker.sock" in check.detail


def event(kind: str, **kw: object) -> VerifyEvent:
    base: dict[str, object] = dict(
        kind=kind,
        design="shop",
        variant="correct",
        row="client-retry",
        row_index=0,
        rows=2,
        example=3,
        budget=6,
        failures=1,
        elapsed_s=75.0,
        seed=9,
    )
    base.update(kw)
    return VerifyEvent(**base)  # type: ignore[arg-type]


def test_plain_verify_progress_lines_say_row_example_failures_faults_elapsed() -> None:
    out = io.StringIO()
    progress = PlainVerifyProgress(out)
    progress(event("row_started"))
    progress(event("faults", faults=("crash of target-0",)))
    progress(event("example_finished", failed=True))
    progress(event("example_started", example=9, message="shrinking"))
    result = RowResult(
        row_id="client-retry",
        failure_mode="f",
        correct_behaviour="c",
        mechanism="m",
        status="FAIL",
        invariants=("no_oversell",),
        examples=9,
        duration_s=80.0,
        seed=9,
        replay_command="failmodel verify x --seed 9",
    )
    progress(event("row_finished", result=result))
    assert out.getvalue().splitlines() == [
        "[shop/correct] row 1/2 client-retry: searching, 6 examples (seed 9)",
        "[shop/correct] row 1/2 client-retry: faults active: crash of target-0",
        "[shop/correct] row 1/2 client-retry: example 3/6 FAILED; failures so far 1; elapsed 1:15",
        "[shop/correct] row 1/2 client-retry: example 9 (past the budget of 6) started (shrinking)",
        "[shop/correct] row 1/2 client-retry: FAIL (9 examples, 80.0 s)",
        "  seed 9; replay: failmodel verify x --seed 9",
    ]


def test_plain_setup_progress_says_what_and_how_long() -> None:
    out = io.StringIO()
    progress = PlainSetupProgress(out, ready=False)
    progress(SetupEvent(step="kafka", state="started", message="assembling Kafka"))
    progress(SetupEvent(step="kafka", state="finished", message="Kafka: done", elapsed_s=61.25))
    progress(SetupEvent(step="redis", state="ready", message="Redis: ok"))
    assert out.getvalue().splitlines() == [
        "failmodel setup: assembling Kafka ...",
        "failmodel setup: Kafka: done (took 61.2 s)",
    ]


def test_a_system_that_does_not_start_gives_error_rows_and_all_three_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.verify

    class Broken:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> None:
            raise RuntimeError("postgres did not become ready")

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(harness.verify, "LiveSystem", Broken)
    design = load_design(ROOT / "tests" / "fixtures" / "designs" / "toy_shop.toml")
    report = harness.verify.verify_design(design, out_dir=tmp_path, log=False, seed_=3)
    assert [r.status for r in report.rows] == ["ERROR", "ERROR"]
    assert all("postgres did not become ready" in (r.error or "") for r in report.rows)
    assert report.rows[0].recovery == "Cancel the duplicate"
    for name in ("report.json", "report.md", "report.html"):
        assert (tmp_path / name).is_file(), name
    assert "postgres did not become ready" in (tmp_path / "report.html").read_text()


def test_the_summary_of_several_designs_is_one_table(tmp_path: Path) -> None:
    from tests.unit.test_report import make_report, make_row

    a = make_report(tmp_path, make_row("x", "PASS"), make_row("y", "FAIL"))
    b = make_report(tmp_path, make_row("z", "NOT EXERCISED"))
    object.__setattr__(b, "design_name", "payments")
    text = cli.overall_summary([a, b], Path("reports"), variant="correct")
    lines = text.splitlines()
    assert lines[1].split() == ["design", "status", "rows"]
    assert lines[3].split()[:2] == ["checkout", "FAIL"] and "1 PASS, 1 FAIL" in lines[3]
    assert lines[4].split()[:3] == ["payments", "NOT", "EXERCISED"]
    assert lines[-1].startswith("all designs (correct): 1 PASS, 1 FAIL, 1 NOT EXERCISED")


def test_rich_displays_run_on_a_terminal_and_end_with_a_line_per_step_and_row() -> None:
    from rich.console import Console

    from harness.console import RichSetupProgress, RichVerifyProgress

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    setup_display = RichSetupProgress(console, ready=False)
    setup_display(SetupEvent(step="kafka", state="started", message="assembling Kafka"))
    setup_display(SetupEvent(step="kafka", state="finished", message="Kafka: done", elapsed_s=2))
    verify_display = RichVerifyProgress(console)
    verify_display(event("row_started"))
    verify_display(event("faults", faults=("pause of target-1",)))
    result = RowResult(
        row_id="client-retry",
        failure_mode="f",
        correct_behaviour="c",
        mechanism="m",
        status="PASS",
        invariants=("no_oversell",),
        examples=6,
        duration_s=9.0,
    )
    verify_display(event("row_finished", result=result))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())  # terminal codes out
    assert "Kafka: done" in text and "took 2.0 s" in text
    assert "pause of target-1" in text and "client-retry" in text and "PASS" in text


def test_the_go_example_is_inits_skeleton_edited(tmp_path: Path) -> None:
    """docs/writing-a-target.md starts the Go example's design with `failmodel init`:
    the [target] init writes for it is the example's, before the edits the tutorial
    lists (the reconciler, the variants, the times), and its rows are kept or renamed."""
    example = load_design(ROOT / "examples" / "go-payments" / "design.toml")
    out = tmp_path / "examples" / "design.toml"
    argv = ["init", "--workload", "payments", "--command", "{root}/go-payments/run serve"]
    argv += ["--name", "go-payments", "--dependencies", "postgres,partner", "--out", str(out)]
    argv += ["--prepare", "{root}/go-payments/run --build-only"]
    assert cli.main(argv) == 0
    skeleton = load_design(out)
    assert skeleton.name == example.name and skeleton.workload == example.workload
    assert skeleton.target.replicas == example.target.replicas
    assert skeleton.target.dependencies == example.target.dependencies
    assert skeleton.target.command[1:] == example.target.command[1:]
    assert Path(skeleton.target.command[0]).name == Path(example.target.command[0]).name
    assert skeleton.target.prepare[1:] == example.target.prepare[1:] == ("--build-only",)
    kept = {"client-retry": "client-retry", "psp-fails-after-charge": "psp-answer-lost"}
    example_rows = {r.id: r for r in example.rows}
    for row in skeleton.rows:
        if row.id in kept:
            assert set(row.invariants) <= set(example_rows[kept[row.id]].invariants), row.id


def test_list_into_a_closed_pipe_ends_quietly() -> None:
    """`failmodel list designs/ | head -1`: the reader leaves early; no traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "list", str(ROOT / "designs")],
            stdout=write,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr.decode() == ""
    assert done.returncode == 141


@pytest.mark.parametrize(
    ("status", "flags", "code"),
    [
        ("NOT EXERCISED", [], 1),
        ("NOT EXERCISED", ["--allow-unexercised"], 0),
        ("NOT EXERCISED", ["--allow-inconclusive"], 1),
        ("INCONCLUSIVE", ["--allow-inconclusive"], 0),
        ("INCONCLUSIVE", ["--allow-unexercised"], 1),
        ("FAIL", ["--allow-inconclusive", "--allow-unexercised"], 1),
    ],
)
def test_a_row_that_showed_nothing_fails_the_run_unless_allowed(
    tmp_path: Path, status: str, flags: list[str], code: int
) -> None:
    from tests.unit.test_report import make_report, make_row

    report = make_report(tmp_path, make_row("x", "PASS"), make_row("y", status))
    args = cli._parser().parse_args(["verify", "d.toml", *flags])
    assert cli.verify_exit_code(report, args) == code
