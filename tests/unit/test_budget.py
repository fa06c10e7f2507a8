"""``--budget``: how a run's time is shared among its rows, and which durations
are refused (``--jobs``: how rows are split among the jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.budget import STOP_RESERVE_S, RowTime, RunBudget, shares
from harness.design import load_design
from harness.jobs import split_rows
from harness.limits import parse_duration
from harness.verify import PROFILES

KV = Path(__file__).resolve().parents[2] / "designs" / "kv.toml"


def test_rows_not_run_yet_share_the_time_left_by_the_examples_they_ask_for() -> None:
    assert shares([RowTime(6), RowTime(6), RowTime(12)], 120) == [30, 30, 60]


def test_a_row_that_found_a_failure_early_leaves_its_time_to_the_rows_after_it() -> None:
    # Row a was promised 30 of 90 s but found a failure and shrank in 10 s:
    # b and c share the 80 s left instead of 30 s each.
    rows = [RowTime(1, ran=True, found=True), RowTime(1), RowTime(1)]
    assert shares(rows, 80) == [0, 40, 40]


def test_once_every_row_ran_the_rows_that_found_nothing_share_what_is_left() -> None:
    rows = [RowTime(1, ran=True), RowTime(2, ran=True, found=True), RowTime(3, ran=True)]
    assert shares(rows, 40) == [10, 0, 30]
    assert shares([RowTime(1, ran=True, found=True)], 40) == [0]
    assert shares([RowTime(1), RowTime(1)], -5) == [0, 0]


def test_another_round_only_for_rows_that_found_nothing_and_only_with_time_for_it() -> None:
    plan = RunBudget(total_s=60 + STOP_RESERVE_S, weights=[1, 1, 1])
    for i in range(3):
        plan.finish(i, found=i == 1)
    assert plan.next_round(longest_s=31) == []  # 30 s each: not two such examples
    assert plan.next_round(longest_s=2) == [0, 2]
    assert plan.start(0) == pytest.approx(30, abs=1)
    plan.finish(0)
    assert plan.start(2) == pytest.approx(60, abs=1)  # row 0's turn is over


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("45", 45), ("1.5m", 90)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "must not be empty"),
        ("10x", "a unit s, m or h"),
        ("1h1h", "each at most once"),
        ("-5s", "a number with a unit"),
        ("m", "a number with a unit"),
        (".s", "a number with a unit"),
        ("1e3s", "a number with a unit"),
        ("0s", "1 s to 168 h"),
        ("999h", "1 s to 168 h"),
    ],
)
def test_malformed_durations_say_what_a_duration_is(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_duration(text)


def test_jobs_get_rows_of_similar_weight_each_in_table_order() -> None:
    rows = load_design(KV).rows
    groups = split_rows(rows, 2, lambda r: 1)
    assert sorted(len(g) for g in groups) == [len(rows) // 2, len(rows) - len(rows) // 2]
    assert sorted(r.id for g in groups for r in g) == sorted(r.id for r in rows)
    place = {r.id: i for i, r in enumerate(rows)}
    assert all([place[r.id] for r in g] == sorted(place[r.id] for r in g) for g in groups)
    assert len(split_rows(rows[:1], 4, lambda r: 1)) == 1


def test_shards_reports_merge_in_the_table_order_and_a_row_twice_is_refused(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from harness.merge import merge_reports, read_report, table_order
    from harness.report import write_report
    from tests.unit.test_report import make_report, make_row

    late = replace(make_report(tmp_path, make_row("b", "FAIL")), duration_s=90.0)
    early = make_report(tmp_path, make_row("c", "PASS", budget_s=30.0), make_row("a", "PASS"))
    write_report(late, tmp_path / "shard-1")
    merged = merge_reports([read_report(tmp_path / "shard-1"), early], ["a", "b", "c"])
    assert [r.row_id for r in merged.rows] == ["a", "b", "c"]
    assert (merged.status, merged.duration_s, merged.rows[2].budget_s) == ("FAIL", 90.0, 30.0)
    with pytest.raises(ValueError, match="row 'c' is in more than one report"):
        merge_reports([early, early])
    other = replace(early, variant="correct")
    with pytest.raises(ValueError, match="merge one design, variant and strategy at a time"):
        merge_reports([late, other])
    with pytest.raises(ValueError, match=r"\(no_idempotency, random\)"):
        merge_reports([late, replace(late, strategy="random")])
    assert merge_reports([replace(early, strategy="swarm")]).strategy == "swarm"
    assert table_order(replace(early, design_path=KV))[:2] == ["stale-read", "cas-race"]


def test_a_search_stops_at_the_examples_its_row_asks_for_unless_it_found_a_failure() -> None:
    """The harness holds the count itself: Hypothesis alone can run on (its
    target phase once did).
    A row's count is a floor: a profile that asks for more gives it those."""
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Any

    from harness.verify import PROFILES, _Search

    small = replace(PROFILES["dev"], examples=2)
    row = replace(load_design(KV).rows[0], examples=3)
    search = _Search(row=row, profile=small)
    passed: Any = SimpleNamespace(failed=False)
    for _ in range(2):
        search.add(passed)
    assert not search.time_up()
    search.add(passed)
    assert search.time_up()
    failing = _Search(row=row, profile=small)
    for outcome in (passed, SimpleNamespace(failed=True), passed, passed):
        failing.add(outcome)
    assert not failing.time_up()  # shrinking goes on, within its own time
    for asks in (None, 3):  # the profile's count: the row names none, or fewer
        unset = _Search(row=replace(row, examples=asks), profile=PROFILES["dev"])
        for _ in range(PROFILES["dev"].examples):
            assert not unset.time_up()
            unset.add(passed)
        assert unset.time_up()


def test_a_budgeted_search_starts_no_example_its_share_cannot_hold() -> None:
    """A share ends on time on average: the next example is expected to take the
    mean of those before it, and is started only when the row ends nearer the
    share's end (less the late-effects watch) with it than without it: more
    than half of it fits. The first example of a turn always runs."""
    import time
    from dataclasses import replace
    from types import SimpleNamespace
    from typing import Any

    from harness.verify import PROFILES, _Search

    row = replace(load_design(KV).rows[0], examples=None)
    search = _Search(row=row, profile=replace(PROFILES["dev"], examples=1000), tail_s=1.0)
    passed: Any = SimpleNamespace(failed=False)
    search.new_round(time.monotonic() - 1.0)
    assert not search.time_up()  # no example in this turn yet: one always runs
    search.add(passed)
    assert search.time_up()
    search.examples_s, search.timed = 10.0, 2  # examples of 5 s on average
    search.round_from = 0  # (as if the example above were the turn's)
    search.until = time.monotonic() + 4.0  # 3 s before the watch: ends 2 s over, not 3 s short
    assert not search.time_up()
    search.until = time.monotonic() + 3.0  # 2 s: it would end 3 s over, not 2 s short
    assert search.time_up()
    search.until = None  # a count, not a budget: the mean does not matter
    assert not search.time_up()


def test_an_example_is_timed_from_its_rounds_start_not_the_last_round() -> None:
    """Between two rounds of a budgeted run the other rows ran: that time is not
    the row's next example's (it would inflate the longest example, which the
    replays' reserve and another round's cut are made of)."""
    import time
    from types import SimpleNamespace
    from typing import Any

    from harness.verify import PROFILES, _Search

    search = _Search(row=load_design(KV).rows[0], profile=PROFILES["dev"])
    passed: Any = SimpleNamespace(failed=False)
    search.add(passed)
    search.mark -= 120.0  # the example ended two minutes ago; other rows ran since
    search.new_round(time.monotonic() + 60.0)
    search.add(passed)
    assert search.longest_s < 60.0
    assert search.timed == 2 and search.mean_s() < 30.0
    assert search.round_from == 1


def test_the_readme_gives_each_profile_its_real_budget() -> None:
    """The README's profile table is what the profiles are, row for row."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for profile in PROFILES.values():
        row = (
            f"| `{profile.name}` | {profile.examples} | {profile.shrink_s:.0f} s | "
            f"{profile.replays} |"
        )
        assert row in readme, row
