"""Schedule Trigger, Webhook, Respond to Webhook and Error Trigger: their parameters, ports and items.

Firing them (a scheduler, an HTTP listener) is the host's business and not done here. What is here is
what a run needs: the schedule item n8n emits when the trigger fires, the webhook passing on the request
item the host hands it (``{headers, params, query, body}``, plus ``rawBody``, the body's bytes as base64
text, when the host has them: the webhook makes binary data of it as n8n does), and the response Respond to
Webhook would send, recorded in ``ctx.node_state["response"]`` for the HTTP layer to pick up:
``{statusCode, headers, body}``, or for a file ``body`` None and ``binary``, the binary entry (its
metadata and base64 ``data``) whose bytes are the body. The Error Trigger passes on the failed execution's
summary the host starts it with (:mod:`tenantflow.services.error_workflows`).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, ClassVar, Final

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions.dates import JSDate, now_ms
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import (
    BOOLEAN,
    JSON_TEXT_OR_VALUE,
    STRING,
    TriggerNode,
    first_input,
    object_schema,
    one_of,
    or_expression,
    parse_json_param,
)
from tenantflow.nodes.n8n.data.dates.formats import moment_format, zone
from tenantflow.nodes.n8n.data.set import set_path
from tenantflow.nodes.n8n.files.binary import (
    binary_bytes,
    binary_property,
    copy_binary,
    decode_base64,
    disposition_filename,
    form_data,
    media_type,
)

# --- Schedule Trigger ----------------------------------------------------------------------------------


def _bounded(low: int, high: int) -> dict[str, Any]:
    return or_expression({"type": "integer", "minimum": low, "maximum": high})


_INTERVAL = object_schema(
    {
        "field": one_of("seconds", "minutes", "hours", "days", "weeks", "months", "cronExpression"),
        "secondsInterval": _bounded(1, 86_400),
        "minutesInterval": _bounded(1, 1440),
        "hoursInterval": _bounded(1, 744),
        "daysInterval": _bounded(1, 366),
        "weeksInterval": _bounded(1, 53),
        "monthsInterval": _bounded(1, 120),
        "triggerAtHour": _bounded(0, 23),
        "triggerAtMinute": _bounded(0, 59),
        "triggerAtDayOfMonth": _bounded(1, 31),
        "triggerAtDay": {"type": "array", "items": _bounded(0, 6)},
        "expression": {"type": "string", "pattern": r"^=|^\s*\S+(\s+\S+){4,5}\s*$"},
    }
)


class ScheduleTrigger(TriggerNode):
    """Starts a workflow on a schedule; each firing emits one item describing the moment it fired.

    Its versions differ only in how n8n schedules the firings, which is the host's business.
    """

    type = "n8n-nodes-base.scheduleTrigger"
    versions = (1, 1.1, 1.2, 1.3)
    display_name = "Schedule Trigger"
    description = "Triggers the workflow on a schedule (intervals or a cron expression)."
    aliases = ("scheduleTrigger",)
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {"rule": object_schema({"interval": {"type": "array", "items": _INTERVAL}})}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        """The scheduler hands over the item of the tick that fired; run by hand, the item of now."""
        items = first_input(inputs)
        if len(items) == 1 and items[0].get("json"):
            return [items]
        return [[{"json": schedule_item(now_ms(), ctx.timezone or "UTC")}]]


def schedule_item(epoch_ms: float, timezone: str) -> dict[str, str]:
    """n8n's schedule item for the instant ``epoch_ms`` shown in ``timezone`` (moment formats)."""
    moment = JSDate(epoch_ms, zone(timezone))
    fields = {
        "timestamp": "YYYY-MM-DD[T]HH:mm:ss.SSSZ",
        "Readable date": "MMMM Do YYYY, h:mm:ss a",
        "Readable time": "h:mm:ss a",
        "Day of week": "dddd",
        "Year": "YYYY",
        "Month": "MMMM",
        "Day of month": "DD",
        "Hour": "HH",
        "Minute": "mm",
        "Second": "ss",
    }
    item = {name: moment_format(moment, fmt) for name, fmt in fields.items()}
    item["Timezone"] = f"{timezone} (UTC{moment_format(moment, 'Z')})"
    return item


# --- Webhook -------------------------------------------------------------------------------------------

_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def listened_methods(parameters: dict[str, Any]) -> Any:
    """``httpMethod`` with n8n's defaults: one method, or a list of them (one output each) when the node
    allows several (``multipleMethods``, whose list defaults to GET and POST)."""
    default = ["GET", "POST"] if parameters.get("multipleMethods") is True else "GET"
    return parameters.get("httpMethod", default)


class Webhook(TriggerNode):
    """Starts a workflow on an HTTP request; emits the request item the host passes in.

    With several methods n8n has one output per method and sends the request down its method's output. The
    request item carries no method, so the items go down the first method's output.
    Version 2.1 only adds the ``streaming`` response mode, which the schema accepts for every version.
    """

    type = "n8n-nodes-base.webhook"
    versions = (1, 1.1, 2, 2.1)
    display_name = "Webhook"
    description = "Starts the workflow when a webhook is called."
    aliases = ("webhook",)
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "httpMethod": {"anyOf": [one_of(*_METHODS), {"type": "array", "items": one_of(*_METHODS)}]},
            "multipleMethods": BOOLEAN,
            "path": STRING,
            "authentication": one_of("none", "basicAuth", "headerAuth", "jwtAuth"),
            "responseMode": one_of("onReceived", "lastNode", "responseNode", "streaming"),
            "responseCode": or_expression({"type": "integer", "minimum": 100, "maximum": 599}),
            "responseData": one_of("allEntries", "firstEntryJson", "firstEntryBinary", "noData"),
            "responseBinaryPropertyName": STRING,
            "options": object_schema(
                {
                    "binaryData": BOOLEAN,
                    "binaryPropertyName": STRING,
                    "ignoreBots": BOOLEAN,
                    "ipWhitelist": STRING,
                    "noResponseBody": BOOLEAN,
                    "rawBody": BOOLEAN,
                    "responseContentType": STRING,
                    "responsePropertyName": STRING,
                    "allowedOrigins": STRING,
                }
            ),
        }
    )

    def output_count(self, node: NodeDefinition) -> int | None:
        methods = listened_methods(node.parameters)
        return len(methods) if isinstance(methods, list) else 1

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        [items] = await super().run(ctx, inputs)
        items = [
            {**item, **_request_item(ctx, item)} if "rawBody" in item["json"] else item for item in items
        ]
        return [items, *([] for _ in range(1, self.output_count(ctx.node) or 1))]


def _request_item(ctx: NodeContext, item: Item) -> Item:
    """n8n's webhook item for a request whose body bytes the host passed (``rawBody``, base64 text)."""
    request = dict(item["json"])
    raw = request.pop("rawBody")
    raw = raw if isinstance(raw, str) else ""
    data = decode_base64(raw)
    headers = {str(name).lower(): value for name, value in (request.get("headers") or {}).items()}
    content_type = media_type(headers.get("content-type"))
    options = ctx.param("options", 0, {}) or {}
    if options.get("binaryData") is True:
        return _file_item(request, data, content_type, headers, options)
    if content_type == "multipart/form-data":
        return _form_item(request, data, str(headers["content-type"]), options)
    if ctx.node.type_version > 1 and request.get("body") in (None, "") and options.get("rawBody") is not True:
        return _file_item(request, data, content_type, headers, options)
    if options.get("rawBody") is True:
        mime_type = content_type or "application/json"
        return {"json": request, "binary": {"data": {"data": raw, "mimeType": mime_type}}}
    return {"json": request}


def _file_item(
    request: dict[str, Any], data: bytes, content_type: str | None, headers: dict[str, Any], options: Any
) -> Item:
    """The body as one file (n8n's ``handleBinaryData``); its name from Content-Disposition, else a uuid."""
    item: Item = {"json": {**request, "body": {}}}
    if data:
        name = disposition_filename(headers.get("content-disposition")) or str(uuid.uuid4())
        meta = copy_binary(data, name, content_type or "application/octet-stream")
        item["binary"] = {str(options.get("binaryPropertyName") or "data"): meta}
    return item


def _form_item(request: dict[str, Any], data: bytes, content_type: str, options: Any) -> Item:
    """A form: its fields are the body, each file a binary property named after its field (``files[]``
    loses the brackets, a field with several files numbers them) or ``binaryPropertyName`` + a count."""
    fields, files = form_data(data, content_type)
    item: Item = {"json": {**request, "body": fields}}
    per_field: dict[str, int] = {}
    for field, *_ in files:
        per_field[field] = per_field.get(field, 0) + 1
    binary: dict[str, Any] = {}
    numbered: dict[str, int] = {}
    for count, (field, file_name, mime_type, content) in enumerate(files):
        name = field.removesuffix("[]")
        if per_field[field] > 1:
            name += str(numbered.setdefault(field, 0))
            numbered[field] += 1
        if options.get("binaryPropertyName"):
            name = f"{options['binaryPropertyName']}{count}"
        binary[name] = copy_binary(content, file_name, mime_type)
    if binary:
        item["binary"] = binary
    return item


# --- Respond to Webhook --------------------------------------------------------------------------------

_HEADER = object_schema({"name": STRING, "value": {"type": ["string", "number", "boolean"]}})


class RespondToWebhook(NodeType):
    """Passes its items on and records the HTTP response a ``responseNode`` webhook would send.

    ``jwt`` (which needs credentials) is rejected by the schema rather than half-done. Version 1.3 adds a
    second output carrying the response, which 1.4 and later only have with ``enableResponseOutput``; 1.2
    and 1.5 change the editor and streaming, not what a run produces here.
    """

    cpu_only = True
    type = "n8n-nodes-base.respondToWebhook"
    versions = (1, 1.1, 1.2, 1.3, 1.4, 1.5)
    display_name = "Respond to Webhook"
    description = "Returns data for a webhook that is set to respond using this node."
    aliases = ("respondToWebhook",)
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "respondWith": one_of(
                "allIncomingItems", "binary", "firstIncomingItem", "json", "text", "noData", "redirect"
            ),
            "redirectURL": STRING,
            "responseDataSource": one_of("automatically", "set"),
            "inputFieldName": STRING,
            "responseBody": JSON_TEXT_OR_VALUE,
            "enableResponseOutput": BOOLEAN,
            "options": object_schema(
                {
                    "responseCode": or_expression({"type": "integer", "minimum": 100, "maximum": 599}),
                    "responseKey": STRING,
                    "responseHeaders": object_schema({"entries": {"type": "array", "items": _HEADER}}),
                    "enableStreaming": BOOLEAN,
                }
            ),
        }
    )

    def output_count(self, node: NodeDefinition) -> int | None:
        if node.type_version == 1.3:
            return 2
        if node.type_version < 1.4:
            return 1
        enabled = node.parameters.get("enableResponseOutput", False)
        return None if isinstance(enabled, str) else 2 if enabled is True else 1

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        options = ctx.param("options", 0, {}) or {}
        headers = {
            str(entry.get("name", "")).lower(): _header_text(entry.get("value", ""))
            for entry in (options.get("responseHeaders") or {}).get("entries") or []
        }
        respond_with = ctx.param("respondWith", 0, "firstIncomingItem")
        status = options.get("responseCode") or (307 if respond_with == "redirect" else 200)
        if respond_with == "binary":
            response = {"statusCode": status, "headers": headers, "body": None}
            response["binary"] = _response_file(ctx, items, headers)
        else:
            body = _response_body(ctx, str(respond_with), items, options, headers)
            response = {"statusCode": status, "headers": headers, "body": body}
        ctx.node_state["response"] = response
        if ctx.node.type_version == 1.3 or (
            ctx.node.type_version >= 1.4 and ctx.param("enableResponseOutput", 0, False) is True
        ):
            sent = {key: value for key, value in response.items() if value is not None}
            return [items, [{"json": {"response": sent}}]]
        return [items]


def _response_file(ctx: NodeContext, items: Items, headers: dict[str, str]) -> dict[str, Any]:
    """The first item's file as the body (``responseDataSource``: its first binary property, or the one
    ``inputFieldName`` names); Content-Type from its MIME type unless a header sets it, and its length."""
    if not items or not isinstance(items[0].get("binary"), dict) or not items[0]["binary"]:
        raise NodeError("No binary data exists on the first item!", code=ErrorCode.INVALID_PARAMETER)
    if ctx.param("responseDataSource", 0, "automatically") == "set":
        name = str(ctx.param("inputFieldName", 0, "data"))
    else:
        name = next(iter(items[0]["binary"]))
    meta = binary_property(items[0], name, 0)
    headers["content-length"] = str(len(binary_bytes(items[0], name, 0)))
    headers.setdefault("content-type", str(meta.get("mimeType") or "application/octet-stream"))
    return dict(meta)


def _header_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _keyed(value: Any, key: Any) -> Any:
    """``options.responseKey`` wraps the body: ``set({}, key, value)``."""
    if not key:
        return value
    wrapper: dict[str, Any] = {}
    set_path(wrapper, str(key), value)
    return wrapper


def _response_body(
    ctx: NodeContext, respond_with: str, items: Items, options: dict[str, Any], headers: dict[str, str]
) -> Any:
    if respond_with == "allIncomingItems":
        return _keyed([item.get("json", {}) for item in items], options.get("responseKey"))
    if respond_with == "firstIncomingItem":
        if not items:
            raise NodeError("No item to respond with", code=ErrorCode.INVALID_PARAMETER)
        return _keyed(items[0].get("json", {}), options.get("responseKey"))
    if respond_with == "json":
        body = ctx.param("responseBody", 0, "")
        return parse_json_param(body, "responseBody") if body else None
    if respond_with == "text":
        return ctx.param("responseBody", 0, "")
    if respond_with == "redirect":
        headers["location"] = str(ctx.param("redirectURL", 0, ""))
        return None
    if respond_with == "noData":
        return None
    raise NodeError(
        f'The Response Data option "{respond_with}" is not supported!', code=ErrorCode.INVALID_PARAMETER
    )


# --- Error Trigger -------------------------------------------------------------------------------------

ERROR_TRIGGER: Final = "n8n-nodes-base.errorTrigger"

# What n8n's Error Trigger emits when run by hand without data, so an error workflow can be built and tried
# before anything fails (n8n also gives a ``url`` built from its editor's address, which has no counterpart).
ERROR_SAMPLE: Final[dict[str, Any]] = {
    "execution": {
        "id": 231,
        "retryOf": "34",
        "error": {"message": "Example Error Message", "stack": "Stacktrace"},
        "lastNodeExecuted": "Node With Error",
        "mode": "manual",
    },
    "workflow": {"id": "1", "name": "Example Workflow"},
}


class ErrorTrigger(TriggerNode):
    """Starts an error workflow: emits the summary of the failed execution the host hands it.

    Run by hand with no data (one empty item) it emits n8n's example summary instead, as n8n does in its
    manual mode: only a real failure hands it a non-empty item.
    """

    type = ERROR_TRIGGER
    display_name = "Error Trigger"
    description = "Triggers the workflow when another workflow has an error."
    aliases = ("errorTrigger",)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        if len(items) == 1 and not items[0].get("json") and "binary" not in items[0]:
            return [[{"json": copy.deepcopy(ERROR_SAMPLE)}]]
        return [items]


NODE_TYPES: list[type[NodeType]] = [ScheduleTrigger, Webhook, RespondToWebhook, ErrorTrigger]
