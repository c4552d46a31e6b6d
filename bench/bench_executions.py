"""Execution service throughput (figures, not pass/fail): ``python bench/bench_executions.py``.

Runs a two-node workflow (manual trigger → Set with one expression) through
:class:`~tenantflow.services.executions.ExecutionService` the way ``execute?wait=true`` will: ``submit``
then ``wait``, every execution stored (row, two node checkpoints, finish) through the group-commit
writer. ``--concurrency`` clients (default 1 and 16) each loop for ``--seconds``. Printed: executions/s,
the latency percentiles of one submit+wait, and this process's CPU time per execution (which holds up
better than the wall figures when other work shares the machine; SQLite's work runs in this process).
On SQLite (a new file) and on PostgreSQL (a fresh ``tenantflow_bench_executions`` database on
``--postgres``, default ``TENANTFLOW_BENCH_DATABASE_URL`` or the local server; ``--postgres ''`` skips
it). No HTTP: the issue's end-to-end target (≥ 500/s at concurrency 16, p50 ≤ 2.5 ms at 1) adds the HTTP
layer on top of these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from tenantflow.nodes import default_registry
from tenantflow.services.events import InProcessEventBus
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.database import Database, async_url, run_on_server
from tenantflow.store.migrate import upgrade
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "tenantflow_bench_executions"
# README's walk-through workflow: a manual trigger, then a Set node with one expression.
WORKFLOW: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "examples/greet.json").read_text()
)


async def measure(
    service: ExecutionService, actor: Actor, workflow_id: str, clients: int, seconds: float
) -> str:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            summary = await service.submit(actor, workflow_id, trigger_data={"who": "ada"})
            view = await service.wait(actor.tenant_id, summary.id, 30)
            assert view is not None and view.status == "success", view
            latencies.append(time.perf_counter() - began)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"concurrency {clients:>2}: {len(latencies) / elapsed:7.0f} executions/s "
        f"(p50 {cuts[49] * 1000:.2f} ms, p99 {cuts[98] * 1000:.2f} ms, {len(latencies)} runs, "
        f"{cpu / len(latencies) * 1000:.2f} ms of this process's CPU each)"
    )


async def bench(url: str, label: str, concurrency: list[int], seconds: float) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    store = await Store.open(url, keyring=Keyring.generate(), registry=default_registry())
    service = ExecutionService(store, InProcessEventBus())
    await service.start()
    try:
        tenant_id = f"bench-{uuid.uuid4().hex[:8]}"
        await Tenants(store.database).create(tenant_id)
        actor = Actor(tenant_id, user_id="bench")
        async with store.unit(actor) as unit:
            workflow_id = (await unit.workflows.create(WORKFLOW)).id
        await measure(service, actor, workflow_id, 4, min(1.0, seconds))  # warm caches and pools
        for clients in concurrency:
            print(f"{label:<10} {await measure(service, actor, workflow_id, clients, seconds)}", flush=True)
    finally:
        await service.shutdown()
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--postgres", default=os.environ.get("TENANTFLOW_BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--no-sqlite", action="store_true")
    options = parser.parse_args()
    if not options.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            await bench(
                f"sqlite:///{Path(folder) / 'bench.db'}", "SQLite", options.concurrency, options.seconds
            )
    if options.postgres:
        server = async_url(options.postgres)
        await run_on_server(server, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await run_on_server(server, f'CREATE DATABASE "{BENCH_DATABASE}"')
        try:
            url = make_url(server).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
            await bench(url, "PostgreSQL", options.concurrency, options.seconds)
        finally:
            await run_on_server(server, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
