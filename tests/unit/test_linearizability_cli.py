"""``failmodel check-history FILE --model NAME [--timeout S]``: verdict, evidence, exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "linearizability"


def _log(*lines: str) -> str:
    return "".join(f"INFO  jepsen.util - {line}\n" for line in lines)


def test_check_history_exits_0_1_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["check-history", str(DATA / "etcd" / "etcd_002.log"), "--model", "cas-register"]) == 0
    )
    assert "linearizable (64 ops, model cas-register" in capsys.readouterr().out

    assert main(["check-history", str(DATA / "kv" / "c01-bad.txt"), "--model", "kv"]) == 1
    out = capsys.readouterr().out
    assert "not linearizable at 1 of 8 keys" in out
    assert "  - not linearizable at key '7': op 59 (process 0: get('7') -> 'x 0 0 y'" in out

    hard = _log(*(f"{i}\t:invoke\t:write\t{i}" for i in range(18)))
    hard += _log(*(f"{i}\t:ok\t:write\t{i}" for i in range(18)))
    hard += _log("99\t:invoke\t:read\tnil", "99\t:ok\t:read\t-1")
    path = tmp_path / "hard.log"
    path.write_text(hard)
    assert main(["check-history", str(path), "--model", "cas-register", "--timeout", "0.05"]) == 2
    assert "unknown: the time budget ran out" in capsys.readouterr().out


def test_check_history_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = str(DATA / "etcd" / "etcd_000.log")
    assert main(["check-history", log, "--model", "queue"]) == 2
    assert "--model must be one of cas-register, kv (got 'queue')" in capsys.readouterr().err
    assert main(["check-history", log, "--model", "cas-register", "--timeout", "0"]) == 2
    assert "--timeout must be > 0" in capsys.readouterr().err
    assert main(["check-history", str(tmp_path / "nope.log"), "--model", "kv"]) == 2
    assert "nope.log: cannot read" in capsys.readouterr().err
    assert main(["check-history", log, "--model", "kv"]) == 2
    assert "check it with the cas-register model" in capsys.readouterr().err
