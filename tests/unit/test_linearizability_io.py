"""Reading histories: Jepsen logs, EDN maps, failmodel JSONL; errors name file and line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from harness.history import Recorder
from invariants.linearizability import (
    CAS_REGISTER,
    KV,
    UNKNOWN,
    HistoryFormatError,
    KvOp,
    Op,
    RegisterOp,
    check_operations,
    detect_format,
    read_edn_kv,
    read_failmodel_history,
    read_jepsen_log,
    read_operations,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "linearizability"


def _log(*lines: str) -> str:
    return "".join(f"INFO  jepsen.util - {line}\n" for line in lines)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- Jepsen logs


def test_a_jepsen_log_pairs_invokes_and_completions_per_process(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "h.log",
        _log(
            "0\t:invoke\t:write\t3",
            "1\t:invoke\t:cas\t[3 4]",
            "0\t:ok\t:write\t3",
            "1\t:info\t:cas\t:timed-out",
            "2\t:invoke\t:cas\t[0 1]",
            "2\t:fail\t:cas\t[0 1]",
            "3\t:invoke\t:read\tnil",
            "3\t:ok\t:read\t3",
            "4\t:invoke\t:write\t5",
        ),
    )
    assert read_jepsen_log(path) == (
        Op(id=1, input=RegisterOp("write", value=3), output=None, call=1, ret=3, process=0),
        Op(id=2, input=RegisterOp("cas", expected=3, new=4), output=UNKNOWN, call=2, process=1),
        Op(id=7, input=RegisterOp("read"), output=3, call=7, ret=8, process=3),
        Op(id=9, input=RegisterOp("write", value=5), output=UNKNOWN, call=9, process=4),
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["0\t:invoke\t:write\t3", "garbage"], r"h\.log:2: not a Jepsen log line"),
        (["0\t:ok\t:write\t3"], r"h\.log:1: process 0 completes write with no invoke open"),
        (["0\t:invoke\t:cas\t[3]"], r"h\.log:1: cas: expected \[expected new\]"),
        (["0\t:invoke\t:write\tx"], r"h\.log:1: write: expected nil or an integer"),
        (["0\t:invoke\t:incr\t1"], r"h\.log:1: incr: f must be read, write or cas"),
        (["0\t:invoke\t:read\tnil", "0\t:invoke\t:read\tnil"], r"h\.log:2: process 0 invokes"),
        (["0\t:invoke\t:read\tnil", "0\t:ok\t:write\t1"], r"h\.log:2: process 0 invoked read"),
        (["0\t:invoke\t:read\tnil", "0\t:done\t:read\t1"], r"h\.log:2: .*type must be"),
    ],
)
def test_a_malformed_jepsen_log_names_file_and_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "h.log"
    path.write_text("\n".join(f"INFO  jepsen.util - {x}" if x != "garbage" else x for x in lines))
    with pytest.raises(HistoryFormatError, match=message):
        read_jepsen_log(path)


# -- EDN maps


def test_edn_maps_read_as_kv_operations(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "h.txt",
        '{:process 0, :type :invoke, :f :append, :key "k", :value "a \\"b\\""}\n'
        '{:process 1, :type :invoke, :f :get, :key "k", :value nil}\n'
        '{:process 0, :type :ok, :f :append, :key "k", :value "a \\"b\\""}\n'
        '{:process 1, :type :ok, :f :get, :key "k", :value nil}\n'
        "{:process :nemesis, :type :info, :f :start, :value nil}\n"
        '{:process 2, :type :invoke, :f :put, :key "j", :value "v"}\n'
        '{:process 2, :type :info, :f :put, :key "j", :value "v"}\n',
    )
    assert read_edn_kv(path) == (
        Op(id=1, input=KvOp("append", "k", 'a "b"'), output=None, call=1, ret=3, process=0),
        Op(id=2, input=KvOp("get", "k"), output="", call=2, ret=4, process=1),
        Op(id=6, input=KvOp("put", "j", "v"), output=UNKNOWN, call=6, process=2),
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{:process 0, :type :invoke, :f :get, :key "k"', r"h\.txt:1: not a map"),
        ("{:process 0, :type :invoke, :f :get, :key [1 2]}", r"h\.txt:1: cannot read the map"),
        ('{:type :invoke, :f :get, :key "k"}', r"h\.txt:1: no :process"),
        ('{:process 0, :type :invoke, :f :cas, :key "k"}', r"h\.txt:1: :f must be :get"),
        ("{:process 0, :type :invoke, :f :get, :value nil}", r"h\.txt:1: no :key"),
        ('{:process 0, :type :invoke, :f :put, :key "k", :value 3}', r"h\.txt:1: :value of put"),
    ],
)
def test_a_malformed_edn_history_names_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(HistoryFormatError, match=message):
        read_edn_kv(_write(tmp_path, "h.txt", line + "\n"))


# -- failmodel JSONL


def _history_file(tmp_path: Path, ops: list[tuple[str, dict[str, Any], str, Any]]) -> Path:
    """One op after the other: (f, request body, outcome, response body)."""
    ticks = itertools.count()
    path = tmp_path / "history.jsonl"
    with Recorder(path, clock=lambda: float(next(ticks))) as rec:
        rec.nemesis("start", {"fault": {"kind": "partition"}, "id": 1})
        for f, body, outcome, answer in ops:
            invoke = rec.invoke(0, f, {"node": 0, "attempt": 1, "body": body})
            if outcome == "open":
                continue
            status = 404 if answer is None and outcome == "ok" else 200
            rec.complete(invoke, outcome, {"status": status, "body": answer})  # type: ignore[arg-type]
    return path


def test_a_failmodel_kv_workload_reads_as_keyed_cas_registers(tmp_path: Path) -> None:
    path = _history_file(
        tmp_path,
        [
            ("get", {"key": "a"}, "ok", None),  # 404: nil
            ("put", {"key": "a", "value": 1}, "ok", {"key": "a"}),
            ("cas", {"key": "a", "expected": 1, "new": 2}, "ok", {"key": "a"}),
            ("cas", {"key": "a", "expected": 7, "new": 8}, "fail", {"error": "precondition"}),
            ("cas", {"key": "b", "expected": 7, "new": 8}, "ok", {"swapped": False}),
            ("put", {"key": "b", "value": 5}, "info", None),
            ("get", {"key": "a"}, "open", None),
        ],
    )
    assert detect_format(path) == "failmodel"
    ops = read_operations(path, CAS_REGISTER)
    assert [(op.id, op.input, op.output, op.call, op.ret) for op in ops] == [
        (1, RegisterOp("read", key="a"), None, 1, 2),
        (2, RegisterOp("write", value=1, key="a"), None, 3, 4),
        (3, RegisterOp("cas", expected=1, new=2, key="a"), True, 5, 6),
        (5, RegisterOp("cas", expected=7, new=8, key="b"), False, 9, 10),
        (6, RegisterOp("write", value=5, key="b"), UNKNOWN, 11, float("inf")),
        (7, RegisterOp("read", key="a"), UNKNOWN, 13, float("inf")),
    ]
    assert check_operations(CAS_REGISTER, ops).status == "linearizable"


def test_a_failmodel_history_reads_for_the_kv_model(tmp_path: Path) -> None:
    path = _history_file(
        tmp_path,
        [
            ("append", {"key": "a", "value": "x"}, "ok", {}),
            ("get", {"key": "a"}, "ok", {"value": "x"}),
            ("get", {"key": "b"}, "ok", None),
        ],
    )
    assert [(op.input, op.output) for op in read_failmodel_history(path, KV)] == [
        (KvOp("append", "a", "x"), None),
        (KvOp("get", "a"), "x"),
        (KvOp("get", "b"), ""),
    ]


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (("incr", {"key": "a"}, "ok", {}), r"history\.jsonl:2: op 1: the kv model has no 'incr'"),
        (("put", {"key": "a"}, "ok", {}), r"history\.jsonl:2: .*the request body has no 'value'"),
        (
            ("get", {"key": "a"}, "ok", {"v": 1}),
            r"history\.jsonl:2: .*response body has no 'value'",
        ),
        (("put", {"key": "a", "value": 3}, "ok", {}), r"history\.jsonl:2: .*must be a string"),
    ],
)
def test_an_unreadable_failmodel_operation_names_file_and_line(
    tmp_path: Path, op: tuple[str, dict[str, Any], str, Any], message: str
) -> None:
    path = _history_file(tmp_path, [op])
    with pytest.raises(HistoryFormatError, match=message):
        read_failmodel_history(path, KV)


def test_a_broken_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "h.jsonl", '{"index": 0}\n{"index": 1, "op_id": 1}\n')
    with pytest.raises(HistoryFormatError, match=r"h\.jsonl:1: not a history event"):
        read_operations(path, KV)


def test_a_file_in_another_models_format_says_which_model_fits(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError, match="check it with the kv model"):
        read_operations(DATA / "kv" / "c01-ok.txt", CAS_REGISTER)
    with pytest.raises(HistoryFormatError, match=r"x\.txt:2: not a history"):
        read_operations(_write(tmp_path, "x.txt", "\nhello\n"), KV)
    with pytest.raises(HistoryFormatError, match="empty"):
        read_operations(_write(tmp_path, "y.txt", "\n"), KV)


def test_the_format_is_told_by_the_first_line(tmp_path: Path) -> None:
    assert detect_format(DATA / "etcd" / "etcd_000.log") == "jepsen-log"
    assert detect_format(DATA / "kv" / "c10-ok.txt") == "edn"
    line = json.dumps({"index": 0, "op_id": 0, "type": "invoke", "process": 0, "f": "get"})
    assert detect_format(_write(tmp_path, "h.jsonl", line + "\n")) == "failmodel"
