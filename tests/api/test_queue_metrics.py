"""GET /metrics shows the queue as the database has it (depth, ages, leases, live workers), read at scrape
time; when the database fails a scrape still answers, with the last figures and their age."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import text

from tenantflow.api.app import create_app
from tenantflow.engine.record import utc_now
from tenantflow.metrics import QueueFigures
from tenantflow.store.database import Database
from tenantflow.store.workers import WorkerIdentity, beat, register
from tests.conftest import _migrate
from tests.served import served_settings
from tests.store.test_workers import execution, tenant

pytestmark = pytest.mark.anyio

LEASE = 30.0  # the settings' default


def gauge(exposition: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", exposition, re.MULTILINE)
    assert found, f"{name} is not exposed"
    return float(found[1])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx2.AsyncClient, Database]]:
    """The app on a database of its own (the figures span every tenant), and that database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}"
    await _migrate(url)
    app = create_app(served_settings(url, tmp_path, schedules_enabled=False))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://tenantflow.test") as client:
            yield client, app.state.runtime.store.database


async def scrape(client: httpx2.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def test_metrics_show_the_queue_depth_ages_leases_and_live_workers(
    served: tuple[httpx2.AsyncClient, Database],
) -> None:
    client, database = served
    assert gauge(await scrape(client), "tenantflow_queue_depth") == 0
    now = utc_now()
    tenant_id = await tenant(database, "m")
    for seconds in (600, 10):
        await execution(database, tenant_id, "queued", created=now - timedelta(seconds=seconds))
    await execution(database, tenant_id, "running", created=now, lease_expires=now - timedelta(seconds=5))
    worker = WorkerIdentity("host:1:ab", "host", 1, "q", 4, now)
    await register(database, worker, now)
    await beat(database, worker, running=1, now=now)
    await asyncio.sleep(QueueFigures.FRESH_FOR)  # the first scrape's figures are fresh until then
    figures = await scrape(client)
    exact = {
        "tenantflow_queue_depth": 2,
        "tenantflow_queue_running": 1,
        "tenantflow_queue_expired_leases": 1,
        "tenantflow_workers_live": 1,
        "tenantflow_workers_capacity": 4,
        "tenantflow_workers_busy": 1,
    }
    assert {name: gauge(figures, name) for name in exact} == exact
    assert 600 < gauge(figures, "tenantflow_queue_oldest_queued_seconds") < 610
    assert 35 < gauge(figures, "tenantflow_queue_oldest_lease_seconds") < 45  # 5 s past a 30 s lease
    assert gauge(figures, "tenantflow_queue_stats_age_seconds") < 1


async def test_a_scrape_serves_the_last_figures_while_the_database_fails(
    served: tuple[httpx2.AsyncClient, Database],
) -> None:
    client, database = served
    tenant_id = await tenant(database, "m")
    await execution(database, tenant_id, "queued", created=utc_now())
    first = await scrape(client)
    assert gauge(first, "tenantflow_queue_depth") == 1
    async with database.engine.begin() as connection:  # the figures' reads now fail
        await connection.execute(text("ALTER TABLE workers RENAME TO workers_away"))
    await asyncio.sleep(QueueFigures.FRESH_FOR)
    failing = await scrape(client)
    assert gauge(failing, "tenantflow_queue_depth") == 1
    failures = "tenantflow_queue_stats_failures_total"
    assert gauge(failing, failures) == gauge(first, failures) + 1
    assert gauge(failing, "tenantflow_queue_stats_age_seconds") >= QueueFigures.FRESH_FOR
    async with database.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE workers_away RENAME TO workers"))
    await execution(database, tenant_id, "queued", created=utc_now())
    recovered = await scrape(client)  # a failed read is not a fresh one: this scrape reads again
    assert gauge(recovered, "tenantflow_queue_depth") == 2
    assert gauge(recovered, "tenantflow_queue_stats_age_seconds") < 1
    assert gauge(recovered, failures) == gauge(failing, failures)
