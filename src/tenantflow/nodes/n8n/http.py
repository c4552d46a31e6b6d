"""HTTP Request (typeVersion 3 to 4.2): one request per input item, n8n's parameter shape and output items.

Outbound requests are the one place a workflow author reaches the network from inside the service, so the
transport is locked down: every address the connector is about to connect to (after DNS, for IP literals
too, and again for each redirect hop) must be globally routable unless the host allows private networks;
environment proxies are ignored; redirects are followed by hand with a hop limit; bodies are read with a
size cap; and every request has a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import mimetypes
import socket
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from urllib.parse import urljoin, urlsplit

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import js_string
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import (
    BOOLEAN,
    NUMBER,
    STRING,
    first_input,
    object_schema,
    one_of,
    or_expression,
    parse_json_param,
)

if TYPE_CHECKING:  # aiohttp loads at the first request, not with the node registry (start-up time)
    import aiohttp
    from aiohappyeyeballs import AddrInfoType

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT_MS = 300_000
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

# --- the address guard ---------------------------------------------------------------------------------

# IPv6 prefixes that carry an IPv4 address in their last 32 bits and route to it (NAT64 well-known prefix).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(host: str) -> bool:
    """Whether ``host`` (an IP literal as a socket sees it) is globally routable, embedded IPv4 included.

    ``is_global`` alone is not enough: 6to4 and NAT64 addresses count as global although they carry, and
    lead to, an IPv4 address that may be loopback or private.
    """
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not embedded.is_global:
            return False
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_global
    return ip.is_global


class BlockedAddressError(OSError):
    """The connector was about to connect to an address the guard refuses."""


@dataclass
class AddressGuard:
    """A socket factory for aiohttp's connector: it sees every resolved address right before connecting.

    A resolver hook would miss IP-literal URLs (aiohttp skips resolution for them); the socket factory is
    on the path of every connection, so redirect hops and literals are checked the same way.
    """

    blocked: list[str] = field(default_factory=list)

    def __call__(self, addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        host = str(sockaddr[0])
        if not is_public_address(host):
            self.blocked.append(host)
            raise BlockedAddressError(f"connection to non-public address {host} refused")
        return socket.socket(family=family, type=type_, proto=proto)


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
    output_property: str = "data"
    follow_redirects: bool = True
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    timeout_s: float = DEFAULT_TIMEOUT_MS / 1000
    verify_tls: bool = True


def _pairs(ctx: NodeContext, path: str, index: int) -> list[tuple[str, Any]]:
    """An n8n ``parameters`` list (``[{name, value}]``) as pairs, blank names dropped like n8n does."""
    rows = ctx.param(f"{path}.parameters", index, []) or []
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
    return _pairs(ctx, pairs, index)


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
    return json.dumps(dict(_pairs(ctx, "bodyParameters", index)))


def _form_payload(ctx: NodeContext, index: int, item: Item, headers: dict[str, str]) -> Body:
    import aiohttp

    _default_header(headers, "content-type", "application/x-www-form-urlencoded")
    if ctx.param("specifyBody", index, "keypair") == "string":
        return js_string(ctx.param("body", index, ""))
    return aiohttp.FormData(
        [(name, js_string(value)) for name, value in _pairs(ctx, "bodyParameters", index)]
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


def build_request(ctx: NodeContext, index: int, item: Item) -> RequestSpec:
    """The request for item ``index``; parameters are evaluated against that item."""
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
    import aiohttp

    if guard.blocked and isinstance(exc, aiohttp.ClientConnectorError):
        return NodeError(
            f"{guard.blocked[-1]} is not a public address and private networks are not allowed",
            code=ErrorCode.BLOCKED_ADDRESS,
            retryable=False,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        message = f"Cannot connect to {exc.host}:{exc.port} ({exc.strerror or exc.os_error})"
        return NodeError(message, code=ErrorCode.NODE_EXECUTION_FAILED)
    return NodeError(f"{exc.__class__.__name__}: {exc}", code=ErrorCode.NODE_EXECUTION_FAILED)


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


def response_items(response: RawResponse, opts: ResponseOptions, item: Item, index: int) -> Items:
    """The output items of one response, shaped as n8n's HTTP Request v3+ shapes them."""
    fmt = _format_of(response, opts)
    if fmt == "file":
        return [_file_item(response, opts, item, index)]
    if fmt == "text":
        text = response.text() or None
        key = opts.output_property
        payload = _envelope(response, key, text) if opts.full_response else ({key: text} if text else {})
        return [{"json": payload, "pairedItem": {"item": index}}]
    body = _parse_json(response, opts, opts.response_format == "autodetect") if response.body else None
    if opts.full_response:
        return [{"json": _envelope(response, "body", body), "pairedItem": {"item": index}}]
    return _as_items(body, index)


# --- the node ------------------------------------------------------------------------------------------

_NAME_VALUE_LIST = {
    "type": "object",
    "properties": {"parameters": {"type": "array", "items": {"type": "object"}}},
}


def open_session(ctx: NodeContext, guard: AddressGuard) -> aiohttp.ClientSession:
    """A client session for one node run: addresses checked by ``guard`` (unless the host allows private
    networks), no proxies or credentials from the environment, no cookies kept between requests."""
    import aiohttp

    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, socket_factory=None if ctx.allow_private_network else guard
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())


class HttpRequest(NodeType):
    """n8n's HTTP Request node, typeVersions 3 to 4.2 (authentication "none" only for now)."""

    type = "n8n-nodes-base.httpRequest"
    versions = (3, 4, 4.1, 4.2)
    display_name = "HTTP Request"
    description = "Makes an HTTP request per input item and returns the response data."
    aliases = ("httpRequest",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "method": one_of("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"),
            "url": STRING,
            "authentication": one_of("none", "predefinedCredentialType", "genericCredentialType"),
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
                    "timeout": or_expression({"type": "number", "minimum": 1}),
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

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        guard = AddressGuard()
        batches, pause = _batches(ctx, len(items))
        results: list[Items] = []
        async with open_session(ctx, guard) as session:
            for number, batch in enumerate(batches):
                if number:
                    await ctx.sleep(pause)
                results.extend(await _all([self._one(session, ctx, guard, i, items[i]) for i in batch]))
        return [[out for per_item in results for out in per_item]]

    async def _one(
        self, session: aiohttp.ClientSession, ctx: NodeContext, guard: AddressGuard, index: int, item: Item
    ) -> Items:
        spec = build_request(ctx, index, item)
        opts = response_options(ctx, index)
        response = await send(session, ctx, spec, opts, guard)
        if (
            not opts.never_error
            and not 200 <= response.status < 300
            and response.status not in REDIRECT_STATUSES
        ):
            raise status_error(response)
        return response_items(response, opts, item, index)


def _batches(ctx: NodeContext, count: int) -> tuple[list[range], float]:
    """Item index ranges sent together, and the pause between them (n8n's ``options.batching``).

    Without batching every item's request goes out at once, as in n8n (the connector caps the parallelism).
    """
    size = int(ctx.param("options.batching.batch.batchSize", 0, -1) or -1)
    pause = float(ctx.param("options.batching.batch.batchInterval", 0, 0) or 0) / 1000
    if size <= 0 or pause <= 0:
        return [range(count)], 0.0
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
