"""Queue-mode benchmarks (issue 11; figures, not pass/fail): ``tenantflow serve`` and ``tenantflow worker``
as subprocesses on a fresh PostgreSQL database, RabbitMQ and Redis, loaded from this process and ``wrk``.

Sections (``--only``, comma-separated; all by default):

- ``overhead``: a 40-step chain (manual trigger → 40 Set nodes, every node checkpointed), one execution at a
  time on ONE worker, ``--runs`` times. Printed, median and p95: the engine alone in this process (no store,
  no service), the stored ``startTime``→``endTime`` (the worker's claim to the engine's end) and
  ``createdAt``→``endTime`` (queue included), what a client sees from ``POST …/execute?wait=false`` to the
  ``execution.finished`` Server-Sent Event, and ``execute?wait=true``'s answer; each also less the engine's
  median: the orchestration overhead. Target ≤ 40 ms for all 40 steps (Hatchet publishes 1.22 s, Temporal
  2.97 s).
- ``throughput``: ``--executions`` runs of a two-node workflow (``examples/greet.json``) submitted with
  ``execute?wait=false`` by ``--submitters`` concurrent clients, with 1 and then 2 workers: executions/s from
  the first submit to the last stored end, and how fast the API took the submissions.
- ``webhook``: Webhook (``responseMode: lastNode``) → Set with one expression, every execution stored, wrk at
  c=1 and c=16 (``--connections``: 1,16,64 adds the machine's ceiling) for ``--seconds`` each, on SQLite
  inline (``serve`` alone) and on PostgreSQL with one worker (through RabbitMQ, then through a Redis list):
  req/s, p50/p99, CPU per request, and executions stored against requests answered 200 (stored may exceed
  it by up to c: the requests in flight when wrk stops), and the machine's speed just before the row
  (``bench_api.host_loop_ms``). The target is ≥ 10× n8n on the same machine with the same wrk command.
  With ``--n8n`` (n8n's command; ``bench/n8n_server.py``) n8n itself is measured before and after those
  rows, in its regular mode (one process, SQLite) and its queue mode (PostgreSQL, Redis, one worker), and
  each tenantflow row is compared with the faster n8n run of the same layout and concurrency; without it,
  with 48.6/s, n8n 1.123 at c=16 as measured on this kind of machine before.

The webhook's PostgreSQL database is analyzed after its warm-up (``bench_api.analyze``: the steady state).
Every database, queue and process the run makes is removed or stopped at its end, also on errors and ^C.
Rate limits and schedules are off in the servers. ``--quick`` runs fewer, shorter rounds (a smoke test).

    uv run --frozen python bench/bench_queue.py [--only overhead,throughput,webhook] [--quick] [--n8n CMD]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import aio_pika
import httpx2 as httpx
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from bench_api import WORKFLOW, analyze, base_env, cpu_seconds, host_loop_ms, server, wrk
from n8n_server import N8n, QueueMode, n8n_server
from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.executor import execute
from tenantflow.nodes import default_registry
from tenantflow.store.database import run_on_server
from tenantflow.store.executions import FINISHED_STATUSES
from tenantflow.store.secrets import Keyring

TENANTFLOW: Final = str(Path(sys.executable).with_name("tenantflow"))
SECTIONS: Final = ("overhead", "throughput", "webhook")
STEPS: Final = 40
N8N_WEBHOOK_RATE: Final = 48.6  # n8n 1.123, c=16, this kind of machine (issue 11)
HOOK_PATH: Final = "bench/greet"
HOOK_LUA: Final = """
wrk.method = "POST"
wrk.body = '{"who": "ada"}'
wrk.headers["Content-Type"] = "application/json"
"""
console = Console(width=None if sys.stdout.isatty() else 150)  # a log keeps the tables' rows whole


# ----- workflows ------------------------------------------------------------------------------------------
def node(name: str, kind: str, version: float, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "type": f"n8n-nodes-base.{kind}",
        "typeVersion": version,
        "position": [0, 0],
        "parameters": parameters,
    }


def set_node(name: str, field_name: str, value: Any, kind: str) -> dict[str, Any]:
    assignment = {"id": "a", "name": field_name, "value": value, "type": kind}
    return node(name, "set", 3.4, {"assignments": {"assignments": [assignment]}})


def chain(name: str, nodes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An enabled workflow of ``nodes``, each feeding the next."""
    connections = {
        source["name"]: {"main": [[{"node": target["name"], "type": "main", "index": 0}]]}
        for source, target in pairwise(nodes)
    }
    return {
        "name": name,
        "category": "automation",
        "active": True,
        "nodes": list(nodes),
        "connections": connections,
    }


def steps_workflow() -> dict[str, Any]:
    """A manual trigger, then ``STEPS`` light Set nodes in a row, each writing one number."""
    steps = [set_node(f"Step {i}", "step", i, "number") for i in range(1, STEPS + 1)]
    return chain(f"{STEPS} steps", [node("Start", "manualTrigger", 1, {}), *steps])


def webhook_workflow() -> dict[str, Any]:
    """Webhook (answers with the last node's item) → Set with one expression."""
    hook = node(
        "Webhook", "webhook", 2, {"httpMethod": "POST", "path": HOOK_PATH, "responseMode": "lastNode"}
    )
    hook["webhookId"] = "0b5c1c52-5a3e-4bb4-9d7e-2f0e6a1d6c11"  # n8n's editor gives every webhook one
    return chain(
        "webhook greet", [hook, set_node("Greet", "greeting", "=hello {{ $json.body.who }}", "string")]
    )


# ----- figures --------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: a value that was measured, also for the handful of runs ``--quick`` makes."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load: other work on it shows in every figure."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def moment(text: str) -> float:
    """An API timestamp (``…Z``, milliseconds) as Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ----- the services ---------------------------------------------------------------------------------------
@contextmanager
def database(server_url: str, name: str) -> Iterator[str]:
    """A new PostgreSQL database on ``server_url``'s server, dropped afterwards: its URL."""
    asyncio.run(run_on_server(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def delete_queue(broker_url: str, name: str) -> None:
    """The RabbitMQ queue, its dead-letter queue and its exchange, as the broker declared them; or the
    Redis list."""
    if broker_url.startswith("redis"):
        client = Redis.from_url(broker_url)
        try:
            await client.delete(name)
        finally:
            await client.aclose()
        return
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        for queue in (name, f"{name}.dead_letter"):
            await channel.queue_delete(queue)
        await channel.exchange_delete(name)


def migrate(env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run(
        [TENANTFLOW, "migrate"], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"tenantflow migrate failed:\n{done.stdout}{done.stderr}")


@dataclass
class Workers:
    """``tenantflow worker`` processes; all stopped (SIGTERM, then SIGKILL) by :meth:`stop`."""

    env: dict[str, str]
    workdir: Path
    concurrency: int
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        """One more worker, back once it serves the queue."""
        log = self.workdir / f"worker-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [TENANTFLOW, "worker", "--concurrency", str(self.concurrency)],
                cwd=self.workdir,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        deadline = time.monotonic() + 60
        while " serves " not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        time.sleep(0.5)  # its consumer joins the queue just after it says so

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Site:
    """A running ``serve`` (and perhaps workers) with the demo tenant's admin key."""

    base: str
    key: str
    workdir: Path
    pid: int  # serve's
    workers: Workers | None = None
    database_url: str | None = None  # PostgreSQL's; None: SQLite

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds serve and the workers have used so far."""
        workers = self.workers.started if self.workers is not None else []
        return cpu_seconds(self.pid), sum(cpu_seconds(process.pid) for process in workers)

    def cpu_since(self, before: tuple[float, float]) -> tuple[float, float]:
        now = self.cpu_split()
        return now[0] - before[0], now[1] - before[1]

    @property
    def api(self) -> str:
        return f"{self.base}/api/v1/demo"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, headers=self.headers, timeout=120)

    def create(self, workflow: dict[str, Any]) -> str:
        with self.client() as api:
            response = api.post("/workflows", json=workflow)
            if response.status_code != 201 or not response.json()["active"]:
                raise SystemExit(f"the workflow was not created enabled: {response.text}")
            workflow_id: str = response.json()["id"]
            return workflow_id


@contextmanager
def queue_site(options: argparse.Namespace, workdir: Path, broker: str | None = None) -> Iterator[Site]:
    """``serve`` in the queue mode with one worker, on a database and a queue of its own; the broker is
    ``--broker`` (RabbitMQ) unless given."""
    broker = broker or options.broker
    name = f"tenantflow_bench_queue_{uuid.uuid4().hex[:8]}"
    queue = f"tenantflow.bench.{name}"
    with ExitStack() as stack:  # unwinds in reverse: workers, serve, the queue, the database
        url = stack.enter_context(database(options.postgres, name))
        stack.callback(lambda: asyncio.run(delete_queue(broker, queue)))
        env = base_env(
            workdir / name,
            TENANTFLOW_DATABASE_URL=url,
            TENANTFLOW_SECRET_KEYS=Keyring.generate().spec(),
            TENANTFLOW_BROKER_URL=broker,
            TENANTFLOW_BROKER_QUEUE=queue,
            TENANTFLOW_REDIS_URL=options.redis,
            TENANTFLOW_SCHEDULES_ENABLED="false",
        )
        migrate(env, workdir)
        base, key, _, pid, _ = stack.enter_context(server(env, workdir, 1))
        workers = Workers(env, workdir, options.concurrency)
        stack.callback(workers.stop)
        workers.start()
        yield Site(base, key, workdir, pid, workers, url)


@contextmanager
def inline_site(workdir: Path) -> Iterator[Site]:
    """``serve`` with its defaults: SQLite in a new data directory, executions in the API process."""
    env = base_env(workdir / f"sqlite-{uuid.uuid4().hex[:6]}", TENANTFLOW_SCHEDULES_ENABLED="false")
    migrate(env, workdir)
    with server(env, workdir, 1) as (base, key, _, pid, _):
        yield Site(base, key, workdir, pid)


# ----- overhead -------------------------------------------------------------------------------------------
def finished_event(api: httpx.Client, execution_id: str) -> dict[str, Any]:
    """The record ``execution.finished`` carries, read from the execution's Server-Sent Events."""
    kind = ""
    with api.stream("GET", f"/executions/{execution_id}/events") as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:") and kind == "execution.finished":
                record: dict[str, Any] = json.loads(line.partition(":")[2])
                return record
    raise SystemExit(f"execution {execution_id}: the event stream ended before execution.finished")


def checked(record: dict[str, Any]) -> dict[str, Any]:
    if record["status"] != "success" or len(record["state"]) != STEPS + 1:
        raise SystemExit(f"execution {record['id']} ended {record['status']}: {record.get('error')}")
    return record


def engine_alone(workflow: dict[str, Any], runs: int) -> list[float]:
    """Milliseconds the executor takes for ``workflow`` in this process: no store, service or events."""
    definition = parse_workflow(workflow)
    registry = default_registry()

    async def timed() -> list[float]:
        samples = []
        for _ in range(runs + 5):  # the first five warm the node classes and expression caches
            began = time.perf_counter()
            record = await execute(definition, registry=registry)
            samples.append((time.perf_counter() - began) * 1000)
            assert record.status == "success", record.error
        return samples[5:]

    return asyncio.run(timed())


def post_execute(api: httpx.Client, workflow_id: str, *, wait: bool) -> tuple[float, dict[str, Any]]:
    """``POST …/execute``: milliseconds until the answer (200 when waited for, else 202) and its body."""
    began = time.perf_counter()
    answer = api.post(f"/workflows/{workflow_id}/execute", params={"wait": "true" if wait else "false"})
    if answer.status_code != (200 if wait else 202):
        raise SystemExit(f"execute?wait={wait} answered {answer.status_code}: {answer.text}")
    body: dict[str, Any] = answer.json()
    return (time.perf_counter() - began) * 1000, body


def queued_runs(site: Site, workflow_id: str, runs: int) -> dict[str, list[float]]:
    """One execution at a time: the stored spans and what the client saw, in milliseconds."""
    figures: dict[str, list[float]] = {"run": [], "queued": [], "accepted": [], "client": [], "wait": []}
    with site.client() as api:
        for _ in range(runs):
            accepted, body = post_execute(api, workflow_id, wait=False)
            began = time.perf_counter()
            record = checked(finished_event(api, body["executionId"]))
            figures["accepted"].append(accepted)
            figures["client"].append(accepted + (time.perf_counter() - began) * 1000)
            figures["run"].append(float(record["duration"]))
            figures["queued"].append((moment(record["endTime"]) - moment(record["createdAt"])) * 1000)
        figures["wait"] = [post_execute(api, workflow_id, wait=True)[0] for _ in range(runs)]
    return figures


def overhead(options: argparse.Namespace, workdir: Path) -> None:
    workflow = steps_workflow()
    engine = engine_alone(workflow, max(options.runs, 20))
    with queue_site(options, workdir) as site:
        workflow_id = site.create(workflow)
        queued_runs(site, workflow_id, 3)  # warm the worker, its caches and its pools
        figures = queued_runs(site, workflow_id, options.runs)
    base = statistics.median(engine)
    table = Table(
        title=f"Overhead: {STEPS}-step chain, every step checkpointed, PostgreSQL + RabbitMQ + Redis, "
        f"1 worker, {options.runs} runs one at a time (ms)"
    )
    for column in ("span", "median", "p95", "less engine: median", "p95", "per step"):
        table.add_column(column, justify="left" if column == "span" else "right")
    table.add_row("engine alone, in-process", f"{base:.1f}", f"{percentile(engine, 0.95):.1f}", "", "", "")
    labels = {
        "run": "stored startTime → endTime",
        "queued": "stored createdAt → endTime",
        "accepted": "client: execute?wait=false answered 202",
        "client": "client: submit → execution.finished (SSE)",
        "wait": "client: execute?wait=true answered",
    }
    for name, label in labels.items():
        values = figures[name]
        less = [value - base for value in values]
        middle = statistics.median(less)
        overhead_cells = (
            [f"{middle:.1f}", f"{percentile(less, 0.95):.1f}", f"{middle / STEPS:.2f}"]
            if name != "accepted"  # no run inside it: nothing to subtract
            else ["", "", ""]
        )
        table.add_row(
            label, f"{statistics.median(values):.1f}", f"{percentile(values, 0.95):.1f}", *overhead_cells
        )
    console.print(table)
    console.print(f"  target: ≤ 40 ms overhead for all {STEPS} steps (Hatchet 1,220 ms, Temporal 2,970 ms)")


# ----- throughput -----------------------------------------------------------------------------------------
async def submit_all(site: Site, workflow_id: str, count: int, submitters: int) -> None:
    """Submit ``count`` executions with ``submitters`` clients at once."""
    remaining = iter(range(count))

    async def submitter(api: httpx.AsyncClient) -> None:
        for _ in remaining:  # one shared iterator: each execution is sent once
            answer = await api.post(f"/workflows/{workflow_id}/execute", params={"wait": "false"})
            if answer.status_code != 202:
                raise SystemExit(f"execute?wait=false answered {answer.status_code}: {answer.text}")

    async with httpx.AsyncClient(base_url=site.api, headers=site.headers, timeout=120) as api:
        await asyncio.gather(*(submitter(api) for _ in range(submitters)))


def executions_of(api: httpx.Client, workflow_id: str) -> list[dict[str, Any]]:
    """Every execution of the workflow (keyset pages of 100)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"workflowId": workflow_id, "limit": 100}
    while True:
        page = api.get("/executions", params=params).json()
        items += page["items"]
        if not page["hasMore"]:
            return items
        params["cursor"] = page["nextCursor"]


def wait_terminal(api: httpx.Client, workflow_id: str, count: int, timeout: float) -> None:
    """Back once ``count`` executions of the workflow have ended (one cheap stats query per 0.1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = api.get(f"/workflows/{workflow_id}/stats", params={"window": "1d"}).json()
        done = sum(number for status, number in stats["byStatus"].items() if status in FINISHED_STATUSES)
        if done >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done} of {count} executions ended within {timeout:g} s: {stats}")
        time.sleep(0.1)


def machine_busy() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


@dataclass(frozen=True)
class Round:
    """One throughput round's figures."""

    rate: float  # executions/s, first submit → last stored end
    submitted: float  # submissions/s the API took
    statuses: Counter[str]
    serve_cpu: float  # ms of CPU per execution
    worker_cpu: float
    busy: float  # share of the machine's CPUs in use


def drain(site: Site, workflow_id: str, count: int, submitters: int) -> Round:
    """Submit ``count`` executions at once and wait until all have ended."""
    cpu, (busy, ticks) = site.cpu_split(), machine_busy()
    first = time.time()
    asyncio.run(submit_all(site, workflow_id, count, submitters))
    submitted = time.time() - first
    with site.client() as api:
        wait_terminal(api, workflow_id, count, timeout=max(120.0, count / 5))
        busy_now, ticks_now = machine_busy()
        cpu = site.cpu_since(cpu)
        records = executions_of(api, workflow_id)
    last = max(moment(record["endTime"]) for record in records)
    return Round(
        rate=count / (last - first),
        submitted=count / submitted,
        statuses=Counter(record["status"] for record in records),
        serve_cpu=cpu[0] / count * 1000,
        worker_cpu=cpu[1] / count * 1000,
        busy=(busy_now - busy) / (ticks_now - ticks),
    )


def throughput(options: argparse.Namespace, workdir: Path) -> None:
    table = Table(
        title=f"Throughput: {options.executions:,} executions of manual trigger → Set, submitted by "
        f"{options.submitters} clients (execute?wait=false), PostgreSQL + RabbitMQ + Redis"
    )
    columns = (
        "workers",
        "executions/s",
        "submitted/s",
        "ended",
        "CPU ms/execution: serve",
        "workers",
        "machine busy",
    )
    for column in columns:
        table.add_column(column, justify="right")
    with queue_site(options, workdir) as site:
        assert site.workers is not None
        for count in (1, 2):
            if count == 2:
                site.workers.start()
            workflow_id = site.create(WORKFLOW | {"name": f"greet, {count} workers", "active": True})
            drain(site, workflow_id, 20, options.submitters)  # warm-up, on a workflow of its own
            workflow_id = site.create(WORKFLOW | {"name": f"greet, {count} workers (bench)", "active": True})
            figures = drain(site, workflow_id, options.executions, options.submitters)
            table.add_row(
                f"{count} × --concurrency {options.concurrency}",
                f"{figures.rate:.0f}",
                f"{figures.submitted:.0f}",
                ", ".join(f"{number} {status}" for status, number in figures.statuses.most_common()),
                f"{figures.serve_cpu:.1f}",
                f"{figures.worker_cpu:.1f}",
                f"{figures.busy:.0%}",
            )
    console.print(table)


# ----- webhook --------------------------------------------------------------------------------------------
def stored_count(site: Site, workflow_id: str) -> int:
    with site.client() as api:
        stats = api.get(f"/workflows/{workflow_id}/stats", params={"window": "1d"}).json()
    return int(stats["total"])


@dataclass(frozen=True)
class Hook:
    """A webhook under load: where wrk sends it, and how to read what its server did."""

    label: str
    url: str
    key: str
    workdir: Path
    stored: Callable[[], int]
    cpu_split: Callable[[], tuple[float, float]]  # CPU seconds so far: (the server, its workers)
    has_workers: bool
    database_url: str | None = None  # PostgreSQL's, analyzed after the warm-up
    is_n8n: bool = False


@dataclass(frozen=True)
class Row:
    """One wrk run on a webhook: its figures, the CPU its processes spent, and what they stored."""

    hook: Hook
    connections: int
    figures: dict[str, Any]
    cpu: tuple[float, float]
    stored: int
    host: float

    @property
    def answered(self) -> int:
        return int(self.figures["requests"] - self.figures["non2xx"])

    def cells(self, n8n_rate: float | None) -> list[str]:
        per_request = 1000 / max(self.answered, 1)
        rate = self.figures["rate"]
        non2xx = self.figures["non2xx"]
        return [
            self.hook.label,
            str(self.connections),
            f"{rate:.1f}",
            f"{rate / n8n_rate:.1f}×" if n8n_rate else "",
            f"{self.figures['p50']:.2f}",
            f"{self.figures['p99']:.2f}",
            f"{self.cpu[0] * per_request:.1f}",
            f"{self.cpu[1] * per_request:.1f}" if self.hook.has_workers else "",
            f"{self.stored}/{self.answered}" + (f" ({non2xx} non-2xx)" if non2xx else ""),
            f"{self.host:.0f}",
        ]


def site_hook(site: Site, label: str) -> Hook:
    """The webhook workflow created on a tenantflow ``site``, once it answers as it should."""
    workflow_id = site.create(webhook_workflow())
    url = f"{site.base}/webhook/demo/{HOOK_PATH}"
    answer = httpx.post(url, json={"who": "ada"}, timeout=30)
    if answer.status_code != 200 or answer.json().get("greeting") != "hello ada":
        raise SystemExit(f"the webhook answered {answer.status_code}: {answer.text}")
    return Hook(
        label,
        url,
        site.key,
        site.workdir,
        lambda: stored_count(site, workflow_id),
        site.cpu_split,
        has_workers=site.workers is not None,
        database_url=site.database_url,
    )


def n8n_hook(n8n: N8n, workdir: Path) -> Hook:
    return Hook(
        n8n.label,
        f"{n8n.base}/webhook/{HOOK_PATH}",
        "-",  # wrk's command is the same; n8n ignores the header
        workdir,
        n8n.stored,
        n8n.cpu_split,
        has_workers=n8n.queue is not None,
        is_n8n=True,
    )


def hammer(hook: Hook, options: argparse.Namespace) -> list[Row]:
    """wrk on the webhook at each of ``--connections`` (c=1 and c=16 by default), after a warm-up."""
    wrk(hook.url, hook.key, connections=4, seconds=2, script=HOOK_LUA, workdir=hook.workdir)
    if hook.database_url is not None:
        analyze(hook.database_url)
    rows = []
    for connections in options.connections:
        host = host_loop_ms()
        before, cpu = hook.stored(), hook.cpu_split()
        figures = wrk(
            hook.url,
            hook.key,
            connections=connections,
            seconds=options.seconds,
            script=HOOK_LUA,
            workdir=hook.workdir,
        )
        after = hook.cpu_split()
        time.sleep(0.5)  # an execution answered at the very end may still be writing its row
        stored = hook.stored() - before
        spent = (after[0] - cpu[0], after[1] - cpu[1])
        rows.append(Row(hook, connections, figures, spent, stored, host))
    return rows


def webhook(options: argparse.Namespace, workdir: Path) -> None:
    """The three tenantflow sites under wrk. With ``--n8n``, n8n in both its layouts before and after
    them, so that each ratio is to n8n on the same machine within minutes (to the faster of its two runs)
    and in the same layout: one process on SQLite, or PostgreSQL with one worker."""
    rows: list[Row] = []
    with ExitStack() as stack:
        peers = []
        if options.n8n is not None:
            regular = n8n_server(options.n8n, workdir, webhook_workflow(), HOOK_PATH)
            name = f"tenantflow_bench_n8n_{uuid.uuid4().hex[:8]}"
            queue = QueueMode(
                stack.enter_context(database(options.postgres, name)), options.redis, options.concurrency
            )
            queued = n8n_server(options.n8n, workdir, webhook_workflow(), HOOK_PATH, queue)
            peers = [n8n_hook(stack.enter_context(server), workdir) for server in (regular, queued)]
        for peer in peers:
            rows += hammer(peer, options)
        with inline_site(workdir) as site:
            rows += hammer(site_hook(site, "SQLite, inline"), options)
        with queue_site(options, workdir) as site:
            rows += hammer(site_hook(site, "PostgreSQL, 1 worker, RabbitMQ"), options)
        with queue_site(options, workdir, options.redis_broker) as site:
            rows += hammer(site_hook(site, "PostgreSQL, 1 worker, Redis list"), options)
        for peer in reversed(peers):
            rows += hammer(peer, options)
    measured = options.n8n is not None
    n8n_rates = {
        (has_workers, connections): max(
            (
                row.figures["rate"]
                for row in rows
                if row.hook.is_n8n and row.hook.has_workers == has_workers and row.connections == connections
            ),
            default=N8N_WEBHOOK_RATE,
        )
        for has_workers in (False, True)
        for connections in options.connections
    }
    table = Table(
        title=f"Webhook (lastNode) → Set with one expression, every execution stored; wrk -t1, "
        f"{options.seconds:g} s per row"
    )
    ratio = "vs n8n, same layout and c" if measured else f"vs n8n {N8N_WEBHOOK_RATE}/s"
    columns = ("backend", "c", "req/s", ratio, "p50 ms", "p99 ms", "CPU ms/req: serve", "worker")
    for column in (*columns, "stored/answered 200", "host loop ms"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for row in rows:
        peer_rate = n8n_rates[row.hook.has_workers, row.connections]
        table.add_row(*row.cells(None if row.hook.is_n8n else peer_rate))
    console.print(table)
    if 16 not in options.connections:  # the targets are at c=16
        return
    if not measured:
        console.print(f"  target: ≥ {N8N_WEBHOOK_RATE * 10:.0f} req/s at c=16 (10× n8n 1.123's 48.6/s)")
        return
    for has_workers, layout in ((False, "one process"), (True, "PostgreSQL + 1 worker")):
        base = n8n_rates[has_workers, 16]
        console.print(
            f"  target, {layout}: ≥ {base * 10:.0f} req/s at c=16 (10× the faster of n8n's two runs above)"
        )


# ----- command line ---------------------------------------------------------------------------------------
def sections(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)}; not {sorted(unknown)}")
    return chosen


def connection_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"numbers of connections, comma-separated (1,16); not {text!r}")
    return counts


def options_from(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", type=sections, default=list(SECTIONS), help=", ".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="a smoke test: 5 runs, 100 executions, 3 s rows")
    parser.add_argument("--runs", type=int, help="overhead: executions, one at a time (30; quick 5)")
    parser.add_argument("--executions", type=int, help="throughput: executions per round (1,000; quick 100)")
    parser.add_argument(
        "--submitters", type=int, default=16, help="throughput: concurrent submitting clients"
    )
    parser.add_argument("--seconds", type=float, help="webhook: wrk seconds per row (10; quick 3)")
    parser.add_argument(
        "--connections",
        type=connection_counts,
        default=(1, 16),
        help="webhook: wrk's concurrencies, comma-separated (1,16; 1,16,64 adds the machine's ceiling)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="tenantflow worker --concurrency")
    parser.add_argument(
        "--n8n",
        default=os.environ.get("TENANTFLOW_BENCH_N8N"),
        help="webhook: n8n's command (bench/n8n_server.py), to measure it before and after tenantflow",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TENANTFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a server to create (and drop) the bench databases on",
    )
    parser.add_argument(
        "--broker", default=os.environ.get("TENANTFLOW_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument(
        "--redis", default=os.environ.get("TENANTFLOW_BENCH_REDIS", "redis://127.0.0.1:6379/12")
    )
    parser.add_argument(
        "--redis-broker",
        default=os.environ.get("TENANTFLOW_BENCH_REDIS_BROKER", "redis://127.0.0.1:6379/13"),
        help="webhook: the Redis list broker of its third row",
    )
    options = parser.parse_args(argv)
    defaults = (5, 100, 3.0) if options.quick else (30, 1000, 10.0)
    given = (options.runs, options.executions, options.seconds)
    options.runs, options.executions, options.seconds = (
        default if value is None else value for value, default in zip(given, defaults, strict=True)
    )
    return options


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like ^C, so every process, queue and database this run made is removed."""

    def stop(number: int, frame: object) -> None:
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    options = options_from()
    if shutil.which("wrk") is None and "webhook" in options.only:
        raise SystemExit("wrk is needed beside the server: apt-get install wrk")
    stop_on_sigterm()
    console.print(
        f"tenantflow queue benchmark on {os.cpu_count()} cores (servers, workers, PostgreSQL, RabbitMQ, "
        f"Redis and the load all share them): {', '.join(options.only)}; load average {load_average()}"
    )
    run = {"overhead": overhead, "throughput": throughput, "webhook": webhook}
    with tempfile.TemporaryDirectory(prefix="tenantflow-bench-queue-") as scratch:
        for name in options.only:
            began = time.perf_counter()
            run[name](options, Path(scratch))
            spent = time.perf_counter() - began
            console.print(f"  ({name}: {spent:.0f} s; load average now {load_average()})\n")


if __name__ == "__main__":
    main()
