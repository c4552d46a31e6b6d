"""``ANY /webhook/{tenant}/{path}``: a call to a Webhook node of one of the tenant's enabled workflows.

No ``Authorization`` is needed (as in n8n); a node with ``headerAuth`` or ``basicAuth`` checks the caller
against the tenant's secret its credential names. Calls count against the ``public`` rate-limit preset,
keyed by tenant + path + client address. The route reads the request into n8n's item (``headers``,
``params``, ``query``, ``body``, and ``rawBody`` for bodies that are not JSON, which the Webhook node
turns into files or form fields), starts the execution with trigger ``webhook``, and answers as the node's
``responseMode`` says (:mod:`tenantflow.services.webhooks`). ``/webhook-test/…`` is not served yet.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tenantflow.api.deps import client_ip, rate_limit, runtime_of
from tenantflow.api.errors import ApiError, request_id
from tenantflow.api.schemas.common import ERROR_RESPONSES, ErrorBody
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
_FORM: Final = "application/x-www-form-urlencoded"


async def receive(request: Request, tenant: str, path: str) -> Response:
    route_path = normalized(path)
    limited = Response()
    await rate_limit(request, limited, PRESET, tenant, f"webhook:{route_path}")
    if not TENANT_ID.match(tenant) or not route_path:
        raise _not_found(request.method, route_path)
    runtime = runtime_of(request)
    actor = Actor(tenant, None, int(Level.USER), request_id(request), client_ip(request))
    async with runtime.store.unit(actor, read_only=True) as unit:
        target = await service.resolve(unit, request.method, route_path)
    if target is None:
        raise _not_found(request.method, route_path)
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
    item = await _request_item(request, target, {k: v for k, v in headers.items() if k not in hidden})
    executions = runtime.executions
    mode = target.response_mode
    if mode == "responseNode" and not service.followable(executions):
        raise ApiError(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "responseNode webhooks need Redis in the queue mode: set TENANTFLOW_REDIS_URL on every process",
            details={"responseMode": mode},
        )
    summary = await executions.submit(
        actor,
        target.workflow_id,
        trigger_data=item,
        request={"method": request.method, **item},
        trigger_kind="webhook",
        durable=mode != "lastNode",  # the others answer while the run goes on: its row must be there
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
        answer = service.after_last_node(target, view)
    except service.NoAnswer as error:
        raise ApiError(
            500,
            ErrorCode.WEBHOOK_NO_RESPONSE,
            str(error),
            details={"executionId": view.id, "status": view.status},
            headers={"X-Execution-Id": view.id},
        ) from None
    return _sent(answer, limited, summary.id)


for _method in sorted(METHODS):  # one operation per method: OpenAPI wants an operation id of its own each
    router.add_api_route(
        "/webhook/{tenant}/{path:path}",
        receive,
        methods=[_method],
        operation_id=f"webhook_{_method.lower()}",
        summary="Call a workflow's Webhook node (no API key; the node's own authentication applies)",
        responses={
            200: {"description": "As the node's responseMode says (n8n's answers)"},
            202: {"model": Accepted, "description": "Still running when the wait ran out"},
            500: {"model": ErrorBody, "description": "The run failed or gave nothing to answer with"},
        },
    )


async def _request_item(request: Request, target: service.Target, headers: dict[str, str]) -> dict[str, Any]:
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
        "webhookUrl": str(request.url.remove_query_params(list(request.query_params))),
        "executionMode": "production",
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


def _not_found(method: str, path: str) -> ApiError:
    return ApiError(
        404,
        ErrorCode.WEBHOOK_NOT_FOUND,
        f"no enabled workflow of this tenant answers {method} /{path}",
        details={"method": method, "path": path},
    )
