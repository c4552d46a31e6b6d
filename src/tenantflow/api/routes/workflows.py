"""``/api/v1/{tenant}/workflows``: seed 000's list and create, and every DBAL operation of seed 003."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from tenantflow.api.deps import Caller, admit
from tenantflow.api.errors import ApiError
from tenantflow.api.schemas.common import ERROR_RESPONSES, ID_PATTERN
from tenantflow.api.schemas.workflows import (
    BulkCreate,
    BulkDelete,
    BulkResult,
    BulkUpdate,
    CloneBody,
    Lock,
    LockBody,
    RestoreBody,
    Stats,
    ValidationReport,
    Version,
    VersionList,
    Workflow,
    WorkflowCreate,
    WorkflowList,
    WorkflowPatch,
    WorkflowReplace,
    WorkflowSummary,
)
from tenantflow.engine.errors import ErrorCode
from tenantflow.services import workflows as service
from tenantflow.store.documents import WorkflowView
from tenantflow.store.errors import StoreError
from tenantflow.store.identity import Level
from tenantflow.store.workflows import ConflictPolicy

router = APIRouter(prefix="/api/v1/{tenant}/workflows", tags=["workflows"], responses=ERROR_RESPONSES)

WorkflowId = Annotated[str, Path(pattern=ID_PATTERN)]
VersionNumber = Annotated[int, Path(ge=1, le=2_000_000_000)]
Draft = Annotated[
    bool, Query(description="Save even if invalid (status `invalid`; it cannot be enabled or run).")
]
IfMatch = Annotated[str | None, Header(description='The ETag read earlier (`"<version>"`); 409 if stale.')]
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')

# Seed 003's ACL: read user+, create admin+, update/delete admin+ or the owner (checked in the service),
# execute user+; seed 000's presets: reads "list", writes "mutation".
Reader = Annotated[Caller, admit(Level.USER, "list", "workflow.read")]
Creator = Annotated[Caller, admit(Level.ADMIN, "mutation", "workflow.create")]
Editor = Annotated[Caller, admit(Level.USER, "mutation", "workflow.update")]
Admin = Annotated[Caller, admit(Level.ADMIN, "mutation", "workflow.admin")]


def summary(view: WorkflowView) -> dict[str, Any]:
    data = view.data
    return {
        "id": data["id"],
        "name": data["name"],
        "description": data["description"],
        "category": data["category"],
        "version": data["version"],
        "createdAt": data["createdAt"],
        "updatedAt": data["updatedAt"],
        "active": data["enabled"],
        "validationStatus": data["validationStatus"],
    }


def _with_etag(view: WorkflowView, status: int = 200) -> JSONResponse:
    return JSONResponse(view.to_dict(), status_code=status, headers={"ETag": f'"{view.version}"'})


def _expected_version(if_match: str | None, given: int | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return given
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise ApiError(
            400, ErrorCode.INVALID_REQUEST, 'If-Match must be an ETag like "3"', path="header.If-Match"
        )
    version = int(match.group(1))
    if given is not None and given != version:
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            "If-Match and expectedVersion disagree",
            path="$.expectedVersion",
        )
    return version


def _split(tags: str | None) -> list[str] | None:
    if tags is None:
        return None
    names = [tag.strip() for tag in tags.split(",") if tag.strip()]
    return names or None


@router.get("", response_model=WorkflowList, summary="List workflows (seed 000)")
async def list_workflows(
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=999_999)] = 0,
    category: Annotated[str | None, Query(max_length=64)] = None,
    tags: Annotated[
        str | None, Query(max_length=1000, description="Comma-separated; workflows with any of them.")
    ] = None,
    active: bool | None = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    createdBy: Annotated[str | None, Query(max_length=64)] = None,
    validationStatus: Annotated[str | None, Query(pattern="^(valid|invalid|stale|pending)$")] = None,
    lastExecutionStatus: Annotated[str | None, Query(max_length=32)] = None,
    sort: Annotated[str | None, Query(max_length=32, description="`name`, `-updatedAt`, …")] = None,
    search: Annotated[str | None, Query(max_length=500, description="Full-text, ranked.")] = None,
) -> dict[str, Any]:
    filter = {
        key: value
        for key, value in {
            "category": category,
            "tags": _split(tags),
            "enabled": active,
            "name": name,
            "createdBy": createdBy,
            "validationStatus": validationStatus,
            "lastExecutionStatus": lastExecutionStatus,
        }.items()
        if value is not None
    }
    async with caller.unit(read_only=True, query=True) as unit:
        page = await service.listing(unit, filter, search=search, sort=sort, limit=limit, offset=offset)
    return {
        "workflows": [item.to_dict() for item in page.items],
        "pagination": {"total": page.total, "limit": limit, "offset": offset, "hasMore": page.has_more},
    }


@router.post("", status_code=201, response_model=WorkflowSummary, summary="Create a workflow (seed 000)")
async def create_workflow(
    caller: Creator, body: WorkflowCreate, response: Response, draft: Draft = False
) -> dict[str, Any]:
    async with caller.unit() as unit:
        view = await service.create(unit, body.model_dump(exclude_unset=False), draft=draft)
    response.headers["Location"] = f"/api/v1/{view.tenant_id}/workflows/{view.id}"
    response.headers["ETag"] = f'"{view.version}"'
    return summary(view)


@router.get("/find", response_model=WorkflowList, summary="findByField / findFirst (seed 003)")
async def find_workflows(
    caller: Reader,
    field: Annotated[str, Query(max_length=64)],
    value: Annotated[str, Query(max_length=255)],
    first: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    typed: Any = (
        {"true": True, "false": False}.get(value, value) if field in ("enabled", "isLocked") else value
    )
    async with caller.unit(read_only=True, query=True) as unit:
        found = await service.find(unit, field, typed, first=first, limit=limit)
    return {
        "workflows": [view.to_dict() for view in found],
        "pagination": {"total": len(found), "limit": limit, "offset": 0, "hasMore": False},
    }


@router.post("/import", status_code=201, response_model=WorkflowSummary, summary="Import an export")
async def import_workflow(
    caller: Creator,
    response: Response,
    payload: Annotated[dict[str, Any], Body(description="Our export envelope or a bare n8n export.")],
    name: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    onConflict: ConflictPolicy = "error",
    draft: Draft = False,
) -> dict[str, Any]:
    async with caller.unit() as unit:
        view = await service.import_(unit, payload, name=name, on_conflict=onConflict, draft=draft)
    response.headers["Location"] = f"/api/v1/{view.tenant_id}/workflows/{view.id}"
    return summary(view)


@router.post("/bulk", response_model=BulkResult, summary="createMany / updateMany / deleteMany")
async def bulk(
    caller: Admin, body: Annotated[BulkCreate | BulkUpdate | BulkDelete, Body(discriminator="operation")]
) -> dict[str, Any]:
    async with caller.unit() as unit:
        if isinstance(body, BulkCreate):
            items = [item.model_dump() for item in body.items]
            try:
                created = await service.create_many(unit, items, draft=body.draft)
            except StoreError as error:  # the store names the item as ``$[i]…``; the body holds them in items
                if error.path is not None and error.path.startswith("$["):
                    error.path = "$.items" + error.path[1:]
                raise
            return {
                "operation": body.operation,
                "count": len(created),
                "workflows": [summary(v) for v in created],
            }
        if isinstance(body, BulkUpdate):
            count = await service.update_many(unit, body.filter, body.patch.model_dump(exclude_unset=True))
        else:
            count = await service.delete_many(unit, body.filter)
    return {"operation": body.operation, "count": count}


@router.get("/{workflow_id}", response_model=Workflow, summary="Get a workflow")
async def get_workflow(caller: Reader, workflow_id: WorkflowId) -> JSONResponse:
    async with caller.unit(read_only=True) as unit:
        view = await unit.workflows.get(workflow_id)
    return _with_etag(view)


async def _update(
    caller: Caller,
    workflow_id: str,
    fields: dict[str, Any],
    *,
    whole: bool,
    if_match: str | None,
    draft: bool,
) -> JSONResponse:
    expected = _expected_version(if_match, fields.get("expectedVersion"))
    async with caller.unit() as unit:
        view = await service.update(
            unit, workflow_id, fields, whole=whole, expected_version=expected, draft=draft
        )
    return _with_etag(view)


@router.put("/{workflow_id}", response_model=Workflow, summary="Replace a workflow's definition")
async def replace_workflow(
    caller: Editor,
    workflow_id: WorkflowId,
    body: WorkflowReplace,
    if_match: IfMatch = None,
    draft: Draft = False,
) -> JSONResponse:
    return await _update(caller, workflow_id, body.model_dump(), whole=True, if_match=if_match, draft=draft)


@router.patch("/{workflow_id}", response_model=Workflow, summary="Change some fields of a workflow")
async def patch_workflow(
    caller: Editor,
    workflow_id: WorkflowId,
    body: WorkflowPatch,
    if_match: IfMatch = None,
    draft: Draft = False,
) -> JSONResponse:
    fields = body.model_dump(exclude_unset=True)
    return await _update(caller, workflow_id, fields, whole=False, if_match=if_match, draft=draft)


@router.delete("/{workflow_id}", status_code=204, response_class=Response, summary="Delete a workflow")
async def delete_workflow(caller: Editor, workflow_id: WorkflowId) -> Response:
    async with caller.unit() as unit:
        await service.delete(unit, workflow_id)
    return Response(status_code=204)


@router.post("/{workflow_id}/validate", response_model=ValidationReport, summary="Validate now")
async def validate_workflow(caller: Reader, workflow_id: WorkflowId) -> dict[str, Any]:
    async with caller.unit() as unit:
        report = await service.validate(unit, workflow_id)
    return report.to_dict()


@router.post("/{workflow_id}/clone", status_code=201, response_model=WorkflowSummary, summary="Clone")
async def clone_workflow(
    caller: Creator, workflow_id: WorkflowId, response: Response, body: CloneBody | None = None
) -> dict[str, Any]:
    async with caller.unit() as unit:
        view = await service.clone(unit, workflow_id, name=body.name if body else None)
    response.headers["Location"] = f"/api/v1/{view.tenant_id}/workflows/{view.id}"
    return summary(view)


@router.get("/{workflow_id}/export", summary="Export (envelope with the validation report)")
async def export_workflow(caller: Reader, workflow_id: WorkflowId) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        return await service.export(unit, workflow_id)


async def _set_enabled(caller: Caller, workflow_id: str, enabled: bool) -> dict[str, Any]:
    async with caller.unit() as unit:
        return (await service.set_enabled(unit, workflow_id, enabled)).to_dict()


@router.post("/{workflow_id}/enable", response_model=Workflow, summary="Enable (valid workflows only)")
async def enable_workflow(caller: Admin, workflow_id: WorkflowId) -> dict[str, Any]:
    return await _set_enabled(caller, workflow_id, True)


@router.post("/{workflow_id}/disable", response_model=Workflow, summary="Disable")
async def disable_workflow(caller: Admin, workflow_id: WorkflowId) -> dict[str, Any]:
    return await _set_enabled(caller, workflow_id, False)


@router.post("/{workflow_id}/lock", response_model=Lock, summary="Take or extend the editing lock")
async def lock_workflow(
    caller: Editor, workflow_id: WorkflowId, body: LockBody | None = None
) -> JSONResponse:
    async with caller.unit() as unit:
        state = await service.lock(unit, workflow_id, timeout_s=(body or LockBody()).timeout)
    return JSONResponse(state.to_dict(), status_code=200 if state.acquired else 423)


@router.delete("/{workflow_id}/lock", status_code=204, response_class=Response, summary="Release the lock")
async def unlock_workflow(caller: Editor, workflow_id: WorkflowId) -> Response:
    async with caller.unit() as unit:
        await service.unlock(unit, workflow_id)
    return Response(status_code=204)


@router.get("/{workflow_id}/stats", response_model=Stats, summary="Execution statistics over a window")
async def workflow_stats(
    caller: Reader,
    workflow_id: WorkflowId,
    window: Annotated[str, Query(pattern=r"^\d{1,5}[smhd]$", description="15m, 24h, 30d …")] = "24h",
) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        return await service.stats(unit, workflow_id, window=window)


@router.get("/{workflow_id}/versions", response_model=VersionList, summary="Version history, newest first")
async def list_versions(
    caller: Reader,
    workflow_id: WorkflowId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[int | None, Query(ge=1, le=2_000_000_000)] = None,
) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        found = await service.versions(unit, workflow_id, limit=limit, before=before)
    return {"versions": [entry.to_dict() for entry in found]}


@router.get("/{workflow_id}/versions/{number}", response_model=Version, summary="One version")
async def get_version(caller: Reader, workflow_id: WorkflowId, number: VersionNumber) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        return (await service.version(unit, workflow_id, number)).to_dict()


@router.post("/{workflow_id}/versions/{number}/restore", response_model=Workflow, summary="Restore a version")
async def restore_version(
    caller: Editor, workflow_id: WorkflowId, number: VersionNumber, body: RestoreBody | None = None
) -> dict[str, Any]:
    async with caller.unit() as unit:
        view = await service.restore(unit, workflow_id, number, message=body.message if body else None)
    return view.to_dict()
