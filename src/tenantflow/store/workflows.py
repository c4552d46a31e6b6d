"""Workflow operations (seed document 003): CRUD, bulk, search, stats, locks, versions, export/import.

Every statement runs in the unit's tenant-bound session, so the tenant filter is never this module's to
forget. What this module adds on top is telling "absent" from "someone else's": a miss on a single-item
operation asks :meth:`Store.owner_of`; a foreign id reads as not found and a write to it is
CROSS_TENANT_ACCESS_DENIED, and both are audited in both tenants' logs.

Validation runs before every store. By default an invalid workflow is refused with every issue listed;
``allow_invalid=True`` keeps a draft as ``validationStatus: invalid`` (as n8n saves drafts), but a
document that cannot even be read as a workflow is never written, and an invalid one cannot be enabled.
Stored statuses name the node registry they were checked against, so a node-type change reads as
``stale`` until the next validation.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn

from sqlalchemy import ColumnElement, Float, Integer, String, bindparam, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import iso
from tenantflow.engine.validation import ValidationReport, validate
from tenantflow.store.documents import (
    EXPORT_FORMAT,
    WorkflowInput,
    WorkflowView,
    apply_input,
    input_of,
    tag_names,
    view_of,
)
from tenantflow.store.errors import (
    ConflictError,
    InvalidRequestError,
    StoreError,
    WorkflowValidationError,
    not_found,
)
from tenantflow.store.models import Execution, Workflow, WorkflowStaticData, WorkflowVersion, new_id, utc_now
from tenantflow.store.queries import (
    DEFAULT_LIMIT,
    Page,
    filter_clause,
    find_clause,
    offset_bound,
    order_by,
    page_bounds,
    parse_window,
    query_key,
    search_statement,
    search_terms,
)
from tenantflow.store.text import NUL, unstorable
from tenantflow.store.unit import Unit
from tenantflow.store.webhooks import WebhookRepository

MAX_BULK = 100
MAX_VERSION = 2**31 - 1
MAX_BULK_FILTERED = 1_000
DEFAULT_LOCK_SECONDS = 300.0
MAX_LOCK_SECONDS = 86_400.0
PATCHABLE = frozenset(field.name for field in fields(WorkflowInput))
ConflictPolicy = Literal["error", "rename", "replace"]
IMPORT = "workflow.import"


@dataclass(frozen=True, slots=True)
class CountedRun:
    """A finished execution as its workflow's counters see it."""

    workflow_id: str
    status: str
    duration_ms: float | None
    finished_at: datetime


# The counters :meth:`WorkflowRepository.record_executions` moves, by their name in a workflow view.
_COUNTERS: dict[str, InstrumentedAttribute[Any]] = {
    "executionCount": Workflow.execution_count,
    "averageExecutionTime": Workflow.average_execution_time,
    "lastExecutedAt": Workflow.last_executed_at,
    "lastExecutionStatus": Workflow.last_execution_status,
}


def _count_runs_statement() -> Any:
    """The UPDATE behind :meth:`WorkflowRepository.record_executions`, built once with bound parameters.

    A table statement rather than an ORM one (this runs once per workflow per batch of executions, and
    the ORM's UPDATE machinery cost more than the SQL): it names the tenant itself, in ``row_tenant``, which
    the session's guard checks as it does for all SQL it does not filter.
    """
    table = Workflow.__table__
    column = table.c
    at = bindparam("at", type_=column.last_executed_at.type)
    newer = or_(column.last_executed_at.is_(None), column.last_executed_at <= at)
    total = bindparam("total_ms", type_=Float())
    mean = func.coalesce(column.average_execution_time, 0.0)
    runs = bindparam("runs", type_=Integer())
    average = case(
        (total.is_(None), column.average_execution_time),
        else_=(mean * (column.execution_count + bindparam("untimed", type_=Integer())) + total)
        / (column.execution_count + runs),
    )
    return (
        update(table)  # type: ignore[arg-type]
        .where(column.id == bindparam("workflow_id"), column.tenant_id == bindparam("row_tenant"))
        .values(
            execution_count=column.execution_count + runs,
            average_execution_time=average,
            last_executed_at=case((newer, at), else_=column.last_executed_at),
            last_execution_status=case(
                (newer, bindparam("status", type_=String())), else_=column.last_execution_status
            ),
        )
        .returning(*(column[attribute.key] for attribute in _COUNTERS.values()))
        .execution_options(tenant_filtered=True, tenant_param="row_tenant")
    )


COUNT_RUNS = _count_runs_statement()


def count_parameters(runs: Sequence[CountedRun], tenant_id: str) -> list[dict[str, Any]]:
    """What counting ``runs`` binds, one entry per workflow, in workflow id order (every writer locks in
    that order): how many runs, how many without a duration, their total duration, the latest's end."""
    by_workflow: dict[str, list[CountedRun]] = {}
    for run in runs:
        by_workflow.setdefault(run.workflow_id, []).append(run)
    parameters = []
    for workflow_id, group in sorted(by_workflow.items()):
        latest = max(group, key=lambda run: run.finished_at)
        timed = [run.duration_ms for run in group if run.duration_ms is not None]
        parameters.append(
            {
                "workflow_id": workflow_id,
                "row_tenant": tenant_id,
                "runs": len(group),
                "untimed": len(group) - len(timed),
                "total_ms": sum(timed) if timed else None,
                "at": latest.finished_at,
                "status": latest.status,
            }
        )
    return parameters


@dataclass(frozen=True, slots=True)
class StaticData:
    """A workflow's static data and the version a save must name (0: never saved)."""

    data: dict[str, Any]
    version: int


@dataclass(frozen=True, slots=True)
class LockState:
    acquired: bool
    locked_by: str | None
    locked_at: datetime | None
    expires_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "acquired": self.acquired,
            "lockedBy": self.locked_by,
            "lockedAt": iso(self.locked_at),
            "expiresAt": iso(self.expires_at),
        }


@dataclass(frozen=True, slots=True)
class VersionView:
    workflow_id: str
    version: int
    definition: dict[str, Any]
    author: str | None
    message: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            "version": self.version,
            "definition": self.definition,
            "author": self.author,
            "message": self.message,
            "createdAt": iso(self.created_at),
        }


class WorkflowRepository:
    """The seed's workflow operations for the unit's tenant. Never commits; the unit does."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self._changed: set[str] = set()
        self._hooked = False
        self._counted: dict[str, dict[str, Any]] = {}  # workflow id -> its counters after this unit
        self._webhooks = WebhookRepository(unit)  # the routes follow every write of a row

    @property
    def session(self) -> AsyncSession:
        return self.unit.session

    # ----- reads --------------------------------------------------------------------------------------
    async def get(self, workflow_id: str) -> WorkflowView:
        """One workflow; the hot cache answers repeated reads within 100 ms."""
        return await self._cached(workflow_id, "workflow.read", write=False)

    async def get_for(self, workflow_id: str, operation: str) -> WorkflowView:
        """One workflow that ``operation`` is about to change or run: another tenant's id is refused as
        CROSS_TENANT_ACCESS_DENIED and audited in both logs, as the write itself would be (a plain read
        would answer not found and leave the caller's log untouched)."""
        return await self._cached(workflow_id, operation, write=True)

    async def list(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: str | None = None,
        page: int = 1,
        limit: int = DEFAULT_LIMIT,
        offset: int | None = None,
    ) -> Page[WorkflowView]:
        """A bounded page of the tenant's workflows with the total count; cached in the warm tier.

        ``offset`` (the seed's REST query) replaces ``page`` when given: any row to start from.
        """
        if offset is None:
            offset, limit = page_bounds(page, limit)
        else:
            _, limit = page_bounds(1, limit)
            offset = offset_bound(offset)
            page = offset // limit + 1
        where = filter_clause(filter, self._dialect)
        ordering = order_by(sort)
        key = query_key(op="list", filter=filter, sort=sort, offset=offset, limit=limit)
        if not self._changed:
            cached = await self.unit.cache.get_list(self.unit.tenant_id, key)
            if cached is not None:
                return Page(
                    [WorkflowView(item) for item in cached["items"]],
                    cached["total"],
                    cached["hasMore"],
                    page,
                    limit,
                )
        total = await self.session.scalar(select(func.count()).select_from(Workflow).where(where)) or 0
        rows = await self.session.scalars(
            select(Workflow).where(where).order_by(*ordering).offset(offset).limit(limit)
        )
        result = Page([self._view(row) for row in rows], total, offset + limit < total, page, limit)
        if not self._changed:
            await self.unit.cache.put_list(self.unit.tenant_id, key, result.to_dict(WorkflowView.to_dict))
        return result

    async def find_first(
        self, filter: Mapping[str, Any] | None = None, *, sort: str | None = None
    ) -> WorkflowView | None:
        row = await self.session.scalar(
            select(Workflow).where(filter_clause(filter, self._dialect)).order_by(*order_by(sort)).limit(1)
        )
        return None if row is None else self._view(row)

    async def find_by_field(
        self, field: str, value: Any, *, limit: int = DEFAULT_LIMIT
    ) -> builtins.list[WorkflowView]:
        """Exact match on one allow-listed field (name, category, createdBy, …)."""
        _, limit = page_bounds(1, limit)
        rows = await self.session.scalars(
            select(Workflow)
            .where(find_clause(field, value))
            .order_by(Workflow.updated_at.desc(), Workflow.id)
            .limit(limit)
        )
        return [self._view(row) for row in rows]

    async def search(self, query: str, *, limit: int = DEFAULT_LIMIT) -> builtins.list[WorkflowView]:
        """Ranked full-text search over name, description and tags (FTS5 / tsvector), by word prefix."""
        _, limit = page_bounds(1, limit)
        statement = search_statement(search_terms(query), self._dialect, self.unit.tenant_id, limit)
        return [self._view(row) for row in await self.session.scalars(statement)]

    async def get_execution_stats(
        self, window: str = "24h", *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        """Counts by status, success rate and mean/max duration over the last ``window`` (15m, 24h, 30d…)."""
        span = parse_window(window)
        scope = workflow_id or "*"
        if workflow_id is not None:
            await self._row(workflow_id, "workflow.stats", write=False)
        if not self._changed:
            cached = await self.unit.cache.get_stats(self.unit.tenant_id, scope, window)
            if cached is not None:
                return cached
        since = utc_now() - span
        conditions: builtins.list[ColumnElement[bool]] = [Execution.created_at >= since]
        if workflow_id is not None:
            conditions.append(Execution.workflow_id == workflow_id)
        rows = await self.session.execute(
            select(
                Execution.status,
                func.count(),
                func.avg(Execution.duration_ms),
                func.max(Execution.duration_ms),
            )
            .where(*conditions)
            .group_by(Execution.status)
        )
        by_status: dict[str, int] = {}
        weighted = 0.0
        timed = 0
        longest: float | None = None
        for status, count, average, maximum in rows:
            by_status[status] = count
            if average is not None:
                weighted += float(average) * count
                timed += count
                longest = float(maximum) if longest is None else max(longest, float(maximum))
        total = sum(by_status.values())
        finished = sum(count for status, count in by_status.items() if status not in ("queued", "running"))
        stats = {
            "window": window,
            "since": iso(since),
            "workflowId": workflow_id,
            "total": total,
            "byStatus": by_status,
            "successRate": None if finished == 0 else round(by_status.get("success", 0) / finished, 4),
            "averageDuration": None if timed == 0 else round(weighted / timed, 3),
            "maxDuration": longest,
        }
        if not self._changed:
            await self.unit.cache.put_stats(self.unit.tenant_id, scope, window, stats)
        return stats

    # ----- writes -------------------------------------------------------------------------------------
    async def create(
        self,
        data: WorkflowInput | Mapping[str, Any],
        *,
        allow_invalid: bool = False,
        message: str | None = None,
        operation: str = "workflow.create",
    ) -> WorkflowView:
        """Validate and store a new workflow at version 1, with its first version snapshot."""
        with self._audited(operation, None):
            workflow = _input(data)
            report = self._checked(workflow, allow_invalid, operation)
            workflow = _with_node_ids(workflow, report)
            now = utc_now()
            row = Workflow(
                id=new_id(),
                tenant_id=self.unit.tenant_id,
                created_at=now,
                updated_at=now,
                created_by=self.unit.actor.user_id,
                updated_by=self.unit.actor.user_id,
                execution_count=0,
                is_locked=False,
            )
            apply_input(row, workflow)
            _stamp_validation(row, report, self.unit.store.registry.fingerprint())
            await self._flush_new(row)
            await self._webhooks.sync(row)
            self._snapshot(row, message or "created")
            self._written(row, operation)
            return self._view(row)

    async def update(
        self,
        workflow_id: str,
        patch: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        allow_invalid: bool = False,
        message: str | None = None,
        lock_owner: str | None = None,
        operation: str = "workflow.update",
    ) -> WorkflowView:
        """Apply a partial change: a new version and snapshot if anything changed, the same view if not."""
        with self._audited(operation, workflow_id):
            row = await self._row(workflow_id, operation, write=True)
            self._check_lock(row, lock_owner)
            if expected_version is not None and expected_version != row.version:
                raise ConflictError(
                    ErrorCode.VERSION_CONFLICT,
                    f"workflow is at version {row.version}, not {expected_version}",
                    path="$.version",
                    details={"currentVersion": row.version},
                )
            current = input_of(row)
            updated = _patched(current, patch)
            if updated == current:
                return self._view(row)
            report = self._checked(updated, allow_invalid, operation)
            updated = _with_node_ids(updated, report)
            apply_input(row, updated)
            _stamp_validation(row, report, self.unit.store.registry.fingerprint())
            row.updated_at = utc_now()
            row.updated_by = self.unit.actor.user_id
            await self._flush_changed(row)
            await self._webhooks.sync(row)
            self._snapshot(row, message or "updated")
            self._written(row, operation)
            return self._view(row)

    async def delete(self, workflow_id: str, *, lock_owner: str | None = None) -> None:
        with self._audited("workflow.delete", workflow_id):
            row = await self._row(workflow_id, "workflow.delete", write=True)
            self._check_lock(row, lock_owner)
            await self._webhooks.forget(row.id)
            await self.session.delete(row)
            await self.session.flush()
            self._written(row, "workflow.delete")

    async def upsert(
        self,
        data: WorkflowInput | Mapping[str, Any],
        *,
        allow_invalid: bool = False,
        message: str | None = None,
        operation: str | None = None,
    ) -> tuple[WorkflowView, bool]:
        """Create, or update the workflow with the same name. Returns the view and whether it was created.

        ``operation`` names the write in the audit log (workflow.create or workflow.update by default).
        """
        workflow = _input(data)
        existing = await self.session.scalar(select(Workflow.id).where(Workflow.name == workflow.name))
        if existing is None:
            try:
                created = await self.create(
                    workflow,
                    allow_invalid=allow_invalid,
                    message=message,
                    operation=operation or "workflow.create",
                )
                return created, True
            except ConflictError as error:
                if error.code is not ErrorCode.DUPLICATE_WORKFLOW_NAME:
                    raise
                existing = await self.session.scalar(
                    select(Workflow.id).where(Workflow.name == workflow.name)
                )
                if existing is None:
                    raise
        patch = {name: getattr(workflow, name) for name in PATCHABLE}
        updated = await self.update(
            existing,
            patch,
            allow_invalid=allow_invalid,
            message=message,
            operation=operation or "workflow.update",
        )
        return updated, False

    async def create_many(
        self, items: Sequence[WorkflowInput | Mapping[str, Any]], *, allow_invalid: bool = False
    ) -> builtins.list[WorkflowView]:
        """All or nothing: the first failure names the item (``$[i]…``) and the unit writes none of them."""
        _bounded(len(items), MAX_BULK)
        created: builtins.list[WorkflowView] = []
        for index, item in enumerate(items):
            with _indexed(index):
                created.append(await self.create(item, allow_invalid=allow_invalid))
        return created

    async def update_many(self, filter: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> int:
        """Apply one patch to every matching workflow (at most 1,000), each getting its own version."""
        if "name" in patch:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "updateMany cannot rename: names are unique", path="$.patch.name"
            )
        rows = await self._matching(filter)
        for row in rows:
            await self.update(row.id, patch, message="updated in bulk", operation="workflow.update_many")
        return len(rows)

    async def delete_many(self, filter: Mapping[str, Any] | None) -> int:
        """Delete every match (at most 1,000); none are deleted if one is locked by someone else."""
        rows = await self._matching(filter)
        with self._audited("workflow.delete_many", None):
            for row in rows:
                self._check_lock(row, None)
        for row in rows:
            await self.delete(row.id)
        return len(rows)

    async def set_enabled(self, workflow_id: str, enabled: bool) -> WorkflowView:
        """Enable or disable; only a currently valid workflow can be enabled (stale ones are re-validated).

        Both are writes, so another tenant's id is CROSS_TENANT_ACCESS_DENIED either way: the row is looked
        up as a write before the re-validation, which on its own would read it (and answer not found).
        """
        operation = "workflow.enable" if enabled else "workflow.disable"
        with self._audited(operation, workflow_id):
            if enabled:
                await self._row(workflow_id, operation, write=True)
                report = await self.validate(workflow_id)
                if not report.valid:
                    raise _invalid_error(report, operation)
            return await self.update(
                workflow_id, {"enabled": enabled}, message=operation, operation=operation
            )

    async def validate(self, workflow_id: str) -> ValidationReport:
        """Validate the stored document and store the outcome (no new version: the user changed nothing)."""
        row = await self._row(workflow_id, "workflow.validate", write=False)
        fingerprint = self.unit.store.registry.fingerprint()
        report = validate(input_of(row).document(), self.unit.store.registry)
        await self.session.execute(  # also updates ``row`` in this session, without a version bump
            update(Workflow).where(Workflow.id == row.id).values(**_validation_columns(report, fingerprint))
        )
        self._written(row, "workflow.validate", audit=False)
        await self.unit.cache.put_validation(
            self.unit.tenant_id, row.id, row.version, _cached_report(report, fingerprint)
        )
        return report

    async def cached_validation(self, workflow_id: str) -> dict[str, Any]:
        """The validation report of the current version, from the warm cache when this registry made it."""
        row = await self._row(workflow_id, "workflow.validate", write=False)
        fingerprint = self.unit.store.registry.fingerprint()
        cached = await self.unit.cache.get_validation(self.unit.tenant_id, row.id, row.version)
        if cached is not None and cached.get("registry") == fingerprint:
            report: dict[str, Any] = cached["report"]
            return report
        return (await self.validate(workflow_id)).to_dict()

    async def record_execution(
        self, workflow_id: str, *, status: str, duration_ms: float | None, finished_at: datetime
    ) -> None:
        """Count one finished execution on its workflow (see :meth:`record_executions`)."""
        await self.record_executions([CountedRun(workflow_id, status, duration_ms, finished_at)])

    async def static_data(self, workflow_id: str) -> StaticData:
        """The workflow's static data as its last execution left it (empty, version 0, if none did or the
        id is not this tenant's workflow: the caller reads it for a workflow it has just loaded)."""
        row = await self.session.scalar(
            select(WorkflowStaticData).where(WorkflowStaticData.workflow_id == workflow_id)
        )
        return StaticData({}, 0) if row is None else StaticData(row.data, row.version)

    async def save_static_data(
        self, workflow_id: str, data: Mapping[str, Any], *, expected_version: int
    ) -> StaticData:
        """Keep what an execution left, if nothing was saved since it read ``expected_version`` (0: nothing
        had been); otherwise VERSION_CONFLICT, and the caller decides (an execution logs that its changes
        were not kept, rather than overwrite another's)."""
        operation = "workflow.static_data"
        with self._audited(operation, workflow_id):
            value = dict(data)
            if (found := unstorable(value)) is not None:
                raise InvalidRequestError(ErrorCode.INVALID_VALUE, found[1], path=found[0])
            now = utc_now()
            if expected_version == 0:
                if await self.session.scalar(select(Workflow.id).where(Workflow.id == workflow_id)) is None:
                    await self._missing(workflow_id, operation, write=True)
                try:
                    async with self.session.begin_nested():
                        self.session.add(
                            WorkflowStaticData(workflow_id=workflow_id, data=value, version=1, updated_at=now)
                        )
                except IntegrityError as exc:
                    raise _static_data_conflict() from exc
                return StaticData(value, 1)
            result = await self.session.execute(
                update(WorkflowStaticData)
                .where(
                    WorkflowStaticData.workflow_id == workflow_id,
                    WorkflowStaticData.version == expected_version,
                )
                .values(data=value, version=expected_version + 1, updated_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise _static_data_conflict()
            return StaticData(value, expected_version + 1)

    async def record_executions(self, runs: Sequence[CountedRun]) -> None:
        """Count finished executions: one UPDATE per workflow, however many of its runs the batch holds.

        Concurrent recorders never lose a count or skew the mean: the new mean is computed from the old
        count and mean of the row version the database locks (a run without a duration leaves the mean
        where it is), and the "last" fields only move forward in time. The counters are not the
        definition, so this process's cached copy is patched rather than dropped (other processes' copies
        catch up within the hot tier's 100 ms); lists and stats move to a new generation. A missing
        workflow is refused.
        """
        for params in count_parameters(runs, self.unit.tenant_id):  # one lock order for every writer
            result = await self.session.execute(COUNT_RUNS, params)
            counters = result.one_or_none()
            if counters is None:
                await self._missing(params["workflow_id"], "workflow.record_execution", write=True)
            self.counted(params["workflow_id"], tuple(counters))

    def counted(self, workflow_id: str, counters: tuple[Any, ...]) -> None:
        """A workflow's counters after this unit counted its runs (in :data:`_COUNTERS` order): on commit
        its cached copy gets them, and its lists and stats move to a new generation."""
        self.unit.executions_changed(workflow_id)
        self._counted[workflow_id] = {
            name: iso(value) if isinstance(value, datetime) else value
            for name, value in zip(_COUNTERS, counters, strict=True)
        }
        self._invalidate_after_commit()

    async def clone(self, workflow_id: str, *, name: str | None = None) -> WorkflowView:
        source = await self._row(workflow_id, "workflow.clone", write=False)
        copy = replace(
            input_of(source), name=name or await self._free_name(f"{source.name} (copy)"), enabled=False
        )
        return await self.create(
            copy, allow_invalid=True, message=f"cloned from {source.id}", operation="workflow.clone"
        )

    async def export(self, workflow_id: str) -> dict[str, Any]:
        """``{formatVersion, exportedAt, workflow, validationReport}``; ``workflow`` is n8n-style."""
        view = await self.get(workflow_id)
        report = validate(view.document(), self.unit.store.registry)
        return {
            "formatVersion": EXPORT_FORMAT,
            "exportedAt": iso(utc_now()),
            "workflow": {"id": view.id, "version": view.version, **view.document()},
            "validationReport": report.to_dict(),
        }

    async def import_(
        self,
        payload: Mapping[str, Any],
        *,
        name: str | None = None,
        on_conflict: ConflictPolicy = "error",
        allow_invalid: bool = False,
    ) -> WorkflowView:
        """Import our export envelope or a bare n8n export; validation runs as on create.

        Anything else is INVALID_EXPORT_FORMAT; a workflow that fails validation is IMPORT_VALIDATION_FAILED
        with every issue and its path, as WORKFLOW_INVALID gives them on create.
        """
        with self._audited(IMPORT, None):
            document = _imported_document(payload)
            workflow = WorkflowInput.from_document(document, name=name)
            exists = await self.session.scalar(select(Workflow.id).where(Workflow.name == workflow.name))
            if exists is not None and on_conflict == "rename":
                workflow = replace(workflow, name=await self._free_name(workflow.name))
            elif exists is not None and on_conflict == "replace":
                view, _ = await self.upsert(
                    workflow, allow_invalid=allow_invalid, message="imported", operation=IMPORT
                )
                return view
            return await self.create(
                workflow, allow_invalid=allow_invalid, message="imported", operation=IMPORT
            )

    # ----- versions -----------------------------------------------------------------------------------
    async def versions(
        self, workflow_id: str, *, limit: int = DEFAULT_LIMIT, before: int | None = None
    ) -> builtins.list[VersionView]:
        """Snapshots newest first; ``before`` pages back through history."""
        _, limit = page_bounds(1, limit)
        await self._row(workflow_id, "workflow.versions", write=False)
        query = select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow_id)
        if before is not None:
            query = query.where(WorkflowVersion.version < _version_number(before, "$.before"))
        rows = await self.session.scalars(query.order_by(WorkflowVersion.version.desc()).limit(limit))
        return [_version_view(row) for row in rows]

    async def get_version(self, workflow_id: str, version: int) -> VersionView:
        version = _version_number(version, "$.version")
        await self._row(workflow_id, "workflow.versions", write=False)
        row = await self.session.scalar(
            select(WorkflowVersion).where(
                WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
            )
        )
        if row is None:
            raise not_found(ErrorCode.VERSION_NOT_FOUND, "version", f"{workflow_id}@{version}")
        return _version_view(row)

    async def restore(self, workflow_id: str, version: int, *, message: str | None = None) -> WorkflowView:
        """Restoring writes a new version equal to the old one; history is never rewritten."""
        with self._audited("workflow.restore", workflow_id):
            await self._row(workflow_id, "workflow.restore", write=True)
            old = await self.get_version(workflow_id, version)
        restored = WorkflowInput.from_document(old.definition)
        patch = {field: getattr(restored, field) for field in PATCHABLE}
        return await self.update(
            workflow_id,
            patch,
            allow_invalid=True,
            message=message or f"restored version {version}",
            operation="workflow.restore",
        )

    # ----- locks --------------------------------------------------------------------------------------
    async def acquire_lock(
        self, workflow_id: str, *, owner: str | None = None, timeout_s: float = DEFAULT_LOCK_SECONDS
    ) -> LockState:
        """Take (or extend, for the same owner) an editing lock that expires after ``timeout_s``.

        One conditional UPDATE decides: free, expired or already ours. On PostgreSQL concurrent callers
        queue on the row lock and re-check the condition; on SQLite the write lock serialises them.
        """
        if not 0 < timeout_s <= MAX_LOCK_SECONDS:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE,
                f"lock timeout must be in (0, {MAX_LOCK_SECONDS:.0f}] seconds",
                path="$.timeout",
            )
        holder = self._owner(owner)
        now = utc_now()
        expires = now + timedelta(seconds=timeout_s)
        free = or_(Workflow.locked_by.is_(None), Workflow.lock_expires_at < now, Workflow.locked_by == holder)
        result = await self.session.execute(
            update(Workflow)
            .where(Workflow.id == workflow_id, free)
            .values(
                is_locked=True,
                locked_by=holder,
                locked_at=case((Workflow.locked_by == holder, Workflow.locked_at), else_=now),
                lock_expires_at=expires,
            )
            .returning(Workflow.locked_at)
            .execution_options(synchronize_session=False)
        )
        locked_at = result.scalar_one_or_none()
        if locked_at is not None:
            self._changed.add(workflow_id)
            self.unit.audit.ok("workflow.lock", "workflow", workflow_id, {"owner": holder})
            self._invalidate_after_commit()
            return LockState(True, holder, locked_at, expires)
        row = await self._row(workflow_id, "workflow.lock", write=True)
        refused = _locked_error(ErrorCode.LOCK_ACQUISITION_FAILED, row.locked_by)
        self.unit.audit.failed("workflow.lock", "workflow", workflow_id, refused)
        return LockState(False, row.locked_by, row.locked_at, row.lock_expires_at)

    async def release_lock(self, workflow_id: str, *, owner: str | None = None) -> None:
        with self._audited("workflow.unlock", workflow_id):
            holder = self._owner(owner)
            result = await self.session.execute(
                update(Workflow)
                .where(Workflow.id == workflow_id, Workflow.locked_by == holder)
                .values(is_locked=False, locked_by=None, locked_at=None, lock_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) == 0:
                await self._row(workflow_id, "workflow.unlock", write=True)
                raise ConflictError(ErrorCode.LOCK_NOT_OWNED, f"the lock is not held by {holder!r}")
            self._changed.add(workflow_id)
            self.unit.audit.ok("workflow.unlock", "workflow", workflow_id, {"owner": holder})
            self._invalidate_after_commit()

    async def reclaim_expired_locks(self) -> int:
        """Clear every expired lock of this tenant; returns how many were cleared."""
        result = await self.session.execute(
            update(Workflow)
            .where(Workflow.is_locked.is_(True), Workflow.lock_expires_at < utc_now())
            .values(is_locked=False, locked_by=None, locked_at=None, lock_expires_at=None)
            .returning(Workflow.id)
            .execution_options(synchronize_session=False)
        )
        reclaimed = builtins.list(result.scalars())
        for workflow_id in reclaimed:
            self._changed.add(workflow_id)
            self.unit.audit.ok("workflow.lock_reclaim", "workflow", workflow_id)
        if reclaimed:
            self._invalidate_after_commit()
        return len(reclaimed)

    # ----- internals ----------------------------------------------------------------------------------
    @property
    def _dialect(self) -> str:
        return self.unit.store.database.dialect

    def _view(self, row: Workflow) -> WorkflowView:
        status = row.validation_status
        if (
            status in ("valid", "invalid")
            and row.validated_registry != self.unit.store.registry.fingerprint()
        ):
            status = "stale"
        view = view_of(row, validation_status=status)
        if row.is_locked and row.lock_expires_at is not None and row.lock_expires_at <= utc_now():
            view.data.update(isLocked=False, lockedBy=None, lockedAt=None, lockExpiresAt=None)
        return view

    async def _cached(self, workflow_id: str, operation: str, *, write: bool) -> WorkflowView:
        """Through the hot cache (which holds this tenant's rows only), unless this unit wrote workflows."""

        async def load() -> dict[str, Any]:
            return self._view(await self._row(workflow_id, operation, write=write)).to_dict()

        if self._changed:
            return WorkflowView(await load())
        return WorkflowView(await self.unit.cache.load_workflow(self.unit.tenant_id, workflow_id, load))

    async def _row(self, workflow_id: str, operation: str, *, write: bool) -> Workflow:
        row = await self.session.scalar(select(Workflow).where(Workflow.id == workflow_id))
        if row is None:
            await self._missing(workflow_id, operation, write=write)
        return row

    async def _missing(self, workflow_id: str, operation: str, *, write: bool) -> NoReturn:
        await self.unit.refuse_missing(
            Workflow,
            workflow_id,
            kind="workflow",
            code=ErrorCode.WORKFLOW_NOT_FOUND,
            operation=operation,
            write=write,
        )

    def _audited(self, operation: str, target_id: str | None) -> AbstractContextManager[None]:
        return self.unit.audited(operation, "workflow", target_id)

    def _checked(self, workflow: WorkflowInput, allow_invalid: bool, operation: str) -> ValidationReport:
        report = validate(workflow.document(), self.unit.store.registry)
        if not report.valid and (not allow_invalid or report.definition is None):
            raise _invalid_error(report, operation)
        return report

    async def _flush_new(self, row: Workflow) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError as exc:
            raise _duplicate(row.name) from exc

    async def _flush_changed(self, row: Workflow) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.flush([row])
        except IntegrityError as exc:
            raise _duplicate(row.name) from exc
        except StaleDataError as exc:
            raise ConflictError(
                ErrorCode.VERSION_CONFLICT,
                "the workflow changed concurrently; read it again",
                path="$.version",
            ) from exc

    def _snapshot(self, row: Workflow, message: str) -> None:
        self.session.add(
            WorkflowVersion(
                workflow_id=row.id,
                version=row.version,
                definition=input_of(row).document(),
                author=self.unit.actor.user_id,
                message=message,
                created_at=row.updated_at,
            )
        )

    def _written(self, row: Workflow, operation: str, *, audit: bool = True) -> None:
        if audit:
            self.unit.audit.ok(operation, "workflow", row.id, {"name": row.name, "version": row.version})
        self._changed.add(row.id)
        self._invalidate_after_commit()

    def _invalidate_after_commit(self) -> None:
        """One after-commit hook per unit: workflows whose definition changed leave every cache; those that
        only counted executions get their counters patched and their lists and stats renewed."""
        if self._hooked:
            return
        self._hooked = True

        async def invalidate() -> None:
            tenant_id = self.unit.tenant_id
            for workflow_id in sorted(self._changed):
                await self.unit.cache.workflow_changed(tenant_id, workflow_id)
            for workflow_id, counters in sorted(self._counted.items()):
                if workflow_id not in self._changed:
                    self.unit.cache.patch_workflow(tenant_id, workflow_id, counters)

        self.unit.after_commit(invalidate)

    def _check_lock(self, row: Workflow, lock_owner: str | None) -> None:
        if not row.is_locked or row.lock_expires_at is None or row.lock_expires_at <= utc_now():
            return
        if row.locked_by != self._owner(lock_owner):
            raise _locked_error(ErrorCode.WORKFLOW_LOCKED, row.locked_by)

    def _owner(self, owner: str | None) -> str:
        holder = owner or self.unit.actor.user_id
        if not holder or len(holder) > 255 or NUL in holder:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "a lock owner is 1-255 characters, no NUL", path="$.owner"
            )
        return holder

    async def _matching(self, filter: Mapping[str, Any] | None) -> builtins.list[Workflow]:
        where = filter_clause(filter, self._dialect)
        rows = builtins.list(
            await self.session.scalars(
                select(Workflow).where(where).order_by(Workflow.id).limit(MAX_BULK_FILTERED + 1)
            )
        )
        _bounded(len(rows), MAX_BULK_FILTERED)
        return rows

    async def _free_name(self, base: str) -> str:
        """``base``, or ``base 2``, ``base 3``… whichever is not taken yet (one query)."""
        taken = set(
            await self.session.scalars(
                select(Workflow.name).where(or_(Workflow.name == base, Workflow.name.startswith(base + " ")))
            )
        )
        if base not in taken:
            return base
        for number in range(2, len(taken) + 3):
            candidate = f"{base} {number}"
            if candidate not in taken:
                return candidate
        raise AssertionError("unreachable: a free name always exists among len(taken) + 1 candidates")


def _input(data: WorkflowInput | Mapping[str, Any]) -> WorkflowInput:
    return data.checked() if isinstance(data, WorkflowInput) else WorkflowInput.from_document(data)


def _patched(current: WorkflowInput, patch: Mapping[str, Any]) -> WorkflowInput:
    if not isinstance(patch, Mapping):
        raise InvalidRequestError(ErrorCode.INVALID_VALUE, "a patch must be an object", path="$.patch")
    values = dict(patch)
    if "active" in values:
        values.setdefault("enabled", values.pop("active"))
    unknown = sorted(set(values) - PATCHABLE)
    if unknown:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, f"cannot change {unknown[0]!r}", path=f"$.patch.{unknown[0]}"
        )
    if "tags" in values:
        values["tags"] = tag_names(values["tags"])
    if "enabled" in values and not isinstance(values["enabled"], bool):
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, "enabled must be true or false", path="$.patch.enabled"
        )
    return replace(current, **values).checked()


def _stamp_validation(row: Workflow, report: ValidationReport, fingerprint: str) -> None:
    """Record the report on a row being written; an invalid draft is stored disabled, whatever it asked."""
    for name, value in _validation_columns(report, fingerprint).items():
        setattr(row, name, value)
    if not report.valid:
        row.enabled = False


def _validation_columns(report: ValidationReport, fingerprint: str) -> dict[str, Any]:
    return {
        "validation_status": "valid" if report.valid else "invalid",
        "validation_errors": [issue.to_dict() for issue in report.errors],
        "validated_registry": fingerprint,
    }


def _cached_report(report: ValidationReport, fingerprint: str) -> dict[str, Any]:
    return {"registry": fingerprint, "report": report.to_dict()}


def _with_node_ids(workflow: WorkflowInput, report: ValidationReport) -> WorkflowInput:
    """Nodes submitted without an id are stored with the one validation derived for them (as n8n's import
    gives them one), so later edits, renames and exports keep it."""
    definition = report.definition
    if definition is None or len(definition.nodes) != len(workflow.nodes):
        return workflow
    nodes = [
        {**node, "id": parsed.id} if isinstance(node, dict) and not node.get("id") else node
        for node, parsed in zip(workflow.nodes, definition.nodes, strict=True)
    ]
    return replace(workflow, nodes=nodes) if nodes != workflow.nodes else workflow


def _static_data_conflict() -> ConflictError:
    return ConflictError(
        ErrorCode.VERSION_CONFLICT,
        "the workflow's static data changed since this execution read it",
        path="$.staticData",
    )


def _invalid_error(report: ValidationReport, operation: str) -> WorkflowValidationError:
    """The refusal of an invalid workflow, every issue in ``details``; an import says it was the import."""
    data = report.to_dict()
    first = report.errors[0] if report.errors else None
    code = ErrorCode.IMPORT_VALIDATION_FAILED if operation == IMPORT else ErrorCode.WORKFLOW_INVALID
    return WorkflowValidationError(
        code,
        f"Workflow validation failed: {len(report.errors)} error(s), {len(report.warnings)} warning(s)",
        path=None if first is None else _dollar(first.path),
        details={"errors": data["errors"], "warnings": data["warnings"]},
    )


def _dollar(path: str) -> str:
    if path.startswith("$"):
        return path
    return "$" + ("" if path.startswith("[") else ".") + path


def _version_number(value: Any, path: str) -> int:
    """A version as the column holds it (a 32-bit integer on PostgreSQL), refused here rather than there."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, f"a version is between 1 and {MAX_VERSION}", path=path
        )
    return value


def _duplicate(name: str) -> ConflictError:
    return ConflictError(
        ErrorCode.DUPLICATE_WORKFLOW_NAME, f"a workflow named {name!r} exists", path="$.name"
    )


def _locked_error(code: ErrorCode, holder: str | None) -> ConflictError:
    """WORKFLOW_LOCKED for a write the lock refuses, LOCK_ACQUISITION_FAILED for a lock not obtained."""
    return ConflictError(code, f"the workflow is locked by {holder!r}", details={"lockedBy": holder})


def _bounded(count: int, limit: int) -> None:
    if count > limit:
        raise InvalidRequestError(
            ErrorCode.BULK_LIMIT_EXCEEDED, f"a bulk operation takes at most {limit} workflows", path="$"
        )


@contextmanager
def _indexed(index: int) -> Iterator[None]:
    """Prefix the JSON path of an error raised for item ``index`` of a bulk request."""
    try:
        yield
    except StoreError as error:
        suffix = "" if error.path is None else error.path.removeprefix("$")
        error.path = f"$[{index}]{suffix}"
        raise


def _imported_document(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise InvalidRequestError(ErrorCode.INVALID_EXPORT_FORMAT, "an import is a JSON object", path="$")
    if "formatVersion" in payload:
        if payload["formatVersion"] != EXPORT_FORMAT:
            raise InvalidRequestError(
                ErrorCode.INVALID_EXPORT_FORMAT,
                f"unknown export format {payload['formatVersion']!r}",
                path="$.formatVersion",
            )
        document = payload.get("workflow")
        if not isinstance(document, Mapping):
            raise InvalidRequestError(
                ErrorCode.INVALID_EXPORT_FORMAT, "the export has no workflow object", path="$.workflow"
            )
        return document
    if "nodes" not in payload:
        raise InvalidRequestError(
            ErrorCode.INVALID_EXPORT_FORMAT,
            "neither a tenantflow export nor an n8n workflow (no nodes)",
            path="$.nodes",
        )
    return payload


def _version_view(row: WorkflowVersion) -> VersionView:
    return VersionView(row.workflow_id, row.version, row.definition, row.author, row.message, row.created_at)


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count
