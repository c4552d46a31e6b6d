"""Store benchmarks (figures, not pass/fail): ``uv run --frozen python bench/bench_store.py [--rows N]``.

Loads ``--rows`` executions (default 1,000,000) for one tenant, over 100 workflows, mixed statuses and 30
days, with bulk loads (COPY on PostgreSQL, 10,000-row ORM bulk INSERTs on SQLite), then times requests
through the real repositories, each in its own read-only unit as a request would run it:

- the newest page of executions (limit 50),
- a page from half-way down (about 500,000 rows deep at the default size), by keyset cursor,
- a page filtered by status and workflow,
- a single workflow read that the hot cache answers.

The load is followed by VACUUM ANALYZE (ANALYZE on SQLite), as autovacuum would have run by then.

Target: p99 <= 20 ms on PostgreSQL. PostgreSQL runs get a fresh ``tenantflow_bench`` database on the
server of ``--url`` (default ``TENANTFLOW_BENCH_DATABASE_URL``, else the local server); ``--url
sqlite:///path`` benchmarks a new SQLite file at ``path`` instead. Either is removed afterwards unless
``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from tenantflow.nodes import default_registry
from tenantflow.store.audit import Actor
from tenantflow.store.cache import WorkflowCache
from tenantflow.store.database import Database, async_url, run_on_server
from tenantflow.store.migrate import upgrade
from tenantflow.store.models import Execution
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "tenantflow_bench"
TENANT = "bench"
WORKFLOWS = 100
BATCH = 10_000
SPREAD = timedelta(days=30)
STATUSES = ("success", "error", "timeout", "aborted", "running", "queued")
STATUS_WEIGHTS = (80, 12, 3, 2, 2, 1)
METRICS = {"nodesExecuted": 1, "successNodes": 1}
ERROR = {"message": "boom", "code": "NODE_EXECUTION_FAILED"}
COLUMNS = (
    "id",
    "tenant_id",
    "workflow_id",
    "workflow_version",
    "status",
    "trigger_kind",
    "attempt",
    "abort_requested",
    "metrics",
    "error",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "duration_ms",
)
METRICS_AT, ERROR_AT = COLUMNS.index("metrics"), COLUMNS.index("error")
METRICS_JSON, ERROR_JSON = json.dumps(METRICS), json.dumps(ERROR)
console = Console()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="executions to load (default 1,000,000)")
    parser.add_argument(
        "--url",
        default=os.environ.get("TENANTFLOW_BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="a PostgreSQL server URL (the bench makes its own database there) or sqlite:///path",
    )
    parser.add_argument("--samples", type=int, default=300, help="timed requests per figure (default 300)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the benchmark database (or file) afterwards"
    )
    return parser.parse_args()


# ----- database set-up -------------------------------------------------------------------------------
async def fresh_database(url: str) -> str:
    """The URL of an empty benchmark database: a new PostgreSQL database, or a new SQLite file."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database is None or Path(parsed.database).exists():
            raise SystemExit(f"refusing to benchmark in {parsed.database}: give the path of a new file")
        return parsed.render_as_string(hide_password=False)
    await drop_database(url)
    await run_on_server(url, f'CREATE DATABASE "{BENCH_DATABASE}"')
    return parsed.set(database=BENCH_DATABASE).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Remove what :func:`fresh_database` made."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
    else:
        await run_on_server(url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


async def create_workflows(store: Store, actor: Actor) -> list[str]:
    """Real workflows through the repository (validated, versioned), so reads go the product's way."""
    ids = []
    async with store.unit(actor) as unit:
        for index in range(WORKFLOWS):
            document = {
                "name": f"bench-{index:03d}",
                "nodes": [
                    {
                        "id": "start",
                        "name": "Start",
                        "type": "n8n-nodes-base.manualTrigger",
                        "typeVersion": 1,
                        "position": [0, 0],
                        "parameters": {},
                    }
                ],
                "connections": {},
            }
            ids.append((await unit.workflows.create(document)).id)
    return ids


# ----- bulk load -------------------------------------------------------------------------------------
def execution_rows(count: int, workflow_ids: list[str], now: datetime) -> Iterator[tuple[Any, ...]]:
    """``count`` rows in COLUMNS order; the same figures every run (seeded)."""
    rng = random.Random(42)
    statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=count)
    # Oldest first, as executions arrive: the time-ordered indexes then grow at their right edge.
    ages = sorted((rng.random() * SPREAD.total_seconds() for _ in range(count)), reverse=True)
    for status, age in zip(statuses, ages, strict=True):
        created = now - timedelta(seconds=age)
        started = None if status == "queued" else created + timedelta(milliseconds=rng.random() * 50)
        duration = rng.random() * 5000 if status not in ("queued", "running") else None
        finished = None if duration is None or started is None else started + timedelta(milliseconds=duration)
        yield (
            str(uuid.uuid4()),
            TENANT,
            rng.choice(workflow_ids),
            1,
            status,
            "manual",
            1,
            False,
            METRICS,
            ERROR if status == "error" else None,
            "bench",
            created,
            started,
            finished,
            duration,
        )


def copy_record(row: tuple[Any, ...]) -> list[Any]:
    """A row as COPY takes it: asyncpg wants JSON columns as text (the shared dicts are encoded once)."""
    record = list(row)
    record[METRICS_AT] = METRICS_JSON
    record[ERROR_AT] = None if row[ERROR_AT] is None else ERROR_JSON
    return record


def batches(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def load(store: Store, actor: Actor, rows: Iterator[tuple[Any, ...]], count: int) -> None:
    database = store.database
    with Progress(
        TextColumn("loading executions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("load", total=count)
        if database.is_sqlite:
            for batch in batches(rows, BATCH):
                async with store.unit(actor) as unit:
                    await unit.session.execute(
                        insert(Execution), [dict(zip(COLUMNS, row, strict=True)) for row in batch]
                    )
                progress.advance(task, len(batch))
            return
        chunks = batches(rows, BATCH)

        def next_records() -> list[list[Any]] | None:
            batch = next(chunks, None)
            return None if batch is None else [copy_record(row) for row in batch]

        async with database.engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection  # asyncpg
            pending = asyncio.create_task(asyncio.to_thread(next_records))
            while (records := await pending) is not None:
                # The next batch is built while PostgreSQL indexes this one.
                pending = asyncio.create_task(asyncio.to_thread(next_records))
                await driver.copy_records_to_table("executions", records=records, columns=COLUMNS)
                progress.advance(task, len(records))


async def analyze(database: Database) -> None:
    """Statistics, and on PostgreSQL the visibility map: what autovacuum would have done by now."""
    if database.is_sqlite:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        return
    async with database.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM (ANALYZE) executions")


# ----- timing ----------------------------------------------------------------------------------------
async def timed(samples: int, request: Callable[[], Awaitable[object]]) -> list[float]:
    """Milliseconds per request, after a few untimed warm-up requests."""
    for _ in range(5):
        await request()
    spent = []
    for _ in range(samples):
        began = time.perf_counter()
        await request()
        spent.append((time.perf_counter() - began) * 1000)
    return spent


async def measure(store: Store, actor: Actor, workflow_ids: list[str], rows: int, samples: int) -> Table:
    rng = random.Random(7)

    async def cursor_at(depth: int) -> str:
        async with store.unit(actor, read_only=True) as unit:
            row = (
                await unit.session.execute(
                    select(Execution.created_at, Execution.id)
                    .order_by(Execution.created_at.desc(), Execution.id.desc())
                    .offset(depth)
                    .limit(1)
                )
            ).one()
        # The cursor the unfiltered list would hand out after that row, signed as the store signs it.
        return store.cursors.sign(actor.tenant_id, {"list": "executions"}, (row.created_at, row.id))

    deep = await cursor_at(rows // 2)
    async with store.unit(actor, read_only=True) as unit:  # the figures mean nothing for empty pages
        for page in (
            await unit.executions.list(limit=50),
            await unit.executions.list(limit=50, cursor=deep),
            await unit.executions.list(status="error", workflow_id=workflow_ids[0], limit=50),
        ):
            assert page.items, "the load is too small: a page came back empty"

    async def newest() -> None:
        async with store.unit(actor, read_only=True) as unit:
            await unit.executions.list(limit=50)

    async def deep_page() -> None:
        async with store.unit(actor, read_only=True) as unit:
            await unit.executions.list(limit=50, cursor=deep)

    async def filtered() -> None:
        async with store.unit(actor, read_only=True) as unit:
            await unit.executions.list(status="error", workflow_id=rng.choice(workflow_ids), limit=50)

    async def workflow_get() -> None:
        async with store.unit(actor, read_only=True) as unit:
            await unit.workflows.get(workflow_ids[0])

    table = Table(title=f"{rows:,} executions, {samples} requests each (ms per request, unit included)")
    for column in ("request", "p50", "p99", "mean", "max"):
        table.add_column(column, justify="left" if column == "request" else "right")
    figures = {
        "newest page (limit 50)": newest,
        f"keyset page {rows // 2:,} rows deep": deep_page,
        "status=error + workflowId page": filtered,
        "workflow get (hot cache)": workflow_get,
    }
    for name, request in figures.items():
        spent = await timed(samples, request)
        cuts = statistics.quantiles(spent, n=100, method="inclusive")
        table.add_row(
            name, f"{cuts[49]:.2f}", f"{cuts[98]:.2f}", f"{statistics.fmean(spent):.2f}", f"{max(spent):.2f}"
        )
    return table


async def main() -> None:
    options = arguments()
    began = time.perf_counter()
    url = await fresh_database(options.url)
    database = Database(url)
    store = Store(
        database, await WorkflowCache.connect(None), Keyring.generate(), default_registry(plugins=False)
    )
    try:
        await upgrade(database)
        await Tenants(database).create(TENANT)
        actor = Actor(TENANT, user_id="bench")
        workflow_ids = await create_workflows(store, actor)
        loading = time.perf_counter()
        await load(store, actor, execution_rows(options.rows, workflow_ids, datetime.now(UTC)), options.rows)
        loaded = time.perf_counter() - loading
        await analyze(database)
        console.print(
            f"[bold]{database.dialect}[/bold]: loaded {options.rows:,} executions in {loaded:.1f} s "
            f"({options.rows / loaded:,.0f} rows/s)"
        )
        console.print(await measure(store, actor, workflow_ids, options.rows, options.samples))
    finally:
        await store.close()
        if not options.keep:
            await drop_database(options.url)
    console.print(f"wall time {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
