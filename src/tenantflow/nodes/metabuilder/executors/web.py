"""MetaBuilder's ``http-request`` and ``webhook-response`` executors.

``http-request`` takes MetaBuilder's flat parameters (url, method, headers, body, timeout in ms) and sends
them through the HTTP Request node's transport (:mod:`tenantflow.nodes.n8n.http`): the same address guard
(:mod:`tenantflow.nodes.netguard`), redirect handling, size cap and timeout, never the original's mock.
``webhook-response`` builds the response a webhook trigger returns to its caller; the answer for the first
item is also kept in the node's state (``ctx.node_state["response"]``) for the host's webhook endpoint, as
n8n's Respond to Webhook answers with its first item.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import js_string
from tenantflow.engine.expressions.values import format_json
from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.metabuilder.executors.common import (
    ANY_JSON,
    TEXT,
    choice,
    iso_now,
    or_template,
    per_item,
    per_item_async,
)
from tenantflow.nodes.n8n.core import first_input, object_schema
from tenantflow.nodes.n8n.http import (
    RawResponse,
    RequestSpec,
    ResponseOptions,
    open_session,
    send,
    status_error,
)
from tenantflow.nodes.netguard import AddressGuard

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
USER_AGENT = "MetaBuilder-Workflow/3.0.0"
DEFAULT_TIMEOUT_MS = 30_000
LONG_TIMEOUT_MS = 120_000
RESTRICTED_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "www-authenticate",
    }
)
_HEADERS = or_template({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}})


def _header_map(ctx: NodeContext, index: int) -> dict[str, str]:
    headers = ctx.param("headers", index, {}) or {}
    if not isinstance(headers, dict):
        raise NodeError("Parameter 'headers' must be an object", code=ErrorCode.INVALID_PARAMETER)
    return {str(name): js_string(value) for name, value in headers.items()}


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


# --- http-request --------------------------------------------------------------------------------------


def _request(ctx: NodeContext, index: int) -> tuple[RequestSpec, ResponseOptions]:
    url = js_string(ctx.param("url", index, ""))
    if urlsplit(url).scheme not in ("http", "https"):
        raise NodeError(
            f"Invalid URL: {url!r} (it must start with http:// or https://)", code=ErrorCode.INVALID_PARAMETER
        )
    method = js_string(ctx.param("method", index, "GET")).upper()
    if method not in METHODS:
        raise NodeError(f"Unsupported method {method!r}", code=ErrorCode.INVALID_PARAMETER)
    headers = {"User-Agent": USER_AGENT, **_header_map(ctx, index)}
    body = ctx.param("body", index, None)
    text: str | None = None
    if isinstance(body, dict | list):
        text = format_json(body)
        if not _has_header(headers, "content-type"):
            headers["Content-Type"] = "application/json"
    elif body is not None:
        text = js_string(body)
    spec = RequestSpec(method=method, url=url, params=[], headers=headers, body=text)
    return spec, ResponseOptions(timeout_s=_timeout_ms(ctx, index) / 1000)


def _timeout_ms(ctx: NodeContext, index: int) -> float:
    value = ctx.param("timeout", index, DEFAULT_TIMEOUT_MS)
    try:
        timeout = float(value)
    except (TypeError, ValueError) as exc:
        raise NodeError(f"Timeout {value!r} is not a number", code=ErrorCode.INVALID_PARAMETER) from exc
    if not timeout > 0:
        raise NodeError("Timeout must be more than 0 ms", code=ErrorCode.INVALID_PARAMETER)
    if timeout > LONG_TIMEOUT_MS:
        ctx.log("warn", f"Timeout of {timeout:g} ms is longer than {LONG_TIMEOUT_MS} ms")
    return timeout


def _response_body(response: RawResponse) -> Any:
    """JSON bodies parsed (as MetaBuilder's ``fetch().json()``), anything else as text; empty is null."""
    if not response.body:
        return None
    if "json" in response.content_type.lower():
        try:
            return json.loads(response.text())
        except json.JSONDecodeError:
            return response.text()
    return response.text()


class MetaHttpRequest(NodeType):
    """One real HTTP request per item; answers ``{statusCode, statusText, headers, body, url, method}``."""

    type = "http-request"
    display_name = "HTTP Request (MetaBuilder)"
    description = "Sends an HTTP request per item with MetaBuilder's url/method/headers/body/timeout."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "url": TEXT,
            "method": choice(*METHODS),
            "headers": _HEADERS,
            "body": ANY_JSON,
            "timeout": or_template({"type": "number", "exclusiveMinimum": 0}),
        },
        required=("url",),
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        guard = AddressGuard.for_node(ctx)
        async with open_session(guard) as session:

            async def answer(index: int, item: Any) -> dict[str, Any]:
                spec, opts = _request(ctx, index)
                response = await send(session, ctx, spec, opts, guard)
                if not 200 <= response.status < 300:
                    raise status_error(response)
                return {
                    "statusCode": response.status,
                    "statusText": response.reason,
                    "headers": response.headers,
                    "body": _response_body(response),
                    "url": response.url,
                    "method": spec.method,
                }

            return await per_item_async(first_input(inputs), answer)


# --- webhook-response ----------------------------------------------------------------------------------

STATUS_TEXTS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def status_text(status: int) -> str:
    if status in STATUS_TEXTS:
        return STATUS_TEXTS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _status(ctx: NodeContext, index: int) -> int:
    value = ctx.param("statusCode", index, None)
    if value is None or value == "":
        ctx.log("warn", "No statusCode given: answering 200")
        return 200
    try:
        status = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError):
        status = -1
    if not 100 <= status <= 599:
        raise NodeError(
            f"statusCode {value!r} is not an HTTP status (100-599)", code=ErrorCode.INVALID_PARAMETER
        )
    if status >= 500:
        ctx.log("warn", f"Responding with server error status {status}")
    return status


def default_body(status: int, text: str) -> Any:
    """MetaBuilder's default body per status class; 204 and other non-2xx/4xx/5xx statuses have none."""
    if status == 204 or status < 200 or 300 <= status < 400:
        return None
    if status < 300:
        return {"success": True, "status": status, "message": text}
    if status < 500:
        return {"success": False, "error": text, "status": status}
    return {"success": False, "error": "Server Error", "status": status, "message": text}


def infer_content_type(body: Any) -> str:
    if isinstance(body, str):
        start = body.lstrip()[:1]
        if start in ("{", "["):
            return "application/json"
        if start == "<":
            return "application/xml"
        return "text/csv" if "\n" in body and "," in body else "text/plain"
    return "application/json"


def _response_headers(ctx: NodeContext, index: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in _header_map(ctx, index).items():
        if name.lower() in RESTRICTED_HEADERS:
            ctx.log("warn", f"Header {name!r} is set by the server and was dropped")
        else:
            headers[name] = value
    return headers


def build_response(ctx: NodeContext, index: int) -> dict[str, Any]:
    status = _status(ctx, index)
    text = status_text(status)
    body = ctx.param("body", index, None)
    if body is None or body == "":
        body = default_body(status, text)
    headers = _response_headers(ctx, index)
    explicit = next((value for name, value in headers.items() if name.lower() == "content-type"), None)
    content_type = explicit or infer_content_type(body)
    if explicit is None and body is not None:
        headers["Content-Type"] = content_type
    headers["X-Webhook-Delivered"] = iso_now()
    return {
        "statusCode": status,
        "statusText": text,
        "headers": headers,
        "body": body,
        "contentType": content_type,
        "timestamp": iso_now(),
        "isTerminal": True,
    }


class WebhookResponse(NodeType):
    """The response to the webhook call that started the workflow: status, headers and body."""

    cpu_only = True
    type = "webhook-response"
    display_name = "Webhook Response"
    description = "Sets the HTTP response (status, headers, body) returned to the webhook's caller."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "statusCode": or_template(
                {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\d+$"}]}
            ),
            "body": ANY_JSON,
            "headers": _HEADERS,
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        outputs = per_item(first_input(inputs), lambda index, item: build_response(ctx, index))
        if outputs[0]:
            ctx.node_state["response"] = outputs[0][0]["json"]
        return outputs
