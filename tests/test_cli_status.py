"""``tenantflow status``: the queue's figures and the workers, from the database, as a table or as JSON;
refused with a message (exit 1) when the database is unreachable or its schema is behind."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from tenantflow.cli import app
from tenantflow.engine.record import utc_now
from tenantflow.store.database import Database
from tenantflow.store.workers import WorkerIdentity, beat, register
from tests.store.test_workers import execution, tenant

runner = CliRunner()


def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'status.db'}"
    assert runner.invoke(app, ["migrate", "--database-url", url]).exit_code == 0
    return url


def seed(url: str) -> None:
    """Two queued executions (the older 300 s), one running, a live worker and one gone for 10 minutes."""

    async def write() -> None:
        database = Database(url)
        now = utc_now()
        try:
            tenant_id = await tenant(database, "cli")
            for seconds in (300, 5):
                await execution(database, tenant_id, "queued", created=now - timedelta(seconds=seconds))
            await execution(
                database, tenant_id, "running", created=now, lease_expires=now + timedelta(seconds=25)
            )
            live = WorkerIdentity("live-host:10:aa", "live-host", 10, "tenantflow.executions", 8, now)
            await register(database, live, now)
            await beat(database, live, running=1, now=now)
            gone_at = now - timedelta(minutes=10)
            gone = WorkerIdentity("gone-host:20:bb", "gone-host", 20, "tenantflow.executions", 4, gone_at)
            await register(database, gone, gone_at)
        finally:
            await database.dispose()

    asyncio.run(write())


def test_status_json_shows_the_queue_and_the_workers(tmp_path: Path) -> None:
    url = migrated(tmp_path)
    seed(url)
    result = runner.invoke(app, ["status", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    queue = data["queue"]
    assert {
        key: queue[key] for key in ("queued", "running", "expiredLeases", "liveWorkers", "capacity", "busy")
    } == {
        "queued": 2,
        "running": 1,
        "expiredLeases": 0,
        "liveWorkers": 1,
        "capacity": 8,
        "busy": 1,
    }
    assert 300 <= queue["oldestQueuedSeconds"] < 330
    assert 5 <= queue["oldestLeaseSeconds"] < 35  # renewed 5 s before its 25 s were left: 30 s leases
    assert data["liveWithinSeconds"] == 30.0
    workers = [(row["owner"], row["running"], row["concurrency"], row["live"]) for row in data["workers"]]
    assert workers == [("live-host:10:aa", 1, 8, True), ("gone-host:20:bb", 0, 4, False)]
    only_one = runner.invoke(app, ["status", "--database-url", url, "--json", "--limit", "1"])
    assert [row["owner"] for row in json.loads(only_one.stdout)["workers"]] == ["live-host:10:aa"]


def test_status_table_shows_the_figures_and_each_worker(tmp_path: Path) -> None:
    url = migrated(tmp_path)
    seed(url)
    result = runner.invoke(app, ["status", "--database-url", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("queued" in line and " 2 " in line for line in lines), result.stdout
    assert any("live workers" in line and "1 (capacity 8, busy 1)" in line for line in lines), result.stdout
    assert any("live-host:10:aa" in line and "live" in line for line in lines), result.stdout
    assert any("gone-host:20:bb" in line and "gone" in line for line in lines), result.stdout


def test_status_refuses_a_database_it_cannot_read(tmp_path: Path) -> None:
    empty = runner.invoke(app, ["status", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert empty.exit_code == 1 and "tenantflow migrate" in empty.output, empty.output
    away = runner.invoke(app, ["status", "--database-url", "postgresql://nobody@127.0.0.1:1/none"])
    assert away.exit_code == 1 and "cannot read the queue from" in away.output, away.output
    assert "Traceback" not in empty.output + away.output
