"""HTTP Request against a local aiohttp server, through the real executor: guard, caps, timeouts."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import RunLimits, execute
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.nodes import netguard
from tenantflow.nodes.n8n import core, http
from tenantflow.nodes.n8n.http import HttpRequest
from tenantflow.nodes.netguard import AddressGuard, BlockedAddressError, is_public_address
from tests.nodes.http_server import redirect, serve


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for node_type in core.NODE_TYPES:
        reg.register(node_type)
    reg.register(HttpRequest)
    return reg


async def run_request(
    parameters: dict[str, Any],
    *,
    items: list[dict[str, Any]] | None = None,
    private: bool = True,
    version: float = 4.2,
    **node_settings: Any,
) -> ExecutionRecord:
    """Trigger → HTTP Request, the trigger fed ``items``; ``private`` lets the node reach 127.0.0.1."""
    workflow = {
        "nodes": [
            {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {
                "name": "HTTP",
                "type": "n8n-nodes-base.httpRequest",
                "typeVersion": version,
                "parameters": parameters,
                **node_settings,
            },
        ],
        "connections": {"Trigger": {"main": [[{"node": "HTTP", "type": "main", "index": 0}]]}},
    }
    return await execute(
        workflow, registry=registry(), input_items=items, limits=RunLimits(allow_private_network=private)
    )


def output(record: ExecutionRecord) -> list[Any]:
    assert record.status == "success", record.error
    return [item["json"] for item in record.state["HTTP"].output[0]]


def error(record: ExecutionRecord) -> dict[str, Any]:
    assert record.status == "error"
    failure = record.state["HTTP"].error
    assert failure is not None
    return failure


# --- responses -----------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("version", HttpRequest.versions)
async def test_json_array_becomes_one_item_per_element(version: float) -> None:
    async with serve() as (server, port):
        server.routes["/list"] = lambda _: _json([{"id": 1}, {"id": 2}])
        record = await run_request({"url": f"http://127.0.0.1:{port}/list"}, version=version)
    assert output(record) == [{"id": 1}, {"id": 2}]
    assert record.metrics.api_calls_made == 1


@pytest.mark.anyio
async def test_text_and_full_responses_have_n8n_shapes() -> None:
    async with serve() as (server, port):
        server.routes["/text"] = lambda _: _text("hello")
        text = await run_request({"url": f"http://127.0.0.1:{port}/text"})
        full = await run_request(
            {
                "url": f"http://127.0.0.1:{port}/x",
                "options": {"response": {"response": {"fullResponse": True}}},
            }
        )
        full_text = await run_request(
            {
                "url": f"http://127.0.0.1:{port}/text",
                "options": {"response": {"response": {"fullResponse": True, "outputPropertyName": "page"}}},
            }
        )
    assert output(text) == [{"data": "hello"}]
    [envelope] = output(full)
    assert envelope["statusCode"] == 200 and envelope["statusMessage"] == "OK"
    assert envelope["body"]["path"] == "/x"
    assert envelope["headers"]["content-type"].startswith("application/json")
    [text_envelope] = output(full_text)
    assert text_envelope["page"] == "hello" and text_envelope["statusCode"] == 200


@pytest.mark.anyio
async def test_response_format_json_forces_parsing_and_file_gives_binary() -> None:
    async with serve() as (server, port):
        server.routes["/text"] = lambda _: _text('{"a": 1}')
        forced = await run_request(
            {
                "url": f"http://127.0.0.1:{port}/text",
                "options": {"response": {"response": {"responseFormat": "json"}}},
            }
        )
        server.routes["/img.png"] = lambda _: _file(b"\x89PNG", "image/png")
        file = await run_request(
            {"url": f"http://127.0.0.1:{port}/img.png"}, items=[{"json": {"keep": True}}]
        )
    assert output(forced) == [{"a": 1}]
    [item] = file.state["HTTP"].output[0]
    assert item["json"] == {"keep": True}
    assert item["binary"]["data"]["mimeType"] == "image/png"
    assert item["binary"]["data"]["data"] == "iVBORw=="
    assert item["binary"]["data"]["fileName"] == "img.png"


# --- requests ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_request_per_item_with_expressions_evaluated_per_item() -> None:
    async with serve() as (_server, port):
        record = await run_request(
            {
                "method": "POST",
                "url": f"=http://127.0.0.1:{port}/items/{{{{ $json.id }}}}",
                "sendQuery": True,
                "queryParameters": {"parameters": [{"name": "n", "value": "={{ $json.id * 10 }}"}]},
                "sendHeaders": True,
                "headerParameters": {"parameters": [{"name": "X-Item", "value": "={{ $json.id }}"}]},
                "sendBody": True,
                "contentType": "json",
                "specifyBody": "json",
                "jsonBody": '={ "id": {{ $json.id }}, "ok": true }',
            },
            items=[{"json": {"id": 1}}, {"json": {"id": 2}}],
        )
    echoes = output(record)
    assert [e["path"] for e in echoes] == ["/items/1", "/items/2"]
    assert [e["query"] for e in echoes] == [[["n", "10"]], [["n", "20"]]]
    assert [e["headers"]["x-item"] for e in echoes] == ["1", "2"]
    assert [json.loads(e["body"]) for e in echoes] == [{"id": 1, "ok": True}, {"id": 2, "ok": True}]
    assert echoes[0]["headers"]["content-type"] == "application/json"
    assert record.metrics.api_calls_made == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body_parameters", "content_type", "body"),
    [
        (
            {
                "contentType": "form-urlencoded",
                "bodyParameters": {"parameters": [{"name": "a b", "value": "c&d"}]},
            },
            "application/x-www-form-urlencoded",
            "a+b=c%26d",
        ),
        (
            {"contentType": "raw", "rawContentType": "text/csv", "body": "a,b\n1,2"},
            "text/csv",
            "a,b\n1,2",
        ),
        (
            {"contentType": "json", "bodyParameters": {"parameters": [{"name": "n", "value": 1}]}},
            "application/json",
            '{"n": 1}',
        ),
    ],
    ids=["form", "raw", "json-keypair"],
)
async def test_request_bodies(body_parameters: dict[str, Any], content_type: str, body: str) -> None:
    async with serve() as (_server, port):
        record = await run_request(
            {"method": "PUT", "url": f"http://127.0.0.1:{port}/b", "sendBody": True, **body_parameters}
        )
    [echo] = output(record)
    assert echo["method"] == "PUT"
    assert echo["headers"]["content-type"].startswith(content_type)
    assert echo["body"] == body


@pytest.mark.anyio
async def test_multipart_sends_fields() -> None:
    async with serve() as (_server, port):
        record = await run_request(
            {
                "method": "POST",
                "url": f"http://127.0.0.1:{port}/m",
                "sendBody": True,
                "contentType": "multipart-form-data",
                "bodyParameters": {
                    "parameters": [{"parameterType": "formData", "name": "field", "value": "v"}]
                },
            }
        )
    [echo] = output(record)
    assert echo["headers"]["content-type"].startswith("multipart/form-data")
    assert 'name="field"' in echo["body"] and "\r\nv\r\n" in echo["body"]


@pytest.mark.anyio
async def test_credentials_and_bad_urls_are_refused_clearly() -> None:
    auth = await run_request({"url": "https://example.com", "authentication": "genericCredentialType"})
    assert "not supported yet" in error(auth)["message"]
    ftp = await run_request({"url": "ftp://example.com/file"})
    assert error(ftp)["code"] == ErrorCode.INVALID_PARAMETER


# --- status handling and retries -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_non_2xx_fails_with_the_status_unless_never_error() -> None:
    async with serve() as (server, port):
        server.routes["/missing"] = lambda _: _json({"error": "nope"}, status=404)
        failed = await run_request({"url": f"http://127.0.0.1:{port}/missing"})
        tolerated = await run_request(
            {
                "url": f"http://127.0.0.1:{port}/missing",
                "options": {"response": {"response": {"neverError": True}}},
            }
        )
    failure = error(failed)
    assert failure["code"] == ErrorCode.HTTP_ERROR
    assert failure["statusCode"] == 404
    assert failure["message"].startswith("The resource you are requesting could not be found")
    assert output(tolerated) == [{"error": "nope"}]


@pytest.mark.anyio
async def test_retryable_status_codes_see_the_http_status() -> None:
    async with serve() as (server, port):
        answers = iter([503, 200])
        server.routes["/flaky"] = lambda _: _json({"ok": True}, status=next(answers))
        record = await run_request(
            {"url": f"http://127.0.0.1:{port}/flaky"},
            retryPolicy={
                "maxAttempts": 3,
                "initialDelay": 0,
                "retryableErrors": [],
                "retryableStatusCodes": [503],
            },
        )
    assert output(record) == [{"ok": True}]
    assert record.state["HTTP"].attempts == 2


@pytest.mark.anyio
async def test_timeout_is_a_retryable_timeout_error() -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return await _text("late")

    async with serve() as (server, port):
        server.routes["/slow"] = slow
        record = await run_request(
            {"url": f"http://127.0.0.1:{port}/slow", "options": {"timeout": 200}},
            # nothing is retryable by policy: a second attempt proves the error itself says "retryable"
            retryPolicy={
                "maxAttempts": 2,
                "initialDelay": 0,
                "retryableErrors": [],
                "retryableStatusCodes": [],
            },
        )
    assert error(record)["code"] == ErrorCode.TIMEOUT
    assert record.state["HTTP"].attempts == 2


# --- redirects and size cap ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_redirects_are_followed_with_a_hop_limit() -> None:
    async with serve() as (server, port):
        server.routes["/r1"] = lambda _: redirect("/r2")
        server.routes["/r2"] = lambda _: redirect(f"http://127.0.0.1:{port}/end")
        server.routes["/loop"] = lambda _: redirect("/loop")
        followed = await run_request({"url": f"http://127.0.0.1:{port}/r1"})
        looping = await run_request(
            {
                "url": f"http://127.0.0.1:{port}/loop",
                "options": {"redirect": {"redirect": {"maxRedirects": 3}}},
            }
        )
        kept = await run_request(
            {
                "url": f"http://127.0.0.1:{port}/r1",
                "options": {
                    "redirect": {"redirect": {"followRedirects": False}},
                    "response": {"response": {"fullResponse": True}},
                },
            }
        )
    assert [e["path"] for e in output(followed)] == ["/end"]
    assert followed.metrics.api_calls_made == 3
    assert "More than 3 redirects" in error(looping)["message"]
    assert server.hits.count("/loop") == 4
    [envelope] = output(kept)
    assert envelope["statusCode"] == 302 and envelope["headers"]["location"] == "/r2"


@pytest.mark.anyio
async def test_see_other_turns_a_post_into_a_get_without_body() -> None:
    async with serve() as (server, port):
        server.routes["/form"] = lambda _: redirect("/result", status=303)
        record = await run_request(
            {
                "method": "POST",
                "url": f"http://127.0.0.1:{port}/form",
                "sendBody": True,
                "contentType": "raw",
                "body": "x",
            }
        )
    [echo] = output(record)
    assert echo["method"] == "GET" and echo["path"] == "/result" and echo["body"] == ""


@pytest.mark.anyio
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_responses_over_the_size_cap_fail(monkeypatch: pytest.MonkeyPatch, declared: bool) -> None:
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 1024)

    async def big(request: web.Request) -> web.StreamResponse:
        if declared:
            return await _text("x" * 4096)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(8):
            await response.write(b"x" * 512)
        await response.write_eof()
        return response

    async with serve() as (server, port):
        server.routes["/big"] = big
        record = await run_request({"url": f"http://127.0.0.1:{port}/big"})
    assert error(record)["code"] == ErrorCode.LIMIT_EXCEEDED


# --- the address guard ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("127.0.0.1", ErrorCode.BLOCKED_ADDRESS),
        ("localhost", ErrorCode.BLOCKED_ADDRESS),
        ("[::1]", ErrorCode.BLOCKED_ADDRESS),
        ("0x7f000001", ErrorCode.BLOCKED_ADDRESS),
        ("2130706433", ErrorCode.NODE_EXECUTION_FAILED),  # the URL parser already refuses this spelling
    ],
)
async def test_guard_refuses_loopback_before_any_request(host: str, code: str) -> None:
    hosts = ("127.0.0.1", "::1") if _ipv6_loopback() else ("127.0.0.1",)
    if host == "[::1]" and len(hosts) == 1:
        pytest.skip("no IPv6 loopback here")
    async with serve(*hosts) as (server, port):
        record = await run_request({"url": f"http://{host}:{port}/secret"}, private=False)
    assert error(record)["code"] == code
    assert server.hits == []
    assert record.state["HTTP"].attempts == 1  # blocked is final, never retried


@pytest.mark.anyio
async def test_guard_refuses_the_metadata_address_before_creating_a_socket() -> None:
    guard = AddressGuard()
    with pytest.raises(BlockedAddressError):
        guard((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)))
    assert guard.blocked == ["169.254.169.254"]
    record = await run_request({"url": "http://169.254.169.254/latest/meta-data/"}, private=False)
    assert error(record)["code"] == ErrorCode.BLOCKED_ADDRESS


@pytest.mark.anyio
async def test_redirect_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first hop is allowed (127.0.0.1 plays a public host here); the hop to 127.0.0.2 is checked too."""
    monkeypatch.setattr(netguard, "is_public_address", lambda host: host == "127.0.0.1")
    async with serve("127.0.0.1", "127.0.0.2") as (server, port):
        server.routes["/out"] = lambda _: redirect(f"http://127.0.0.2:{port}/internal")
        record = await run_request({"url": f"http://127.0.0.1:{port}/out"}, private=False)
    assert error(record)["code"] == ErrorCode.BLOCKED_ADDRESS
    assert server.hits == ["/out"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::808:808", True),
        ("240.0.0.1", False),
    ],
)
def test_public_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


# --- schema --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "valid"),
    [
        ({"url": "https://example.com", "method": "POST", "sendBody": True, "contentType": "json"}, True),
        (
            {"url": "={{ $json.url }}", "sendQuery": "={{ true }}", "options": {"timeout": "={{ 1000 }}"}},
            True,
        ),
        ({"method": "GET"}, False),
        ({"url": "https://example.com", "method": "FETCH"}, False),
        ({"url": "https://example.com", "sendBody": "yes"}, False),
        ({"url": "https://example.com", "options": {"timeout": "10"}}, False),
        (
            {"url": "https://example.com", "options": {"response": {"response": {"responseFormat": "xml"}}}},
            False,
        ),
    ],
)
def test_schema(parameters: dict[str, Any], valid: bool) -> None:
    for version in (v for v in HttpRequest.versions if v >= 3):
        schema = dict(HttpRequest().schema_for(version))
        assert jsonschema_rs.Draft202012Validator(schema).is_valid(parameters) is valid


@pytest.mark.parametrize(
    ("parameters", "valid_in"),
    [
        (
            {
                "url": "https://example.com",
                "requestMethod": "POST",
                "jsonParameters": True,
                "bodyParametersJson": '={"a": {{ 1 }}}',
                "options": {"fullResponse": True, "bodyContentType": "raw", "timeout": 5000},
            },
            (1, 2),
        ),
        ({"url": "https://example.com", "authentication": "basicAuth"}, (1,)),
        ({"url": "https://example.com", "authentication": "genericCredentialType"}, (2,)),
        ({"url": "https://example.com", "responseFormat": "text"}, ()),
        ({"url": "https://example.com", "requestMethod": "FETCH"}, ()),
        ({"url": "https://example.com", "queryParametersUi": {"parameter": "a=1"}}, ()),
        ({"requestMethod": "GET"}, ()),
    ],
)
def test_legacy_schema(parameters: dict[str, Any], valid_in: tuple[int, ...]) -> None:
    for version in (1, 2):
        schema = dict(HttpRequest().schema_for(version))
        assert jsonschema_rs.Draft202012Validator(schema).is_valid(parameters) is (version in valid_in)


# --- typeVersions 1 and 2 ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("version", [1, 2])
async def test_legacy_key_value_parameters(version: float) -> None:
    """Repeated query names become ``a[0]``, ``a[1]`` (qs's default); header names are lower-cased; the
    body rows go out as JSON; accept says which format the node expects."""
    async with serve() as (_, port):
        record = await run_request(
            {
                "requestMethod": "POST",
                "url": f"http://127.0.0.1:{port}/echo",
                "queryParametersUi": {
                    "parameter": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]
                },
                "headerParametersUi": {"parameter": [{"name": "X-Token", "value": "={{ $json.t }}"}]},
                "bodyParametersUi": {"parameter": [{"name": "n", "value": "v"}]},
                "options": {},
            },
            items=[{"json": {"t": "abc"}}],
            version=version,
        )
    [echo] = output(record)
    assert echo["method"] == "POST"
    assert echo["query"] == [["a[0]", "1"], ["a[1]", "2"]]
    assert echo["headers"]["x-token"] == "abc"
    assert echo["headers"]["accept"] == "application/json,text/*;q=0.99"
    assert echo["headers"]["content-type"] == "application/json"
    assert json.loads(echo["body"]) == {"n": "v"}


@pytest.mark.anyio
async def test_legacy_json_parameters_form_body_and_full_response() -> None:
    async with serve() as (_, port):
        record = await run_request(
            {
                "requestMethod": "PUT",
                "url": f"http://127.0.0.1:{port}/echo",
                "jsonParameters": True,
                "queryParametersJson": '{"tag": ["x", "y"]}',
                "headerParametersJson": '={"X-Id": {{ $json.id }}}',
                "bodyParametersJson": '={"id": {{ $json.id }}}',
                "options": {
                    "bodyContentType": "form-urlencoded",
                    "useQueryString": True,
                    "fullResponse": True,
                },
            },
            items=[{"json": {"id": 7}}],
            version=2,
        )
    [full] = output(record)
    assert set(full) == {"body", "headers", "statusCode", "statusMessage"}
    assert full["statusCode"] == 200
    assert full["body"]["query"] == [["tag", "x"], ["tag", "y"]]
    assert full["body"]["headers"]["x-id"] == "7"
    assert full["body"]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert full["body"]["body"] == "id=7"


@pytest.mark.anyio
async def test_legacy_raw_body_with_its_mime_type_and_binary_file() -> None:
    binary = {"data": {"data": base64.b64encode(b"<x/>").decode(), "mimeType": "text/xml"}}
    async with serve() as (_, port):
        common = {"requestMethod": "POST", "url": f"http://127.0.0.1:{port}/echo", "jsonParameters": True}
        raw = await run_request(
            {
                **common,
                "bodyParametersJson": "<a>{{ 1 }}</a>",
                "options": {"bodyContentType": "raw", "bodyContentCustomMimeType": "application/xml"},
            },
            version=1,
        )
        upload = await run_request(
            {**common, "sendBinaryData": True, "options": {"bodyContentType": "raw"}},
            items=[{"json": {}, "binary": binary}],
            version=1,
        )
        refused = await run_request(
            {**common, "sendBinaryData": True, "options": {}},
            items=[{"json": {}, "binary": binary}],
            version=1,
        )
    [echo] = output(raw)
    assert (echo["body"], echo["headers"]["content-type"]) == ("<a>{{ 1 }}</a>", "application/xml")
    assert output(upload)[0]["body"] == "<x/>"
    assert "RAW/CUSTOM" in error(refused)["message"]


@pytest.mark.anyio
async def test_legacy_response_formats() -> None:
    """``json`` (the default) must parse; ``string`` keeps text as text but hands JSON back parsed, as
    n8n's request helper does; an empty body is no body."""
    async with serve() as (server, port):
        server.routes["/html"] = lambda _: _text("<p>hi</p>")
        server.routes["/json"] = lambda _: _json({"a": 1})
        server.routes["/empty"] = lambda _: _text("")
        base = f"http://127.0.0.1:{port}"
        html = await run_request({"url": f"{base}/html", "responseFormat": "string"}, version=1)
        parsed = await run_request(
            {"url": f"{base}/json", "responseFormat": "string", "dataPropertyName": "out"}, version=1
        )
        full = await run_request(
            {"url": f"{base}/html", "responseFormat": "string", "options": {"fullResponse": True}}, version=1
        )
        empty = await run_request({"url": f"{base}/empty"}, version=1)
        not_json = await run_request({"url": f"{base}/html"}, version=1)
    assert output(html) == [{"data": "<p>hi</p>"}]
    assert output(parsed) == [{"out": {"a": 1}}]
    assert output(full)[0]["data"] == "<p>hi</p>" and output(full)[0]["statusCode"] == 200
    assert output(empty) == [{}]
    assert (
        error(not_json)["message"] == 'Response body is not valid JSON. Change "Response Format" to "String"'
    )


@pytest.mark.anyio
async def test_legacy_file_response_keeps_the_item_json() -> None:
    async with serve() as (server, port):
        server.routes["/f.png"] = lambda _: _file(b"\x89PNG", "image/png")
        record = await run_request(
            {"url": f"http://127.0.0.1:{port}/f.png", "responseFormat": "file", "dataPropertyName": "img"},
            items=[{"json": {"keep": True}}],
            version=1,
        )
    assert record.status == "success", record.error
    [item] = record.state["HTTP"].output[0]
    assert item["json"] == {"keep": True}
    assert base64.b64decode(item["binary"]["img"]["data"]) == b"\x89PNG"


@pytest.mark.anyio
async def test_legacy_redirects_follow_get_only_unless_all_are_followed() -> None:
    async with serve() as (server, port):
        server.routes["/moved"] = lambda _: redirect("/final")
        url = f"http://127.0.0.1:{port}/moved"
        get = await run_request({"url": url}, version=1)
        post = await run_request({"url": url, "requestMethod": "POST"}, version=1)
        post_all = await run_request(
            {"url": url, "requestMethod": "POST", "options": {"followAllRedirects": True}}, version=1
        )
        assert server.hits.count("/final") == 2
    assert output(get)[0]["path"] == "/final"
    assert output(post) == [{}]
    assert output(post_all)[0]["path"] == "/final"


# --- handlers ------------------------------------------------------------------------------------------


async def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def _file(body: bytes, content_type: str) -> web.Response:
    return web.Response(body=body, content_type=content_type)


async def _text(text: str) -> web.Response:
    return web.Response(text=text)
