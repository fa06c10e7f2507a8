"""Design files that once crashed, hung or were silently accepted: each is now
one ``InvalidDesign`` line naming the file, the row and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_design import DESIGNS, MINI, error_of, write

from harness.design import InvalidDesign, load_design
from harness.limits import MAX_ARG_CHARS, MAX_EXAMPLES, MAX_REPLICAS, MAX_SECONDS
from harness.schedule.strategies import SHAPE_LIMITS

CRASH_ROW = "rows[1] (id 'crash'): "


def refused(tmp_path: Path, old: str, new: str) -> str:
    """The one-line error for MINI with ``old`` replaced by ``new``, without the file path."""
    assert old in MINI
    message, path = error_of(tmp_path, MINI.replace(old, new, 1))
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message.removeprefix(f"{path}: ")


# --- tracebacks and raw errors ---------------------------------------------------------


def test_an_invariant_that_is_a_list(tmp_path: Path) -> None:
    message = refused(
        tmp_path, '["acknowledged_writes_survive"]', '[["acknowledged_writes_survive"]]'
    )
    assert message.startswith(
        CRASH_ROW + "'invariants' must be a non-empty list of invariant names "
        "(got [['acknowledged_writes_survive']])"
    )


def test_deeply_nested_tables_are_shown_shortly(tmp_path: Path) -> None:
    # Dotted keys nest without recursion in tomllib, so only the error could overflow.
    deep = "relay." + ".".join(["a"] * 5000) + " = 1\n"
    message = refused(tmp_path, "[[rows]]", deep + "[[rows]]")
    assert message == (
        "target: 'extra.relay' must be a list of 1..256 non-empty strings (an argv, not a "
        "shell line) (got {'a': {'a': {'a': {...}}}})"
    )


def test_deeply_nested_arrays(tmp_path: Path) -> None:
    message = refused(tmp_path, 'cwd = "src"', "cwd = " + "[" * 600 + "]" * 600)
    assert message == "invalid TOML: arrays or inline tables nested too deeply"


def test_an_integer_of_thousands_of_digits(tmp_path: Path) -> None:
    message = refused(tmp_path, "replicas = 2", "replicas = " + "9" * 5000)
    assert message.startswith("invalid TOML: Exceeds the limit (4300 digits)")


def test_a_nul_byte_in_cwd(tmp_path: Path) -> None:
    message = refused(tmp_path, 'cwd = "src"', 'cwd = "src\\u0000x"')
    assert message == "target: 'cwd' must be a string without NUL bytes (got 'src\\x00x')"


def test_a_cwd_in_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    message = refused(tmp_path, 'cwd = "src"', 'cwd = "loop/src"')
    assert message.startswith("target: 'cwd' must be a path that resolves (got 'loop/src'); ")


def test_a_directory_as_the_design_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDesign) as info:
        load_design(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read the design file: Is a directory"


def test_a_missing_design_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDesign) as info:
        load_design(tmp_path / "nope.toml")
    assert str(info.value) == (
        f"{tmp_path / 'nope.toml'}: cannot read the design file: No such file or directory"
    )


def test_a_nul_byte_in_the_design_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidDesign, match="the path contains a NUL byte"):
        load_design(f"{tmp_path}/x\0.toml")


# --- hangs: every number is bounded ----------------------------------------------------


def test_replicas_is_bounded(tmp_path: Path) -> None:
    assert refused(tmp_path, "replicas = 2", f"replicas = {10**30}") == (
        f"target: 'replicas' must be an integer in 1..{MAX_REPLICAS} "
        "(got 1000000000000000000000000000000)"
    )


def test_examples_is_bounded(tmp_path: Path) -> None:
    assert refused(tmp_path, "examples = 12", "examples = 100001") == (
        CRASH_ROW + f"'examples' must be an integer in 1..{MAX_EXAMPLES} (got 100001)"
    )


@pytest.mark.parametrize("key", sorted(SHAPE_LIMITS))
def test_every_shape_size_is_bounded(tmp_path: Path, key: str) -> None:
    low, high = SHAPE_LIMITS[key]
    message, _ = error_of(tmp_path, MINI + f"\n[rows.shape]\n{key} = {high + 1}\n")
    assert message.endswith(
        CRASH_ROW + f"shape: {key!r} must be an integer in {low}..{high} (got {high + 1})"
    )
    # The least latency may be as high as the most, which must then be raised too.
    most = f"max_latency_ms = {high}\n" if key == "min_latency_ms" else ""
    assert load_design(write(tmp_path, MINI + f"\n[rows.shape]\n{key} = {high}\n{most}"))


@pytest.mark.parametrize("key", ["start_timeout_s", "settle_timeout_s", "late_effects_s"])
def test_every_timeout_is_bounded(tmp_path: Path, key: str) -> None:
    message = refused(tmp_path, "replicas = 2", f"replicas = 2\n{key} = 1e9")
    assert f"target: {key!r} must be a number of seconds " in message
    assert f"<= {MAX_SECONDS} (got 1000000000.0)" in message
    # An integer too large for a float (TOML allows 4300 digits) is as refused.
    huge = "1" + "0" * 400
    message = refused(tmp_path, "replicas = 2", f"replicas = 2\n{key} = {huge}")
    assert f"target: {key!r} must be a number of seconds " in message
    assert "(got 1000" in message


# --- accepted, now refused -------------------------------------------------------------


def test_redelivery_needs_the_kafka_dependency(tmp_path: Path) -> None:
    message = refused(tmp_path, '"crash:target-*"', '"redelivery:consumer"')
    assert message == (
        CRASH_ROW + "'faults': fault 'redelivery:consumer': redelivery needs a "
        "[target.extra] process of a design with the kafka dependency"
    )


def test_redelivery_only_to_an_extra_process(tmp_path: Path) -> None:
    text = MINI.replace('["postgres", "partner"]', '["postgres", "kafka", "partner"]')
    text = text.replace('"crash:target-*"', '"redelivery:target-0"')
    message = error_of(tmp_path, text)[0]
    assert message.endswith(
        CRASH_ROW + "'faults': fault 'redelivery:target-0': no Kafka consumer matches "
        "'target-0'; Kafka consumers: consumer"
    )
    ok = load_design(write(tmp_path, text.replace("redelivery:target-0", "redelivery:*")))
    assert ok.rows[1].families[0].names == ("consumer",)


def test_cache_loss_needs_redis_even_with_an_extra_named_redis(tmp_path: Path) -> None:
    message = refused(tmp_path, "consumer = [", "redis = [")
    assert message.startswith(
        "target: 'extra' must be a table of process names (1..64 characters "
        "[A-Za-z0-9_.-], not . or ..; not target-N and not postgres, redis, kafka, partner)"
    )
    message = refused(tmp_path, '"crash:target-*"', '"cache_loss"')
    assert message == CRASH_ROW + "'faults': fault 'cache_loss': the design has no redis dependency"


@pytest.mark.parametrize("arg", ["{foo1}", "{}", "{x-y}", "{{python}}", "--at={ROOT}"])
def test_unknown_placeholders(tmp_path: Path, arg: str) -> None:
    message = refused(tmp_path, '"--root={root}"', f'"{arg}"')
    assert "target: 'command' must be an argv whose only placeholders are {python} and {root}" \
        in message
    unknown = re.findall(r"\{[^{}]*\}", arg.replace("{python}", ""))[0]
    assert message.endswith(f"; unknown placeholder {unknown}")


def test_a_lone_brace_is_not_a_placeholder(tmp_path: Path) -> None:
    design = load_design(write(tmp_path, MINI.replace('"--root={root}"', '"{", "}x"')))
    assert design.target.command[-2:] == ("{", "}x")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"serve"', '"se\\u0000rve"', "target: 'command' must be an argv without NUL bytes"),
        ('"consumer"]', '"con\\u0000sumer"]', "target: 'extra.consumer' must be an argv without"),
        (
            'failure_mode = "A replica crashes"',
            'failure_mode = "A\\u0000"',
            CRASH_ROW + "'failure_mode' must be a string without NUL bytes",
        ),
        ('name = "mini"', 'name = "mi\\u0000ni"', "'name' must be a string without NUL bytes"),
    ],
)
def test_nul_bytes_anywhere(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert refused(tmp_path, old, new).startswith(expected)


def test_a_too_long_argv_string(tmp_path: Path) -> None:
    message = refused(tmp_path, '"serve"', f'"{"x" * (MAX_ARG_CHARS + 1)}"')
    assert message.startswith(
        f"target: 'command' must be an argv of strings of at most {MAX_ARG_CHARS} characters"
    )


@pytest.mark.parametrize("variant", ["a/b", "..", ".", "x" * 65, "bad variant", "é"])
def test_variant_names_that_would_become_odd_paths(tmp_path: Path, variant: str) -> None:
    message = refused(tmp_path, '"buggy"]', f'"{variant}"]')
    assert message.startswith(
        "target: 'variants' must be a list of variant names (1..64 characters "
        "[A-Za-z0-9_.-], not . or ..)"
    )
    assert message.endswith(f"; bad: [{variant!r}]")


@pytest.mark.parametrize("name", ["..", "."])
def test_design_names_dot_and_dot_dot(tmp_path: Path, name: str) -> None:
    assert refused(tmp_path, 'name = "mini"', f'name = "{name}"').startswith(
        "'name' must be 1..64 characters [A-Za-z0-9_.-], not . or .."
    )


def test_a_row_id_over_64_characters(tmp_path: Path) -> None:
    long_id = "-".join(["crash"] * 11)  # 65 characters
    message = refused(tmp_path, 'id = "crash"', f'id = "{long_id}"')
    assert message.endswith(
        "'id' must be lowercase words of [a-z0-9] joined by '-', at most 64 characters "
        f"(got {long_id!r})"
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("retry:", "fault 'retry:': empty argument after ':'"),
        ("retry:x", "fault 'retry:x': 'retry' takes no argument"),
        ("reorder:now", "fault 'reorder:now': 'reorder' takes no argument"),
        ("crash:", "fault 'crash:': empty argument after ':'"),
        ("crash:target-0:x", "fault 'crash:target-0:x': 'crash' takes exactly one name"),
        ("partner:", "fault 'partner:': empty argument after ':'"),
        ("partner:slow:", "fault 'partner:slow:': empty argument after ':'"),
        ("partner::psp", "fault 'partner::psp': empty argument after ':'"),
        ("partner:slow:psp:x", "fault 'partner:slow:psp:x': 'partner' takes at most a mode"),
    ],
)
def test_family_arguments(tmp_path: Path, token: str, expected: str) -> None:
    message = refused(tmp_path, '"crash:target-*"', f'"{token}"')
    assert message.startswith(CRASH_ROW + "'faults': " + expected)


@pytest.mark.parametrize(
    ("faults", "counter", "needs"),
    [
        ('["crash:target-*"]', "replays", "replays needs the partner dependency"),
        ('["crash:target-*"]', "partner_failures", "partner_failures needs 'partner'"),
        (
            '["crash:target-*"]',
            "faults_during_effects",
            "faults_during_effects needs a server-side fault and the partner dependency",
        ),
        (
            '["latency:target-*"]',
            "crashes_during_request",
            "crashes_during_request needs 'crash', 'crash_in_call', 'pause', 'redelivery' "
            "or 'cache_loss'",
        ),
        (
            '["retry"]',
            "indeterminate",
            "indeterminate needs 'client_timeout' or a server-side fault",
        ),
        ('["retry"]', "faults_during_ops", "faults_during_ops needs a server-side fault"),
        ('["client_timeout"]', "retries", "retries needs 'retry'"),
        (
            '["crash:target-*"]',
            "kills_during_lag",
            "kills_during_lag needs 'crash', 'crash_in_call' or 'redelivery' of a target "
            "process, and the kafka dependency",
        ),
    ],
)
def test_counters_that_can_never_rise(
    tmp_path: Path, faults: str, counter: str, needs: str
) -> None:
    # Without the partner dependency, so partner-side counters cannot rise either.
    text = MINI.replace('["postgres", "partner"]', '["postgres"]')
    text = text.replace('faults = ["crash:target-*"]', f"faults = {faults}")
    text = text.replace("examples = 12", f'exercised_by = ["{counter}"]')
    message = error_of(tmp_path, text)[0]
    assert message.endswith(
        CRASH_ROW + "'exercised_by' must be coverage counters the row's faults can make > 0 "
        f"(got [{counter!r}]); {needs}"
    )


def test_every_listed_counter_must_be_able_to_rise(tmp_path: Path) -> None:
    message = refused(
        tmp_path, "examples = 12", 'exercised_by = ["faults_during_ops", "retries"]'
    )
    assert message.endswith("; retries needs 'retry'")


def test_default_counters_follow_the_faults_and_the_design(tmp_path: Path) -> None:
    text = MINI.replace('["postgres", "partner"]', '["postgres"]')
    text = text.replace('faults = ["retry", "latency:target-*"]', 'faults = ["client_timeout"]')
    design = load_design(write(tmp_path, text))
    assert design.rows[0].exercised_by == ("indeterminate",)
    assert design.rows[1].exercised_by == ("faults_during_ops",)  # no partner: no effects


def test_a_row_no_counter_can_see(tmp_path: Path) -> None:
    message = refused(tmp_path, 'faults = ["crash:target-*"]', 'faults = ["reorder"]')
    assert message == (
        CRASH_ROW + "'faults' must be fault families a coverage counter can see (a server-side "
        "fault, 'retry' or 'client_timeout') (got ['reorder']); or set 'exercised_by'"
    )


def test_the_reference_designs_stay_inside_the_limits() -> None:
    for path in sorted(DESIGNS.glob("*.toml")):
        assert load_design(path).rows


def test_the_documented_limits_are_the_code_s() -> None:
    doc = (DESIGNS.parent / "docs" / "design-files.md").read_text(encoding="utf-8")
    assert f"| `target.replicas` | 1..{MAX_REPLICAS} |" in doc
    assert f"| `rows.examples` | 1..{MAX_EXAMPLES} |" in doc
    assert f"<= {MAX_SECONDS} seconds" in doc
    for key, (low, high) in SHAPE_LIMITS.items():
        assert f"| `{key}` | {low}..{high} |" in doc
