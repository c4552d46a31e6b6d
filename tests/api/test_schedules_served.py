"""The schedule host as a served app runs it: a workflow created over HTTP with a Schedule Trigger starts on
its ticks (``triggerKind: schedule``) and stops once disabled, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tenantflow.api.app import create_app
from tests.served import admin_client, served_settings
from tests.triggers.workflows import cron

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def _runs(client: httpx2.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    response = await client.get("/executions", params={"workflowId": workflow_id, "limit": 100})
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["items"]
    return runs


async def test_a_served_schedule_fires_on_its_ticks_and_stops_when_disabled(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(served_settings(database_url, tmp_path, schedule_poll_seconds=0.2))
    async with app.router.lifespan_context(app), admin_client(app, "sched") as (client, _):
        document = cron()
        created = await client.post("/workflows", json={**document, "category": "automation"})
        assert created.status_code == 201, created.text
        workflow_id = created.json()["id"]
        runs: list[dict[str, Any]] = []
        for _ in range(80):  # every second: two ticks within a few seconds
            runs = await _runs(client, workflow_id)
            if len(runs) >= 2 and all(run["status"] == "success" for run in runs):
                break
            await asyncio.sleep(0.1)
        assert len(runs) >= 2, runs
        assert {(run["triggerKind"], run["status"]) for run in runs} == {("schedule", "success")}
        disabled = await client.post(f"/workflows/{workflow_id}/disable")
        assert disabled.status_code == 200, disabled.text
        await asyncio.sleep(1.5)  # a tick claimed just before the disable may still start
        settled = len(await _runs(client, workflow_id))
        await asyncio.sleep(2.2)
        assert len(await _runs(client, workflow_id)) == settled
