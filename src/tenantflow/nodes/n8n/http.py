"""HTTP Request (every typeVersion, 1 to 4.4): one request per input item, n8n's parameters and output items.

Versions 1 and 2 have their own parameter shape (``requestMethod``, ``jsonParameters``, ``*ParametersUi``,
flat ``options``) and output shapes; they are read into the same :class:`RequestSpec` and sent by the same
transport as version 3 and later, whose versions differ only in the editor and in credential handling.

Outbound requests let a workflow author reach the network from inside the service, so the transport is
locked down: connections go through :mod:`tenantflow.nodes.netguard` (every address checked, for IP literals
too and again for each redirect hop, unless the host allows private networks); environment proxies are
ignored; redirects are followed by hand with a hop limit; bodies are read with a size cap; every request has
a timeout; and a transport failure is reported in our words, never with what the server sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from urllib.parse import urljoin, urlsplit

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import js_string
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import (
    BOOLEAN,
    JSON_TEXT_OR_VALUE,
    NUMBER,
    STRING,
    first_input,
    object_schema,
    one_of,
    or_expression,
    parse_json_param,
)
from tenantflow.nodes.netguard import AddressGuard, blocked_error

if TYPE_CHECKING:  # aiohttp loads at the first request, not with the node registry (start-up time)
    import aiohttp

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT_MS = 300_000
LEGACY_TIMEOUT_MS = 3_600_000  # typeVersions 1 and 2 wait an hour unless told otherwise
DEFAULT_MAX_REDIRECTS = 21  # n8n's default
MAX_CONNECTIONS = 16
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
FULL_RESPONSE_KEYS = ("body", "headers", "statusCode", "statusMessage")
# Content types n8n's autodetect treats as a file rather than text.
BINARY_CONTENT_TYPES = (
    "image/",
    "audio/",
    "video/",
    "application/octet-stream",
    "application/gzip",
    "application/zip",
    "application/vnd.rar",
    "application/epub+zip",
    "application/x-bzip",
    "application/x-bzip2",
    "application/x-cdf",
    "application/vnd.amazon.ebook",
    "application/msword",
    "application/vnd.ms-fontobject",
    "application/vnd.oasis.opendocument",
    "application/ogg",
    "application/pdf",
)
# n8n's NodeApiError wording, so users see the messages they know.
STATUS_MESSAGES = {
    400: "Bad request - please check your parameters",
    401: "Authorization failed - please check your credentials",
    402: "Payment required - perhaps check your payment details?",
    403: "Forbidden - perhaps check your credentials?",
    404: "The resource you are requesting could not be found",
    405: "Method not allowed - please check you are using the right HTTP method",
    429: "The service is receiving too many requests from you",
    500: "The service was not able to process your request",
    502: "Bad gateway - the service failed to handle your request",
    503: "Service unavailable - try again later or consider setting this node to retry automatically",
    504: "Gateway timed out - perhaps try again later?",
}

# --- parameters ----------------------------------------------------------------------------------------


Body: TypeAlias = "bytes | str | aiohttp.FormData"


@dataclass(frozen=True)
class RequestSpec:
    """One request as built from an item's parameters."""

    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: Body | None = None


@dataclass(frozen=True)
class ResponseOptions:
    full_response: bool = False
    never_error: bool = False
    response_format: str = "autodetect"
    parse_text_json: bool = False
    """typeVersions 1 and 2, ``string`` format: JSON text comes out parsed unless the body was sent raw."""
    output_property: str = "data"
    follow_redirects: bool = True
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    timeout_s: float = DEFAULT_TIMEOUT_MS / 1000
    verify_tls: bool = True


def _pairs(ctx: NodeContext, path: str, index: int) -> list[tuple[str, Any]]:
    """The name/value list at ``path`` (``[{name, value}]``) as pairs, blank names dropped like n8n does."""
    rows = ctx.param(path, index, []) or []
    return [
        (str(row.get("name")), row.get("value")) for row in rows if isinstance(row, dict) and row.get("name")
    ]


def _json_object(ctx: NodeContext, name: str, index: int) -> dict[str, Any]:
    value = parse_json_param(ctx.param(name, index, "{}"), name)
    if not isinstance(value, dict):
        raise NodeError(f"Parameter '{name}' must be a JSON object", code=ErrorCode.INVALID_PARAMETER)
    return value


def _name_values(
    ctx: NodeContext, index: int, *, send: str, mode: str, pairs: str, json_name: str
) -> list[tuple[str, Any]]:
    """Query or header parameters: key/value rows or a JSON object, when the ``send*`` switch is on."""
    if not ctx.param(send, index, False):
        return []
    if ctx.param(mode, index, "keypair") == "json":
        return list(_json_object(ctx, json_name, index).items())
    return _pairs(ctx, f"{pairs}.parameters", index)


def _query(ctx: NodeContext, index: int) -> list[tuple[str, str]]:
    rows = _name_values(
        ctx, index, send="sendQuery", mode="specifyQuery", pairs="queryParameters", json_name="jsonQuery"
    )
    out: list[tuple[str, str]] = []
    for name, value in rows:
        values = value if isinstance(value, list) else [value]
        out.extend((name, js_string(v)) for v in values)
    return out


def _headers(ctx: NodeContext, index: int) -> dict[str, str]:
    rows = _name_values(
        ctx,
        index,
        send="sendHeaders",
        mode="specifyHeaders",
        pairs="headerParameters",
        json_name="jsonHeaders",
    )
    lower = ctx.param("options.lowercaseHeaders", index, True)
    return {(name.lower() if lower else name): js_string(value) for name, value in rows}


def _json_payload(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body:
    _default_header(headers, "content-type", "application/json")
    if ctx.param("specifyBody", index, "keypair") == "json":
        return json.dumps(parse_json_param(ctx.param("jsonBody", index, "{}"), "jsonBody"))
    return json.dumps(dict(_pairs(ctx, "bodyParameters.parameters", index)))


def _form_payload(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body:
    import aiohttp

    _default_header(headers, "content-type", "application/x-www-form-urlencoded")
    if ctx.param("specifyBody", index, "keypair") == "string":
        return js_string(ctx.param("body", index, ""))
    return aiohttp.FormData(
        [(name, js_string(value)) for name, value in _pairs(ctx, "bodyParameters.parameters", index)]
    )


def _multipart_payload(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body:
    import aiohttp

    form = aiohttp.FormData(default_to_multipart=True)
    for row in ctx.param("bodyParameters.parameters", index, []) or []:
        if not isinstance(row, dict) or not row.get("name"):
            continue
        if row.get("parameterType") == "formBinaryData":
            data, mime, filename = _binary_of(item, str(row.get("inputDataFieldName") or "data"))
            form.add_field(str(row["name"]), data, content_type=mime, filename=filename)
        else:
            form.add_field(str(row["name"]), js_string(row.get("value")))
    return form


def _raw_payload(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body:
    _default_header(headers, "content-type", js_string(ctx.param("rawContentType", index, "text/plain")))
    return js_string(ctx.param("body", index, ""))


def _binary_payload(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body:
    data, mime, _ = _binary_of(item, str(ctx.param("inputDataFieldName", index, "data")))
    _default_header(headers, "content-type", mime)
    return data


_PAYLOADS: dict[str, Callable[[NodeContext, int, Item, dict[str, str]], Body]] = {
    "json": _json_payload,
    "form-urlencoded": _form_payload,
    "multipart-form-data": _multipart_payload,
    "raw": _raw_payload,
    "binaryData": _binary_payload,
}


def _body(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body | None:
    """The request body for the chosen content type; each builder sets its content-type header."""
    if not ctx.param("sendBody", index, False):
        return None
    content_type = ctx.param("contentType", index, "json")
    build = _PAYLOADS.get(str(content_type))
    if build is None:
        raise NodeError(f"Content type {content_type!r} is not supported", code=ErrorCode.INVALID_PARAMETER)
    return build(ctx, index, item, headers)


def _default_header(headers: dict[str, str], name: str, value: str) -> None:
    if not any(key.lower() == name for key in headers):
        headers[name] = value


def _binary_of(item: Item, prop: str) -> tuple[bytes, str, str]:
    """An item's binary property as (bytes, mime type, file name)."""
    binary = (item.get("binary") or {}).get(prop)
    if not isinstance(binary, dict) or not isinstance(binary.get("data"), str):
        raise NodeError(f"The item has no binary property '{prop}'", code=ErrorCode.INVALID_PARAMETER)
    mime = str(binary.get("mimeType") or "application/octet-stream")
    return base64.b64decode(binary["data"]), mime, str(binary.get("fileName") or prop)


def _checked_url(ctx: NodeContext, index: int) -> str:
    """The ``url`` parameter, refused unless it is http(s); credentials are refused here too (none exist)."""
    auth = ctx.param("authentication", index, "none")
    if auth != "none":
        raise NodeError(
            f"Authentication {auth!r} is not supported yet (credentials are not available)",
            code=ErrorCode.INVALID_PARAMETER,
        )
    url = js_string(ctx.param("url", index, ""))
    if urlsplit(url).scheme not in ("http", "https"):
        raise NodeError(
            f"Invalid URL: {url!r} (it must start with http:// or https://)", code=ErrorCode.INVALID_PARAMETER
        )
    return url


def build_request(ctx: NodeContext, index: int, item: Item) -> RequestSpec:
    """The request for item ``index``; parameters are evaluated against that item."""
    url = _checked_url(ctx, index)
    headers = _headers(ctx, index)
    body = _body(ctx, index, item, headers)
    method = str(ctx.param("method", index, "GET")).upper()
    return RequestSpec(method=method, url=url, params=_query(ctx, index), headers=headers, body=body)


def response_options(ctx: NodeContext, index: int) -> ResponseOptions:
    prefix = "options.response.response"
    redirect = "options.redirect.redirect"
    timeout_ms = ctx.param("options.timeout", index, DEFAULT_TIMEOUT_MS)
    return ResponseOptions(
        full_response=bool(ctx.param(f"{prefix}.fullResponse", index, False)),
        never_error=bool(ctx.param(f"{prefix}.neverError", index, False)),
        response_format=str(ctx.param(f"{prefix}.responseFormat", index, "autodetect")),
        output_property=str(ctx.param(f"{prefix}.outputPropertyName", index, "data")),
        follow_redirects=bool(ctx.param(f"{redirect}.followRedirects", index, True)),
        max_redirects=int(ctx.param(f"{redirect}.maxRedirects", index, DEFAULT_MAX_REDIRECTS)),
        timeout_s=float(timeout_ms) / 1000 if timeout_ms else DEFAULT_TIMEOUT_MS / 1000,
        verify_tls=not ctx.param("options.allowUnauthorizedCerts", index, False),
    )


# --- typeVersions 1 and 2 ------------------------------------------------------------------------------

_BODY_METHODS = ("PATCH", "POST", "PUT")
_LEGACY_ACCEPT = {
    "json": "application/json,text/*;q=0.99",
    "string": "application/json,text/html,application/xhtml+xml,application/xml,text/*;q=0.9, */*;q=0.1",
    "file": "application/json,text/html,application/xhtml+xml,application/xml,text/*;q=0.9, image/*;q=0.8, "
    "*/*;q=0.7",
}


def _legacy_json(ctx: NodeContext, name: str, label: str, index: int, *, parse: bool = True) -> Any:
    """A ``*ParametersJson`` value, None when empty. Text is parsed unless ``parse`` is off (a raw body)."""
    value = ctx.param(name, index, "")
    if value is None or value == "":
        return None
    if not parse or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise NodeError(
            f'The data in "{label}" is no valid JSON. Set Body Content Type to "RAW/Custom" for XML or other '
            "types of payloads",
            code=ErrorCode.INVALID_PARAMETER,
        ) from exc


def _qs(prefix: str, value: Any, repeat: bool) -> Iterator[tuple[str, str]]:
    """``qs.stringify`` of one field: ``a[0]=x&a[1]=y`` for arrays (``a=x&a=y`` with ``useQueryString``),
    ``a[b]=x`` for objects."""
    if isinstance(value, list):
        for position, element in enumerate(value):
            yield from _qs(prefix if repeat else f"{prefix}[{position}]", element, repeat)
    elif isinstance(value, dict):
        for key, element in value.items():
            yield from _qs(f"{prefix}[{key}]", element, repeat)
    else:
        yield prefix, "" if value is None else js_string(value)


def _legacy_query(ctx: NodeContext, index: int, as_json: bool) -> list[tuple[str, str]]:
    fields: dict[str, Any] = {}
    if as_json:
        parsed = _legacy_json(ctx, "queryParametersJson", "Query Parameters", index)
        fields = parsed if isinstance(parsed, dict) else {}
    for name, value in [] if as_json else _pairs(ctx, "queryParametersUi.parameter", index):
        if name in fields:  # a repeated name collects its values, as n8n's node does
            previous = fields[name]
            value = [*previous, value] if isinstance(previous, list) else [previous, value]
        fields[name] = value
    repeat = ctx.param("options.useQueryString", index, False) is True
    return [pair for name, value in fields.items() for pair in _qs(str(name), value, repeat)]


def _legacy_headers(ctx: NodeContext, index: int, as_json: bool) -> dict[str, str]:
    if as_json:
        parsed = _legacy_json(ctx, "headerParametersJson", "Headers", index)
        return {str(k): js_string(v) for k, v in (parsed.items() if isinstance(parsed, dict) else [])}
    return {
        name.lower(): js_string(value) for name, value in _pairs(ctx, "headerParametersUi.parameter", index)
    }


def _legacy_binary(ctx: NodeContext, index: int, item: Item, content_type: str) -> Body:
    """``sendBinaryData``: the raw bytes of one binary property, or multipart parts named
    ``"field:property,field2:property2"`` (a lone property goes out as ``file``)."""
    import aiohttp

    names = str(ctx.param("binaryPropertyName", index, "data"))
    if content_type == "raw":
        return _binary_of(item, names)[0]
    if content_type != "multipart-form-data":
        raise NodeError(
            'Sending binary data is only supported when option "Body Content Type" is set to "RAW/CUSTOM" or '
            '"FORM-DATA/MULTIPART"!',
            code=ErrorCode.INVALID_PARAMETER,
        )
    parts = [part.strip() for part in names.split(",")]
    form = aiohttp.FormData(default_to_multipart=True)
    for part in parts:
        field, colon, prop = part.partition(":")
        if not colon:
            if len(parts) > 1:
                raise NodeError(
                    'Several binary properties must be given as "sendKey1:binaryProperty1,'
                    'sendKey2:binaryProperty2"',
                    code=ErrorCode.INVALID_PARAMETER,
                )
            field, prop = "file", part
        data, mime, filename = _binary_of(item, prop)
        form.add_field(field, data, content_type=mime, filename=filename)
    return form


def _legacy_body(
    ctx: NodeContext, index: int, item: Item, method: str, as_json: bool, headers: dict[str, str]
) -> Body | None:
    """The body: only PATCH, POST, PUT and DELETE have one, and only the first three a content type other
    than JSON (n8n hides the parameters otherwise, so they do not apply)."""
    import aiohttp

    if method not in (*_BODY_METHODS, "DELETE"):
        return None
    content_type = str(ctx.param("options.bodyContentType", index, "json")) if method != "DELETE" else "json"
    if as_json and method != "DELETE" and ctx.param("sendBinaryData", index, False):
        return _legacy_binary(ctx, index, item, content_type)
    if as_json:
        body = _legacy_json(ctx, "bodyParametersJson", "Body Parameters", index, parse=content_type != "raw")
    elif ctx.raw_param("bodyParametersUi.parameter") is not None:
        body = dict(_pairs(ctx, "bodyParametersUi.parameter", index))
    else:
        return None
    if body is None:
        return None
    if content_type == "raw":
        return body if isinstance(body, str) else json.dumps(body)
    if content_type in ("multipart-form-data", "form-urlencoded") and isinstance(body, dict):
        multipart = content_type == "multipart-form-data"
        if not multipart:
            _default_header(headers, "content-type", "application/x-www-form-urlencoded")
        fields = [(str(name), js_string(value)) for name, value in body.items()]
        return aiohttp.FormData(fields, default_to_multipart=multipart)
    _default_header(headers, "content-type", "application/json")
    return json.dumps(body)


def build_legacy_request(ctx: NodeContext, index: int, item: Item) -> RequestSpec:
    """The request of typeVersions 1 and 2 for item ``index``."""
    url = _checked_url(ctx, index)
    method = str(ctx.param("requestMethod", index, "GET")).upper()
    as_json = bool(ctx.param("jsonParameters", index, False))
    headers = _legacy_headers(ctx, index, as_json)
    body = _legacy_body(ctx, index, item, method, as_json, headers)
    mime = ctx.param("options.bodyContentCustomMimeType", index, "")
    if mime:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["content-type"] = js_string(mime)
    accept = _LEGACY_ACCEPT.get(str(ctx.param("responseFormat", index, "json")), _LEGACY_ACCEPT["file"])
    _default_header(headers, "accept", accept)
    return RequestSpec(method, url, _legacy_query(ctx, index, as_json), headers, body)


def legacy_response_options(ctx: NodeContext, index: int) -> ResponseOptions:
    """Versions 1 and 2 follow redirects of GET and HEAD unless ``followRedirect`` is off, and of every
    method with ``followAllRedirects``."""
    method = str(ctx.param("requestMethod", index, "GET")).upper()
    follow = ctx.param("options.followRedirect", index, True) is not False and method in ("GET", "HEAD")
    timeout_ms = ctx.param("options.timeout", index, LEGACY_TIMEOUT_MS) or LEGACY_TIMEOUT_MS
    return ResponseOptions(
        full_response=bool(ctx.param("options.fullResponse", index, False)),
        never_error=bool(ctx.param("options.ignoreResponseCode", index, False)),
        response_format=str(ctx.param("responseFormat", index, "json")),
        parse_text_json=ctx.param("options.bodyContentType", index, "json") != "raw",
        output_property=str(ctx.param("dataPropertyName", index, "data")),
        follow_redirects=follow or ctx.param("options.followAllRedirects", index, False) is True,
        timeout_s=float(timeout_ms) / 1000,
        verify_tls=not ctx.param("allowUnauthorizedCerts", index, False),
    )


# --- sending -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    reason: str
    headers: dict[str, Any]
    body: bytes
    url: str

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))

    def text(self) -> str:
        charset = "utf-8"
        for part in self.content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def _response_headers(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """Headers as n8n (axios) shows them: lower-case names, repeats joined, ``set-cookie`` as a list."""
    headers: dict[str, Any] = {}
    for name, value in response.headers.items():
        key = name.lower()
        if key == "set-cookie":
            headers.setdefault(key, []).append(value)
        elif key in headers:
            headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    return headers


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    declared = response.content_length
    if declared is not None and declared > MAX_RESPONSE_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> NodeError:
    return NodeError(
        f"The response is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB",
        code=ErrorCode.LIMIT_EXCEEDED,
        retryable=False,
    )


def _next_hop(spec: RequestSpec, response: RawResponse) -> RequestSpec:
    """The request a redirect asks for: 303 (and 301/302 after POST) become a body-less GET, like browsers."""
    location = response.headers.get("location")
    target = urljoin(response.url, str(location))
    if urlsplit(target).scheme not in ("http", "https"):
        raise NodeError(f"Refusing to follow a redirect to {target!r}", code=ErrorCode.HTTP_ERROR)
    headers = dict(spec.headers)
    if _origin(target) != _origin(response.url):  # like follow-redirects: credentials stay with their origin
        headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    if response.status == 303 or (response.status in (301, 302) and spec.method == "POST"):
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        method = "HEAD" if spec.method == "HEAD" else "GET"
        return RequestSpec(method=method, url=target, params=[], headers=headers)
    return RequestSpec(method=spec.method, url=target, params=[], headers=headers, body=spec.body)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


async def _send_once(
    session: aiohttp.ClientSession, ctx: NodeContext, spec: RequestSpec, opts: ResponseOptions
) -> RawResponse:
    import aiohttp

    ctx.count_api_call()
    async with session.request(
        spec.method,
        spec.url,
        params=spec.params or None,
        headers=spec.headers,
        data=spec.body,
        allow_redirects=False,
        ssl=opts.verify_tls,
        timeout=aiohttp.ClientTimeout(total=opts.timeout_s),
    ) as response:
        body = await _read_capped(response)
        return RawResponse(
            response.status, response.reason or "", _response_headers(response), body, str(response.url)
        )


async def send(
    session: aiohttp.ClientSession,
    ctx: NodeContext,
    spec: RequestSpec,
    opts: ResponseOptions,
    guard: AddressGuard,
) -> RawResponse:
    """Send ``spec``, following redirects by hand; transport failures become NodeErrors with their codes."""
    import aiohttp

    hops = 0
    try:
        response = await _send_once(session, ctx, spec, opts)
        while (
            opts.follow_redirects and response.status in REDIRECT_STATUSES and "location" in response.headers
        ):
            hops += 1
            if hops > opts.max_redirects:
                raise NodeError(
                    f"More than {opts.max_redirects} redirects",
                    code=ErrorCode.HTTP_ERROR,
                    retryable=False,
                )
            spec = _next_hop(spec, response)
            response = await _send_once(session, ctx, spec, opts)
    except TimeoutError as exc:
        raise NodeError(
            f"No response within {opts.timeout_s:g} s", code=ErrorCode.TIMEOUT, retryable=True
        ) from exc
    except aiohttp.ClientError as exc:
        raise _transport_error(exc, guard) from exc
    return response


def _transport_error(exc: aiohttp.ClientError, guard: AddressGuard) -> NodeError:
    """A transport failure in our words: what the server sent (a banner, a broken status line) is never
    repeated, since a tenant could otherwise read a non-HTTP service through this node."""
    import aiohttp

    if guard.blocked and isinstance(exc, aiohttp.ClientConnectorError):
        return blocked_error(guard.blocked[-1])
    if isinstance(exc, aiohttp.ClientConnectorError):
        message = f"Cannot connect to {exc.host}:{exc.port} ({exc.strerror or exc.os_error})"
    elif isinstance(exc, aiohttp.InvalidURL):  # the workflow's own URL, nothing the server said
        message = f"{exc.__class__.__name__}: {exc}"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        message = "The server closed the connection without answering"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        message = "The response body was cut short or could not be decoded"
    elif isinstance(exc, aiohttp.ClientResponseError):
        message = "The server's answer is not valid HTTP"
    elif isinstance(exc, aiohttp.ClientOSError):
        message = f"The connection failed ({exc.strerror or exc.__class__.__name__})"
    else:
        message = f"The request failed ({exc.__class__.__name__})"
    return NodeError(message, code=ErrorCode.NODE_EXECUTION_FAILED)


def status_error(response: RawResponse) -> NodeError:
    """A non-2xx answer as n8n words it; ``status_code`` lets ``retryableStatusCodes`` match."""
    fallback = "Your request is invalid or could not be processed by the service"
    if response.status >= 500:
        fallback = "The service failed to process your request"
    message = STATUS_MESSAGES.get(response.status, fallback)
    return NodeError(
        f"{message} ({response.status} {response.reason})".rstrip(),
        code=ErrorCode.HTTP_ERROR,
        status_code=response.status,
        description=response.text()[:2000] or None,
    )


# --- output items --------------------------------------------------------------------------------------


def _format_of(response: RawResponse, opts: ResponseOptions) -> str:
    if opts.response_format != "autodetect":
        return opts.response_format
    content_type = response.content_type.lower()
    if "application/json" in content_type:
        return "json"
    if any(kind in content_type for kind in BINARY_CONTENT_TYPES):
        return "file"
    return "text"


def _parse_json(response: RawResponse, opts: ResponseOptions, autodetected: bool) -> Any:
    text = response.text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if autodetected and opts.never_error:
            return {}
        if autodetected:
            raise NodeError("Invalid JSON in response body", code=ErrorCode.HTTP_ERROR) from exc
        raise NodeError(
            'Response body is not valid JSON. Change "Response Format" to "Text"', code=ErrorCode.HTTP_ERROR
        ) from exc


def _envelope(response: RawResponse, body_key: str, body: Any) -> dict[str, Any]:
    """The ``fullResponse`` shape: body (under ``body_key``), headers, statusCode, statusMessage."""
    out: dict[str, Any] = {body_key: body} if body is not None else {}
    out.update(headers=response.headers, statusCode=response.status, statusMessage=response.reason)
    return out


def _as_items(value: Any, index: int) -> Items:
    """JSON bodies: an array is one item per element, like n8n; ``null`` becomes an empty object."""
    values = value if isinstance(value, list) else [value]
    return [{"json": v if v is not None else {}, "pairedItem": {"item": index}} for v in values]


def _file_item(response: RawResponse, opts: ResponseOptions, item: Item, index: int) -> Item:
    mime = response.content_type.split(";")[0].strip() or "application/octet-stream"
    name = urlsplit(response.url).path.rsplit("/", 1)[-1]
    binary: dict[str, Any] = {"data": base64.b64encode(response.body).decode("ascii"), "mimeType": mime}
    extension = mimetypes.guess_extension(mime)
    if name:
        binary["fileName"] = name
    if extension:
        binary["fileExtension"] = extension.lstrip(".")
    json_part = _envelope(response, "body", None) if opts.full_response else item.get("json", {})
    return {
        "json": json_part,
        "binary": {**(item.get("binary") or {}), opts.output_property: binary},
        "pairedItem": {"item": index},
    }


def _text_item(response: RawResponse, opts: ResponseOptions, value: Any, index: int) -> Item:
    """``value`` under ``opts.output_property``, in the ``fullResponse`` envelope when asked for."""
    key = opts.output_property
    payload = (
        _envelope(response, key, value) if opts.full_response else ({} if value is None else {key: value})
    )
    return {"json": payload, "pairedItem": {"item": index}}


def _body_items(response: RawResponse, opts: ResponseOptions, body: Any, index: int) -> Items:
    """A parsed body as items, or as one ``fullResponse`` envelope."""
    if opts.full_response:
        return [{"json": _envelope(response, "body", body), "pairedItem": {"item": index}}]
    return _as_items(body, index)


def response_items(response: RawResponse, opts: ResponseOptions, item: Item, index: int) -> Items:
    """The output items of one response, shaped as n8n's HTTP Request v3+ shapes them."""
    fmt = _format_of(response, opts)
    if fmt == "file":
        return [_file_item(response, opts, item, index)]
    if fmt == "text":
        return [_text_item(response, opts, response.text() or None, index)]
    body = _parse_json(response, opts, opts.response_format == "autodetect") if response.body else None
    return _body_items(response, opts, body, index)


def legacy_response_items(response: RawResponse, opts: ResponseOptions, item: Item, index: int) -> Items:
    """The output items of typeVersions 1 and 2: ``json`` must parse, ``string`` puts the text (or parsed
    JSON, see :attr:`ResponseOptions.parse_text_json`) under ``dataPropertyName``, ``file`` as in v3+.

    An empty body is no body (n8n's request helper gives ``undefined``); an array body is one item per
    element whether or not ``splitIntoItems`` is set, since an item's json must be an object here.
    """
    if opts.response_format == "file":
        return [_file_item(response, opts, item, index)]
    body: Any = response.text() if response.body else None
    if body is not None and (opts.response_format == "json" or opts.parse_text_json):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            if opts.response_format == "json":
                raise NodeError(
                    'Response body is not valid JSON. Change "Response Format" to "String"',
                    code=ErrorCode.HTTP_ERROR,
                ) from exc
    if opts.response_format == "string":
        return [_text_item(response, opts, body, index)]
    return _body_items(response, opts, body, index)


# --- the node ------------------------------------------------------------------------------------------

_NAME_VALUE_LIST = {
    "type": "object",
    "properties": {"parameters": {"type": "array", "items": {"type": "object"}}},
}
_LEGACY_NAME_VALUE_LIST = {
    "type": "object",
    "properties": {"parameter": {"type": "array", "items": {"type": "object"}}},
}
_METHOD = one_of("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_TIMEOUT = or_expression({"type": "number", "minimum": 1})
_CREDENTIAL_TYPES = ("predefinedCredentialType", "genericCredentialType")


def _legacy_schema(*authentications: str) -> dict[str, Any]:
    """The parameters of typeVersions 1 and 2, which differ only in how they name authentication."""
    return object_schema(
        {
            "authentication": one_of("none", *authentications),
            "requestMethod": _METHOD,
            "url": STRING,
            "allowUnauthorizedCerts": BOOLEAN,
            "responseFormat": one_of("file", "json", "string"),
            "dataPropertyName": STRING,
            "jsonParameters": BOOLEAN,
            "sendBinaryData": BOOLEAN,
            "binaryPropertyName": STRING,
            "bodyParametersJson": JSON_TEXT_OR_VALUE,
            "bodyParametersUi": _LEGACY_NAME_VALUE_LIST,
            "headerParametersJson": JSON_TEXT_OR_VALUE,
            "headerParametersUi": _LEGACY_NAME_VALUE_LIST,
            "queryParametersJson": JSON_TEXT_OR_VALUE,
            "queryParametersUi": _LEGACY_NAME_VALUE_LIST,
            "options": object_schema(
                {
                    "batchInterval": NUMBER,
                    "batchSize": NUMBER,
                    "bodyContentType": one_of("json", "raw", "multipart-form-data", "form-urlencoded"),
                    "bodyContentCustomMimeType": STRING,
                    "fullResponse": BOOLEAN,
                    "followAllRedirects": BOOLEAN,
                    "followRedirect": BOOLEAN,
                    "ignoreResponseCode": BOOLEAN,
                    "splitIntoItems": BOOLEAN,
                    "timeout": _TIMEOUT,
                    "useQueryString": BOOLEAN,
                }
            ),
        },
        required=("url",),
    )


_LEGACY_SCHEMAS: dict[float, dict[str, Any]] = {
    1: _legacy_schema("basicAuth", "digestAuth", "headerAuth", "oAuth1", "oAuth2", "queryAuth"),
    2: _legacy_schema(*_CREDENTIAL_TYPES),
}


@dataclass(frozen=True)
class _Dialect:
    """How one generation of the node reads its parameters and shapes its output items."""

    request: Callable[[NodeContext, int, Item], RequestSpec]
    options: Callable[[NodeContext, int], ResponseOptions]
    items: Callable[[RawResponse, ResponseOptions, Item, int], Items]
    batching: str
    """Where ``batchSize`` and ``batchInterval`` are."""


_CURRENT = _Dialect(build_request, response_options, response_items, "options.batching.batch")
_LEGACY = _Dialect(build_legacy_request, legacy_response_options, legacy_response_items, "options")


def open_session(guard: AddressGuard) -> aiohttp.ClientSession:
    """A client session for one node run: connections through ``guard``, no proxies or credentials from the
    environment, no cookies kept between requests."""
    import aiohttp

    connector = guard.connector(limit=MAX_CONNECTIONS)
    return aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())


class HttpRequest(NodeType):
    """n8n's HTTP Request node, every typeVersion (authentication "none" only for now).

    4.4 stops sending credentials along cross-origin redirects; with no credentials here, and credential
    headers never following a redirect to another origin, 4.3 and 4.4 behave as 4.2.
    """

    type = "n8n-nodes-base.httpRequest"
    versions = (1, 2, 3, 4, 4.1, 4.2, 4.3, 4.4)
    display_name = "HTTP Request"
    description = "Makes an HTTP request per input item and returns the response data."
    aliases = ("httpRequest",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "method": _METHOD,
            "url": STRING,
            "authentication": one_of("none", *_CREDENTIAL_TYPES),
            "sendQuery": BOOLEAN,
            "specifyQuery": one_of("keypair", "json"),
            "queryParameters": _NAME_VALUE_LIST,
            "jsonQuery": {"type": ["string", "object"]},
            "sendHeaders": BOOLEAN,
            "specifyHeaders": one_of("keypair", "json"),
            "headerParameters": _NAME_VALUE_LIST,
            "jsonHeaders": {"type": ["string", "object"]},
            "sendBody": BOOLEAN,
            "contentType": one_of("json", "form-urlencoded", "multipart-form-data", "raw", "binaryData"),
            "specifyBody": one_of("keypair", "json", "string"),
            "bodyParameters": _NAME_VALUE_LIST,
            "jsonBody": {"type": ["string", "object", "array"]},
            "body": STRING,
            "rawContentType": STRING,
            "inputDataFieldName": STRING,
            "options": object_schema(
                {
                    "timeout": _TIMEOUT,
                    "allowUnauthorizedCerts": BOOLEAN,
                    "lowercaseHeaders": BOOLEAN,
                    "batching": object_schema(
                        {"batch": object_schema({"batchSize": NUMBER, "batchInterval": NUMBER})}
                    ),
                    "redirect": object_schema(
                        {"redirect": object_schema({"followRedirects": BOOLEAN, "maxRedirects": NUMBER})}
                    ),
                    "response": object_schema(
                        {
                            "response": object_schema(
                                {
                                    "fullResponse": BOOLEAN,
                                    "neverError": BOOLEAN,
                                    "responseFormat": one_of("autodetect", "json", "text", "file"),
                                    "outputPropertyName": STRING,
                                }
                            )
                        }
                    ),
                }
            ),
        },
        required=("url",),
    )

    def schema_for(self, version: float) -> Mapping[str, Any]:
        return _LEGACY_SCHEMAS.get(version, self.parameters_schema)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        dialect = _LEGACY if ctx.node.type_version < 3 else _CURRENT
        guard = AddressGuard.for_node(ctx)
        batches, pause = _batches(ctx, len(items), dialect.batching)
        results: list[Items] = []
        async with open_session(guard) as session:
            for number, batch in enumerate(batches):
                if number:
                    await ctx.sleep(pause)
                calls = [_one(dialect, session, ctx, guard, i, items[i]) for i in batch]
                results.extend(await _all(calls))
        return [[out for per_item in results for out in per_item]]


async def _one(
    dialect: _Dialect,
    session: aiohttp.ClientSession,
    ctx: NodeContext,
    guard: AddressGuard,
    index: int,
    item: Item,
) -> Items:
    spec = dialect.request(ctx, index, item)
    opts = dialect.options(ctx, index)
    response = await send(session, ctx, spec, opts, guard)
    if not opts.never_error and not 200 <= response.status < 300 and response.status not in REDIRECT_STATUSES:
        raise status_error(response)
    return dialect.items(response, opts, item, index)


def _batches(ctx: NodeContext, count: int, prefix: str) -> tuple[list[range], float]:
    """Item index ranges sent together, and the pause between them (``batchSize`` and ``batchInterval``
    under ``prefix``): -1 turns batching off and 0 counts as 1, as in n8n.

    Without batching every item's request goes out at once, as in n8n (the connector caps the parallelism).
    """
    size = int(ctx.param(f"{prefix}.batchSize", 0, -1) or 0)
    pause = float(ctx.param(f"{prefix}.batchInterval", 0, 0) or 0) / 1000
    if size < 0 or pause <= 0:
        return [range(count)], 0.0
    size = max(size, 1)
    return [range(start, min(start + size, count)) for start in range(0, count, size)], pause


async def _all(calls: list[Coroutine[Any, Any, Items]]) -> list[Items]:
    """Run ``calls`` concurrently; the first failure cancels the rest instead of leaving them running."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


NODE_TYPES: list[type[NodeType]] = [HttpRequest]
