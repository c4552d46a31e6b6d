"""Worker liveness and the queue's figures, as ``tenantflow status`` and ``/metrics`` show them.

Each ``tenantflow worker`` keeps one row of ``workers`` fresh (:mod:`tenantflow.queue.liveness`):
:func:`register` when it starts, :func:`beat` every few seconds with how many executions it runs,
:func:`deregister` when it stops. A worker killed outright leaves its row behind; it counts as gone once
unseen for the staleness window, and the next worker to register forgets rows unseen for
:data:`FORGET_AFTER`, so restarts do not grow the table.

None of this is tenant data, and :func:`queue_stats` spans every tenant's executions: all of it runs in
:data:`~tenantflow.store.tenancy.SYSTEM` sessions, as the reaper's reads do. Every statement is bounded and
walks an index: counts stop at :data:`COUNT_LIMIT` (a dashboard's figure, not an audit); the oldest queued
execution is found one tenant at a time in the queued rows' partial index (a probe per tenant with a
backlog, never a scan of the backlog; :data:`TENANT_PROBES` tenants at most); running rows are a range of
the ``(status, lease_expires_at)`` index; workers a range of the ``last_seen_at`` index
(:data:`MAX_WORKER_LIMIT` at most).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from tenantflow.store.database import Database
from tenantflow.store.models import Execution, WorkerProcess
from tenantflow.store.queries import checked_limit
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.turns import backlog, first_queued

FORGET_AFTER: Final = timedelta(hours=1)
"""Rows of workers unseen this long are deleted: long enough for an operator to see what went away."""
COUNT_LIMIT: Final = 100_000
"""Counts stop here, so a huge backlog costs a bounded read; a figure at the limit means "at least"."""
TENANT_PROBES: Final = 1000
"""The oldest queued execution is looked for among this many tenants with a backlog (in id order)."""
MAX_WORKER_LIMIT: Final = 1000

_QUEUED: Final = Execution.status == "queued"
_RUNNING: Final = Execution.status == "running"


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """What a worker process says about itself once: its lease owner, where it runs, what it serves."""

    owner: str
    host: str
    pid: int
    queue: str
    concurrency: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A worker's row as last written."""

    owner: str
    host: str
    pid: int
    queue: str
    concurrency: int
    running: int
    started_at: datetime
    last_seen_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "queue": self.queue,
            "concurrency": self.concurrency,
            "running": self.running,
            "startedAt": self.started_at.isoformat(),
            "lastSeenAt": self.last_seen_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The queue at ``at``. Ages are seconds, None when nothing is queued (or running)."""

    at: datetime
    queued: int
    oldest_queued_seconds: float | None
    running: int
    oldest_lease_seconds: float | None  # since the least recently renewed lease of a running execution
    expired_leases: int
    live_workers: int
    capacity: int  # executions the live workers run at once, together
    busy: int  # executions the live workers said they ran, together

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "queued": self.queued,
            "oldestQueuedSeconds": self.oldest_queued_seconds,
            "running": self.running,
            "oldestLeaseSeconds": self.oldest_lease_seconds,
            "expiredLeases": self.expired_leases,
            "liveWorkers": self.live_workers,
            "capacity": self.capacity,
            "busy": self.busy,
        }


async def register(database: Database, worker: WorkerIdentity, now: datetime) -> None:
    """Make ``worker``'s row (running nothing yet), and forget workers unseen for :data:`FORGET_AFTER`."""
    async with database.transaction(SYSTEM) as session:
        await session.execute(_upsert(database.dialect, worker, running=0, now=now))
        gone = (
            select(WorkerProcess.owner)
            .where(WorkerProcess.last_seen_at < now - FORGET_AFTER)
            .order_by(WorkerProcess.last_seen_at)
            .limit(MAX_WORKER_LIMIT)
        )
        await session.execute(
            delete(WorkerProcess)
            .where(WorkerProcess.owner.in_(gone))
            .execution_options(synchronize_session=False)
        )


async def beat(database: Database, worker: WorkerIdentity, *, running: int, now: datetime) -> None:
    """``worker`` is alive at ``now`` and runs ``running`` executions; a row forgotten meanwhile (the
    worker could not reach the database for long) is made again."""
    async with database.transaction(SYSTEM) as session:
        await session.execute(_upsert(database.dialect, worker, running=running, now=now))


async def deregister(database: Database, owner: str) -> None:
    """The worker stopped: its row goes."""
    async with database.transaction(SYSTEM) as session:
        await session.execute(
            delete(WorkerProcess)
            .where(WorkerProcess.owner == owner)
            .execution_options(synchronize_session=False)
        )


async def list_workers(database: Database, *, limit: int = 100) -> list[WorkerView]:
    """At most ``limit`` (1-1000) workers, the most recently seen first, gone ones included."""
    checked_limit(limit, MAX_WORKER_LIMIT)
    query = select(WorkerProcess).order_by(WorkerProcess.last_seen_at.desc()).limit(limit)
    async with database.transaction(SYSTEM, read_only=True) as session:
        return [
            WorkerView(
                row.owner,
                row.host,
                row.pid,
                row.queue,
                row.concurrency,
                row.running,
                row.started_at,
                row.last_seen_at,
            )
            for row in await session.scalars(query)
        ]


async def queue_stats(
    database: Database,
    now: datetime,
    *,
    lease_seconds: float,
    live_within_seconds: float,
    count_limit: int = COUNT_LIMIT,
    tenant_probes: int = TENANT_PROBES,
) -> QueueStats:
    """The queue's figures at ``now``. ``lease_seconds`` is the leases' length (their age is how long ago
    one was renewed: its expiry less that); a worker is live when seen within ``live_within_seconds``.
    Counts stop at ``count_limit``; the oldest queued execution is looked for in ``tenant_probes``
    tenants."""
    live = (
        select(WorkerProcess.concurrency, WorkerProcess.running)
        .where(WorkerProcess.last_seen_at >= now - timedelta(seconds=live_within_seconds))
        .limit(MAX_WORKER_LIMIT)
        .subquery()
    )
    live_totals = select(
        func.count(),
        func.coalesce(func.sum(live.c.concurrency), 0),
        func.coalesce(func.sum(live.c.running), 0),
    )
    async with database.transaction(SYSTEM, read_only=True) as session:
        queued = await session.scalar(_capped_count(count_limit, _QUEUED))
        oldest_queued = await session.scalar(_oldest_queued(tenant_probes))
        running = await session.scalar(_capped_count(count_limit, _RUNNING))
        next_expiry = await session.scalar(select(func.min(Execution.lease_expires_at)).where(_RUNNING))
        expired = await session.scalar(_capped_count(count_limit, _RUNNING, Execution.lease_expires_at < now))
        workers, capacity, busy = (await session.execute(live_totals)).one()
    last_renewed = None if next_expiry is None else next_expiry - timedelta(seconds=lease_seconds)
    return QueueStats(
        at=now,
        queued=queued or 0,
        oldest_queued_seconds=_seconds_since(oldest_queued, now),
        running=running or 0,
        oldest_lease_seconds=_seconds_since(last_renewed, now),
        expired_leases=expired or 0,
        live_workers=workers,
        capacity=capacity,
        busy=busy,
    )


def _seconds_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _capped_count(limit: int, *where: ColumnElement[bool]) -> Select[int]:
    """How many executions match ``where``, counted up to ``limit``."""
    matching = select(literal(1).label("one")).select_from(Execution).where(*where).limit(limit)
    return select(func.count()).select_from(matching.subquery())


def _oldest_queued(tenant_probes: int) -> Select[datetime | None]:
    """The oldest queued execution's ``created_at``: the oldest of each tenant with a backlog (a probe of
    the queued rows' partial index per tenant, :func:`~tenantflow.store.turns.backlog`), at most
    ``tenant_probes`` tenants."""
    tenants = backlog(tenant_probes)
    oldest = first_queued(Execution.created_at, Execution.tenant_id == tenants.c.tenant_id)
    per_tenant = select(oldest.label("oldest")).where(tenants.c.tenant_id.is_not(None)).subquery()
    return select(func.min(per_tenant.c.oldest))


def _upsert(dialect: str, worker: WorkerIdentity, *, running: int, now: datetime) -> Any:
    """``INSERT … ON CONFLICT (owner) DO UPDATE`` of the worker's row: what it runs and when it was seen."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(WorkerProcess)
    statement = insert.values(
        owner=worker.owner,
        host=worker.host,
        pid=worker.pid,
        queue=worker.queue,
        concurrency=worker.concurrency,
        running=running,
        started_at=worker.started_at,
        last_seen_at=now,
    )
    return statement.on_conflict_do_update(
        index_elements=[WorkerProcess.owner],
        set_={"running": statement.excluded.running, "last_seen_at": statement.excluded.last_seen_at},
    )
