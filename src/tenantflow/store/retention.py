"""Retention: delete executions past each tenant's age limit or beyond its per-workflow cap, in batches.

The sweep spans tenants, so it runs in :data:`~tenantflow.store.tenancy.SYSTEM` sessions and names the
tenant in every statement itself. Each batch is one short transaction that selects at most ``batch_size``
ids and deletes them by id (their node and log rows go by ON DELETE CASCADE), so no lock is held for long
and an interrupted sweep keeps what it finished. Queued and running executions are never deleted.

On SQLite the freed pages stay in the file until ``PRAGMA incremental_vacuum`` hands them back (the file is
created with ``auto_vacuum = INCREMENTAL``); PostgreSQL's autovacuum reuses them without being asked.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.engine import make_url

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor, AuditTrail, write_queued
from tenantflow.store.database import Database
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.executions import ACTIVE_STATUSES
from tenantflow.store.keyset import older_than
from tenantflow.store.models import Execution, Tenant, utc_now
from tenantflow.store.tenancy import SYSTEM


@dataclass(frozen=True, slots=True)
class TenantPruned:
    """What one tenant lost: ``expired`` by age, ``over_cap`` beyond the per-workflow maximum."""

    tenant_id: str
    expired: int
    over_cap: int

    @property
    def deleted(self) -> int:
        return self.expired + self.over_cap


@dataclass(frozen=True, slots=True)
class Vacuum:
    """SQLite's incremental vacuum: pages handed back, and the file's size (after a checkpoint) around it."""

    pages_freed: int
    size_before: int
    size_after: int


@dataclass(frozen=True, slots=True)
class PruneReport:
    tenants: list[TenantPruned]
    batches: int
    vacuum: Vacuum | None

    @property
    def deleted(self) -> int:
        return sum(tenant.deleted for tenant in self.tenants)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "batches": self.batches,
            "tenants": {
                tenant.tenant_id: {"expired": tenant.expired, "overCap": tenant.over_cap}
                for tenant in self.tenants
            },
            "vacuum": None
            if self.vacuum is None
            else {
                "pagesFreed": self.vacuum.pages_freed,
                "sizeBefore": self.vacuum.size_before,
                "sizeAfter": self.vacuum.size_after,
            },
        }


async def prune(
    database: Database,
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
    tenants: Iterable[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> PruneReport:
    """Apply every tenant's retention policy (or only ``tenants``'), then reclaim space on SQLite.

    ``progress`` is called after each batch with the tenant being pruned and the executions deleted so far
    in all: a sweep over millions of rows takes minutes, and an operator wants to see it move.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 100_000:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, "batchSize must be between 1 and 100000", path="$.batchSize"
        )
    if now is not None and now.tzinfo is None:
        raise InvalidRequestError(ErrorCode.INVALID_VALUE, "now must be a time with a zone", path="$.now")
    sweep = _Sweep(database, batch_size, progress)
    moment = utc_now() if now is None else now
    results = []
    for tenant_id, days, cap in await _policies(database, tenants):
        expired = await sweep.delete(tenant_id, [Execution.created_at < moment - timedelta(days=days)])
        over_cap = 0
        for workflow_id, boundary in await _over_cap(database, tenant_id, cap):
            over_cap += await sweep.delete(
                tenant_id,
                [_workflow_is(workflow_id), older_than(Execution.created_at, Execution.id, boundary)],
            )
        if expired or over_cap:
            await _audit(database, tenant_id, expired, over_cap)
        results.append(TenantPruned(tenant_id, expired, over_cap))
    vacuum = await _reclaim(database) if database.is_sqlite else None
    return PruneReport(results, sweep.batches, vacuum)


class _Sweep:
    """Deletes finished executions of one tenant matching some conditions, ``batch_size`` ids at a time."""

    def __init__(
        self, database: Database, batch_size: int, progress: Callable[[str, int], None] | None
    ) -> None:
        self.database = database
        self.batch_size = batch_size
        self.progress = progress
        self.batches = 0
        self.deleted = 0

    async def delete(self, tenant_id: str, conditions: list[ColumnElement[bool]]) -> int:
        finished = [*_finished(tenant_id), *conditions]
        deleted = 0
        while True:
            async with self.database.transaction(SYSTEM) as session:
                ids = list(
                    await session.scalars(
                        select(Execution.id)
                        .where(*finished)
                        .order_by(Execution.created_at, Execution.id)
                        .limit(self.batch_size)
                    )
                )
                if ids:
                    await session.execute(
                        delete(Execution)
                        .where(Execution.id.in_(ids), *finished)
                        .execution_options(synchronize_session=False)
                    )
                    self.batches += 1
            deleted += len(ids)
            self.deleted += len(ids)
            if ids and self.progress is not None:
                self.progress(tenant_id, self.deleted)
            if len(ids) < self.batch_size:
                return deleted


async def _policies(database: Database, tenants: Iterable[str] | None) -> list[tuple[str, int, int]]:
    query = select(Tenant.id, Tenant.retention_days, Tenant.retention_max_per_workflow).order_by(Tenant.id)
    if tenants is not None:
        query = query.where(Tenant.id.in_(list(tenants)))
    async with database.transaction(SYSTEM, read_only=True) as session:
        return [
            (row.id, row.retention_days, row.retention_max_per_workflow)
            for row in await session.execute(query)
        ]


async def _over_cap(
    database: Database, tenant_id: str, cap: int
) -> list[tuple[str | None, tuple[datetime, str]]]:
    """Workflows (``None``: ad-hoc runs) with over ``cap`` finished executions, and the oldest one to keep."""
    finished = _finished(tenant_id)
    async with database.transaction(SYSTEM, read_only=True) as session:
        crowded = await session.scalars(
            select(Execution.workflow_id)
            .where(*finished)
            .group_by(Execution.workflow_id)
            .having(func.count() > cap)
        )
        boundaries = []
        for workflow_id in list(crowded):
            kept_last = (
                await session.execute(
                    select(Execution.created_at, Execution.id)
                    .where(*finished, _workflow_is(workflow_id))
                    .order_by(Execution.created_at.desc(), Execution.id.desc())
                    .offset(cap - 1)
                    .limit(1)
                )
            ).one()
            boundaries.append((workflow_id, (kept_last.created_at, kept_last.id)))
    return boundaries


def _finished(tenant_id: str) -> list[ColumnElement[bool]]:
    """A tenant's finished executions: the only ones retention counts or deletes."""
    return [Execution.tenant_id == tenant_id, Execution.status.not_in(ACTIVE_STATUSES)]


def _workflow_is(workflow_id: str | None) -> ColumnElement[bool]:
    return Execution.workflow_id.is_(None) if workflow_id is None else Execution.workflow_id == workflow_id


async def _audit(database: Database, tenant_id: str, expired: int, over_cap: int) -> None:
    """One row per tenant and sweep, in the tenant's own log: deleted history should not go unexplained."""
    async with database.transaction(tenant_id) as session:
        AuditTrail(session, Actor(tenant_id)).ok(
            "execution.prune", "tenant", tenant_id, {"expired": expired, "overCap": over_cap}
        )
        await write_queued(session)


CHECKPOINT_ATTEMPTS = 250  # 5 s of 20 ms waits for another checkpoint to finish


async def _reclaim(database: Database) -> Vacuum | None:
    """Hand freed pages back to the file system; measured after WAL checkpoints, so sizes are the file's."""
    path = make_url(database.url).database
    if not path or path == ":memory:":
        return None
    async with database.engine.connect() as connection:
        # The driver connection is in autocommit mode; going around SQLAlchemy avoids its BEGIN IMMEDIATE,
        # inside which a checkpoint could not complete.
        driver: Any = (await connection.get_raw_connection()).driver_connection

        async def run(statement: str) -> list[Any]:
            cursor = await driver.execute(statement)
            rows: list[Any] = await cursor.fetchall()
            await cursor.close()
            return rows

        async def checkpoint() -> None:
            """Copy the whole WAL into the file. Another checkpoint (the service's checkpointer thread, or
            another process) makes this one answer busy rather than wait: try again until it completes."""
            for _ in range(CHECKPOINT_ATTEMPTS):
                [(busy, _log, _copied)] = await run("PRAGMA wal_checkpoint(TRUNCATE)")
                if not busy:
                    return
                await asyncio.sleep(0.02)

        await checkpoint()
        size_before = os.path.getsize(path)
        [(free_before,)] = await run("PRAGMA freelist_count")
        # It frees one page per step, and a cursor stops stepping a statement without columns after the
        # first; a script is stepped to the end.
        await driver.executescript("PRAGMA incremental_vacuum;")
        await checkpoint()
        [(free_after,)] = await run("PRAGMA freelist_count")
    return Vacuum(free_before - free_after, size_before, os.path.getsize(path))
