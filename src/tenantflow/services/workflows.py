"""Workflow use cases on an explicit unit: seed 003's ACL on top of the store's operations.

The route admits a caller by level; what depends on the workflow itself (update and delete by admin+ *or
the owner*, releasing a lock by its holder or admin+) is decided here, audited like every other denial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, NoReturn

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.validation import ValidationReport
from tenantflow.store.documents import WorkflowInput, WorkflowView
from tenantflow.store.errors import AccessDeniedError
from tenantflow.store.identity import Level
from tenantflow.store.queries import Page
from tenantflow.store.unit import Unit
from tenantflow.store.workflows import ConflictPolicy, LockState, VersionView

# Body keys that are columns; any other top-level key of a definition is kept in the workflow's ``meta``.
_COLUMNS = frozenset(field.name for field in fields(WorkflowInput)) - {"meta", "enabled"}


def definition(body: Mapping[str, Any]) -> dict[str, Any]:
    """A request body as a workflow document: absent fields dropped, ``expectedVersion`` is not content."""
    return {key: value for key, value in body.items() if value is not None and key != "expectedVersion"}


def is_admin(unit: Unit) -> bool:
    return unit.actor.level >= Level.ADMIN


def require_owner_or_admin(unit: Unit, workflow: WorkflowView, operation: str) -> None:
    """Seed 003: update and delete are for admin, god, supergod, or the workflow's creator."""
    if is_admin(unit) or (
        unit.actor.user_id is not None and workflow.data["createdBy"] == unit.actor.user_id
    ):
        return
    _deny(unit, workflow, operation, "being the workflow's creator")


def _deny(unit: Unit, workflow: WorkflowView, operation: str, alternative: str) -> NoReturn:
    error = AccessDeniedError(
        ErrorCode.PERMISSION_DENIED,
        f"{operation} needs level 3 (admin) or {alternative}",
        details={"id": workflow.id},
    )
    unit.audit.failed(operation, "workflow", workflow.id, error)
    error.audited = True
    raise error


async def create(unit: Unit, body: Mapping[str, Any], *, draft: bool) -> WorkflowView:
    return await unit.workflows.create(definition(body), allow_invalid=draft)


async def listing(
    unit: Unit,
    filter: Mapping[str, Any],
    *,
    search: str | None,
    sort: str | None,
    limit: int,
    offset: int,
) -> Page[WorkflowView]:
    """One page; with ``search`` the ranked full-text matches (filters apply to the listing only)."""
    if search is not None:
        found = await unit.workflows.search(search, limit=limit)
        return Page(found, len(found), False, 1, limit)
    return await unit.workflows.list(filter, sort=sort, limit=limit, offset=offset)


async def update(
    unit: Unit,
    workflow_id: str,
    body: Mapping[str, Any],
    *,
    whole: bool,
    expected_version: int | None,
    draft: bool,
) -> WorkflowView:
    """PUT (``whole``): the definition replaces the stored one. PATCH: only the given fields change, and
    extra definition keys merge into ``meta``. Either way a new version, if anything changed."""
    current = await unit.workflows.get_for(workflow_id, "workflow.update")
    require_owner_or_admin(unit, current, "workflow.update")
    given = definition(body)
    if whole:
        new = WorkflowInput.from_document(given)
        change = {field.name: getattr(new, field.name) for field in fields(WorkflowInput)}
    else:
        change = {key: value for key, value in given.items() if key in _COLUMNS}
        if "active" in given:
            change["enabled"] = given["active"]
        extra = {key: value for key, value in given.items() if key not in _COLUMNS and key != "active"}
        if extra:
            change["meta"] = {**current.data["meta"], **extra}
    return await unit.workflows.update(
        workflow_id, change, expected_version=expected_version, allow_invalid=draft
    )


async def delete(unit: Unit, workflow_id: str) -> None:
    current = await unit.workflows.get_for(workflow_id, "workflow.delete")
    require_owner_or_admin(unit, current, "workflow.delete")
    await unit.workflows.delete(workflow_id)


async def validate(unit: Unit, workflow_id: str) -> ValidationReport:
    return await unit.workflows.validate(workflow_id)


async def clone(unit: Unit, workflow_id: str, *, name: str | None) -> WorkflowView:
    return await unit.workflows.clone(workflow_id, name=name)


async def export(unit: Unit, workflow_id: str) -> dict[str, Any]:
    return await unit.workflows.export(workflow_id)


async def import_(
    unit: Unit, payload: Mapping[str, Any], *, name: str | None, on_conflict: ConflictPolicy, draft: bool
) -> WorkflowView:
    return await unit.workflows.import_(payload, name=name, on_conflict=on_conflict, allow_invalid=draft)


async def set_enabled(unit: Unit, workflow_id: str, enabled: bool) -> WorkflowView:
    return await unit.workflows.set_enabled(workflow_id, enabled)


async def lock(unit: Unit, workflow_id: str, *, timeout_s: float) -> LockState:
    return await unit.workflows.acquire_lock(workflow_id, timeout_s=timeout_s)


async def unlock(unit: Unit, workflow_id: str) -> None:
    """Seed 003: the lock's holder releases it; an admin may release anyone's; anyone else is refused
    (403 PERMISSION_DENIED, audited as a denial), not told that the lock is not theirs (409)."""
    current = await unit.workflows.get_for(workflow_id, "workflow.unlock")
    holder = current.data["lockedBy"]
    if holder is not None and holder != unit.actor.user_id:
        if not is_admin(unit):
            _deny(unit, current, "workflow.unlock", "holding the lock")
        await unit.workflows.release_lock(workflow_id, owner=holder)
        return
    await unit.workflows.release_lock(workflow_id)


async def stats(unit: Unit, workflow_id: str, *, window: str) -> dict[str, Any]:
    return await unit.workflows.get_execution_stats(window, workflow_id=workflow_id)


async def versions(unit: Unit, workflow_id: str, *, limit: int, before: int | None) -> list[VersionView]:
    return await unit.workflows.versions(workflow_id, limit=limit, before=before)


async def version(unit: Unit, workflow_id: str, number: int) -> VersionView:
    return await unit.workflows.get_version(workflow_id, number)


async def restore(unit: Unit, workflow_id: str, number: int, *, message: str | None) -> WorkflowView:
    current = await unit.workflows.get_for(workflow_id, "workflow.restore")
    require_owner_or_admin(unit, current, "workflow.restore")
    return await unit.workflows.restore(workflow_id, number, message=message)


async def create_many(unit: Unit, bodies: Sequence[Mapping[str, Any]], *, draft: bool) -> list[WorkflowView]:
    return await unit.workflows.create_many([definition(body) for body in bodies], allow_invalid=draft)


async def update_many(unit: Unit, filter: Mapping[str, Any], body: Mapping[str, Any]) -> int:
    change = definition(body)
    if "active" in change:
        change["enabled"] = change.pop("active")
    return await unit.workflows.update_many(filter, change)


async def delete_many(unit: Unit, filter: Mapping[str, Any]) -> int:
    return await unit.workflows.delete_many(filter)


async def find(unit: Unit, field: str, value: Any, *, first: bool, limit: int) -> list[WorkflowView]:
    """findByField, or findFirst (the newest match) when ``first``."""
    if first:
        found = await unit.workflows.find_first({field: value}, sort="-updatedAt")
        return [] if found is None else [found]
    return await unit.workflows.find_by_field(field, value, limit=limit)
