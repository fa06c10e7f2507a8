"""Targets started per the contract, against a real Stack (a real Toxiproxy) and
the real toy target as the replica command."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.provision.ports import free_port
from harness.provision.stack import Stack
from harness.setup import Binaries
from harness.targetproc import TargetProcesses, TargetSpec, TargetStartError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "toy_inventory.py"
TOY_COMMAND = (sys.executable, str(TOY), "--bug", "none")
# An extra process that prints the environment it got, then idles.
EXTRA_COMMAND = (
    sys.executable,
    "-c",
    "import os, time; print('extra-env', os.environ['INSTANCE_ID'], "
    "os.environ['FAILMODEL_VARIANT'], 'DATABASE_URL' in os.environ, flush=True); "
    "time.sleep(120)",
)
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> tuple[int, Any]:
    with NO_PROXY.open(url, timeout=5) as response:
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def proxies_only(binaries: Binaries) -> Iterator[Stack]:
    """A stack of Toxiproxy alone: the toy target needs no store."""
    with Stack(services=(), binaries=binaries) as stack:
        yield stack


def test_two_replicas_get_the_contract_environment(
    proxies_only: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An undeclared dependency in the harness's own environment must not leak through.
    monkeypatch.setenv("DATABASE_URL", "postgresql://leak@127.0.0.1:1/leak")
    partner_port = free_port()
    spec = TargetSpec(
        name="toy",
        command=TOY_COMMAND,
        replicas=2,
        extra={"relay": EXTRA_COMMAND},
        dependencies=frozenset({"partner"}),
        variant="oversell-ish",
        start_timeout_s=20,
    )
    with TargetProcesses(spec, proxies_only, partner_port=partner_port) as target:
        proxies = proxies_only.toxiproxy.proxies()
        assert proxies["partner"].upstream == f"127.0.0.1:{partner_port}"
        assert set(target.processes()) == {"target-0", "target-1", "relay"}
        assert len(target.client_urls) == 2
        for i, url in enumerate(target.client_urls):
            assert url == f"http://127.0.0.1:{proxies[f'target-{i}'].listen_port}"
            assert _get(f"{url}/health")[0] == 200
            status, env = _get(f"{url}/_env")
            assert status == 200
            assert env["INSTANCE_ID"] == str(i)
            assert proxies[f"target-{i}"].upstream == f"127.0.0.1:{env['PORT']}"
            assert env["PARTNER_URL"] == f"http://127.0.0.1:{proxies['partner'].listen_port}"
            assert env["FAILMODEL_VARIANT"] == "oversell-ish"
            assert not {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"} & set(env)
        relay = target.process("relay")
        assert relay.alive
        assert "extra-env 0 oversell-ish False" in relay.log_tail(5)
        assert relay.log_path.is_relative_to(proxies_only.workdir)
        processes = list(target.processes().values())
    assert not any(p.alive for p in processes)
    assert not {"target-0", "target-1", "partner"} & set(proxies_only.toxiproxy.proxies())


def test_crashed_replica_restarts_healthy_while_the_other_keeps_serving(
    proxies_only: Stack,
) -> None:
    spec = TargetSpec(name="toy", command=TOY_COMMAND, replicas=2, start_timeout_s=20)
    with TargetProcesses(spec, proxies_only) as target:
        url0, url1 = target.client_urls
        put = urllib.request.Request(
            f"{url0}/inventory/kept", data=b'{"available": 7}', method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with NO_PROXY.open(put, timeout=5) as response:
            assert response.status == 200
        replica = target.process("target-1")
        old_pid = replica.pid
        replica.crash()
        assert not replica.alive
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _get(f"{url1}/health")
        target.restart("target-1")
        assert replica.alive and replica.pid != old_pid
        assert _get(f"{url1}/health")[0] == 200
        assert _get(f"{url0}/inventory/kept") == (200, {"sku": "kept", "available": 7})


def test_a_target_that_exits_at_once_fails_with_its_log_tail(proxies_only: Stack) -> None:
    script = "import sys; print('boom: no config', flush=True); sys.exit(3)"
    command = (sys.executable, "-c", script)
    spec = TargetSpec(name="dies", command=command, replicas=2, start_timeout_s=20)
    target = TargetProcesses(spec, proxies_only)
    with pytest.raises(TargetStartError) as caught:
        target.start()
    message = str(caught.value)
    assert "'target-0' exited with code 3" in message
    assert "boom: no config" in message
    assert "sys.exit(3)" in message  # the command is shown
    assert isinstance(caught.value, RuntimeError)
    assert target.processes() == {}
    assert not {"target-0", "target-1"} & set(proxies_only.toxiproxy.proxies())


def test_a_target_that_exits_without_a_word_says_so_and_how_to_run_it(
    proxies_only: Stack,
) -> None:
    """An empty log tail reads as output the harness lost: the error says the
    process wrote nothing, and gives the variables to run it by hand with."""
    command = (sys.executable, "-c", "import sys; sys.exit(4)")
    spec = TargetSpec(name="mute", command=command, start_timeout_s=20)
    with pytest.raises(TargetStartError) as caught:
        TargetProcesses(spec, proxies_only).start()
    message = str(caught.value)
    assert "'target-0' exited with code 4" in message
    assert "it wrote nothing to stdout or stderr" in message
    assert "INSTANCE_ID=0" in message and "PORT=" in message


def test_a_target_that_never_gets_healthy_times_out_and_is_stopped(proxies_only: Stack) -> None:
    script = "import time; print('warming up', flush=True); time.sleep(120)"
    command = (sys.executable, "-c", script)
    spec = TargetSpec(name="slow", command=command, start_timeout_s=1.0)
    target = TargetProcesses(spec, proxies_only)
    with pytest.raises(TargetStartError, match="did not answer GET /health") as caught:
        target.start()
    assert "warming up" in str(caught.value)
    assert target.processes() == {}


def test_prepare_runs_once_before_the_replicas_and_is_not_charged_to_their_start(
    proxies_only: Stack, tmp_path: Path
) -> None:
    # A 'build' slower than start_timeout_s that leaves the program the replicas run.
    built, runs = tmp_path / "built.py", tmp_path / "runs"
    script = (
        "import os, pathlib, shutil, sys, time; time.sleep(2.5); "
        f"open({str(runs)!r}, 'a').write(os.environ['FAILMODEL_VARIANT'] + '\\n'); "
        f"shutil.copy({str(TOY)!r}, {str(built)!r})"
    )
    spec = TargetSpec(
        name="built",
        command=(sys.executable, str(built), "--bug", "none"),
        prepare=(sys.executable, "-c", script),
        variant="v1",
        start_timeout_s=2.0,
    )
    for _ in range(2):  # a second start (the next row, a new stack) does not build again
        with TargetProcesses(spec, proxies_only) as target:
            assert _get(f"{target.client_urls[0]}/health")[0] == 200
    assert runs.read_text() == "v1\n"


def test_a_prepare_that_fails_shows_its_output_and_starts_nothing(proxies_only: Stack) -> None:
    script = "import sys; print('error[E0425]: cannot find value', flush=True); sys.exit(101)"
    spec = TargetSpec(
        name="unbuilt", command=TOY_COMMAND, prepare=(sys.executable, "-c", script)
    )
    target = TargetProcesses(spec, proxies_only)
    with pytest.raises(TargetStartError) as caught:
        target.start()
    message = str(caught.value)
    assert "its prepare command failed" in message
    assert "exit code 101" in message
    assert "error[E0425]" in message
    assert target.processes() == {}
    assert "target-0" not in proxies_only.toxiproxy.proxies()
    missing = TargetSpec(name="unbuilt", command=TOY_COMMAND, prepare=("./no-such-build",))
    with pytest.raises(TargetStartError, match=r"prepare command '\./no-such-build' was not found"):
        TargetProcesses(missing, proxies_only).start()


def test_a_second_target_on_one_stack_is_refused_clearly(proxies_only: Stack) -> None:
    spec = TargetSpec(name="toy", command=TOY_COMMAND, start_timeout_s=20)
    with TargetProcesses(spec, proxies_only) as first:
        with pytest.raises(RuntimeError, match="already has a link 'target-0'"):
            TargetProcesses(spec, proxies_only).start()
        assert _get(f"{first.client_urls[0]}/health")[0] == 200


def test_a_dependency_the_stack_does_not_run_is_named(proxies_only: Stack) -> None:
    spec = TargetSpec(name="toy", command=TOY_COMMAND, dependencies=frozenset({"redis"}))
    with pytest.raises(ValueError, match="depends on 'redis' but the stack does not run it"):
        TargetProcesses(spec, proxies_only).start()


def test_spec_rejects_bad_fields_by_name() -> None:
    with pytest.raises(ValueError, match="'replicas' must be an int >= 1"):
        TargetSpec(name="t", command=TOY_COMMAND, replicas=0)
    with pytest.raises(ValueError, match="argv, not a shell line"):
        TargetSpec(name="t", command="python app.py")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clashes with the replica names"):
        TargetSpec(name="t", command=TOY_COMMAND, extra={"target-3": TOY_COMMAND})
    with pytest.raises(ValueError, match="unknown \\['mysql'\\]"):
        TargetSpec(name="t", command=TOY_COMMAND, dependencies=frozenset({"mysql"}))
    with pytest.raises(ValueError, match="'partner_port'"):
        TargetProcesses(
            TargetSpec(name="t", command=TOY_COMMAND, dependencies=frozenset({"partner"})),
            Stack(services=()),
        )
