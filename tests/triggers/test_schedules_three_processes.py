"""Issue 11, done-when (d): a workflow on a cron of every second, served by three ``tenantflow serve``
processes on one PostgreSQL database, each running its scheduler: every tick over ten and more fires exactly
once, whichever process wins it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Final

import httpx2
import pytest
from sqlalchemy import select

from tenantflow.services.runtime import open_store
from tenantflow.settings import Settings
from tenantflow.store.models import Execution
from tenantflow.store.tenancy import SYSTEM
from tests.conftest import migrated_postgres
from tests.served import provision, served_settings
from tests.test_serve import service_env, serving
from tests.triggers.workflows import cron

pytestmark = pytest.mark.anyio

TICKS: Final = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from migrated_postgres("tenantflow_schedules")


async def fired_ticks(settings: Settings, workflow_id: str) -> Counter[str]:
    """How many executions each tick of the workflow started, by the tick its trigger metadata names."""
    store = await open_store(settings)
    try:
        async with store.database.transaction(SYSTEM, read_only=True) as session:
            rows = await session.scalars(select(Execution).where(Execution.workflow_id == workflow_id))
            return Counter(row.input["trigger"]["metadata"]["tick"] for row in rows)
    finally:
        await store.close()


async def test_three_scheduler_processes_fire_each_tick_once(database_url: str, tmp_path: Path) -> None:
    settings = served_settings(database_url, tmp_path / "provisioning")
    assert settings.secret_keys is not None
    tenant_id, api_key = await provision(settings, "cron")
    env = service_env(
        tmp_path / "data",
        TENANTFLOW_DATABASE_URL=database_url,
        TENANTFLOW_SECRET_KEYS=settings.secret_keys.get_secret_value(),
        TENANTFLOW_BOOTSTRAP="false",
        TENANTFLOW_RATE_LIMITS_ENABLED="false",
        TENANTFLOW_SCHEDULE_POLL_SECONDS="0.5",
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    with serving(tmp_path, env) as first, serving(tmp_path, env), serving(tmp_path, env):
        base = f"{first.base}/api/v1/{tenant_id}"
        async with httpx2.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            created = await client.post("/workflows", json={**cron(), "category": "automation"})
            assert created.status_code == 201, created.text
            workflow_id = created.json()["id"]
            started = time.monotonic()
            while sum((await fired_ticks(settings, workflow_id)).values()) < TICKS + 2:
                assert time.monotonic() - started < 40, "the schedule did not fire 12 ticks in 40 s"
                await asyncio.sleep(0.5)
            disabled = await client.post(f"/workflows/{workflow_id}/disable")
            assert disabled.status_code == 200, disabled.text

    fired = await fired_ticks(settings, workflow_id)
    assert len(fired) >= TICKS + 2 and set(fired.values()) == {1}, fired
    seconds = sorted(datetime.fromisoformat(tick) for tick in fired)
    gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(seconds)}
    assert gaps == {1.0}, seconds  # every second between the first and the last fired, none twice
