"""Schedule ticks: the claims that make each firing of a schedule trigger start one execution.

A tick is one moment at which one rule of one Schedule Trigger node fires. Every scheduler process that
sees it due tries to insert its row (``INSERT … ON CONFLICT DO NOTHING``); the primary key lets exactly one
insert through, and that process alone starts the execution, then records it on the row. A claim that
stays ``claimed`` (its process died between the two) is taken over by one other process after a grace
period, which starts the execution with the same idempotency key, so even that cannot run a tick twice.

:class:`ScheduleRepository` (``unit.schedules``) does this for the unit's tenant, through the session's
tenant guard like every repository. The module functions below it are the scheduler's cross-tenant reads
(which workflows have schedules, what each trigger fired last, which claims are stale, which tenants have
old ticks): maintenance in :data:`~tenantflow.store.tenancy.SYSTEM` sessions, as the retention sweep is,
every one of them bounded.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    Integer,
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tenantflow.store.database import Database
from tenantflow.store.models import ScheduleTick, UTCDateTime, Workflow
from tenantflow.store.queries import checked_limit
from tenantflow.store.tenancy import SYSTEM

if TYPE_CHECKING:
    from tenantflow.store.unit import Unit

SCHEDULE_TYPE_MARK: Final = "scheduleTrigger"
"""In the type of every Schedule Trigger node (``n8n-nodes-base.scheduleTrigger`` or its alias): the cheap
test that picks the workflows whose nodes are worth parsing."""
MAX_TICK_LIMIT: Final = 1000

_TICKS = ScheduleTick.__table__
_TRIGGER_COLUMNS: Final = (
    ScheduleTick.tenant_id,
    ScheduleTick.workflow_id,
    ScheduleTick.node_id,
    ScheduleTick.rule,
)
_WORKFLOWS = Workflow.__table__
_CLAIMS: dict[str, Any] = {}  # dialect name -> the claim statement


@dataclass(frozen=True, slots=True)
class TriggerKey:
    """One rule of one Schedule Trigger node of one workflow: what fires on its own ticks."""

    tenant_id: str
    workflow_id: str
    node_id: str
    rule: int


@dataclass(frozen=True, slots=True)
class TickKey:
    """One tick of one trigger rule: a row's primary key."""

    trigger: TriggerKey
    tick: datetime


@dataclass(frozen=True, slots=True)
class TickView:
    workflow_id: str
    node_id: str
    rule: int
    tick: datetime
    state: str
    claimed_by: str
    claimed_at: datetime
    execution_id: str | None


@dataclass(frozen=True, slots=True)
class ScheduledWorkflow:
    """An enabled workflow as the scheduler's scan sees it: enough to tell whether it changed."""

    tenant_id: str
    id: str
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleSource:
    """What the scheduler parses the triggers of a workflow version from."""

    tenant_id: str
    id: str
    version: int
    nodes: list[dict[str, Any]]
    settings: dict[str, Any]


class ScheduleRepository:
    """Tick rows of the unit's tenant. Never commits: the unit does."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    @property
    def session(self) -> AsyncSession:
        return self.unit.session

    async def claim(self, key: TickKey, owner: str, now: datetime) -> bool:
        """Insert the tick's row if no process has, and only for an enabled workflow of this tenant: True
        when this call made it (its caller starts the execution), False when it was there already or the
        workflow is not this tenant's enabled one."""
        values = {
            "tenant_id": self.unit.tenant_id,
            "workflow_id": key.trigger.workflow_id,
            "node_id": key.trigger.node_id,
            "rule": key.trigger.rule,
            "tick": key.tick,
            "claimed_by": owner,
            "claimed_at": now,
        }
        result = await self.session.execute(_claim_statement(self.unit.store.database.dialect), values)
        return result.first() is not None

    async def take_over(self, key: TickKey, owner: str, *, stale_before: datetime, now: datetime) -> bool:
        """Make a claim that was not started by ``stale_before`` this process's: True for the one process
        whose update found it still stale."""
        result = await self.session.execute(
            update(ScheduleTick)
            .where(
                *_is(key),
                ScheduleTick.state == "claimed",
                ScheduleTick.claimed_at < stale_before,
            )
            .values(claimed_by=owner, claimed_at=now)
            .returning(ScheduleTick.tick)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def started(self, key: TickKey, execution_id: str) -> None:
        """The claimed tick's execution exists."""
        await self._settle(key, "started", execution_id)

    async def refused(self, key: TickKey) -> None:
        """The claimed tick could not run (the workflow was disabled, deleted or invalid meanwhile)."""
        await self._settle(key, "refused", None)

    async def recent(self, workflow_id: str, *, limit: int = 50) -> builtins.list[TickView]:
        """The workflow's newest ticks first, at most ``limit`` (1-1000)."""
        checked_limit(limit, MAX_TICK_LIMIT)
        rows = await self.session.scalars(
            select(ScheduleTick)
            .where(ScheduleTick.workflow_id == workflow_id)
            .order_by(ScheduleTick.tick.desc(), ScheduleTick.node_id, ScheduleTick.rule)
            .limit(limit)
        )
        return [_view(row) for row in rows]

    async def prune(self, before: datetime, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` (1-1000) ticks older than ``before``, oldest first, keeping each trigger's
        newest tick (what a restarted scheduler reads as "fired last"); returns how many went."""
        checked_limit(limit, MAX_TICK_LIMIT)
        newer = aliased(ScheduleTick)
        doomed = (
            select(ScheduleTick.workflow_id, ScheduleTick.node_id, ScheduleTick.rule, ScheduleTick.tick)
            .where(
                ScheduleTick.tick < before,
                exists().where(
                    newer.tenant_id == ScheduleTick.tenant_id,
                    newer.workflow_id == ScheduleTick.workflow_id,
                    newer.node_id == ScheduleTick.node_id,
                    newer.rule == ScheduleTick.rule,
                    newer.tick > ScheduleTick.tick,
                ),
            )
            .order_by(ScheduleTick.tick)
            .limit(limit)
        )
        gone = await self.session.execute(
            delete(ScheduleTick)
            .where(
                tuple_(
                    ScheduleTick.workflow_id, ScheduleTick.node_id, ScheduleTick.rule, ScheduleTick.tick
                ).in_(doomed)
            )
            .returning(ScheduleTick.tick)
            .execution_options(synchronize_session=False)
        )
        return len(gone.all())

    async def _settle(self, key: TickKey, state: str, execution_id: str | None) -> None:
        await self.session.execute(
            update(ScheduleTick)
            .where(*_is(key))
            .values(state=state, execution_id=execution_id)
            .execution_options(synchronize_session=False)
        )


def _is(key: TickKey) -> tuple[Any, ...]:
    """The row of ``key`` (the session's guard adds the tenant)."""
    return (
        ScheduleTick.workflow_id == key.trigger.workflow_id,
        ScheduleTick.node_id == key.trigger.node_id,
        ScheduleTick.rule == key.trigger.rule,
        ScheduleTick.tick == key.tick,
    )


def _trigger(row: Any) -> TriggerKey:
    """The trigger rule of a row that has the trigger columns."""
    return TriggerKey(row.tenant_id, row.workflow_id, row.node_id, row.rule)


def _view(row: ScheduleTick) -> TickView:
    return TickView(
        row.workflow_id,
        row.node_id,
        row.rule,
        row.tick,
        row.state,
        row.claimed_by,
        row.claimed_at,
        row.execution_id,
    )


def _claim_statement(dialect: str) -> Any:
    """``INSERT INTO schedule_ticks SELECT … FROM workflows WHERE <this tenant's enabled workflow>
    ON CONFLICT DO NOTHING RETURNING tick``: the workflow check and the claim in one statement. A table
    statement, so the guard checks its ``tenant_id`` parameter, which the SELECT filters by too."""
    statement = _CLAIMS.get(dialect)
    if statement is not None:
        return statement
    tenant = bindparam("tenant_id", type_=String())
    source = select(
        tenant,
        _WORKFLOWS.c.id,
        bindparam("node_id", type_=String()),
        bindparam("rule", type_=Integer()),
        bindparam("tick", type_=UTCDateTime()),
        literal("claimed", String()),
        bindparam("claimed_by", type_=String()),
        bindparam("claimed_at", type_=UTCDateTime()),
    ).where(
        _WORKFLOWS.c.id == bindparam("workflow_id", type_=String()),
        _WORKFLOWS.c.tenant_id == tenant,
        _WORKFLOWS.c.enabled == true(),
    )
    columns = ["tenant_id", "workflow_id", "node_id", "rule", "tick", "state", "claimed_by", "claimed_at"]
    insert_ = (postgresql if dialect == "postgresql" else sqlite).insert(_TICKS)
    statement = _CLAIMS[dialect] = (
        insert_.from_select(columns, source)
        .on_conflict_do_nothing()
        .returning(_TICKS.c.tick)
        .execution_options(tenant_filtered=True)
    )
    return statement


# ----- the scheduler's cross-tenant reads ---------------------------------------------------------------


async def scheduled_workflows(
    database: Database, *, after: str | None, limit: int
) -> builtins.list[ScheduledWorkflow]:
    """Enabled workflows that are not invalid, in id order after ``after``: one keyset page of at most
    ``limit`` (1-1000) for the primary key's index to serve, however many workflows there are."""
    checked_limit(limit, MAX_TICK_LIMIT)
    query = (
        select(Workflow.tenant_id, Workflow.id, Workflow.version, Workflow.updated_at)
        .where(Workflow.enabled.is_(True), Workflow.validation_status != "invalid")
        .order_by(Workflow.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Workflow.id > after)
    async with database.transaction(SYSTEM, read_only=True) as session:
        rows = await session.execute(query)
        return [ScheduledWorkflow(row.tenant_id, row.id, row.version, row.updated_at) for row in rows]


async def schedule_sources(
    database: Database, workflows: Sequence[ScheduledWorkflow]
) -> builtins.list[ScheduleSource]:
    """The nodes and settings of those of ``workflows`` (at most 1000) that have a Schedule Trigger, in
    one query; a workflow changed since the scan comes back with its newer version."""
    if not workflows:
        return []
    checked_limit(len(workflows), MAX_TICK_LIMIT)
    query = select(
        Workflow.tenant_id, Workflow.id, Workflow.version, Workflow.nodes, Workflow.settings
    ).where(
        tuple_(Workflow.tenant_id, Workflow.id).in_([(item.tenant_id, item.id) for item in workflows]),
        cast(Workflow.nodes, Text).contains(SCHEDULE_TYPE_MARK),
    )
    async with database.transaction(SYSTEM, read_only=True) as session:
        return [
            ScheduleSource(row.tenant_id, row.id, row.version, row.nodes or [], row.settings or {})
            for row in await session.execute(query)
        ]


async def latest_ticks(
    database: Database, workflows: Iterable[tuple[str, str]]
) -> dict[TriggerKey, datetime]:
    """The newest tick of every trigger rule of the given ``(tenant, workflow)`` pairs (at most 1000), in
    one grouped query: what a scheduler that starts, or meets a changed workflow, counts as fired last."""
    pairs = sorted(set(workflows))
    if not pairs:
        return {}
    checked_limit(len(pairs), MAX_TICK_LIMIT)
    query = (
        select(*_TRIGGER_COLUMNS, func.max(ScheduleTick.tick).label("tick"))
        .where(tuple_(ScheduleTick.tenant_id, ScheduleTick.workflow_id).in_(pairs))
        .group_by(*_TRIGGER_COLUMNS)
    )
    async with database.transaction(SYSTEM, read_only=True) as session:
        return {_trigger(row): row.tick for row in await session.execute(query)}


async def stale_claims(
    database: Database, *, claimed_before: datetime, claimed_after: datetime, limit: int = 100
) -> builtins.list[TickKey]:
    """Claims still not started that were made between the two moments, oldest first, at most ``limit``:
    their process probably died before starting the execution. Older ones are left alone: by then the
    trigger has fired a newer tick, which is the one a missed schedule owes."""
    checked_limit(limit, MAX_TICK_LIMIT)
    query = (
        select(*_TRIGGER_COLUMNS, ScheduleTick.tick)
        .where(
            ScheduleTick.state == "claimed",
            and_(ScheduleTick.claimed_at < claimed_before, ScheduleTick.claimed_at >= claimed_after),
        )
        .order_by(ScheduleTick.claimed_at)
        .limit(limit)
    )
    async with database.transaction(SYSTEM, read_only=True) as session:
        return [TickKey(_trigger(row), row.tick) for row in await session.execute(query)]


async def tenants_with_ticks_before(
    database: Database, before: datetime, *, after: str | None = None, limit: int = 100
) -> builtins.list[str]:
    """Tenants (in id order after ``after``, at most ``limit``) that have ticks older than ``before``:
    whose repositories the pruning pass asks to prune."""
    checked_limit(limit, MAX_TICK_LIMIT)
    query = (
        select(ScheduleTick.tenant_id)
        .where(ScheduleTick.tick < before)
        .group_by(ScheduleTick.tenant_id)
        .order_by(ScheduleTick.tenant_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(ScheduleTick.tenant_id > after)
    async with database.transaction(SYSTEM, read_only=True) as session:
        return list(await session.scalars(query))
