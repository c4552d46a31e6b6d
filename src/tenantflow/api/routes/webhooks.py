"""``ANY /webhook/{tenant}/{path}``: a call to a Webhook node of one of the tenant's enabled workflows.

No ``Authorization`` is needed (as in n8n); a node with ``headerAuth`` or ``basicAuth`` checks the caller
against the tenant's secret its credential names. Calls count against the ``public`` rate-limit preset,
keyed by tenant + path + client address. The route reads the request into n8n's item (``headers``,
``params``, ``query``, ``body``, and ``rawBody`` for bodies that are not JSON, which the Webhook node
turns into files or form fields), starts the execution with trigger ``webhook``, and answers as the node's
``responseMode`` says (:mod:`tenantflow.services.webhooks`).

``ANY /webhook-test/{tenant}/{path}`` is n8n's test URL: it answers one call, and only while the workflow
listens for it, which ``POST /api/v1/{tenant}/workflows/{id}/webhook-test`` (level user, as execute) starts
for 120 s, enabled or not. The window is a database row, so any API process serves the call, and deleting
it is the claim: of two calls at once one runs, the other is 404. The run is the one a production call makes,
with ``executionMode: test`` in the item and ``{test: true}`` in the trigger's metadata.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tenantflow.api.deps import Caller, admit, client_ip, rate_limit, runtime_of
from tenantflow.api.errors import ApiError, request_id
from tenantflow.api.schemas.common import ERROR_RESPONSES, ID_PATTERN, ErrorBody
from tenantflow.api.schemas.executions import Accepted
from tenantflow.engine.errors import ErrorCode
from tenantflow.nodes.n8n.files.binary import media_type
from tenantflow.services import webhooks as service
from tenantflow.services.inputs import CREDENTIAL_HEADERS
from tenantflow.store.audit import Actor
from tenantflow.store.identity import Level
from tenantflow.store.tenants import TENANT_ID
from tenantflow.store.text import dumps
from tenantflow.store.webhooks import METHODS, normalized

router = APIRouter(tags=["webhooks"], responses=ERROR_RESPONSES)

PRESET: Final = "public"
Runner = Annotated[Caller, admit(Level.USER, "mutation", "workflow.execute")]  # test webhooks run, as execute
WorkflowId = Annotated[str, Path(pattern=ID_PATTERN)]
_FORM: Final = "application/x-www-form-urlencoded"


async def receive(request: Request, tenant: str, path: str) -> Response:
    """A production call: the enabled workflow whose Webhook node serves the method and path runs."""
    return await _serve(request, tenant, path, test=False)


async def receive_test(request: Request, tenant: str, path: str) -> Response:
    """A test call: the workflow listening for one (see :func:`listen`) runs, enabled or not."""
    return await _serve(request, tenant, path, test=True)


async def _serve(request: Request, tenant: str, path: str, *, test: bool) -> Response:
    route_path = normalized(path)
    limited = Response()
    prefix = "webhook-test" if test else "webhook"
    await rate_limit(request, limited, PRESET, tenant, f"{prefix}:{route_path}")
    if not TENANT_ID.match(tenant) or not route_path:
        raise _not_found(request.method, route_path, test=test)
    runtime = runtime_of(request)
    actor = Actor(tenant, None, int(Level.USER), request_id(request), client_ip(request))
    call: service.TestCall | None = None
    async with runtime.store.unit(actor, read_only=True) as unit:
        if test:
            call = await service.find_test(unit, request.method, route_path)
            target = None if call is None else call.target
        else:
            target = await service.resolve(unit, request.method, route_path)
    if target is None:
        raise _not_found(request.method, route_path, test=test)
    headers = {name.lower(): value for name, value in request.headers.items()}
    if not service.admitted(target, headers):
        raise ApiError(
            401,
            ErrorCode.WEBHOOK_UNAUTHORIZED,
            "the webhook's authorization data is missing or wrong",
            headers={"WWW-Authenticate": 'Basic realm="Webhook"'}
            if target.authentication == "basicAuth"
            else None,
        )
    hidden = CREDENTIAL_HEADERS | {service.authenticating_header(target) or "authorization"}
    visible = {k: v for k, v in headers.items() if k not in hidden}
    item = await _request_item(request, target, visible, "test" if test else "production")
    executions = runtime.executions
    mode = target.response_mode
    if mode == "responseNode" and not service.followable(executions):
        raise ApiError(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "responseNode webhooks need Redis in the queue mode: set TENANTFLOW_REDIS_URL on every process",
            details={"responseMode": mode},
        )
    if call is not None:
        async with runtime.store.unit(actor) as unit:
            claimed = await service.claim_test(unit, call)
        if not claimed:  # another call, on any process, took the one run the window allows
            raise _not_found(request.method, route_path, test=test)
    summary = await executions.submit(
        actor,
        target.workflow_id,
        trigger_data=item,
        request={"method": request.method, **item},
        trigger_kind="webhook",
        trigger_metadata={"test": True} if test else None,
        start_node=str(target.node.get("name") or target.node.get("id")),
        durable=mode != "lastNode",  # the others answer while the run goes on: its row must be there
        require_enabled=not test,
        workflow=target.workflow,
    )
    if mode == "onReceived":
        return _sent(service.on_received(target), limited, summary.id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + runtime.settings.execution_wait_seconds
    if mode == "responseNode":
        answered = await service.first_response(executions, (tenant, summary.id), deadline - loop.time())
        if answered is not None:
            return _sent(answered, limited, summary.id)
    view = await executions.wait(tenant, summary.id, max(0.0, deadline - loop.time()))
    if view is None:  # still running when the wait ran out: where to read it later
        body = {"executionId": summary.id, "workflowId": target.workflow_id, "status": "running"}
        return _with(JSONResponse(body, status_code=202), limited, summary.id)
    try:
        if mode == "responseNode":
            raise service.without_response(view)
        answer = await service.after_last_node(runtime.store, actor, target, view)
    except service.NoAnswer as error:
        raise ApiError(
            500,
            ErrorCode.WEBHOOK_NO_RESPONSE,
            str(error),
            details={"executionId": view.id, "status": view.status},
            headers={"X-Execution-Id": view.id},
        ) from None
    return _sent(answer, limited, summary.id)


_ANSWERS: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "As the node's responseMode says (n8n's answers)"},
    202: {"model": Accepted, "description": "Still running when the wait ran out"},
    500: {"model": ErrorBody, "description": "The run failed or gave nothing to answer with"},
}
# One operation per method (OpenAPI wants an operation id of its own each). Routes are tried in order, a few
# µs each that does not match: the methods webhooks mostly use go first.
for _method in sorted(METHODS, key=lambda method: (method not in ("POST", "GET"), method != "POST", method)):
    router.add_api_route(
        "/webhook/{tenant}/{path:path}",
        receive,
        methods=[_method],
        operation_id=f"webhook_{_method.lower()}",
        summary="Call a workflow's Webhook node (no API key; the node's own authentication applies)",
        responses=_ANSWERS,
    )
    router.add_api_route(
        "/webhook-test/{tenant}/{path:path}",
        receive_test,
        methods=[_method],
        operation_id=f"webhook_test_{_method.lower()}",
        summary="Call the Webhook node of the workflow listening for a test call (once, enabled or not)",
        responses=_ANSWERS,
    )


class TestUrl(BaseModel):
    method: str
    path: str
    url: str


class Listening(BaseModel):
    """A workflow listening for one test call: its version, until when, and the URLs that reach it."""

    workflowId: str
    version: int
    expiresAt: datetime
    webhooks: list[TestUrl]


@router.post(
    "/api/v1/{tenant}/workflows/{workflow_id}/webhook-test",
    status_code=201,
    response_model=Listening,
    summary="Listen for one test call to the workflow's Webhook nodes (120 s; n8n's test URL)",
)
async def listen(caller: Runner, tenant: str, workflow_id: WorkflowId, request: Request) -> Listening:
    async with caller.unit() as unit:
        window = await service.open_test(unit, workflow_id)
    base = str(request.base_url).rstrip("/")
    urls = [TestUrl(method=m, path=p, url=f"{base}/webhook-test/{tenant}/{p}") for m, p in window.routes]
    return Listening(
        workflowId=window.workflow_id, version=window.version, expiresAt=window.expires_at, webhooks=urls
    )


async def _request_item(
    request: Request, target: service.Target, headers: dict[str, str], execution_mode: str
) -> dict[str, Any]:
    """n8n's webhook item: the body parsed by its type (JSON, a form, text), and for anything but JSON
    the bytes as ``rawBody`` (base64), which the Webhook node makes a file or form fields of."""
    raw = await request.body()
    kind = media_type(headers.get("content-type"))
    body: Any = {}
    keep_raw = bool(raw)
    if raw and (kind == "application/json" or (kind or "").endswith("+json")):
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, ErrorCode.MALFORMED_JSON, "the body is not valid JSON", path="$") from None
        keep_raw = target.options.get("rawBody") is True
    elif raw and kind == _FORM:
        body = _multi(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif raw and kind is not None and kind.startswith("text/"):
        body = raw.decode("utf-8", "replace")
    elif raw:
        body = None  # a file or a multipart form: the node reads rawBody
    item: dict[str, Any] = {
        "headers": headers,
        "params": target.params,
        "query": _multi(request.query_params.multi_items()),
        "body": body,
        "webhookUrl": str(request.url).partition("?")[0],
        "executionMode": execution_mode,
    }
    if keep_raw:
        item["rawBody"] = base64.b64encode(raw).decode()
    return item


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Query or form pairs as Express parses them: a repeated name becomes a list."""
    values: dict[str, Any] = {}
    for name, value in pairs:
        if name not in values:
            values[name] = value
        elif isinstance(values[name], list):
            values[name].append(value)
        else:
            values[name] = [values[name], value]
    return values


def _sent(answer: service.Answer, limited: Response, execution_id: str) -> Response:
    if answer.empty:
        response = Response(status_code=answer.status, media_type=answer.media_type)
    elif answer.content is not None:
        response = Response(answer.content, status_code=answer.status, media_type=answer.media_type)
    else:
        media = answer.media_type or "application/json"
        response = Response(dumps(answer.json), status_code=answer.status, media_type=media)
    response.headers.update(answer.headers)
    return _with(response, limited, execution_id)


def _with(response: Response, limited: Response, execution_id: str) -> Response:
    """The rate-limit headers counted before the response existed, and the execution's id."""
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        if name in limited.headers:
            response.headers[name] = limited.headers[name]
    response.headers["X-Execution-Id"] = execution_id
    return response


def _not_found(method: str, path: str, *, test: bool) -> ApiError:
    message = (
        f"no workflow of this tenant listens for a test call to {method} /{path} (a test webhook answers"
        " one call within 120 s of POST …/workflows/{id}/webhook-test)"
        if test
        else f"no enabled workflow of this tenant answers {method} /{path}"
    )
    return ApiError(404, ErrorCode.WEBHOOK_NOT_FOUND, message, details={"method": method, "path": path})
