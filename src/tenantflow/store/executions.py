"""Executions: queued, then running, then finished runs of a workflow, with per-node checkpoints and logs.

Node outputs live in one ``execution_nodes`` row per node run, so a worker can checkpoint each node as it
finishes (a retried checkpoint overwrites its own row instead of adding one) and the ``executions`` row stays
small enough to list. Lists page by keyset on ``(created_at, id)``, newest first, never by OFFSET: the
millionth row costs what the first does; their cursors are signed and bound to the tenant and the filter
(:mod:`tenantflow.store.keyset`). Execution ids are the store's to make, so no caller can learn whether an
id is taken elsewhere by trying to create it.

As in :mod:`tenantflow.store.workflows`, the session's tenant filter does the isolation; this module tells
"absent" from "another tenant's" on the miss path only (:meth:`Unit.refuse_missing`): a foreign id reads as
not found and a write to it is CROSS_TENANT_ACCESS_DENIED.

Workers on other machines hold a :class:`Lease` on the row they run (:meth:`ExecutionRepository.claim`,
``heartbeat``, ``release``): one conditional UPDATE decides each claim, so two claimers of one row never
both win, and a lease that expired is taken over with ``attempt`` + 1. ``owner`` and ``attempt`` are the
fence: a write that carries a lease the row no longer names (taken over, released, finished) stores nothing
and raises LEASE_LOST.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import ExecutionRecord, LogEntry, Metrics, NodeState, NodeStatus, iso, millis
from tenantflow.store import binaries, sqlite_writes
from tenantflow.store.audit import Actor, AuditTrail, take_queued
from tenantflow.store.errors import ConflictError, InvalidRequestError, not_found
from tenantflow.store.keyset import Keyset, KeysetPage
from tenantflow.store.models import (
    Execution,
    ExecutionLog,
    ExecutionNode,
    TenantScoped,
    Workflow,
    new_id,
    utc_now,
)
from tenantflow.store.one_statement import NODE_UPDATED, write_finished, write_progress, write_queued
from tenantflow.store.queries import checked_limit
from tenantflow.store.tenancy import TenantScopeError
from tenantflow.store.text import checked_text, scrubbed
from tenantflow.store.workflows import CountedRun, count_parameters

if TYPE_CHECKING:
    from tenantflow.store.database import Database
    from tenantflow.store.unit import Unit

ACTIVE_STATUSES: Final = ("queued", "running")
FINISHED_STATUSES: Final = ("success", "error", "timeout", "aborted", "crashed")
STATUSES: Final = frozenset(ACTIVE_STATUSES + FINISHED_STATUSES)
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
MAX_LEASE_SECONDS: Final = 86_400
RESUMABLE_STATUSES: Final = ("success", "disabled")  # node runs a later run reuses instead of running again
_TARGET = "execution"


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """What a list shows: the execution row without its input, node outputs or logs."""

    id: str
    workflow_id: str | None
    workflow_version: int | None
    status: str
    trigger_kind: str
    attempt: int
    abort_requested: bool
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflowId": self.workflow_id,
            "workflowVersion": self.workflow_version,
            "status": self.status,
            "triggerKind": self.trigger_kind,
            "attempt": self.attempt,
            "abortRequested": self.abort_requested,
            "createdBy": self.created_by,
            "createdAt": iso(self.created_at),
            "startTime": iso(self.started_at),
            "endTime": iso(self.finished_at),
            "duration": self.duration_ms,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ExecutionView(ExecutionSummary):
    """One execution in the CLI's ExecutionRecord shape (plus the summary's bookkeeping fields).

    ``state`` holds each node's latest run, with ``runs`` one past its highest run index.
    """

    idempotency_key: str | None = None
    input: Any = None
    metrics: dict[str, int] = field(default_factory=dict)
    state: dict[str, NodeState] = field(default_factory=dict)
    logs: list[LogEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **ExecutionSummary.to_dict(self),  # zero-argument super() does not work in slotted dataclasses
            "idempotencyKey": self.idempotency_key,
            "input": self.input,
            "state": {name: node.to_dict() for name, node in self.state.items()},
            "metrics": self.metrics,
            "logs": [entry.to_dict() for entry in self.logs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionView:
        """The inverse of :meth:`to_dict`: a view another process sent (its ``execution.finished`` event
        carries the stored execution it just committed), so a waiting caller need not read it back."""
        return cls(
            id=data["id"],
            workflow_id=data["workflowId"],
            workflow_version=data["workflowVersion"],
            status=data["status"],
            trigger_kind=data["triggerKind"],
            attempt=data["attempt"],
            abort_requested=data["abortRequested"],
            created_by=data["createdBy"],
            created_at=_moment(data["createdAt"], "$.createdAt"),
            started_at=_optional_moment(data["startTime"], "$.startTime"),
            finished_at=_optional_moment(data["endTime"], "$.endTime"),
            duration_ms=data["duration"],
            error=data["error"],
            idempotency_key=data["idempotencyKey"],
            input=data["input"],
            metrics=data["metrics"],
            state={name: _node_state(node) for name, node in data["state"].items()},
            logs=[_log_entry(entry, f"$.logs[{index}]") for index, entry in enumerate(data["logs"])],
        )


ExecutionPage = KeysetPage[ExecutionSummary]


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's hold on one running execution. ``owner`` and ``attempt`` are the fence every leased
    write checks; after ``expires_at`` another worker may take the execution over (with ``attempt`` + 1)."""

    tenant_id: str
    execution_id: str
    owner: str
    attempt: int
    expires_at: datetime
    # Whether node runs may be stored already (a run to resume); False only when the claim saw none, so
    # the worker need not ask. Nobody else writes them while the lease holds.
    nodes_stored: bool = field(default=True, compare=False)
    # The claimed row as the claim left it, when it has no node runs: all a fresh run needs to start,
    # so the worker need not read it back.
    execution: ExecutionView | None = field(default=None, compare=False)


_NODE_UPSERTS: dict[str, Any] = {}  # dialect name -> the statement ExecutionRepository._node_upsert builds
_SUMMARY_FIELDS: Final = tuple(item.name for item in fields(ExecutionSummary))
_SUMMARY_COLUMNS: Final = tuple(getattr(Execution, name) for name in _SUMMARY_FIELDS)


@dataclass(slots=True)
class _RowState:
    """An execution row's columns that a progress batch reads and changes, under the ORM row's names, so
    :meth:`ExecutionRepository._start_row` and ``_finish_row`` apply to either."""

    id: str
    workflow_id: str | None
    workflow_version: int | None
    status: str
    trigger_kind: str
    attempt: int
    abort_requested: bool
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: dict[str, Any] | None
    metrics: dict[str, Any]
    lease_owner: str | None
    lease_expires_at: datetime | None


_PROGRESS_WRITTEN: Final = (
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "metrics",
    "lease_owner",
    "lease_expires_at",
)
_PROGRESS_COLUMNS: Final = tuple(getattr(Execution, item.name) for item in fields(_RowState))


def _progress_update() -> Any:
    """One executemany UPDATE for a batch's rows. A table statement, so it names the tenant itself in
    ``row_tenant``, which the session's guard checks in every row, as for all SQL it does not filter."""
    table = Execution.__table__
    return (
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("row_id"), table.c.tenant_id == bindparam("row_tenant"))
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in _PROGRESS_WRITTEN})
        .execution_options(tenant_filtered=True, tenant_param="row_tenant")
    )


_PROGRESS_UPDATE: Final = _progress_update()
_ROW_FIELDS: Final = tuple(item.name for item in fields(_RowState))
# New executions as a table INSERT (the guard checks each row's tenant_id): no identity map, no flush.
_QUEUED_INSERT: Final = insert(Execution.__table__).execution_options(tenant_filtered=True)  # type: ignore[arg-type]
MAX_ABORT_POLL: Final = 10_000  # executions one abort poll asks about
# A claim's usual case on PostgreSQL in one statement: the tenant's oldest queued rows that no other
# claimer holds (SKIP LOCKED), those without a limit of their own taken, and each claim audited as
# AuditTrail.ok would. Returns the head rows, with the columns a fresh run starts from (_CLAIMED) for those
# taken, and whether each has node runs stored.
_CLAIMED: Final = (*_SUMMARY_FIELDS, "idempotency_key", "input", "metrics")
_CLAIM_HEADS: Final = text(
    f"""
WITH heads AS (
  SELECT id, concurrency_limit FROM executions
  WHERE tenant_id = :tenant_id AND status = 'queued'
  ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED
), taken AS (
  UPDATE executions AS e SET status = 'running', lease_owner = :owner, lease_expires_at = :expires,
    started_at = coalesce(e.started_at, :moment)
  FROM heads
  WHERE e.id = heads.id AND e.tenant_id = :tenant_id AND e.status = 'queued'
    AND heads.concurrency_limit IS NULL
  RETURNING {", ".join(f"e.{name}" for name in _CLAIMED)}
), audited AS (
  INSERT INTO audit_log (tenant_id, user_id, operation, target_type, target_id, outcome, error_code,
    request_id, ip, details, created_at)
  SELECT :tenant_id, CAST(:user_id AS varchar), 'execution.claim', 'execution', taken.id, 'ok', NULL,
    CAST(:request_id AS varchar), CAST(:ip AS varchar),
    jsonb_build_object('leaseOwner', CAST(:owner AS text), 'attempt', taken.attempt), :audited_at
  FROM taken
)
SELECT heads.id AS head_id, heads.concurrency_limit IS NOT NULL AS limited,
  EXISTS (SELECT 1 FROM execution_nodes AS n WHERE n.execution_id = heads.id) AS nodes_stored,
  {", ".join(f"taken.{name}" for name in _CLAIMED)}
FROM heads LEFT JOIN taken ON taken.id = heads.id
"""
)
# Claimers of one tenant take turns (PostgreSQL): the lock's class number, then the tenant's hash.
_CLAIM_LOCK: Final = text("SELECT pg_advisory_xact_lock(7411, hashtext(:tenant_id))").execution_options(
    tenant_filtered=True
)


class ExecutionRepository:
    """Execution rows of the unit's tenant. Never commits: the unit does."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    @property
    def session(self) -> AsyncSession:
        return self.unit.session

    # ----- reads --------------------------------------------------------------------------------------
    async def get(
        self, execution_id: str, *, include_nodes: bool = True, include_logs: bool = True
    ) -> ExecutionView:
        """One execution with each node's latest run and the logs in the order they were written."""
        row = await self.session.scalar(select(Execution).where(Execution.id == execution_id))
        if row is None:
            await self._missing(Execution, execution_id, "execution.get", write=False)
        return ExecutionView(
            **_summary_values(row),
            idempotency_key=row.idempotency_key,
            input=row.input,
            metrics={**Metrics().to_dict(), **row.metrics},
            state=await self._latest_nodes(execution_id) if include_nodes else {},
            logs=await self._logs(execution_id) if include_logs else [],
        )

    async def list(
        self,
        *,
        workflow_id: str | None = None,
        status: str | Iterable[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> ExecutionPage:
        """Newest first, one query per page; ``next_cursor`` continues exactly after the last item, and only
        for this tenant and this filter (any other use, or an altered cursor, is INVALID_CURSOR)."""
        limit = checked_limit(limit, MAX_LIMIT)
        conditions: builtins.list[ColumnElement[bool]] = []
        scope: dict[str, Any] = {"list": "executions"}
        if workflow_id is not None:
            conditions.append(Execution.workflow_id == workflow_id)
            scope["workflowId"] = workflow_id
        if status is not None:
            statuses = _statuses(status)
            conditions.append(
                Execution.status == statuses[0] if len(statuses) == 1 else Execution.status.in_(statuses)
            )
            scope["status"] = sorted(set(statuses))
        if created_after is not None:
            after = _moment(created_after, "$.createdAfter", ErrorCode.INVALID_FILTER)
            conditions.append(Execution.created_at > after)
            scope["createdAfter"] = after.astimezone(UTC).isoformat()
        if created_before is not None:
            before = _moment(created_before, "$.createdBefore", ErrorCode.INVALID_FILTER)
            conditions.append(Execution.created_at < before)
            scope["createdBefore"] = before.astimezone(UTC).isoformat()
        keyset = Keyset(
            self.unit.store.cursors, self.unit.tenant_id, scope, Execution.created_at, Execution.id
        )
        rows = await self.session.execute(
            select(*_SUMMARY_COLUMNS)
            .where(*conditions, *keyset.after(cursor))
            .order_by(*keyset.order())
            .limit(limit + 1)
        )
        return keyset.page(
            rows.all(),
            limit,
            lambda row: (row.created_at, row.id),
            lambda row: ExecutionSummary(**row._asdict()),
        )

    async def binary(self, execution_id: str, binary_id: str) -> binaries.StoredBinary:
        """One file an execution's node outputs carry (their entries' ``id``, with or without ``tfbin:``).
        An execution this tenant does not have, or a file it does not hold, is EXECUTION_NOT_FOUND."""
        stored = await binaries.read(self.session, execution_id, binary_id)
        if stored is not None:
            return stored
        if await self.session.scalar(select(Execution.id).where(Execution.id == execution_id)) is None:
            await self._missing(Execution, execution_id, "execution.binary", write=False)
        raise not_found(ErrorCode.EXECUTION_NOT_FOUND, f"execution {execution_id!r}: binary data", binary_id)

    async def with_files(
        self, execution_id: str, states: Mapping[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """``states`` (the execution's node states as dicts) with their stored files' bytes back inline,
        as a run that reuses them needs: one query for the execution, none when no output has a file (and no
        session at all for a fresh run, which reuses nothing)."""
        if not states:
            return {}
        return await binaries.rehydrate(self.session, execution_id, states)

    async def aborts_requested(self, execution_ids: Iterable[str]) -> set[str]:
        """Which of these executions someone asked to stop: what a worker polls for the runs it holds,
        one query for all of a tenant's. Ids that are not this tenant's are simply not in the answer."""
        wanted = list(execution_ids)
        checked_limit(len(wanted) or 1, MAX_ABORT_POLL)
        found = await self.session.scalars(
            select(Execution.id).where(Execution.id.in_(wanted), Execution.abort_requested.is_(True))
        )
        return set(found)

    # ----- writes -------------------------------------------------------------------------------------
    async def create(
        self,
        workflow_id: str | None = None,
        *,
        workflow_version: int | None = None,
        trigger_kind: str = "manual",
        input: Any = None,
        idempotency_key: str | None = None,
    ) -> ExecutionSummary:
        """Queue an execution under a new id of the store's making (uuid4). A repeated ``idempotency_key``
        returns the first execution instead.

        ``workflow_version`` defaults to the workflow's current version.
        """
        with self._audited("execution.create", None):
            checked_text(trigger_kind, 32, "$.triggerKind")
            if idempotency_key is not None:
                checked_text(idempotency_key, 255, "$.idempotencyKey")
            if workflow_id is not None:
                current = await self.session.scalar(
                    select(Workflow.version).where(Workflow.id == workflow_id)
                )
                if current is None:
                    await self._missing(Workflow, workflow_id, "execution.create", write=True)
                workflow_version = current if workflow_version is None else workflow_version
            if idempotency_key is not None and (known := await self._by_key(idempotency_key)) is not None:
                return _replayed(known, workflow_id)
            now = utc_now()
            row = Execution(
                id=new_id(),
                workflow_id=workflow_id,
                workflow_version=workflow_version,
                status="queued",
                trigger_kind=trigger_kind,
                idempotency_key=idempotency_key,
                attempt=1,
                abort_requested=False,
                input=input,
                metrics={},
                created_by=self.unit.actor.user_id,
                created_at=now,
            )
            try:
                async with self.session.begin_nested():  # a lost race rolls back to here, not the unit
                    self.session.add(row)
            except IntegrityError:
                known = await self._by_key(idempotency_key) if idempotency_key is not None else None
                if known is None:
                    raise
                return _replayed(known, workflow_id)
            self.unit.audit.ok(
                "execution.create", _TARGET, row.id, {"workflowId": workflow_id, "triggerKind": trigger_kind}
            )
            self._stats_changed(workflow_id)
            return _summary(row)

    async def start(
        self,
        execution_id: str,
        *,
        lease_owner: str | None = None,
        lease_seconds: float | None = None,
        started_at: datetime | None = None,
    ) -> ExecutionSummary:
        """queued → running. ``started_at`` defaults to now; a lease lets a reaper find a dead worker."""
        with self._audited("execution.start", execution_id):
            if lease_owner is not None:
                checked_text(lease_owner, 255, "$.leaseOwner")
            if lease_seconds is not None:
                _check_lease_seconds(lease_seconds)
            moment = utc_now() if started_at is None else _moment(started_at, "$.startedAt")
            row = await self._open_row(execution_id, "execution.start")
            self._start_row(row, moment, lease_owner, lease_seconds)
            return _summary(row)

    async def claim(
        self, execution_id: str, *, owner: str, lease_seconds: float, now: datetime | None = None
    ) -> Lease | None:
        """Take an execution to run, in one conditional UPDATE: a ``queued`` row becomes ``running`` under
        this lease (``attempt`` unchanged), and a ``running`` row whose lease expired before ``now`` is taken
        over (``attempt`` + 1, which fences the worker that lost it). None for anything else: finished,
        leased by a live worker, absent, or another tenant's (no lookup tells these apart: a claim misses
        often, and cheaply). On PostgreSQL a concurrent claimer waits for the row lock and re-checks the
        condition on the row the winner left; on SQLite the write lock serialises claimers.

        ``owner`` names one worker process (host, pid and a random part): leases are told apart by it.
        """
        moment = self._lease_moment(owner, lease_seconds, now)
        running = Execution.status == "running"
        taken_over = and_(running, Execution.lease_expires_at < moment)
        return await self._take(
            and_(Execution.id == execution_id, or_(Execution.status == "queued", taken_over)),
            owner=owner,
            moment=moment,
            lease_seconds=lease_seconds,
        )

    async def claim_next(
        self,
        *,
        owner: str,
        lease_seconds: float,
        tenant_limit: int | None = None,
        now: datetime | None = None,
    ) -> Lease | None:
        """Take this tenant's oldest ``queued`` execution that its limits admit: fewer than
        ``tenant_limit`` of the tenant's executions running, and fewer than the row's own
        ``concurrency_limit`` (its workflow's ``maxConcurrentExecutions``) of its workflow's. None when
        nothing is admitted; the rest stay queued until a running one ends.

        Claimers of one tenant do not wait for each other: each locks the oldest queued row nobody else has
        locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the write lock serialises claims), and
        takes it at once when no limit applies to it. Only a claim that counts (a tenant limit, or a row
        with a limit) must not race another, or two could both take the last free slot: those take turns
        under a transaction-scoped advisory lock per tenant, which ends with the unit.
        """
        if tenant_limit is not None and tenant_limit < 1:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "tenantLimit must be 1 or more", path="$.tenantLimit"
            )
        moment = self._lease_moment(owner, lease_seconds, now)
        if self._claims_at_once(tenant_limit):
            leases, counts = await self._claim_heads(owner, moment, lease_seconds, limit=1)
            if not counts:
                return leases[0] if leases else None  # None: nothing queued that no other claimer holds
        queued = (
            select(Execution.id, Execution.concurrency_limit)
            .where(Execution.status == "queued")
            .order_by(Execution.created_at, Execution.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        head = (await self.session.execute(queued)).one_or_none()
        if head is None:  # nothing queued, or every queued row is another claimer's now
            return None
        if tenant_limit is None and head.concurrency_limit is None:
            return await self._take(
                and_(Execution.id == head.id, Execution.status == "queued"),
                owner=owner,
                moment=moment,
                lease_seconds=lease_seconds,
            )
        if self.unit.store.database.dialect == "postgresql":
            await self.session.execute(_CLAIM_LOCK, {"tenant_id": self.unit.tenant_id})
            if now is None:  # the lock may have waited for another claimer's runs to end: start now
                moment = utc_now()
        if tenant_limit is not None:
            running = await self.session.scalar(
                select(func.count()).select_from(Execution).where(Execution.status == "running")
            )
            if (running or 0) >= tenant_limit:
                return None
        peer = aliased(Execution)
        of_workflow = (
            select(func.count())
            .select_from(peer)
            .where(peer.workflow_id == Execution.workflow_id, peer.status == "running")
            .scalar_subquery()
        )
        oldest_admitted = (
            select(Execution.id)
            .where(
                Execution.status == "queued",
                or_(Execution.concurrency_limit.is_(None), Execution.concurrency_limit > of_workflow),
            )
            .order_by(Execution.created_at, Execution.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        return await self._take(
            and_(Execution.id == oldest_admitted, Execution.status == "queued"),
            owner=owner,
            moment=moment,
            lease_seconds=lease_seconds,
        )

    async def claim_many(
        self,
        *,
        owner: str,
        lease_seconds: float,
        limit: int,
        tenant_limit: int | None = None,
        now: datetime | None = None,
    ) -> builtins.list[Lease]:
        """Up to ``limit`` of this tenant's oldest admitted ``queued`` executions, each claimed as
        :meth:`claim_next` claims one: what a worker with ``limit`` free slots asks of a tenant in turn. In
        the usual case (PostgreSQL, no tenant limit) rows without a limit of their own are claimed by one
        statement; the rest, one at a time."""
        checked_limit(limit, MAX_LIMIT)
        moment = self._lease_moment(owner, lease_seconds, now)
        leases: builtins.list[Lease] = []
        if self._claims_at_once(tenant_limit):
            leases, counts = await self._claim_heads(owner, moment, lease_seconds, limit=limit)
            if not counts:
                return leases
        while len(leases) < limit:
            lease = await self.claim_next(
                owner=owner, lease_seconds=lease_seconds, tenant_limit=tenant_limit, now=now
            )
            if lease is None:
                break
            leases.append(lease)
        return leases

    def _claims_at_once(self, tenant_limit: int | None) -> bool:
        """Whether a claim may be one statement of its own (:meth:`_claim_heads`): PostgreSQL, no tenant
        limit to count, and nothing else in the unit yet."""
        postgresql = self.unit.store.database.dialect == "postgresql"
        return tenant_limit is None and postgresql and not self.unit.opened

    async def _claim_heads(
        self, owner: str, moment: datetime, lease_seconds: float, *, limit: int
    ) -> tuple[builtins.list[Lease], bool]:
        """The claim's usual case as one statement of its own (:data:`_CLAIM_HEADS`: the ``limit`` oldest
        queued rows nobody else holds, the UPDATE of those without a limit of their own, and the claim's
        audit rows), instead of a transaction of five round trips per row; a worker claims at least once per
        execution. The leases, each with its row when it has no node runs, and whether a row was left alone
        because its workflow's limit applies (the caller then claims in a transaction under the tenant's
        lock, where that limit is counted)."""
        expires = moment + timedelta(seconds=lease_seconds)
        actor = self.unit.actor
        rows = await self.unit.store.database.fetch(
            _CLAIM_HEADS,
            {
                "tenant_id": self.unit.tenant_id,
                "limit": limit,
                "owner": owner,
                "expires": expires,
                "moment": moment,
                "user_id": actor.user_id,
                "request_id": actor.request_id,
                "ip": actor.ip,
                "audited_at": utc_now(),
            },
        )
        leases: builtins.list[Lease] = []
        for row in rows:
            if row["id"] is None:  # not taken: its workflow's limit applies
                continue
            self._stats_changed(row["workflow_id"])
            execution = None if row["nodes_stored"] else _claimed_view(row)
            lease = Lease(self.unit.tenant_id, row["id"], owner, row["attempt"], expires, row["nodes_stored"])
            leases.append(replace(lease, execution=execution))
        return leases, any(row["limited"] for row in rows)

    async def _take(
        self, where: ColumnElement[bool], *, owner: str, moment: datetime, lease_seconds: float
    ) -> Lease | None:
        """The claim's one UPDATE of the row ``where`` picks: ``running`` under a new lease; a row taken
        over from an expired lease counts one more attempt."""
        running = Execution.status == "running"
        expires = moment + timedelta(seconds=lease_seconds)
        result = await self.session.execute(
            update(Execution)
            .where(where)
            .values(
                status="running",
                attempt=case((running, Execution.attempt + 1), else_=Execution.attempt),
                lease_owner=owner,
                lease_expires_at=expires,
                started_at=func.coalesce(Execution.started_at, literal(moment, Execution.started_at.type)),
            )
            .returning(Execution.id, Execution.attempt, Execution.workflow_id)
            .execution_options(synchronize_session=False)
        )
        claimed = result.one_or_none()
        if claimed is None:
            return None
        self.unit.audit.ok(
            "execution.claim", _TARGET, claimed.id, {"leaseOwner": owner, "attempt": claimed.attempt}
        )
        self._stats_changed(claimed.workflow_id)
        return Lease(self.unit.tenant_id, claimed.id, owner, claimed.attempt, expires)

    async def heartbeat(
        self, lease: Lease, *, lease_seconds: float, now: datetime | None = None
    ) -> Lease | None:
        """Extend a lease to ``now`` + ``lease_seconds`` if the row still names it (an expired lease that
        nobody took over is extended too); None once it is lost, and the worker should stop."""
        moment = self._lease_moment(lease.owner, lease_seconds, now)
        expires = moment + timedelta(seconds=lease_seconds)
        result = await self.session.execute(
            update(Execution)
            .where(*self._held(lease))
            .values(lease_expires_at=expires)
            .returning(Execution.id)
            .execution_options(synchronize_session=False)
        )
        return None if result.one_or_none() is None else replace(lease, expires_at=expires)

    async def release(self, lease: Lease) -> bool:
        """Give the execution back (a worker shutting down cleanly): ``queued`` again, without a lease, its
        checkpoints kept for the next worker. False if the lease was already lost (nothing changes)."""
        result = await self.session.execute(
            update(Execution)
            .where(*self._held(lease))
            .values(status="queued", lease_owner=None, lease_expires_at=None)
            .returning(Execution.workflow_id)
            .execution_options(synchronize_session=False)
        )
        released = result.one_or_none()
        if released is None:
            return False
        self.unit.audit.ok(
            "execution.release",
            _TARGET,
            lease.execution_id,
            {"leaseOwner": lease.owner, "attempt": lease.attempt},
        )
        self._stats_changed(released.workflow_id)
        return True

    async def resume_input(self, execution: ExecutionView) -> dict[str, dict[str, Any]]:
        """The engine's ``resume`` for a run that carries ``execution`` on (read with :meth:`get`, nodes
        included): the node states that finished well, with their files' bytes back inline. A retry resumes
        from another execution's nodes; a worker that took over a crashed run, from the same one's."""
        finished = {
            name: state.to_dict()
            for name, state in execution.state.items()
            if state.status in RESUMABLE_STATUSES
        }
        return await self.with_files(execution.id, finished)

    async def append_node(
        self, execution_id: str, node_name: str, state: NodeState | Mapping[str, Any], *, run_index: int
    ) -> None:
        """Checkpoint one node run; the same ``(node, run_index)`` again replaces it (workers retry)."""
        with self._audited("execution.append_node", execution_id):
            node = _checkpoint(node_name, state, run_index)
            await self._open_row(execution_id, "execution.append_node", share=True)
            files: binaries.Files = {}
            values = self._node_values(execution_id, node_name, run_index, node, files)
            await self.session.execute(self._node_upsert(), [values])
            await self._insert_files(files)

    async def append_logs(self, execution_id: str, entries: Iterable[LogEntry | Mapping[str, Any]]) -> int:
        """Add log lines in order, in one bulk INSERT; returns how many."""
        with self._audited("execution.append_logs", execution_id):
            rows = [
                self._log_values(execution_id, _log_entry(entry, f"$.logs[{index}]"))
                for index, entry in enumerate(entries)
            ]
            await self._open_row(execution_id, "execution.append_logs", share=True)
            if rows:
                await self.session.execute(insert(ExecutionLog), rows)
            return len(rows)

    async def finish(
        self,
        execution_id: str,
        *,
        status: str,
        error: dict[str, Any] | None = None,
        metrics: Metrics | Mapping[str, int] | None = None,
        finished_at: datetime | None = None,
        lease: Lease | None = None,
    ) -> ExecutionSummary:
        """End the run and count it on its workflow (count, last status, mean duration), atomically. With
        a ``lease``, only while the row still names it (LEASE_LOST otherwise, and nothing changes)."""
        with self._audited("execution.finish", execution_id):
            _finished_status(status)
            end = utc_now() if finished_at is None else _moment(finished_at, "$.finishedAt")
            row = await self._open_row(execution_id, "execution.finish", lease=lease)
            self._finish_row(row, status, error, metrics, end)
            await self._count_finished([row])
            return _summary(row)

    async def request_abort(self, execution_id: str) -> ExecutionSummary:
        """Ask the worker running it to stop; it reads the flag through :meth:`aborts_requested`."""
        with self._audited("execution.abort", execution_id):
            row = await self._open_row(execution_id, "execution.abort")
            row.abort_requested = True
            self.unit.audit.ok("execution.abort", _TARGET, execution_id)
            return _summary(row)

    async def save_record(
        self,
        record: ExecutionRecord,
        *,
        workflow_id: str | None = None,
        workflow_version: int | None = None,
        trigger_kind: str = "manual",
        input: Any = None,
        idempotency_key: str | None = None,
    ) -> ExecutionView:
        """Store a run that happened in process (the CLI's) in one transaction, under a new id of the
        store's making: the record's own ``id`` and ``workflow_id`` are the caller's and are not trusted.

        ``workflow_id`` names a stored workflow. A record still ``running`` is stored as running. A repeated
        ``idempotency_key`` returns what the first save stored.
        """
        created = await self.create(
            workflow_id,
            workflow_version=workflow_version,
            trigger_kind=trigger_kind,
            input=input,
            idempotency_key=idempotency_key,
        )
        if created.status == "queued" and created.started_at is None:
            await self.start(created.id, started_at=record.start_time)
            for name, node in record.state.items():
                await self.append_node(created.id, name, node, run_index=node.runs - 1)
            await self.append_logs(created.id, record.logs)
            if record.status != "running":
                await self.finish(
                    created.id,
                    status=record.status,
                    error=record.error,
                    metrics=record.metrics,
                    finished_at=record.end_time,
                )
        return await self.get(created.id)

    # ----- group commit: the writes of many executions in one transaction ----------------------------
    async def write_batch(
        self, requests: Sequence[QueuedExecution], progress: Sequence[ExecutionProgress]
    ) -> tuple[builtins.list[tuple[ExecutionSummary, bool]], builtins.list[ExecutionSummary]]:
        """:meth:`create_queued` and :meth:`record_progress` in one go, as a group-commit batch asks.

        A run may end before its row is written (a short run's row waits a moment for it, to share its
        transaction): such an execution is inserted as it ended, with its checkpoints, instead of being
        inserted, locked, read back and updated.
        """
        fresh: set[str] = set()  # rows this batch makes; progress cannot come with a keyed create
        if all(request.idempotency_key is None for request in requests):
            fresh = {request.id for request in requests}
        # A leased write needs a claimed row, never one this batch makes: record_progress checks its lease.
        joins = [item.execution_id in fresh and item.lease is None for item in progress]
        along = [item for item, joined in zip(progress, joins, strict=True) if joined]
        later = [item for item, joined in zip(progress, joins, strict=True) if not joined]
        made = await self.create_queued(requests, along) if requests else []
        written = {summary.id: summary for summary, _ in made}
        recorded = iter(await self.record_progress(later) if later else [])
        return made, [
            written[item.execution_id] if joined else next(recorded)
            for item, joined in zip(progress, joins, strict=True)
        ]

    async def create_queued(
        self, requests: Sequence[QueuedExecution], along: Sequence[ExecutionProgress] = ()
    ) -> builtins.list[tuple[ExecutionSummary, bool]]:
        """:meth:`create` for many requests at once (one query per kind), each audited under its own actor;
        with each execution, whether this call created it (False for a repeated idempotency key).

        A process that runs executions batches the creates of all requests in flight into one transaction.
        A repeated idempotency key, within ``requests`` too, returns the first execution. ``along`` is
        progress of these executions (none with an idempotency key) to write with their rows. A failed
        batch is not audited: the caller retries each request alone, which audits its own failure.
        """
        with self._audited("execution.create", None) if len(requests) == 1 else nullcontext():
            for request in requests:
                if request.actor.tenant_id != self.unit.tenant_id:
                    raise TenantScopeError("a queued execution names another tenant's actor")
                checked_text(request.trigger_kind, 32, "$.triggerKind")
                if request.idempotency_key is not None:
                    checked_text(request.idempotency_key, 255, "$.idempotencyKey")
            keys = {request.idempotency_key for request in requests if request.idempotency_key is not None}
            if not keys:  # fresh ids only: nothing to race for, one INSERT of column values, no savepoint
                return await self._insert_fresh(requests, along)
            versions = await self._workflow_versions(requests)
            known = await self._by_keys(keys)
            rows: builtins.list[Execution] = []
            created: builtins.list[Execution] = []
            fresh: builtins.list[bool] = []  # whether rows[i] is made by this call
            now = utc_now()
            for request in requests:
                key = request.idempotency_key
                if key is not None and key in known:
                    rows.append(known[key])
                    fresh.append(False)
                    continue
                row = Execution(**self._queued_values(request, versions, now=now))
                if key is not None:
                    known[key] = row
                created.append(row)
                rows.append(row)
                fresh.append(True)
            try:
                async with self.session.begin_nested():  # a lost race rolls back to here, not the unit
                    self.session.add_all(created)
            except IntegrityError:
                single = requests[0].idempotency_key if len(requests) == 1 else None
                if single is None or (raced := await self._by_key(single)) is None:
                    raise
                return [(_replayed(raced, requests[0].workflow_id), False)]
            self._audit_created(
                [request for request, new in zip(requests, fresh, strict=True) if new], created
            )
            return [
                (_replayed(row, request.workflow_id), new)
                for request, row, new in zip(requests, rows, fresh, strict=True)
            ]

    async def _insert_fresh(
        self, requests: Sequence[QueuedExecution], along: Sequence[ExecutionProgress]
    ) -> builtins.list[tuple[ExecutionSummary, bool]]:
        """New rows, with ``along`` applied to them before they are written.

        When every row is written finished, counting the runs on their workflows (an UPDATE … RETURNING
        that finds no row for a missing workflow) goes first and stands in for the workflow lookup. On
        PostgreSQL, queued rows alone whose versions are known go in one statement that checks their
        workflows as it inserts them (:func:`.one_statement.write_queued`).
        """
        ended = {item.execution_id for item in along if item.finish is not None}
        counted_first = all(
            request.workflow_version is not None and request.id in ended for request in requests
        )
        queued_at_once = (  # PostgreSQL, rows alone, versions known: one statement checks and inserts
            not along
            and self.unit.store.database.dialect == "postgresql"
            and all(request.workflow_version is not None for request in requests)
        )
        versions = {} if counted_first or queued_at_once else await self._workflow_versions(requests)
        now = utc_now()
        values = [self._queued_values(request, versions, now=now) for request in requests]
        states = [_queued_state(row) for row in values]
        self._audit_created(requests, states)
        if queued_at_once:
            tables = {"executions": values, "audit": take_queued(self.session)}
            workflow_ids = {row["workflow_id"] for row in values}
            target = self._one_statement_target()
            await self._refuse_missing(await write_queued(target, self.unit.tenant_id, workflow_ids, tables))
            return [(_summary(state), True) for state in states]
        node_rows, log_rows, files = self._progress_rows(along)
        if along:
            by_id = {state.id: state for state in states}
            finished = [state for item in along if (state := self._advance(by_id[item.execution_id], item))]
            for row, state in zip(values, states, strict=True):
                row.update({name: getattr(state, name) for name in _PROGRESS_WRITTEN})
            if counted_first:
                await self._write_at_once(finished, values, node_rows, log_rows, files)
                return [(_summary(state), True) for state in states]
        await self.session.execute(_QUEUED_INSERT, values)
        await self._insert_progress(node_rows, log_rows, files)
        if along and not counted_first:
            await self._count_finished(finished)
        return [(_summary(state), True) for state in states]

    async def _write_at_once(
        self,
        finished: Sequence[_RowState],
        values: Sequence[dict[str, Any]],
        node_rows: Sequence[dict[str, Any]],
        log_rows: Sequence[dict[str, Any]],
        files: binaries.Files,
    ) -> None:
        """Count, insert and audit a batch of runs that all ended. PostgreSQL: in one statement
        (:mod:`.one_statement`), sent on a connection of its own outside a transaction when the unit has
        done nothing else, which saves BEGIN's and COMMIT's round trips (one statement is atomic by
        itself). SQLite: one statement per table, sent to the driver directly in the unit's transaction
        (:mod:`.sqlite_writes`)."""
        session = self.session
        database = self.unit.store.database
        tables = {
            "executions": values,
            "nodes": _last_per_run(node_rows),
            "logs": log_rows,
            "binaries": self._file_rows(files),
            "audit": take_queued(session),
        }
        counts = count_parameters(_counted_runs(finished), self.unit.tenant_id)
        if database.dialect == "postgresql":
            target = self._one_statement_target()
            counters, missing = await write_finished(target, self.unit.tenant_id, counts, tables)
        else:
            dialect = database.engine.dialect
            counters, missing = await sqlite_writes.write_ended(session, dialect, counts, tables)
        await self._refuse_missing(missing)
        for workflow_id, counted in counters.items():
            self.unit.workflows.counted(workflow_id, counted)

    def _one_statement_target(self) -> AsyncSession | Database:
        """Where a PostgreSQL write of :mod:`.one_statement` goes: the unit's transaction if it has one,
        else a connection of its own, where the statement is the whole transaction (no BEGIN, no COMMIT)."""
        session = self.session
        return session if session.in_transaction() else self.unit.store.database

    async def _refuse_missing(self, workflow_ids: Iterable[str]) -> None:
        """A batch of creates naming workflows that are not the tenant's (nothing was written): refused."""
        for workflow_id in sorted(workflow_ids):
            await self._missing(Workflow, workflow_id, "execution.create", write=True)

    async def _workflow_versions(self, requests: Sequence[QueuedExecution]) -> dict[str, int]:
        """The current version of each requested workflow; a missing one is refused (not found, or
        another tenant's)."""
        wanted = {request.workflow_id for request in requests}
        rows_found = await self.session.execute(
            select(Workflow.id, Workflow.version).where(Workflow.id.in_(wanted))
        )
        versions: dict[str, int] = {workflow_id: version for workflow_id, version in rows_found}
        for workflow_id in sorted(wanted - set(versions)):
            await self._missing(Workflow, workflow_id, "execution.create", write=True)
        return versions

    def _queued_values(
        self, request: QueuedExecution, versions: Mapping[str, int], *, now: datetime
    ) -> dict[str, Any]:
        return {
            "id": request.id,
            "tenant_id": self.unit.tenant_id,
            "workflow_id": request.workflow_id,
            "workflow_version": request.workflow_version or versions[request.workflow_id],
            "status": "queued",
            "trigger_kind": request.trigger_kind,
            "idempotency_key": request.idempotency_key,
            "attempt": 1,
            "abort_requested": False,
            "concurrency_limit": request.concurrency_limit,
            "input": request.input,
            "metrics": {},
            "created_by": request.actor.user_id,
            "created_at": now,
        }

    def _audit_created(
        self, requests: Sequence[QueuedExecution], rows: Sequence[Execution | _RowState]
    ) -> None:
        for request, row in zip(requests, rows, strict=True):
            AuditTrail(self.session, request.actor).ok(
                "execution.create",
                _TARGET,
                row.id,
                {"workflowId": row.workflow_id, "triggerKind": row.trigger_kind},
            )
            self._stats_changed(row.workflow_id)

    async def record_progress(self, progress: Sequence[ExecutionProgress]) -> builtins.list[ExecutionSummary]:
        """What several running executions did since their last write, with the checks of :meth:`start`,
        :meth:`append_node`, :meth:`append_logs` and :meth:`finish`, but one locking SELECT and one INSERT
        per kind for all of them. Audited like :meth:`create_queued`.

        An item with a ``lease`` is written only while its row names that lease, checked under the same row
        lock as the writes: otherwise LEASE_LOST, and the batch writes nothing at all."""
        target = progress[0].execution_id if len(progress) == 1 else None
        with self._audited("execution.progress", target) if target is not None else nullcontext():
            node_rows, log_rows, files = self._progress_rows(progress)
            if not files and self._progress_at_once(progress):
                return await self._write_progress(progress, node_rows, log_rows)
            ids = sorted({item.execution_id for item in progress})
            # The columns alone, not ORM rows: a batch reads and writes many executions, and loading
            # entities (identity map, JSON input decoded, a unit-of-work flush) cost more than the SQL.
            found = await self.session.execute(
                select(*_PROGRESS_COLUMNS)
                .where(Execution.id.in_(ids))
                .order_by(Execution.id)  # one lock order for every writer: no deadlocks
                .with_for_update()
            )
            rows = {row.id: _RowState(**row._asdict()) for row in found}
            for item in progress:
                state = rows.get(item.execution_id)
                if state is None:
                    await self._missing(Execution, item.execution_id, "execution.progress", write=True)
                if item.lease is None:
                    _refuse_finished(state)
                else:
                    self._check_lease(state, item.lease)
            await self._insert_progress(node_rows, log_rows, files)
            finished = [state for item in progress if (state := self._advance(rows[item.execution_id], item))]
            written = [
                {"row_id": state.id, "row_tenant": self.unit.tenant_id}
                | {f"new_{name}": getattr(state, name) for name in _PROGRESS_WRITTEN}
                for state in rows.values()
            ]
            await self.session.execute(_PROGRESS_UPDATE, written)
            await self._count_finished(finished)
            return [_summary(rows[item.execution_id]) for item in progress]

    def _progress_at_once(self, progress: Sequence[ExecutionProgress]) -> bool:
        """Whether a progress batch may be one statement of its own (:meth:`_write_progress`): PostgreSQL,
        nothing else in the unit yet, and only runs a worker claimed fresh (their leases carry the rows)."""
        return (
            self.unit.store.database.dialect == "postgresql"
            and not self.unit.opened
            and all(item.lease is not None and item.lease.execution is not None for item in progress)
        )

    async def _write_progress(
        self,
        progress: Sequence[ExecutionProgress],
        node_rows: Sequence[dict[str, Any]],
        log_rows: Sequence[dict[str, Any]],
    ) -> builtins.list[ExecutionSummary]:
        """:meth:`record_progress` of a worker's fresh runs in one statement
        (:func:`.one_statement.write_progress`). Their ends are worked out from the rows the claims
        returned (what an end reads of its row, ``started_at`` and ``created_at``, does not change while a
        lease holds); the summaries come from the rows as the statement locked them, with those ends."""
        ended: dict[str, _RowState] = {}
        fences = []
        for item in progress:
            lease = item.lease
            assert lease is not None and lease.execution is not None
            self._own(lease)
            fences.append({"id": lease.execution_id, "owner": lease.owner, "attempt": lease.attempt})
            leased = _leased_state(lease, lease.execution)
            if self._advance(leased, item) is not None:
                ended[item.execution_id] = leased
        finishes = [
            {name: getattr(end, name) for name in ("id", "status", "finished_at", "duration_ms", "error")}
            | {"metrics": end.metrics if item.finish and item.finish.metrics is not None else None}
            for item in progress
            if (end := ended.get(item.execution_id)) is not None
        ]
        tables = {"nodes": _last_per_run(node_rows), "logs": log_rows, "audit": take_queued(self.session)}
        counts = count_parameters(_counted_runs(list(ended.values())), self.unit.tenant_id)
        done = await write_progress(
            self._one_statement_target(), self.unit.tenant_id, fences, finishes, counts, tables, _ROW_FIELDS
        )
        rows = {row_id: _RowState(**values) for row_id, values in done.rows.items()}
        if not done.written:  # the same checks as record_progress's, on the rows as they were locked
            for item in progress:
                locked = rows.get(item.execution_id)
                if locked is None:
                    await self._missing(Execution, item.execution_id, "execution.progress", write=True)
                assert item.lease is not None
                self._check_lease(locked, item.lease)
            for count in counts:
                if count["workflow_id"] not in done.workflows:
                    await self._missing(Workflow, count["workflow_id"], "execution.progress", write=True)
        for workflow_id, counted in done.counters.items():
            self.unit.workflows.counted(workflow_id, counted)
        summaries = []
        for item in progress:
            row = rows[item.execution_id]
            if (finished := ended.get(item.execution_id)) is not None:
                row = replace(row, **{name: getattr(finished, name) for name in _PROGRESS_WRITTEN})
            summaries.append(_summary(row))
        return summaries

    def _progress_rows(
        self, progress: Sequence[ExecutionProgress]
    ) -> tuple[builtins.list[dict[str, Any]], builtins.list[dict[str, Any]], binaries.Files]:
        """The checkpoint, log and file rows of ``progress``, checked (as is every finishing status)."""
        files: binaries.Files = {}
        node_rows = [
            self._node_values(item.execution_id, name, run_index, _checkpoint(name, state, run_index), files)
            for item in progress
            for name, run_index, state in item.nodes
        ]
        log_rows = [
            self._log_values(item.execution_id, _log_entry(entry, f"$.logs[{index}]"))
            for item in progress
            for index, entry in enumerate(item.logs)
        ]
        for item in progress:
            if item.finish is not None:
                _finished_status(item.finish.status)
        return node_rows, log_rows, files

    async def _insert_progress(
        self, node_rows: Sequence[dict[str, Any]], log_rows: Sequence[dict[str, Any]], files: binaries.Files
    ) -> None:
        if node_rows:
            await self.session.execute(self._node_upsert(), node_rows)
        if log_rows:
            await self.session.execute(insert(ExecutionLog), log_rows)
        await self._insert_files(files)

    async def _insert_files(self, files: binaries.Files) -> None:
        if files:
            await binaries.insert_files(
                self.session, self.unit.store.database.dialect, self._file_rows(files)
            )

    def _file_rows(self, files: binaries.Files) -> builtins.list[dict[str, Any]]:
        return [{"tenant_id": self.unit.tenant_id, **row} for row in files.values()]

    def _advance(self, state: _RowState, item: ExecutionProgress) -> _RowState | None:
        """Start and/or finish ``state`` as ``item`` says; the state if it finished. A leased item's row
        was started by its claim."""
        if item.started_at is not None and item.lease is None:
            self._start_row(state, item.started_at, None, None)
        if item.finish is None:
            return None
        end = item.finish.finished_at or utc_now()
        self._finish_row(state, item.finish.status, item.finish.error, item.finish.metrics, end)
        return state

    # ----- internals ----------------------------------------------------------------------------------
    async def _open_row(
        self, execution_id: str, operation: str, *, share: bool = False, lease: Lease | None = None
    ) -> Execution:
        """The row, locked against a concurrent finish (shared for appends, which may run side by side),
        and still held by ``lease`` when one is given."""
        row = await self.session.scalar(
            select(Execution)
            .where(Execution.id == execution_id)
            .with_for_update(read=share)
            .execution_options(populate_existing=True)
        )
        if row is None:
            await self._missing(Execution, execution_id, operation, write=True)
        if lease is None:
            _refuse_finished(row)
        else:
            self._check_lease(row, lease)
        return row

    def _lease_moment(self, owner: str, lease_seconds: float, now: datetime | None) -> datetime:
        """``now`` (default: the clock) once the lease's terms are checked."""
        checked_text(owner, 255, "$.leaseOwner")
        _check_lease_seconds(lease_seconds)
        return utc_now() if now is None else _moment(now, "$.now")

    def _held(self, lease: Lease) -> builtins.list[ColumnElement[bool]]:
        """The conditions of a row that ``lease`` still holds: what heartbeat and release update."""
        self._own(lease)
        return [
            Execution.id == lease.execution_id,
            Execution.status == "running",
            Execution.lease_owner == lease.owner,
            Execution.attempt == lease.attempt,
        ]

    def _check_lease(self, row: Execution | _RowState, lease: Lease) -> None:
        """Refuse a write under a lease the (locked) row no longer names."""
        self._own(lease)
        if row.status != "running" or row.lease_owner != lease.owner or row.attempt != lease.attempt:
            raise ConflictError(
                ErrorCode.LEASE_LOST,
                f"execution {row.id!r}: the lease of attempt {lease.attempt} is no longer held",
                details={"id": row.id, "attempt": lease.attempt, "status": row.status},
            )

    def _own(self, lease: Lease) -> None:
        if lease.tenant_id != self.unit.tenant_id:
            raise TenantScopeError("a lease of another tenant's execution")

    def _start_row(
        self,
        row: Execution | _RowState,
        moment: datetime,
        lease_owner: str | None,
        lease_seconds: float | None,
    ) -> None:
        if row.status != "queued":
            raise ConflictError(
                ErrorCode.INVALID_VALUE, f"execution {row.id!r} is already running", path="$.status"
            )
        row.status = "running"
        row.started_at = moment
        row.lease_owner = lease_owner
        row.lease_expires_at = None if lease_seconds is None else utc_now() + timedelta(seconds=lease_seconds)
        self.unit.audit.ok("execution.start", _TARGET, row.id, {"leaseOwner": lease_owner})
        self._stats_changed(row.workflow_id)

    def _finish_row(
        self,
        row: Execution | _RowState,
        status: str,
        error: dict[str, Any] | None,
        metrics: Metrics | Mapping[str, int] | None,
        end: datetime,
    ) -> None:
        row.status = status
        row.finished_at = end
        row.duration_ms = millis(row.started_at or row.created_at, end)
        row.error = error
        if metrics is not None:
            row.metrics = metrics.to_dict() if isinstance(metrics, Metrics) else dict(metrics)
        row.lease_owner = None
        row.lease_expires_at = None
        self.unit.audit.ok(
            "execution.finish", _TARGET, row.id, {"status": status, "durationMs": row.duration_ms}
        )
        self._stats_changed(row.workflow_id)

    async def _count_finished(self, rows: Sequence[Execution | _RowState]) -> None:
        """Count finished runs on their workflows, one UPDATE per workflow. Separate from
        :meth:`_finish_row`: its UPDATE flushes the session, and a batch flushes its rows' changes once,
        together, when they are all made."""
        runs = _counted_runs(rows)
        if runs:
            await self.unit.workflows.record_executions(runs)

    def _node_upsert(self) -> Any:
        """INSERT of node runs where the same ``(execution, node, run)`` again replaces its row; built once
        per dialect (building it costs more than a batch of checkpoints does to send)."""
        name = self.unit.store.database.dialect
        statement = _NODE_UPSERTS.get(name)
        if statement is None:
            # A table statement: the ORM's bulk-insert path costs more than the SQL; the guard still checks
            # that every row's tenant_id is the session's.
            table = ExecutionNode.__table__
            insert_ = (postgresql if name == "postgresql" else sqlite).insert(table)
            statement = _NODE_UPSERTS[name] = insert_.on_conflict_do_update(
                index_elements=[table.c.execution_id, table.c.node_name, table.c.run_index],
                set_={column: insert_.excluded[column] for column in NODE_UPDATED},
            ).execution_options(tenant_filtered=True)
        return statement

    def _node_values(
        self, execution_id: str, node_name: str, run_index: int, node: NodeState, files: binaries.Files
    ) -> dict[str, Any]:
        """A checkpoint row; the files its output carries go to ``files``, its output keeps their ids."""
        return {
            "tenant_id": self.unit.tenant_id,
            "execution_id": execution_id,
            "node_name": node_name,
            "run_index": run_index,
            "status": node.status,
            "attempts": node.attempts,
            "output": binaries.split(node.output, execution_id, files),
            "item_count": sum(len(items) for items in node.output),
            "error": node.error,
            "started_at": node.start_time,
            "finished_at": node.end_time,
            "duration_ms": millis(node.start_time, node.end_time),
        }

    async def _by_keys(self, keys: Iterable[str]) -> dict[str, Execution]:
        rows = await self.session.scalars(select(Execution).where(Execution.idempotency_key.in_(keys)))
        return {row.idempotency_key: row for row in rows if row.idempotency_key is not None}

    def _stats_changed(self, workflow_id: str | None) -> None:
        """Execution counts feed the cached stats (the workflow's and the tenant's): clear them on commit."""
        self.unit.executions_changed(workflow_id)

    async def _missing(
        self, model: type[TenantScoped], ident: str, operation: str, *, write: bool
    ) -> NoReturn:
        kind, code = (
            ("execution", ErrorCode.EXECUTION_NOT_FOUND)
            if model is Execution
            else ("workflow", ErrorCode.WORKFLOW_NOT_FOUND)
        )
        await self.unit.refuse_missing(model, ident, kind=kind, code=code, operation=operation, write=write)

    def _audited(self, operation: str, target_id: str | None) -> AbstractContextManager[None]:
        return self.unit.audited(operation, _TARGET, target_id)

    async def _by_key(self, idempotency_key: str) -> Execution | None:
        return await self.session.scalar(
            select(Execution).where(Execution.idempotency_key == idempotency_key)
        )

    async def _latest_nodes(self, execution_id: str) -> dict[str, NodeState]:
        """Each node's highest run, in the order the nodes first finished; one query whatever the loops."""
        runs = (
            select(
                ExecutionNode.node_name,
                func.max(ExecutionNode.run_index).label("last"),
                func.min(ExecutionNode.id).label("first"),
            )
            .where(ExecutionNode.execution_id == execution_id)
            .group_by(ExecutionNode.node_name)
            .subquery()
        )
        rows = await self.session.scalars(
            select(ExecutionNode)
            .join(
                runs,
                and_(ExecutionNode.node_name == runs.c.node_name, ExecutionNode.run_index == runs.c.last),
            )
            .where(ExecutionNode.execution_id == execution_id)
            .order_by(runs.c.first)
        )
        return {
            row.node_name: NodeState(
                status=cast(NodeStatus, row.status),
                output=row.output,
                runs=row.run_index + 1,
                attempts=row.attempts,
                error=row.error,
                start_time=row.started_at,
                end_time=row.finished_at,
            )
            for row in rows
        }

    async def _logs(self, execution_id: str) -> builtins.list[LogEntry]:
        rows = await self.session.scalars(
            select(ExecutionLog).where(ExecutionLog.execution_id == execution_id).order_by(ExecutionLog.id)
        )
        return [LogEntry(row.logged_at, row.level, row.message, row.node_name, row.data) for row in rows]

    def _log_values(self, execution_id: str, entry: LogEntry) -> dict[str, Any]:
        return {
            "tenant_id": self.unit.tenant_id,
            "execution_id": execution_id,
            "level": entry.level,
            "node_name": entry.node,
            "message": scrubbed(entry.message),  # node-written text; a NUL would not fit a text column
            "data": entry.data or None,
            "logged_at": entry.timestamp,
        }


def _last_per_run(node_rows: Sequence[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
    """One row per node run, its last checkpoint winning, as the other path's upsert leaves them."""
    return builtins.list({(r["execution_id"], r["node_name"], r["run_index"]): r for r in node_rows}.values())


def _counted_runs(rows: Sequence[Execution | _RowState]) -> builtins.list[CountedRun]:
    return [
        CountedRun(row.workflow_id, row.status, row.duration_ms, row.finished_at)
        for row in rows
        if row.workflow_id is not None and row.finished_at is not None
    ]


def _leased_state(lease: Lease, row: ExecutionView) -> _RowState:
    """The row of a fresh run as its claim left it (``row``: what the claim returned)."""
    return _RowState(
        **_summary_values(row),
        metrics=dict(row.metrics),
        lease_owner=lease.owner,
        lease_expires_at=lease.expires_at,
    )


def _queued_state(values: Mapping[str, Any]) -> _RowState:
    """A new execution's row, from the column values just inserted (the columns not given are NULL)."""
    columns: dict[str, Any] = {name: values.get(name) for name in _ROW_FIELDS}
    return _RowState(**columns)


def _summary_values(row: Execution | _RowState | ExecutionSummary) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _SUMMARY_FIELDS}


def _claimed_view(row: Mapping[str, Any]) -> ExecutionView:
    """A row :data:`_CLAIM_HEADS` claimed, as :meth:`ExecutionRepository.get` would read it (no node runs
    or logs yet). The pooled connection's codecs decode JSON already; timestamps come back in UTC."""
    summary = {name: row[name] for name in _SUMMARY_FIELDS}
    for name in ("created_at", "started_at", "finished_at"):
        if summary[name] is not None:
            summary[name] = summary[name].astimezone(UTC)
    return ExecutionView(
        **summary,
        idempotency_key=row["idempotency_key"],
        input=row["input"],
        metrics={**Metrics().to_dict(), **row["metrics"]},
    )


def _summary(row: Execution | _RowState) -> ExecutionSummary:
    return ExecutionSummary(**_summary_values(row))


def _replayed(known: Execution, workflow_id: str | None) -> ExecutionSummary:
    """The execution an idempotency key already made, if the repeat asks for the same workflow."""
    if known.workflow_id != workflow_id:
        raise ConflictError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "this idempotency key was used for another workflow",
            path="$.idempotencyKey",
            details={"id": known.id},
        )
    return _summary(known)


def _moment(value: Any, path: str, code: ErrorCode = ErrorCode.INVALID_VALUE) -> datetime:
    """An aware time; checkpoints carry them as the record's ISO strings."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequestError(code, "expected an ISO 8601 time", path=path) from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequestError(code, "expected a time with a zone", path=path)
    return value


def _optional_moment(value: Any, path: str) -> datetime | None:
    return None if value is None else _moment(value, path)


def _node_state(state: NodeState | Mapping[str, Any]) -> NodeState:
    """A node state from the executor, or the ``node.finished`` event's dict of it."""
    if isinstance(state, NodeState):
        return state
    node = NodeState.from_dict(dict(state))
    node.start_time = _optional_moment(state.get("startTime"), "$.startTime")
    node.end_time = _optional_moment(state.get("endTime"), "$.endTime")
    return node


def _log_entry(entry: LogEntry | Mapping[str, Any], path: str) -> LogEntry:
    if not isinstance(entry, LogEntry):
        message = entry.get("message")
        if not isinstance(message, str):
            raise InvalidRequestError(ErrorCode.INVALID_VALUE, "a log entry needs a message", path=path)
        entry = LogEntry(
            timestamp=_optional_moment(entry.get("timestamp"), f"{path}.timestamp") or utc_now(),
            level=entry.get("level", "info"),
            message=message,
            node=entry.get("node"),
            data=entry.get("data"),
        )
    checked_text(entry.level, 8, f"{path}.level")
    if entry.node is not None:
        checked_text(entry.node, 255, f"{path}.node")
    return entry


def _statuses(status: str | Iterable[str]) -> builtins.list[str]:
    statuses = [status] if isinstance(status, str) else list(status)
    for index, value in enumerate(statuses):
        if value not in STATUSES:
            path = "$.status" if isinstance(status, str) else f"$.status[{index}]"
            raise InvalidRequestError(
                ErrorCode.INVALID_FILTER, f"status is one of {', '.join(sorted(STATUSES))}", path=path
            )
    if not statuses:
        raise InvalidRequestError(
            ErrorCode.INVALID_FILTER, "status needs at least one value", path="$.status"
        )
    return statuses


def _refuse_finished(row: Execution | _RowState) -> None:
    if row.status in FINISHED_STATUSES:
        raise ConflictError(
            ErrorCode.EXECUTION_FINISHED,
            f"execution {row.id!r} has finished ({row.status})",
            details={"id": row.id, "status": row.status},
        )


def _check_lease_seconds(lease_seconds: float) -> None:
    if not 0 < lease_seconds <= MAX_LEASE_SECONDS:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE,
            f"leaseSeconds must be between 0 and {MAX_LEASE_SECONDS}",
            path="$.leaseSeconds",
        )


def _finished_status(status: str) -> None:
    if status not in FINISHED_STATUSES:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE,
            f"a finished status is one of {', '.join(FINISHED_STATUSES)}",
            path="$.status",
        )


def _checkpoint(node_name: str, state: NodeState | Mapping[str, Any], run_index: int) -> NodeState:
    """A node run to checkpoint, checked as the columns need."""
    checked_text(node_name, 255, "$.node")
    if isinstance(run_index, bool) or not isinstance(run_index, int) or run_index < 0:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, "runIndex must be a whole number >= 0", path="$.runIndex"
        )
    node = _node_state(state)
    checked_text(node.status, 16, "$.status")
    return node


@dataclass(frozen=True, slots=True)
class QueuedExecution:
    """One execution for :meth:`ExecutionRepository.create_queued`; ``actor`` is who asked for it.

    ``id`` is made here, by the service that queues the execution (so it can start running while the row
    is on its way to the database); it never comes from a request.
    """

    actor: Actor
    workflow_id: str
    workflow_version: int | None = None
    trigger_kind: str = "manual"
    input: Any = None
    idempotency_key: str | None = None
    concurrency_limit: int | None = None  # the workflow's maxConcurrentExecutions
    id: str = field(default_factory=new_id)


@dataclass(frozen=True, slots=True)
class FinishedRun:
    status: str
    error: dict[str, Any] | None = None
    metrics: Metrics | Mapping[str, int] | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExecutionProgress:
    """What one execution did since its last write, for :meth:`ExecutionRepository.record_progress`:
    started (``started_at``), node runs ``(node, runIndex, state)`` in order, log lines, finished. With a
    ``lease`` (a worker's run), all of it is written only while the row names that lease; the claim
    started the row, so ``started_at`` is not applied again."""

    execution_id: str
    started_at: datetime | None = None
    nodes: Sequence[tuple[str, int, NodeState | Mapping[str, Any]]] = ()
    logs: Sequence[LogEntry | Mapping[str, Any]] = ()
    finish: FinishedRun | None = None
    lease: Lease | None = None
