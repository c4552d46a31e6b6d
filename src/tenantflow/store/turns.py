"""Whose turn it is: the tenants with queued executions, those with the fewest running first.

A worker with free slots asks this, shares them out (:func:`shares`), and claims each tenant's oldest
admitted executions (:meth:`~tenantflow.store.executions.ExecutionRepository.claim_many`). Serving the
tenant that runs the least means a tenant's burst of thousands takes the slots nobody else wants, and
another tenant's single run takes the next free one: fair share without a queue per tenant. Ties are
broken at random, so workers that ask at once spread over the tenants instead of all contending for one
row.

Like the reaper's question this one spans tenants, so it runs in a :data:`~tenantflow.store.tenancy.SYSTEM`
session and answers with tenant ids (and their running counts) only. Its cost follows the tenants that
wait, not the rows: the distinct tenants come from a loose scan of the partial index on queued rows (one
index probe per tenant), the running counts from the ``(status, lease_expires_at)`` index, bounded by the
slots of all workers.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from sqlalchemy import CTE, ColumnElement, Select, TextClause, func, literal, select, text
from sqlalchemy.dialects import postgresql

from tenantflow.store.database import Database
from tenantflow.store.models import Execution
from tenantflow.store.queries import checked_limit
from tenantflow.store.tenancy import SYSTEM

MAX_TENANTS_SCANNED: Final = 1_000  # tenants with a backlog read per question; the rest wait a round
_QUEUED: Final = Execution.status == "queued"
_RUNNING_BY_TENANT: Final = (
    select(Execution.tenant_id, func.count())
    .where(Execution.status == "running")
    .group_by(Execution.tenant_id)
)


def backlog(probes: int = MAX_TENANTS_SCANNED) -> CTE:
    """The tenants with queued executions (column ``tenant_id``, a last row None), in tenant order, at most
    ``probes`` of them: a loose index scan of the queued rows' partial index ``(tenant_id, created_at,
    id)``, one probe per tenant, never a read of the backlog itself."""
    first = select(first_queued(Execution.tenant_id).label("tenant_id"), literal(1).label("depth"))
    tenants = first.cte("backlog", recursive=True)
    return tenants.union_all(
        select(
            first_queued(Execution.tenant_id, Execution.tenant_id > tenants.c.tenant_id),
            tenants.c.depth + 1,
        ).where(tenants.c.tenant_id.is_not(None), tenants.c.depth < probes)
    )


def first_queued(column: Any, *where: ColumnElement[bool]) -> Any:
    """The least ``column`` of the queued executions that match ``where``: one index probe, ``ORDER BY
    … LIMIT 1`` (``min()`` would read the whole range on some planners)."""
    return select(column).where(_QUEUED, *where).order_by(column).limit(1).scalar_subquery()


class Turn(NamedTuple):
    """A tenant with queued executions, and how many of its executions run now (0 when nobody else waits:
    with one tenant in turn there is nothing to order by)."""

    tenant_id: str
    running: int


async def tenants_in_turn(
    database: Database, *, tenant_limit: int | None = None, limit: int = 8
) -> list[Turn]:
    """Up to ``limit`` tenants that have queued executions, fewest running first; tenants already running
    ``tenant_limit`` executions are left out (they wait for one to end).

    A worker asks this once per round of claims, so it costs one round trip per statement (no BEGIN, no
    COMMIT on PostgreSQL; the two reads need no common snapshot, the claim checks again), and the
    statements are built once."""
    checked_limit(limit, MAX_TENANTS_SCANNED)
    waiting = [tenant for (tenant,) in await _rows(database, _WAITING)]
    if len(waiting) < 2 and tenant_limit is None:
        return [Turn(tenant, 0) for tenant in waiting]  # nothing to order, nobody left out
    running = {tenant: count for tenant, count in await _rows(database, _RUNNING_BY_TENANT)}
    admitted = [
        Turn(tenant, running.get(tenant, 0))
        for tenant in waiting
        if tenant_limit is None or running.get(tenant, 0) < tenant_limit
    ]
    random.shuffle(admitted)  # ties at random; the sort below is stable
    admitted.sort(key=lambda turn: turn.running)
    return admitted[:limit]


async def _rows(database: Database, statement: Select[*tuple[Any, ...]]) -> Sequence[Any]:
    """A question's rows: on PostgreSQL straight to the driver (:meth:`Database.fetch`), as the claim that
    follows goes (a session, the ORM's execute and its result cost more than the statement); elsewhere
    through a read-only :data:`~tenantflow.store.tenancy.SYSTEM` session."""
    if database.dialect == "postgresql":
        return await database.fetch(_as_text(statement), {})
    async with database.session(SYSTEM, read_only=True) as session:
        return list(await session.execute(statement))


@functools.cache
def _as_text(statement: Select[*tuple[Any, ...]]) -> TextClause:
    """PostgreSQL's text of a statement whose values are all constants of this module."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return text(str(compiled))


def shares(turns: Sequence[Turn], slots: int, tenant_limit: int | None = None) -> list[tuple[str, int]]:
    """How many of ``slots`` free slots each tenant in turn may fill: one at a time to the tenant that
    would then run the fewest (the earlier in ``turns`` on a tie), none past ``tenant_limit``. A burst's
    tenant takes what the others leave; tenants that wait with one run each get a slot first."""
    given = [0] * len(turns)
    for _ in range(slots):
        open_turns = [
            index
            for index, turn in enumerate(turns)
            if tenant_limit is None or turn.running + given[index] < tenant_limit
        ]
        if not open_turns:
            break
        chosen = min(open_turns, key=lambda index: turns[index].running + given[index])
        given[chosen] += 1
    return [(turn.tenant_id, count) for turn, count in zip(turns, given, strict=True) if count]


_BACKLOG: Final = backlog()
_WAITING: Final = select(_BACKLOG.c.tenant_id).where(_BACKLOG.c.tenant_id.is_not(None))
