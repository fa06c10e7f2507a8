"""The user's view of a real failing run: the CLI's progress lines, report.html as
headless Chromium renders it (timeline and latency pictures present, a non-blank
screenshot), and JUnit XML from ``failmodel verify --junit`` and from
``pytest --junitxml`` naming the same rows with the same outcomes.

The run is the toy shop whose relay never ships (variant ``no_effects``): its
``slow-links`` row fails on every example that accepts an order, with latency
faults on the timeline. It searches afresh (an empty example database of its
own): with the shared one, a failure stored by an earlier run is tried first.
Chromium is Debian's package, installed by ``failmodel setup --with chromium``
(the fixture asks for it); where it cannot be installed the browser test is
skipped with the command that installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.setup import SetupError, setup
from harness.setup.chromium import INSTALL_COMMAND, dump_dom, find_chromium, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ROW = "slow-links"
# Where a person looks at what the browser showed (reports/ is not committed).
SHOTS = ROOT / "reports" / "browser"


@dataclass(frozen=True)
class Run:
    out: Path
    junit: Path
    stdout: str
    stderr: str
    code: int

    @property
    def html(self) -> Path:
        return self.out / "toy-shop-no_effects" / "report.html"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """``failmodel verify`` of the failing row, as a user runs it (not a terminal)."""
    tmp = tmp_path_factory.mktemp("browser")
    out, junit = tmp / "reports", tmp / "ci" / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "verify",
            str(FIXTURES / "designs" / "toy_shop.toml"),
            "--variant",
            "no_effects",
            "--row",
            ROW,
            "--examples",
            "3",
            "--seed",
            "7",
            "--report-dir",
            str(out),
            "--junit",
            str(junit),
            "--database",
            str(tmp / "examples-db"),
        ],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    yield Run(out=out, junit=junit, stdout=proc.stdout, stderr=proc.stderr, code=proc.returncode)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium, installed through the set-up's optional component."""
    found = find_chromium()
    if found is None:
        try:
            setup(quiet=True, components=("chromium",))
        except SetupError as exc:
            print(f"cannot install chromium ({exc}); install it with: {INSTALL_COMMAND}")
        found = find_chromium()
    if found is None:
        pytest.skip(
            f"chromium is not installed; install it with: failmodel setup --with chromium "
            f"(or as root: {INSTALL_COMMAND})"
        )
    return found


def test_the_cli_shows_progress_and_fails_the_run(run: Run) -> None:
    assert run.code == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    where = f"[toy-shop/no_effects] row 1/1 {ROW}"
    assert f"{where}: searching, 3 examples (seed 7)" in lines
    assert f"{where}: example 1/3 started" in lines
    # The first failure is example n of 3, and the first counted (an example
    # whose orders were all rejected has nothing to ship, and holds).
    first = next((line for line in lines if " FAILED; " in line), "")
    assert re.fullmatch(
        rf"{re.escape(where)}: example [123]/3 FAILED; failures so far 1; elapsed 0:\d\d", first
    ), run.stdout
    assert f"{where}: replaying the minimal failing schedule 2 times" in " ".join(lines)
    assert f"--seed 7 --database {run.out.parent / 'examples-db'}" in run.stdout
    assert any(line.startswith(f"{where}: FAIL (") for line in lines)
    assert f"report: {run.html} (and report.md, report.json)" in lines
    assert f"junit: {run.junit}" in lines


def test_progress_events_follow_the_search_and_its_faults(tmp_path: Path) -> None:
    """In process, the callback sees the row start, every example with its number,
    the faults as they start, the phases, and the row's result last."""
    from catching import verified

    from harness.design import load_design
    from harness.progress import VerifyEvent
    from harness.verify import Profile

    events: list[VerifyEvent] = []
    report = verified(
        load_design(FIXTURES / "designs" / "toy_shop.toml"),
        variant="correct",
        profile=Profile(name="quick", examples=3, shrink_s=10.0, replays=1),
        rows=[ROW],
        seed_=11,
        out_dir=tmp_path / "report",
        database=tmp_path / "examples-db",
        progress=events.append,
    )
    (row,) = report.rows
    kinds = [e.kind for e in events]
    assert kinds[0] == "row_started" and kinds[-1] == "row_finished"
    assert events[-1].result == row
    finished = [e for e in events if e.kind == "example_finished"]
    assert [e.example for e in finished] == list(range(1, row.examples + 1))
    assert all(e.row == ROW and e.rows == 1 for e in events)
    # 3 examples, and 3 more per extra round when no fault met an operation in flight.
    budgets = [e.budget for e in events]
    assert budgets[0] == 3 and budgets == sorted(budgets) and set(budgets) <= {3, 6, 9}
    assert budgets[-1] == row.examples
    if row.coverage.get("faults_during_ops"):
        started = [e for e in events if e.kind == "faults" and e.faults]
        assert started and all(f.startswith("latency(") for e in started for f in e.faults)
    assert any(e.kind == "phase" and "late side effects" in e.message for e in events)
    assert len(row.histories) == row.examples and all(p.is_file() for p in row.histories)
    assert (tmp_path / "report" / "report.html").is_file()


def test_junit_has_the_failing_row_with_its_evidence_and_replay(run: Run) -> None:
    root = ET.parse(run.junit).getroot()
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "toy-shop" and suite.get("failures") == "1"
    (case,) = suite.findall("testcase")
    assert (case.get("classname"), case.get("name")) == ("toy-shop", ROW)
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "FAIL"
    assert "exactly_once_shipment (invalid)" in (failure.get("message") or "")
    assert "never shipped" in (failure.text or "")
    out = case.findtext("system-out") or ""
    assert "seed: 7" in out and f"--row {ROW}" in out and "failmodel replay" in out


def test_the_report_renders_in_chromium_with_its_pictures(run: Run, chromium: Path) -> None:
    assert run.html.is_file(), run.stdout + run.stderr
    dom = dump_dom(chromium, run.html)
    assert 'id="failure-model"' in dom or "id='failure-model'" in dom or "failure-model" in dom
    assert f'id="timeline-{ROW}"' in dom and f'id="latency-{ROW}"' in dom
    assert '<span class="pill fail">FAIL</span>' in dom
    assert "Copy</button>" in dom
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = screenshot(chromium, run.html, SHOTS / "report-no_effects.png", width=1400, height=2400)

    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (1400, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is blank"
    # The verdict pill's red and the ok/fault colours of the pictures are on screen.
    present = {rgb for _, rgb in colours}
    assert (198, 40, 40) in present  # --fail


def test_pytest_junitxml_gives_the_same_rows(run: Run, tmp_path: Path) -> None:
    """pytest's items are named like ``failmodel verify --junit``'s testcases."""
    (tmp_path / "designs").mkdir()
    shutil.copy(FIXTURES / "designs" / "toy_shop.toml", tmp_path / "designs" / "toy_shop.toml")
    shutil.copy(FIXTURES / "toy_inventory.py", tmp_path / "toy_inventory.py")
    junit = tmp_path / "pytest.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "harness.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "designs/toy_shop.toml",
            "-k",
            ROW,
            "--failmodel-variant",
            "no_effects",
            "--failmodel-seed",
            "7",
            f"--junitxml={junit}",
            "-q",
            "--failmodel-out",
            str(tmp_path / "reports"),
        ],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr

    def rows(path: Path) -> list[tuple[str | None, str | None, bool]]:
        return [
            (c.get("classname"), c.get("name"), c.find("failure") is not None)
            for c in ET.parse(path).getroot().iter("testcase")
        ]

    assert rows(junit) == rows(run.junit) == [("toy-shop", ROW, True)]
