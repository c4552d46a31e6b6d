"""Command-line start-up benchmark: wall time of whole ``tenantflow`` processes, median and p90 of runs.

Each command starts a new process, which is what a user or a script pays for: interpreter start-up,
imports, the command itself. Runs happen in a temporary directory (no ``.env``, no ``data/``) with their
bytecode cached in a temporary ``PYTHONPYCACHEPREFIX``, which one unmeasured run per command fills: the
steady state of an installed package, whatever ``PYTHONDONTWRITEBYTECODE`` says, and nothing written into
the source tree. ``--no-bytecode`` measures the other extreme, every module compiled at every start.
Targets (wall, one-node workflow): ``validate`` ≤ 0.4 s, ``run`` ≤ 0.6 s. It prints figures, with the load
average and each command's CPU time beside them; it does not pass or fail.
Run: ``python bench/bench_startup.py [--runs 15] [--no-bytecode]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def environment(pycache: Path, *, bytecode: bool) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def timed_runs(
    command: list[str], runs: int, cwd: Path, env: dict[str, str]
) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run. CPU time barely moves when other processes compete
    for the machine, so it tells a slower start from a busier machine."""
    walls, cpus = [], []
    for index in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
        if index:  # the first run fills the bytecode cache
            walls.append(elapsed)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per command")
    parser.add_argument("--no-bytecode", action="store_true", help="compile every module at every start")
    args = parser.parse_args()
    script = executable()
    bytecode = "compiled at every start" if args.no_bytecode else "cached"
    print(f"{args.runs} runs each, bytecode {bytecode}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'command':<34}{'median':>9}{'p90':>9}{'CPU median':>12}  target")
    with tempfile.TemporaryDirectory(prefix="tenantflow-bench-") as directory:
        cwd = Path(directory)
        env = environment(cwd / "pycache", bytecode=not args.no_bytecode)
        one_node = {"name": "one node", "nodes": [START], "connections": {}}
        (cwd / "one.json").write_text(json.dumps(one_node), encoding="utf-8")
        for label, arguments, target in COMMANDS:
            walls, cpus = timed_runs([script, *arguments], args.runs, cwd, env)
            p90 = statistics.quantiles(walls, n=10)[-1]
            goal = f"≤ {target:.1f} s" if target is not None else "—"
            cpu = statistics.median(cpus)
            print(f"{label:<34}{statistics.median(walls):>7.3f} s{p90:>7.3f} s{cpu:>10.3f} s  {goal}")


if __name__ == "__main__":
    main()
