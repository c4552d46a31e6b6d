"""Stale executions: ``queued`` rows no worker took in time, and ``running`` rows whose lease expired.

The reaper in every worker and API process asks this across tenants, so it runs in a
:data:`~tenantflow.store.tenancy.SYSTEM` session (as retention does) and answers with ids only, never an
input or an output. What follows happens in the row's own tenant: the id is enqueued again, and the worker
that receives it :meth:`claims <tenantflow.store.executions.ExecutionRepository.claim>` the row, which
decides again under the row lock. An answer here is a hint that may be stale by the time it is acted on,
never a hold on the row, so any number of reapers may ask at once.

Both halves walk the ``(status, lease_expires_at)`` index: expired leases as a range of it, read in its
order up to ``limit``; queued rows as its ``status = 'queued'`` part (their lease is empty), sorted by age:
the cost of the backlog, not of the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select, update

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.database import Database
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import Execution
from tenantflow.store.queries import checked_limit
from tenantflow.store.tenancy import SYSTEM

MAX_STALE_LIMIT: Final = 10_000
_COLUMNS: Final = (Execution.tenant_id, Execution.id, Execution.status, Execution.attempt)


@dataclass(frozen=True, slots=True)
class Stale:
    """One execution a reaper should hand to a worker again; ``attempt`` is the row's when it was read."""

    tenant_id: str
    execution_id: str
    status: str
    attempt: int


async def stale_executions(
    database: Database,
    now: datetime,
    *,
    queued_for_seconds: float,
    limit: int = 100,
    queued_limit: int | None = None,
) -> list[Stale]:
    """At most ``limit`` executions that nobody is running: ``queued`` ones created ``queued_for_seconds``
    or more before ``now`` (or given back by a worker that shut down), not sent again since, at most
    ``queued_limit`` of them (default ``limit``; 0: none), and ``running`` ones whose lease expired before
    ``now``. Oldest first: by the moment each became stale (queued: created plus ``queued_for_seconds``;
    running: its lease's expiry)."""
    checked_limit(limit, MAX_STALE_LIMIT)
    queued_limit = limit if queued_limit is None else min(queued_limit, limit)
    if now.tzinfo is None:
        raise InvalidRequestError(ErrorCode.INVALID_VALUE, "now must be a time with a zone", path="$.now")
    if not (math.isfinite(queued_for_seconds) and queued_for_seconds >= 0):
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, "queuedForSeconds must be 0 or more", path="$.queuedForSeconds"
        )
    waited = timedelta(seconds=queued_for_seconds)
    queued = (
        select(*_COLUMNS, Execution.created_at.label("since"))
        .where(
            Execution.status == "queued",
            Execution.created_at <= now - waited,
            or_(Execution.lease_expires_at.is_(None), Execution.lease_expires_at < now),  # not sent again yet
        )
        .order_by(Execution.created_at, Execution.id)
        .limit(queued_limit)
    )
    expired = (
        select(*_COLUMNS, Execution.lease_expires_at.label("since"))
        .where(Execution.status == "running", Execution.lease_expires_at < now)
        .order_by(Execution.lease_expires_at)  # the index's own order: no sort, it stops at ``limit``
        .limit(limit)
    )
    async with database.transaction(SYSTEM, read_only=True) as session:
        waiting = (
            [(row.since + waited, row) for row in await session.execute(queued)] if queued_limit > 0 else []
        )
        lapsed = [(row.since, row) for row in await session.execute(expired)]
    merged = sorted([*waiting, *lapsed], key=lambda pair: (pair[0], pair[1].id))[:limit]
    return [Stale(row.tenant_id, row.id, row.status, row.attempt) for _, row in merged]


async def running_owners(database: Database, host: str, *, limit: int = MAX_STALE_LIMIT) -> list[str]:
    """The lease owners (``host:pid:random``) of running executions on ``host``: what a worker starting
    there checks for processes that died holding leases."""
    checked_limit(limit, MAX_STALE_LIMIT)
    query = (
        select(Execution.lease_owner)
        .where(Execution.status == "running", Execution.lease_owner.startswith(f"{host}:", autoescape=True))
        .distinct()
        .limit(limit)
    )
    async with database.transaction(SYSTEM, read_only=True) as session:
        return [owner for owner in await session.scalars(query) if owner is not None]


async def expire_leases(database: Database, owner: str, now: datetime) -> int:
    """End the leases ``owner`` holds now instead of when they run out, so that the reaper's next round
    hands its executions to a live worker; how many. Only for an owner known to be dead: its writes are
    fenced by the attempt the takeover adds, not by this."""
    async with database.transaction(SYSTEM) as session:
        result = await session.execute(
            update(Execution)
            .where(
                Execution.status == "running",
                Execution.lease_owner == owner,
                Execution.lease_expires_at > now,
            )
            .values(lease_expires_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)
