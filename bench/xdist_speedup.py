"""Rows of a design over pytest-xdist workers: wall time of ``-n 0`` against ``-n N``.

``python bench/xdist_speedup.py [DESIGN] [--workers 2] [--profile dev] [--seed 7]``

Runs ``pytest DESIGN`` (one item per row) once in one process and once over
N workers, each worker provisioning its own system, with the same seed, and
prints the wall times, the speed-up and the row verdicts of both runs. Each
pytest run is its own process group, killed with it on an interrupt.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = r"^=*\s*(\d+ (?:passed|failed|errors?|skipped)[^\n]*?) in [\d.]+s"


def run(design: Path, workers: int, profile: str, seed: int, out: Path) -> tuple[float, str]:
    argv = [
        sys.executable, "-m", "pytest", str(design), "-q", "-p", "no:cacheprovider",
        "--failmodel-profile", profile, "--failmodel-seed", str(seed),
        "--failmodel-report", str(out), "-n", str(workers),
    ]
    begin = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate()
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    elapsed = time.monotonic() - begin
    text = output.decode(errors="replace")
    summary = re.findall(SUMMARY, text, re.MULTILINE)
    return elapsed, summary[-1] if summary else text[-2000:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("design", nargs="?", type=Path, default=ROOT / "designs" / "payments.toml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"design {args.design}, profile {args.profile}, seed {args.seed}, {os.cpu_count()} cores")
    times = {}
    with tempfile.TemporaryDirectory(prefix="failmodel-xdist-") as tmp:
        for workers in (0, args.workers):
            elapsed, summary = run(
                args.design, workers, args.profile, args.seed, Path(tmp) / f"n{workers}"
            )
            times[workers] = elapsed
            print(f"-n {workers}: {elapsed:7.1f} s  ({summary})", flush=True)
    print(f"speed-up of -n {args.workers} over -n 0: {times[0] / times[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
