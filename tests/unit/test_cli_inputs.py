"""Bad command lines and input files: exit code 2, one line on stderr, and
nothing started -- no services, no target, no report folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import harness.system
import harness.verify
from harness.cli import main

DESIGNS = Path(__file__).resolve().parents[2] / "designs"
CHECKOUT = str(DESIGNS / "checkout.toml")
ORDER = {"f": "order", "key": 0, "args": {"sku": 0, "qty": 1}}
GOOD = {
    "workload": "inventory",
    "setup": {"stock": [3]},
    "steps": [{"step": "batch", "ops": [ORDER]}],
}


class Started(Exception):
    """Something tried to start the live system."""


STARTS: list[str] = []


def starter(name: str) -> Any:
    def start(*args: object, **kwargs: object) -> None:
        STARTS.append(name)
        raise Started(name)

    return start


@pytest.fixture(autouse=True)
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way to start services or a target is replaced by a recorder that refuses."""
    STARTS.clear()
    monkeypatch.setattr(harness.system, "LiveSystem", starter("LiveSystem"))
    monkeypatch.setattr(harness.verify, "LiveSystem", starter("LiveSystem"))
    monkeypatch.setattr(harness.verify, "verify_design", starter("verify_design"))


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr, which is
    returned, and start nothing."""
    assert main(list(argv)) == 2
    assert STARTS == []
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.fixture
def schedule_file(tmp_path: Path) -> Path:
    return tmp_path / "x.schedule.json"


def replay(
    capsys: pytest.CaptureFixture[str], path: Path, data: Any, *extra: str
) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    args = ["replay", str(path), "--design", CHECKOUT, "--row", "client-retry", *extra]
    message = refused(capsys, *args, "--out", str(path.parent / "out"))
    assert not (path.parent / "out").exists()
    return message


# --- replay ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "schedule must be an object (got [])"),
        ({**GOOD, "steps": ["heal"]}, "steps[0] must be an object (got 'heal')"),
        ({**GOOD, "setup": {"stock": None}}, "setup.stock must be a list of 0..1000 stock counts"),
        (
            {**GOOD, "steps": [{"step": "start", "fault": {"kind": "crash"}}]},
            "steps[0].fault.process must be a name of 1..64 characters",
        ),
        (
            {**GOOD, "steps": [{"step": "start", "fault": {"kind": "redelivery", "grace_ms": []}}]},
            "steps[0].fault.grace_ms must be an int in 0..10000 (got [])",
        ),
        (
            {**GOOD, "steps": [{"step": "batch", "ops": [{**ORDER, "f": "swipe"}]}]},
            "steps[0].ops[0].f must be one of order, read_order, read_stock (got 'swipe')",
        ),
        (
            {**GOOD, "steps": [{"step": "batch", "ops": [{**ORDER, "args": {}}]}]},
            "steps[0].ops[0].args.sku must be a key index of kind 'sku', an int in 0..0",
        ),
        (
            {**GOOD, "steps": [{"step": "batch", "ops": [{**ORDER, "retry": {"count": -1}}]}]},
            "steps[0].ops[0].retry.count must be an int in 0..10 (got -1)",
        ),
        ({**GOOD, "steps": [{"step": "wait", "ms": 10**30}]}, "steps[0].ms must be an int in"),
        ({"workload": "payments"}, "workload must be 'inventory', the design's workload"),
        (
            {**GOOD, "steps": [{"step": "start", "fault": {"kind": "crash", "process": "x"}}]},
            "steps[0].fault.process must be one of the design's processes target-0, target-1,",
        ),
        (
            {**GOOD, "steps": [{"step": "start", "fault": {"kind": "redelivery",
                                                           "consumer": "target-0"}}]},
            "steps[0].fault.consumer must be a [target.extra] process of a design with the kafka",
        ),
    ],
)
def test_bad_schedules(
    capsys: pytest.CaptureFixture[str], schedule_file: Path, data: Any, expected: str
) -> None:
    message = replay(capsys, schedule_file, data)
    assert message.startswith(f"failmodel replay: {schedule_file}: {expected}")


def test_a_schedule_that_is_not_json(
    capsys: pytest.CaptureFixture[str], schedule_file: Path
) -> None:
    schedule_file.write_text("{", encoding="utf-8")
    message = refused(
        capsys, "replay", str(schedule_file), "--design", CHECKOUT, "--row", "client-retry"
    )
    assert message.startswith(f"failmodel replay: {schedule_file}: line 1, column 2: invalid JSON")


def test_an_unknown_variant(capsys: pytest.CaptureFixture[str], schedule_file: Path) -> None:
    message = replay(capsys, schedule_file, GOOD, "--variant", "nope")
    assert message == (
        f"failmodel replay: {CHECKOUT}: --variant must be one of the design's variants correct, "
        "read_then_write, no_idempotency, dual_write, redis_truth, non_idempotent_consumer, "
        "slow_relay (got 'nope')"
    )


@pytest.mark.parametrize("times", ["0", "1001", "-3", "many", "9" * 5000])
def test_times_out_of_range(
    capsys: pytest.CaptureFixture[str], schedule_file: Path, times: str
) -> None:
    message = replay(capsys, schedule_file, GOOD, "--times", times)
    assert message.startswith(
        "failmodel replay: argument --times: must be an integer in 1..1000 (got "
    )


def test_an_unknown_row(capsys: pytest.CaptureFixture[str], schedule_file: Path) -> None:
    schedule_file.write_text(json.dumps(GOOD), encoding="utf-8")
    message = refused(capsys, "replay", str(schedule_file), "--design", CHECKOUT, "--row", "x")
    assert message.startswith(f"failmodel replay: {CHECKOUT}: no row 'x'; known rows: client-")


def test_a_directory_as_the_design(
    capsys: pytest.CaptureFixture[str], schedule_file: Path
) -> None:
    message = refused(capsys, "replay", str(schedule_file), "--design", str(DESIGNS), "--row", "x")
    assert message == f"failmodel replay: {DESIGNS}: cannot read the design file: Is a directory"


def test_a_missing_schedule(capsys: pytest.CaptureFixture[str], schedule_file: Path) -> None:
    args = ("replay", str(schedule_file), "--design", CHECKOUT, "--row", "client-retry")
    assert refused(capsys, *args) == (
        f"failmodel replay: {schedule_file}: cannot read the schedule: No such file or directory"
    )


@pytest.mark.parametrize("below", ["", "sub"])
def test_out_is_a_file(
    capsys: pytest.CaptureFixture[str], schedule_file: Path, below: str
) -> None:
    schedule_file.write_text(json.dumps(GOOD), encoding="utf-8")
    out = schedule_file / below if below else schedule_file
    args = ("replay", str(schedule_file), "--design", CHECKOUT, "--row", "client-retry")
    assert refused(capsys, *args, "--out", str(out)) == (
        f"failmodel replay: --out must be a folder (got {str(out)!r}; "
        f"{str(schedule_file)!r} is a file)"
    )


def test_missing_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "replay", "x.json") == (
        "failmodel replay: the following arguments are required: --design, --row"
    )


def test_a_valid_replay_gets_as_far_as_starting(
    schedule_file: Path, tmp_path: Path
) -> None:
    schedule_file.write_text(json.dumps(GOOD), encoding="utf-8")
    args = ["replay", str(schedule_file), "--design", CHECKOUT, "--row", "client-retry"]
    with pytest.raises(Started):
        main([*args, "--times", "1000", "--out", str(tmp_path / "out")])
    assert STARTS == ["LiveSystem"]


# --- verify and every command ---------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "designs/check\0out.toml"],
        ["verify", CHECKOUT, "--row", "client\0retry"],
        ["verify", CHECKOUT, "--out", "re\0ports"],
        ["replay", "x\0.json", "--design", CHECKOUT, "--row", "client-retry"],
    ],
)
def test_nul_bytes_in_arguments(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert refused(capsys, *argv).startswith("failmodel: an argument contains a NUL byte (")


def test_verify_an_unknown_variant(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--variant", "../x").startswith(
        f"failmodel verify: {CHECKOUT}: --variant must be one of the design's variants correct,"
    )


def test_verify_an_unknown_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--row", "nope").startswith(
        f"failmodel verify: {CHECKOUT}: no row 'nope'; known rows: client-retry, "
    )


@pytest.mark.parametrize("seed", ["-1", str(2**64), "0x1f", "1.5"])
def test_verify_a_seed_out_of_range(capsys: pytest.CaptureFixture[str], seed: str) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--seed", seed) == (
        f"failmodel verify: argument --seed: must be an integer in 0..{2**64 - 1} (got {seed!r})"
    )


@pytest.mark.parametrize("budget", ["10 min", "-1m", "0s", "2w", "1h1h"])
def test_verify_a_malformed_budget(capsys: pytest.CaptureFixture[str], budget: str) -> None:
    assert refused(capsys, "verify", CHECKOUT, f"--budget={budget}").startswith(
        "failmodel verify: argument --budget: a duration "
    )


def test_verify_a_budget_and_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--budget", "10s", "--examples", "3") == (
        "failmodel verify: give --budget or --examples, not both"
    )


@pytest.mark.parametrize("jobs", ["0", "17", "two"])
def test_verify_jobs_out_of_range(capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--jobs", jobs) == (
        f"failmodel verify: argument --jobs: must be an integer in 1..16 (got {jobs!r})"
    )


def test_verify_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--profile", "fast") == (
        "failmodel verify: --profile must be one of dev, ci, nightly (got 'fast')"
    )


def test_verify_the_same_row_or_design_twice(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "verify", CHECKOUT, "--row", "cache-loss", "--row", "cache-loss") == (
        "failmodel verify: --row 'cache-loss' is given twice; each must be unique"
    )
    assert refused(capsys, "verify", CHECKOUT, str(DESIGNS)) == (
        "failmodel verify: design name 'checkout' is given twice; each must be unique"
    )


def test_verify_a_missing_design(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert refused(capsys, "verify", str(tmp_path / "x.toml")) == (
        f"failmodel verify: no design file or folder at {tmp_path / 'x.toml'}"
    )


def test_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "verfiy").startswith("failmodel: argument command: invalid choice:")


def test_verify_valid_arguments_get_as_far_as_verifying(tmp_path: Path) -> None:
    args = ["verify", CHECKOUT, "--row", "client-retry", "--seed", str(2**64 - 1)]
    main([*args, "--out", str(tmp_path)])  # verify reports a failed start and goes on
    assert STARTS == ["verify_design"]
