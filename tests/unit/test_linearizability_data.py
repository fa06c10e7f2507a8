"""Every labelled public history gets its known verdict (etcd: labels.csv; kv: -ok/-bad).

The histories (Porcupine's test data, MIT; see tests/data/linearizability/README.md)
are golden inputs: a checker that disagrees with one is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from invariants.linearizability import (
    CAS_REGISTER,
    KV,
    check_linearization,
    check_operations,
    read_edn_kv,
    read_jepsen_log,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "linearizability"
ETCD_LABELS = {
    row["file"]: row["verdict"].replace("_", " ")
    for row in csv.DictReader((DATA / "etcd" / "labels.csv").open(encoding="utf-8"))
}
KV_FILES = sorted(p.name for p in (DATA / "kv").glob("*.txt"))


def test_the_labelled_data_is_all_there() -> None:
    assert len(ETCD_LABELS) == 50
    assert sorted(p.name for p in (DATA / "etcd").glob("*.log")) == sorted(ETCD_LABELS)
    assert KV_FILES == ["c01-bad.txt", "c01-ok.txt", "c10-bad.txt", "c10-ok.txt"]


@pytest.mark.parametrize("name", sorted(ETCD_LABELS))
def test_etcd_history_gets_its_label(name: str) -> None:
    ops = read_jepsen_log(DATA / "etcd" / name)
    result = check_operations(CAS_REGISTER, ops, timeout=60)
    assert result.status == ETCD_LABELS[name]
    (part,) = result.partitions
    if result.status == "linearizable":
        assert check_linearization(CAS_REGISTER, ops, part.order) is None
    else:
        assert part.blocked is not None
        assert result.to_verdict().evidence[0].op_ids[0] == part.blocked


@pytest.mark.parametrize("name", KV_FILES)
def test_kv_history_gets_its_label(name: str) -> None:
    ops = read_edn_kv(DATA / "kv" / name)
    result = check_operations(KV, ops, timeout=60)
    assert result.status == ("linearizable" if name.endswith("-ok.txt") else "not linearizable")
    for part in result.partitions:
        if part.status == "linearizable":
            assert check_linearization(KV, part.ops, part.order) is None
