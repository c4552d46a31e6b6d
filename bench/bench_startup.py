"""Command-line start-up benchmark: wall time of whole ``tenantflow`` processes, median and p90 of runs.

Each command starts a new process, which is what a user or a script pays for: interpreter start-up,
imports, the command itself. Runs happen in a temporary directory (no ``.env``, no ``data/``); one
unmeasured run per command first compiles the bytecode, so the figures are the steady state of a fresh
process, not of a fresh checkout. Targets (one-node workflow): ``validate`` ≤ 0.4 s, ``run`` ≤ 0.6 s.
It prints figures; it does not pass or fail. Run: ``python bench/bench_startup.py [--runs 15]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = dict(id="start", name="Start", type="n8n-nodes-base.manualTrigger", typeVersion=1, position=[0, 0])
# (label, arguments after `tenantflow`, target in seconds or None)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("tenantflow --help", ["--help"], None),
    ("tenantflow validate (one node)", ["validate", "one.json"], 0.4),
    ("tenantflow run (one node)", ["run", "one.json"], 0.6),
]


def executable() -> str:
    """The installed console script next to this interpreter, as ``uv run tenantflow`` would start it."""
    script = Path(sys.executable).with_name("tenantflow")
    if not script.exists():
        raise SystemExit(f"{script} not found: run this inside the project's environment (uv run)")
    return str(script)


def wall_times(command: list[str], runs: int, cwd: Path) -> list[float]:
    times = []
    for index in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        if index:  # the first run compiles bytecode
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per command")
    args = parser.parse_args()
    script = executable()
    print(f"{'command':<34}{'median':>9}{'p90':>9}  target   ({args.runs} runs each, {os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="tenantflow-bench-") as directory:
        cwd = Path(directory)
        one_node = {"name": "one node", "nodes": [START], "connections": {}}
        (cwd / "one.json").write_text(json.dumps(one_node), encoding="utf-8")
        for label, arguments, target in COMMANDS:
            times = wall_times([script, *arguments], args.runs, cwd)
            p90 = statistics.quantiles(times, n=10)[-1]
            goal = f"≤ {target:.1f} s" if target is not None else "—"
            print(f"{label:<34}{statistics.median(times):>7.3f} s{p90:>7.3f} s  {goal}")


if __name__ == "__main__":
    main()
