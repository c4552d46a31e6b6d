"""Worker rows and the queue's figures on SQLite and PostgreSQL: a worker registers, beats and deregisters;
long-gone rows are forgotten; ``queue_stats`` counts and ages exactly what is queued, running and live,
across tenants, and stops counting at its bounds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from tenantflow.store.database import Database
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import Execution, Tenant, WorkerProcess
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.workers import (
    FORGET_AFTER,
    QueueStats,
    WorkerIdentity,
    beat,
    deregister,
    list_workers,
    queue_stats,
    register,
)
from tests.conftest import _migrate, migrated_postgres

pytestmark = pytest.mark.anyio

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
LEASE = 30.0
LIVE_WITHIN = 30.0


@pytest.fixture(scope="module")
def fresh_postgres() -> Iterator[str]:
    """A database of this module's own: the figures span every tenant, so no other test's rows may count."""
    yield from migrated_postgres("tenantflow_workers")


@pytest.fixture(scope="module")
def fresh_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("workers") / "workers.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_migrate(url))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"fresh_{request.param}")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    async with opened.transaction(SYSTEM) as session:  # each test starts from no executions and no workers
        await session.execute(delete(Execution))
        await session.execute(delete(WorkerProcess))
    try:
        yield opened
    finally:
        await opened.dispose()


def identity(owner: str = "host-a:100:beef", concurrency: int = 4, started: datetime = T0) -> WorkerIdentity:
    return WorkerIdentity(owner, "host-a", 100, "tenantflow.executions", concurrency, started)


async def stats(database: Database, now: datetime = T0) -> QueueStats:
    return await queue_stats(database, now, lease_seconds=LEASE, live_within_seconds=LIVE_WITHIN)


async def tenant(database: Database, name: str) -> str:
    tenant_id = f"{name}-{uuid.uuid4().hex[:8]}"
    async with database.transaction(SYSTEM) as session:
        session.add(Tenant(id=tenant_id, name=tenant_id))
    return tenant_id


async def execution(
    database: Database,
    tenant_id: str,
    status: str,
    *,
    created: datetime,
    lease_expires: datetime | None = None,
) -> None:
    """One execution row as the queue leaves it (no workflow: only the columns the figures read)."""
    async with database.transaction(SYSTEM) as session:
        session.add(
            Execution(
                tenant_id=tenant_id,
                status=status,
                created_at=created,
                lease_owner=None if lease_expires is None else "host-a:100:beef",
                lease_expires_at=lease_expires,
            )
        )


async def test_a_worker_registers_beats_and_deregisters(database: Database) -> None:
    worker = identity()
    await register(database, worker, T0)
    [row] = await list_workers(database)
    assert (row.owner, row.host, row.pid, row.queue, row.concurrency) == (
        worker.owner,
        "host-a",
        100,
        "tenantflow.executions",
        4,
    )
    assert (row.running, row.started_at, row.last_seen_at) == (0, T0, T0)
    later = T0 + timedelta(seconds=10)
    await beat(database, worker, running=3, now=later)
    [row] = await list_workers(database)
    assert (row.running, row.started_at, row.last_seen_at) == (3, T0, later)
    await deregister(database, worker.owner)
    assert await list_workers(database) == []
    await beat(database, worker, running=1, now=later)  # a beat after its row went makes it again
    assert [(row.owner, row.running) for row in await list_workers(database)] == [(worker.owner, 1)]


async def test_workers_are_listed_most_recently_seen_first_within_a_bound(database: Database) -> None:
    for index, seconds in enumerate((5, 20, 10)):
        await register(database, identity(f"host-a:{index}:00"), T0 + timedelta(seconds=seconds))
    assert [row.owner for row in await list_workers(database)] == [
        "host-a:1:00",
        "host-a:2:00",
        "host-a:0:00",
    ]
    assert [row.owner for row in await list_workers(database, limit=1)] == ["host-a:1:00"]
    for limit in (0, 1001):
        with pytest.raises(InvalidRequestError):
            await list_workers(database, limit=limit)


async def test_registering_forgets_workers_unseen_for_long(database: Database) -> None:
    await register(database, identity("gone:1:00"), T0 - FORGET_AFTER - timedelta(seconds=1))
    await register(database, identity("quiet:2:00"), T0 - FORGET_AFTER + timedelta(seconds=1))
    await register(database, identity("new:3:00"), T0)
    assert {row.owner for row in await list_workers(database)} == {"quiet:2:00", "new:3:00"}


async def test_queue_stats_of_an_empty_queue(database: Database) -> None:
    assert await stats(database) == QueueStats(T0, 0, None, 0, None, 0, 0, 0, 0)


async def test_queue_stats_count_and_age_across_tenants(database: Database) -> None:
    a, b, c = [await tenant(database, name) for name in "abc"]
    for tenant_id, seconds in ((a, 10), (b, 100), (b, 40), (c, 50)):
        await execution(database, tenant_id, "queued", created=T0 - timedelta(seconds=seconds))
    await execution(database, a, "success", created=T0 - timedelta(hours=9))  # finished: never counted
    await execution(database, a, "running", created=T0, lease_expires=T0 + timedelta(seconds=20))
    await execution(database, c, "running", created=T0, lease_expires=T0 - timedelta(seconds=5))
    await register(database, identity("w1:1:00", concurrency=4), T0)
    await beat(database, identity("w1:1:00", concurrency=4), running=2, now=T0 - timedelta(seconds=5))
    await register(database, identity("w2:2:00", concurrency=8), T0 - timedelta(seconds=29))
    await register(database, identity("w3:3:00", concurrency=16), T0 - timedelta(seconds=31))  # gone
    assert await stats(database) == QueueStats(
        at=T0,
        queued=4,
        oldest_queued_seconds=100.0,
        running=2,
        oldest_lease_seconds=35.0,  # expired 5 s ago, so last renewed a lease (30 s) before that
        expired_leases=1,
        live_workers=2,
        capacity=12,
        busy=2,
    )
    later = await stats(database, T0 + timedelta(seconds=30))
    assert (later.oldest_queued_seconds, later.expired_leases, later.live_workers) == (130.0, 2, 0)


async def test_queue_stats_stop_at_their_bounds(database: Database) -> None:
    """Counts stop at ``count_limit``; the oldest queued execution is looked for in ``tenant_probes``
    tenants."""
    first, second, third = sorted([await tenant(database, name) for name in "xyz"])
    for tenant_id, seconds in ((first, 10), (second, 20), (third, 90)):
        await execution(database, tenant_id, "queued", created=T0 - timedelta(seconds=seconds))
    bounded = await queue_stats(
        database, T0, lease_seconds=LEASE, live_within_seconds=LIVE_WITHIN, count_limit=2, tenant_probes=2
    )
    assert (bounded.queued, bounded.oldest_queued_seconds) == (2, 20.0)
