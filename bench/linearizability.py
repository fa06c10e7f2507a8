"""Linearizability checker: failmodel's against Porcupine, same histories, same run.

Checks every labelled history in tests/data/linearizability (50 etcd logs of
a cas register, 4 kv histories) with failmodel's checker and with Porcupine
(Go), and prints per-history times, the verdicts against the labels, the
ratio ours/Porcupine, the etcd total and the kv per-key figures. Each
history is checked ``--repeat`` times by each side and the fastest time is
kept; only the check is timed (reading the file is not), on one core for
ours, with Porcupine's own goroutine per key for it.

Porcupine runs in a small Go program of ours (bench/porcupine) that parses
the same files the same way (``:fail`` dropped, ``:info`` open-ended) and
checks them with Porcupine's register and kv models; it is built here with
``go build`` into the failmodel cache, the Go module proxy fetching the
pinned Porcupine. ``--stress N`` adds N generated register histories
(random concurrency, one corrupted read in half of them) where the search
itself, not Python's fixed costs, dominates.

    PYTHONPATH=. python bench/linearizability.py [--repeat 5] [--stress 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.setup.cache import cache_dir
from invariants.linearizability import (
    CAS_REGISTER,
    KV,
    LinearizabilityResult,
    Model,
    Op,
    check_operations,
    read_edn_kv,
    read_jepsen_log,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "linearizability"
DRIVER_SRC = ROOT / "bench" / "porcupine"
GO_FALLBACK = "/usr/local/go/bin"
VERDICTS = {"Ok": "linearizable", "Illegal": "not linearizable", "Unknown": "unknown"}


@dataclass
class Row:
    name: str
    group: str  # etcd | kv | stress
    path: Path
    label: str | None
    ops: int = 0
    ours: str = ""
    ours_s: float = 0.0
    porcupine: str = "-"
    porcupine_s: float | None = None
    keys: list[tuple[str, int, float, float | None]] = field(default_factory=list)


# -- Porcupine


def go_binary() -> str:
    found = shutil.which("go") or shutil.which("go", path=GO_FALLBACK)
    if found is None:
        raise SystemExit(
            "bench: 'go' is not on PATH (nor in /usr/local/go/bin); try --no-porcupine"
        )
    return found


def build_driver() -> Path:
    """``go build`` the driver once per source version, into the failmodel cache."""
    digest = hashlib.sha256()
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((DRIVER_SRC / name).read_bytes())
    out_dir = cache_dir() / "bench" / f"porcupine-{digest.hexdigest()[:12]}"
    binary = out_dir / "porcupine-bench"
    if binary.exists():
        return binary
    go_home = cache_dir() / "go"
    env = {
        **os.environ,
        "GOMODCACHE": str(go_home / "mod"),
        "GOCACHE": str(go_home / "build"),
        "GOPATH": str(go_home / "path"),
        "GOFLAGS": "-mod=readonly -buildvcs=false",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"building the Porcupine driver into {out_dir} ...", file=sys.stderr)
    staged = out_dir / "porcupine-bench.tmp"
    subprocess.run(
        [go_binary(), "build", "-o", str(staged), "."], cwd=DRIVER_SRC, env=env, check=True
    )
    staged.rename(binary)
    return binary


def run_porcupine(binary: Path, rows: list[Row], repeat: int, timeout_s: float) -> dict[str, Any]:
    argv = [str(binary), "-repeat", str(repeat), "-timeout", f"{timeout_s}s"]
    done = subprocess.run(
        [*argv, *(str(r.path) for r in rows)], check=True, capture_output=True, text=True
    )
    report: dict[str, Any] = json.loads(done.stdout)
    by_file = {h["file"]: h for h in report["histories"]}
    for row in rows:
        h = by_file[row.path.name]
        if h["ops"] != row.ops:
            raise SystemExit(f"bench: {row.name}: ours read {row.ops} ops, the driver {h['ops']}")
        row.porcupine, row.porcupine_s = VERDICTS[h["result"]], h["seconds"]
        if h.get("keys"):
            theirs = {k["key"]: k["seconds"] for k in h["keys"]}
            row.keys = [(key, n, ours, theirs.get(key)) for key, n, ours, _ in row.keys]
    return report


# -- ours


def run_ours(
    row: Row, model: Model[Any, Any, Any], ops: tuple[Op, ...], repeat: int, timeout_s: float
) -> None:
    """Check ``repeat`` times; keep the fastest whole check and each key's fastest."""
    fastest = float("inf")
    per_key: dict[Any, float] = {}
    result: LinearizabilityResult | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = check_operations(model, ops, timeout=timeout_s)
        fastest = min(fastest, time.perf_counter() - started)
        for part in result.partitions:
            per_key[part.key] = min(per_key.get(part.key, part.seconds), part.seconds)
    assert result is not None
    row.ops, row.ours, row.ours_s = len(ops), result.status, fastest
    if any(p.key is not None for p in result.partitions):
        row.keys = [(str(p.key), len(p.ops), per_key[p.key], None) for p in result.partitions]


# -- generated histories


def write_stress_log(path: Path, seed: int, n: int, processes: int, corrupt: bool) -> None:
    """A register history a real register produced (each op takes effect at one
    instant of its interval; 5% of the answers lost), as a Jepsen log."""
    rnd = random.Random(seed)
    free = [0.0] * processes
    planned = []
    for i in range(n):
        p = rnd.randrange(processes)
        call = free[p] + rnd.random()
        ret = call + rnd.random() * 3
        free[p] = ret
        planned.append((rnd.uniform(call, ret), i, call, ret, rnd.choice(["read", "write", "cas"])))
    planned.sort()
    value: int | None = None
    events: list[tuple[float, int, str]] = []
    reads: list[int] = []
    for _, i, call, ret, f in planned:
        a, b = rnd.randrange(5), rnd.randrange(5)
        arg = {"read": "nil", "write": str(a), "cas": f"[{a} {b}]"}[f]
        events.append((call, 0, f"{i}\t:invoke\t:{f}\t{arg}"))
        if f == "cas" and value != a:
            events.append((ret, 1, f"{i}\t:fail\t:{f}\t{arg}"))
            continue
        answer = "nil" if f == "read" and value is None else str(value) if f == "read" else arg
        value = a if f == "write" else b if f == "cas" else value
        if rnd.random() < 0.05:
            events.append((call + 0.001, 1, f"{i}\t:info\t:{f}\t:timed-out"))
        else:
            events.append((ret, 1, f"{i}\t:ok\t:{f}\t{answer}"))
            if f == "read":
                reads.append(len(events) - 1)
    if corrupt and reads:
        at = rnd.choice(reads[len(reads) // 2 :])
        when, kind, line = events[at]
        true = line.rsplit("\t", 1)[1]
        wrong = rnd.choice([v for v in ("nil", "0", "1", "2", "3", "4") if v != true])
        events[at] = (when, kind, line.rsplit("\t", 1)[0] + f"\t{wrong}")
    events.sort()
    path.write_text("".join(f"INFO  jepsen.util - {line}\n" for _, _, line in events))


# -- report


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.3f}"


def ratio(ours: float, theirs: float | None) -> str:
    return "-" if not theirs else f"{ours / theirs:.2f}"


def print_table(rows: list[Row]) -> None:
    print(
        f"{'history':<18} {'ops':>5}  {'label':<17} {'ours':<17} {'porcupine':<17}"
        f" {'ours ms':>10} {'porc ms':>10} {'ratio':>7}"
    )
    for r in rows:
        print(
            f"{r.name:<18} {r.ops:>5}  {r.label or '-':<17} {r.ours:<17} {r.porcupine:<17}"
            f" {ms(r.ours_s):>10} {ms(r.porcupine_s):>10} {ratio(r.ours_s, r.porcupine_s):>7}"
        )


def summarize(rows: list[Row], with_porcupine: bool) -> bool:
    agree = True
    for group in ("etcd", "kv", "stress"):
        members = [r for r in rows if r.group == group]
        if not members:
            continue
        ours = sum(r.ours_s for r in members)
        line = f"{group}: {len(members)} histories, ours {ms(ours)} ms"
        if with_porcupine:
            theirs = sum(r.porcupine_s or 0.0 for r in members)
            ratios = [r.ours_s / r.porcupine_s for r in members if r.porcupine_s]
            line += f", porcupine {ms(theirs)} ms, total ratio ours/porcupine {ratio(ours, theirs)}"
            if ratios:
                line += (
                    f" (per history: median {statistics.median(ratios):.2f}, max {max(ratios):.2f})"
                )
        print(line)
        labelled = [r for r in members if r.label is not None]
        if labelled:
            matched = sum(r.ours == r.label for r in labelled)
            print(f"  verdicts matching the labels: ours {matched}/{len(labelled)}", end="")
            agree &= matched == len(labelled)
            if with_porcupine:
                theirs_ok = sum(r.porcupine == r.label for r in labelled)
                print(f", porcupine {theirs_ok}/{len(labelled)}", end="")
            print()
        if with_porcupine:
            decided = [r for r in members if "unknown" not in (r.ours, r.porcupine)]
            same = sum(r.ours == r.porcupine for r in decided)
            print(f"  ours and porcupine agree on {same}/{len(decided)} decided by both", end="")
            undecided = [(r.name, r.ours, r.porcupine) for r in members if r not in decided]
            print(f"; undecided (ours, porcupine): {undecided}" if undecided else "")
            agree &= same == len(decided)
    for r in rows:
        if r.keys:
            worst = max(k[2] for k in r.keys)
            line = f"  {r.name}: {len(r.keys)} keys, ours per key max {ms(worst)} ms"
            if with_porcupine and all(k[3] is not None for k in r.keys):
                their_worst = max(k[3] or 0.0 for k in r.keys)
                line += f", porcupine per key max {ms(their_worst)} ms"
            print(line)
            for key, n, ours_k, theirs_k in r.keys:
                print(
                    f"    key {key!r:>5}: {n:>3} ops  ours {ms(ours_k):>8} ms"
                    f"  porcupine {ms(theirs_k):>8} ms"
                )
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="checks per history; the fastest counts"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per check")
    parser.add_argument("--stress", type=int, default=0, help="also N generated histories")
    parser.add_argument("--stress-ops", type=int, default=300, help="ops per generated history")
    parser.add_argument("--stress-processes", type=int, default=20, help="concurrent processes")
    parser.add_argument("--stress-timeout", type=float, default=10.0, help="seconds per check")
    parser.add_argument("--no-porcupine", action="store_true", help="only ours (no Go needed)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()

    labels = {
        row["file"]: row["verdict"].replace("_", " ")
        for row in csv.DictReader((DATA / "etcd" / "labels.csv").open(encoding="utf-8"))
    }
    rows = [Row(p.name, "etcd", p, labels[p.name]) for p in sorted((DATA / "etcd").glob("*.log"))]
    rows += [
        Row(p.name, "kv", p, "linearizable" if p.stem.endswith("-ok") else "not linearizable")
        for p in sorted((DATA / "kv").glob("*.txt"))
    ]
    with tempfile.TemporaryDirectory() as scratch:
        stress = []
        for seed in range(args.stress):
            path = Path(scratch) / f"gen-{seed:03d}.log"
            write_stress_log(
                path, seed, args.stress_ops, args.stress_processes, corrupt=seed % 2 == 1
            )
            stress.append(Row(path.name, "stress", path, None))

        for row in rows:
            if row.group == "etcd":
                run_ours(row, CAS_REGISTER, read_jepsen_log(row.path), args.repeat, args.timeout)
            else:
                run_ours(row, KV, read_edn_kv(row.path), args.repeat, args.timeout)
        for row in stress:
            run_ours(row, CAS_REGISTER, read_jepsen_log(row.path), 1, args.stress_timeout)

        report: dict[str, Any] = {}
        if not args.no_porcupine:
            binary = build_driver()
            report = run_porcupine(binary, rows, args.repeat, args.timeout)
            if stress:
                run_porcupine(binary, stress, 1, args.stress_timeout)
        rows += stress

    print(f"python {sys.version.split()[0]}", end="")
    if report:
        print(
            f"; porcupine {report['porcupine']}, {report['go']}, GOMAXPROCS={report['gomaxprocs']}",
            end="",
        )
    print(f"; best of {args.repeat} (generated: 1 run, {args.stress_timeout:g} s budget)\n")
    print_table(rows)
    print()
    agree = summarize(rows, not args.no_porcupine)
    if args.json is not None:
        args.json.write_text(
            json.dumps([{**r.__dict__, "path": str(r.path)} for r in rows], indent=1, default=str)
        )
    if not agree:
        raise SystemExit("bench: verdicts disagree (see above)")


if __name__ == "__main__":
    main()
