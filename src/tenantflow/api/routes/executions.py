"""Executions: run a workflow (seed 000's execute), read, list, abort and retry runs, follow them live.

In this issue executions run in the API process (``services/executions.ExecutionService``); the routes do
not know that, so the workers issue can move them onto a queue behind the same service.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.sse import EventSourceResponse, format_sse_event

from tenantflow.api.deps import Caller, admit
from tenantflow.api.schemas.common import ERROR_RESPONSES, ID_PATTERN
from tenantflow.api.schemas.executions import (
    Accepted,
    ExecuteBody,
    Execution,
    ExecutionPage,
    ExecutionResult,
    ExecutionSummary,
    RetryBody,
)
from tenantflow.services.events import ProgressEvent
from tenantflow.services.executions import ExecutionService
from tenantflow.store.executions import ExecutionView
from tenantflow.store.identity import Level
from tenantflow.store.text import dumps

router = APIRouter(prefix="/api/v1/{tenant}", tags=["executions"], responses=ERROR_RESPONSES)

KEEPALIVE_SECONDS = 15.0
BINARY_ID_PATTERN = r"^(tfbin:)?[0-9a-f]{64}$"
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+( *; *[\w.+-]+=[\w.+-]+)*", re.ASCII)  # no header injection
Id = Annotated[str, Path(pattern=ID_PATTERN)]
# Seed 003: execute is user+ (and only enabled, valid workflows run); reading runs is user+ like reading
# workflows; abort and retry act on a run as execute does.
Runner = Annotated[Caller, admit(Level.USER, "mutation", "workflow.execute")]
Reader = Annotated[Caller, admit(Level.USER, "list", "execution.read")]
Controller = Annotated[Caller, admit(Level.USER, "mutation", "execution.control")]


def _service(caller: Caller) -> ExecutionService:
    return caller.runtime.executions


def _location(tenant: str, execution_id: str) -> str:
    return f"/api/v1/{tenant}/executions/{execution_id}"


def _accepted(tenant: str, summary: dict[str, Any]) -> JSONResponse:
    body = {"executionId": summary["id"], "workflowId": summary["workflowId"], "status": summary["status"]}
    return JSONResponse(body, status_code=202, headers={"Location": _location(tenant, summary["id"])})


def result(view: ExecutionView) -> dict[str, Any]:
    """Seed 000's execute response from a finished execution."""
    record = view.to_dict()
    body = {
        "executionId": record["id"],
        "workflowId": record["workflowId"],
        "status": record["status"],
        "state": record["state"],
        "metrics": record["metrics"],
        "startTime": record["startTime"],
        "endTime": record["endTime"],
        "duration": record["duration"],
    }
    if record["error"]:
        body["error"] = record["error"]
    return body


@router.post(
    "/workflows/{workflow_id}/execute",
    response_model=ExecutionResult,
    responses={202: {"model": Accepted, "description": "Still running (wait=false, or the wait ran out)"}},
    summary="Run a workflow (seed 000)",
)
async def execute(
    caller: Runner,
    tenant: str,
    workflow_id: Id,
    body: ExecuteBody | None = None,
    wait: Annotated[
        bool, Query(description="Answer when the run ends (default) or at once with 202.")
    ] = True,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=255, description="Same key, same execution.")
    ] = None,
) -> Any:
    body = body or ExecuteBody()
    service = _service(caller)
    summary = await service.submit(
        caller.actor,
        workflow_id,
        trigger_data=body.triggerData,
        variables=body.variables,
        request=body.request.model_dump() if body.request else None,
        idempotency_key=idempotency_key,
        durable=not wait,  # a 202 promises a row to read; a waiting caller gets the whole record
    )
    if wait:
        view = await service.wait(tenant, summary.id, caller.runtime.settings.execution_wait_seconds)
        if view is not None:  # already the documented shape: no second validation of every node's output
            # The store's serialiser: node output may hold NaN or a NUL, which plain JSON cannot carry.
            return Response(dumps(result(view)), media_type="application/json")
    return _accepted(tenant, summary.to_dict())


@router.get("/executions", response_model=ExecutionPage, summary="List executions, newest first")
async def list_executions(
    caller: Reader,
    workflowId: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[
        str | None, Query(max_length=200, description="Comma-separated: queued, running, success, error…")
    ] = None,
    createdAfter: datetime | None = None,
    createdBefore: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`nextCursor` of the previous page.")
    ] = None,
) -> dict[str, Any]:
    statuses = [part.strip() for part in status.split(",") if part.strip()] if status else None
    async with caller.unit(read_only=True, query=True) as unit:
        page = await unit.executions.list(
            workflow_id=workflowId,
            status=statuses,
            created_after=createdAfter,
            created_before=createdBefore,
            limit=limit,
            cursor=cursor,
        )
    return page.to_dict()


@router.get("/executions/{execution_id}", response_model=Execution, summary="One execution's record")
async def get_execution(caller: Reader, execution_id: Id) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        return (await unit.executions.get(execution_id)).to_dict()


@router.get(
    "/executions/{execution_id}/binary/{binary_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"}},
    summary="A file an execution's node outputs carry (binary data)",
)
async def binary(
    caller: Reader,
    execution_id: Id,
    binary_id: Annotated[
        str, Path(pattern=BINARY_ID_PATTERN, description="The `id` of a `binary` entry (`tfbin:…`).")
    ],
) -> Response:
    async with caller.unit(read_only=True) as unit:
        stored = await unit.executions.binary(execution_id, binary_id)
    media_type = stored.mime_type if stored.mime_type and _MEDIA_TYPE.fullmatch(stored.mime_type) else None
    headers = {
        "Content-Type": media_type or "application/octet-stream",  # as stored: no charset added
        # A stored file is the workflow's data, not the API's page: never rendered in the API's origin.
        "Content-Disposition": _attachment(stored.file_name),
        "X-Content-Type-Options": "nosniff",
    }
    return Response(stored.data, headers=headers)


def _attachment(file_name: str | None) -> str:
    """RFC 6266's header, as Starlette's FileResponse writes it: a plain name quoted, others encoded."""
    if not file_name:
        return "attachment"
    encoded = quote(file_name)
    return (
        f'attachment; filename="{file_name}"'
        if encoded == file_name
        else f"attachment; filename*=utf-8''{encoded}"
    )


@router.post("/executions/{execution_id}/abort", response_model=ExecutionSummary, summary="Abort a run")
async def abort(caller: Controller, execution_id: Id) -> dict[str, Any]:
    return (await _service(caller).abort(caller.actor, execution_id)).to_dict()


@router.post(
    "/executions/{execution_id}/retry",
    status_code=202,
    response_model=Accepted,
    summary="Retry a failed run from the node that failed",
)
async def retry(
    caller: Controller, tenant: str, execution_id: Id, body: RetryBody | None = None
) -> JSONResponse:
    options = body or RetryBody()
    summary = await _service(caller).retry(
        caller.actor, execution_id, use_current_version=options.useCurrentVersion
    )
    return _accepted(tenant, summary.to_dict())


@router.get(
    "/executions/{execution_id}/events",
    # Not EventSourceResponse: FastAPI reserves that class for generator endpoints and would iterate this
    # coroutine's result (a TypeError, so a 500 on every stream); the response is built below instead.
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Progress events, then the record"}
    },
    summary="Live progress (Server-Sent Events)",
)
async def events(
    request: Request,
    caller: Reader,
    execution_id: Id,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=20, description="Resume after this event.")
    ] = None,
) -> EventSourceResponse:
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    stream = _service(caller).events(caller.actor, execution_id, after)
    first = await anext(stream, None)  # not found (or another tenant's) fails here, before the stream starts
    return EventSourceResponse(_encoded(request, first, stream), headers={"Cache-Control": "no-store"})


async def _encoded(
    request: Request, first: ProgressEvent | None, rest: AsyncIterator[ProgressEvent]
) -> AsyncIterator[bytes]:
    """SSE frames, with a comment every 15 s so proxies keep an idle stream open."""
    if first is None:
        return
    yield _frame(first)
    pending: asyncio.Task[ProgressEvent | None] | None = None
    try:
        while not await request.is_disconnected():
            pending = pending or asyncio.ensure_future(anext(rest, None))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield format_sse_event(comment="keep-alive")
                continue
            event, pending = pending.result(), None
            if event is None:
                return
            yield _frame(event)
    finally:
        if pending is not None:
            pending.cancel()


def _frame(event: ProgressEvent) -> bytes:
    return format_sse_event(data_str=json.dumps(event.data, default=str), event=event.type, id=str(event.id))
