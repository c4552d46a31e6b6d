"""MetaBuilder's class-based executors (spec §4.1) through the real executor.

The SMTP nodes talk to a tiny asyncio SMTP sink started by the test; the DBAL nodes use an in-memory
implementation of :class:`WorkflowDataStore`; ``http-request`` hits a local aiohttp server.
"""

from __future__ import annotations

import email
import email.policy
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web

from tenantflow.engine.executor import RunLimits, execute
from tenantflow.nodes.metabuilder.executors import (
    DataStoreError,
    Record,
    SortOrder,
    current_data_store,
)
from tenantflow.nodes.metabuilder.executors.format import flatten, group_by, to_csv, to_xml, to_yaml
from tests.nodes.harness import REGISTRY, NodeRun, run_node, workflow
from tests.nodes.smtp_sink import smtp_sink

# --- transform -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transform_maps_each_item_with_whole_templates_only() -> None:
    mapping = {
        "name": "{{ $json.first }}",
        "n": "{{ $json.n * 2 }}",
        "note": "hi {{x}}",
        "deep": {"v": "{{ $json.n }}"},
    }
    run = await run_node(
        "transform", {"mapping": mapping}, [{"first": "Ada", "n": 2}, {"first": "Bo", "n": 5}]
    )
    assert run.json() == [
        [
            {"result": {"name": "Ada", "n": 4, "note": "hi {{x}}", "deep": {"v": 2}}},
            {"result": {"name": "Bo", "n": 10, "note": "hi {{x}}", "deep": {"v": 5}}},
        ]
    ]


@pytest.mark.anyio
async def test_transform_flattens_groups_and_formats_as_json() -> None:
    params = {
        "mapping": {"team": "{{ $json.team }}", "who": {"name": "{{ $json.name }}"}},
        "flatten": True,
        "groupBy": "team",
        "format": "json",
    }
    run = await run_node(
        "transform", params, [{"team": "a", "name": "x"}, {"team": "b", "name": "y"}, {"name": "z"}]
    )
    [[item]] = run.outputs
    assert item["pairedItem"] == [{"item": 0}, {"item": 1}, {"item": 2}]
    assert item["json"]["result"] == (
        '{\n  "a": [\n    {\n      "team": "a",\n      "who.name": "x"\n    }\n  ],\n'
        '  "b": [\n    {\n      "team": "b",\n      "who.name": "y"\n    }\n  ],\n'
        '  "null": [\n    {\n      "team": null,\n      "who.name": "z"\n    }\n  ]\n}'
    )


def test_formats() -> None:
    rows = [{"a": 1, "b": 'say "hi", ok'}, {"a": None, "b": "x\ny"}]
    assert to_csv(rows) == 'a,b\n1,"say ""hi"", ok"\n,"x\ny"'
    assert to_xml({"list": [1, "<b>"], "1x": None}) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<root><list><item>1</item><item>&lt;b&gt;</item></list><_1x></_1x></root>"
    )
    assert to_yaml({"s": "t", "n": 1.5, "l": [{"k": True, "m": None}, "v"], "e": {}}) == (
        's: "t"\nn: 1.5\nl:\n  - k: true\n    m: null\n  - "v"\ne: {}'
    )
    assert flatten({"a": {"b": [{"c": 1}, 2]}, "e": []}) == {"a.b[0].c": 1, "a.b[1]": 2, "e": []}
    assert group_by([{"k": 1}, {"k": "1"}, {}], "k") == {"1": [{"k": 1}, {"k": "1"}], "null": [{}]}


@pytest.mark.parametrize(
    ("node_type", "params", "valid"),
    [
        ("transform", {"mapping": {}, "format": "yaml", "flatten": "{{ $json.f }}"}, True),
        ("transform", {"mapping": {}, "format": "toml"}, False),
        ("transform", {"format": "json"}, False),
        ("set-variable", {"variables": {"a-b": 1}}, False),
        ("webhook-response", {"statusCode": "{{ $json.s }}", "body": {"a": 1}}, True),
        ("webhook-response", {"statusCode": "OK"}, False),
        ("http-request", {"url": "https://x.test", "method": "TRACE"}, False),
        ("email-send", {"to": "a@b.co", "subject": "s"}, False),
        ("email-send", {"to": "a@b.co", "subject": "s", "template": "t", "smtpPort": "{{ 25 }}"}, True),
        ("dbal-read", {"entity": "user", "operation": "get"}, False),
        ("dbal-read", {"entity": "user", "sort": {"a": "up"}}, False),
        ("dbal-write", {"entity": "user", "operation": "update", "data": {}}, False),
        ("dbal-write", {"entity": "user", "operation": "update", "data": {}, "filter": {}}, True),
        ("dbal-write", {"entity": "user", "operation": "delete"}, False),
    ],
)
def test_parameter_schemas(node_type: str, params: dict[str, Any], valid: bool) -> None:
    """The schemas the validator applies to ``parameters`` before anything runs."""
    node_type_impl = REGISTRY.get(node_type)
    assert node_type_impl is not None
    assert jsonschema_rs.validator_for(dict(node_type_impl.schema_for(1))).is_valid(params) is valid


# --- set-variable --------------------------------------------------------------------------------------


def _chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """manualTrigger -> nodes[0] -> nodes[1] ..."""
    names = ["Trigger", *(node["name"] for node in nodes)]
    trigger = {"id": "t", "name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "parameters": {}}
    connections = {
        a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in itertools.pairwise(names)
    }
    return {"nodes": [trigger, *({"id": n["name"], **n} for n in nodes)], "connections": connections}


@pytest.mark.anyio
async def test_set_variable_modes_and_later_nodes_see_vars() -> None:
    doc = _chain(
        {"name": "Data", "type": "n8n-nodes-testing.testData", "parameters": {"data": [{"v": 1}, {"v": 2}]}},
        {
            "name": "Set",
            "type": "set-variable",
            "parameters": {"variables": {"seen": "{{ $json.v }}"}, "mode": "append"},
        },
        {
            "name": "Use",
            "type": "transform",
            "parameters": {"mapping": {"all": "{{ $vars.seen }}", "keep": "{{ $vars.keep }}"}},
        },
    )
    record = await execute(doc, registry=REGISTRY, variables={"keep": "k"})
    assert record.status == "success", record.error
    set_out = record.state["Set"].output[0]
    assert set_out[1]["json"]["variablesSet"] == {"seen": "2"} and set_out[1]["json"]["count"] == 1
    assert record.state["Use"].output[0][0]["json"]["result"] == {"all": [1, 2], "keep": "k"}

    doc["nodes"][2]["parameters"]["mode"] = "replace"
    record = await execute(doc, registry=REGISTRY, variables={"keep": "k"})
    assert record.state["Use"].output[0][0]["json"]["result"] == {"all": 2, "keep": None}


@pytest.mark.anyio
async def test_set_variable_rejects_bad_names() -> None:
    run = await run_node("set-variable", {"variables": "={{ {'1bad': 1} }}"}, [{}])
    assert run.error["code"] == "INVALID_PARAMETER" and "1bad" in run.error["message"]
    dashed = await run_node("set-variable", {"variables": {"a-b": 1}}, [{}])
    assert dashed.error["code"] == "INVALID_PARAMETER"


# --- webhook-response ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_webhook_response_defaults_and_headers() -> None:
    params = {"statusCode": "404", "headers": {"Connection": "close", "X-A": 1}}
    run = await run_node("webhook-response", params, [{}])
    out = run.json()[0][0]
    assert out["statusCode"] == 404 and out["statusText"] == "Not Found" and out["isTerminal"] is True
    assert out["body"] == {"success": False, "error": "Not Found", "status": 404}
    assert out["contentType"] == "application/json"
    assert "Connection" not in out["headers"] and out["headers"]["X-A"] == "1"
    assert out["headers"]["X-Webhook-Delivered"].endswith("Z")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("a,b\n1,2", "text/csv"),
        ("<x/>", "application/xml"),
        ('{"a":1}', "application/json"),
        ("ok", "text/plain"),
    ],
)
async def test_webhook_response_infers_content_type(body: str, content_type: str) -> None:
    run = await run_node("webhook-response", {"statusCode": 201, "body": body}, [{}])
    assert run.json()[0][0]["contentType"] == content_type


@pytest.mark.anyio
async def test_webhook_response_server_error_body_and_bad_status() -> None:
    run = await run_node("webhook-response", {"statusCode": "{{ 503 }}"}, [{}])
    body = run.json()[0][0]["body"]
    assert body == {
        "success": False,
        "error": "Server Error",
        "status": 503,
        "message": "Service Unavailable",
    }
    bad = await run_node("webhook-response", {"statusCode": "={{ 700 }}"}, [{}])
    assert bad.error["code"] == "INVALID_PARAMETER"


# --- http-request --------------------------------------------------------------------------------------


@asynccontextmanager
async def http_server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        if request.path == "/fail":
            return web.json_response({"no": True}, status=418)
        return web.json_response(
            {
                "method": request.method,
                "body": await request.text(),
                "ua": request.headers.get("User-Agent"),
                "x": request.headers.get("X-Test"),
            }
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _run_private(node_type: str, params: dict[str, Any], rows: list[Any]) -> NodeRun:
    doc = workflow(node_type, params, rows)
    return NodeRun(await execute(doc, registry=REGISTRY, limits=RunLimits(allow_private_network=True)))


@pytest.mark.anyio
async def test_http_request_sends_for_real() -> None:
    async with http_server() as base:
        params = {
            "url": base + "/x/{{ $json.id }}",
            "method": "POST",
            "headers": {"X-Test": "{{ $json.id }}"},
            "body": {"id": "={{ $json.id }}"},
            "timeout": 5000,
        }
        run = await _run_private("http-request", params, [{"id": 7}])
        out = run.json()[0][0]
        assert out["statusCode"] == 200 and out["method"] == "POST" and out["url"].endswith("/x/7")
        assert out["body"] == {
            "method": "POST",
            "body": '{"id":7}',
            "ua": "MetaBuilder-Workflow/3.0.0",
            "x": "7",
        }
        failed = await _run_private("http-request", {"url": base + "/fail"}, [{}])
        assert failed.error["code"] == "HTTP_ERROR"
        blocked = await run_node("http-request", {"url": base}, [{}])
        assert blocked.error["code"] == "BLOCKED_ADDRESS"


# --- email ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", ["email-send", "smtp-relay-send"])
async def test_email_is_delivered_with_rendered_template(node_type: str) -> None:
    async with smtp_sink() as (sink, port):
        params = {
            "to": "{{ $json.to }}",
            "cc": ["c@example.com"],
            "bcc": "b1@example.com, b2@example.com",
            "from": "app@example.com",
            "subject": "Hi {{name}}",
            "template": "Dear {{ name }}, total {{ $json.n * 2 }}{{missing}}.",
            "data": {"name": "Ada"},
            "smtpHost": "127.0.0.1",
            "smtpPort": port,
            "attachments": [{"filename": "a.txt", "content": "aGk=", "encoding": "base64"}],
        }
        run = await _run_private(node_type, params, [{"to": "ada@example.com", "n": 21}])
        out = run.json()[0][0]
    assert out["to"] == ["ada@example.com"] and out["bcc"] == ["b1@example.com", "b2@example.com"]
    assert out["bodyLength"] == len("Dear Ada, total 42.")
    [(sender, recipients, data)] = sink.received
    assert sender == "app@example.com"
    assert recipients == ["ada@example.com", "c@example.com", "b1@example.com", "b2@example.com"]
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == "Hi Ada" and message["Cc"] == "c@example.com" and message["Bcc"] is None
    assert message["Message-ID"] == out["messageId"]
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Dear Ada, total 42."
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "a.txt" and attachment.get_content() == "hi"


@pytest.mark.anyio
async def test_email_relay_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with smtp_sink() as (sink, port):
        monkeypatch.setenv("SMTP_RELAY_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_RELAY_PORT", str(port))
        monkeypatch.setenv("SMTP_FROM_ADDRESS", "relay@example.com")
        run = await run_node("email-send", {"to": "x@example.com", "subject": "s", "body": "b"}, [{}])
        assert run.record.status == "success", run.record.error
    assert sink.received[0][0] == "relay@example.com"


@pytest.mark.anyio
async def test_email_validation_and_guard() -> None:
    bad = await run_node("email-send", {"to": "={{ 'nobody' }}", "subject": "s", "body": "b"}, [{}])
    assert bad.error["code"] == "INVALID_PARAMETER"
    injected = await _run_private(
        "email-send", {"to": "a@example.com", "subject": "={{ 'a\\nBcc: x@evil.com' }}", "body": "b"}, [{}]
    )
    assert injected.error["code"] == "INVALID_PARAMETER"
    guarded = await run_node(
        "email-send", {"to": "a@example.com", "subject": "s", "body": "b", "smtpHost": "127.0.0.1"}, [{}]
    )
    assert guarded.error["code"] == "BLOCKED_ADDRESS"
    missing = await run_node("email-send", {"to": "a@example.com", "subject": "s"}, [{}])
    assert missing.record.status == "error"


@pytest.mark.anyio
async def test_email_relay_down_is_send_error() -> None:
    async with smtp_sink() as (_, port):
        pass
    params = {"to": "a@example.com", "subject": "s", "body": "b", "smtpHost": "127.0.0.1", "smtpPort": port}
    run = await _run_private("email-send", params, [{}])
    assert run.error["code"] == "EMAIL_SEND_ERROR"


# --- dbal ----------------------------------------------------------------------------------------------


class MemoryStore:
    """A dict-backed :class:`WorkflowDataStore` for one tenant."""

    def __init__(self, entities: dict[str, list[Record]]) -> None:
        self.entities = entities

    def _rows(self, entity: str) -> list[Record]:
        if entity not in self.entities:
            raise DataStoreError(f"unknown entity {entity!r}")
        return self.entities[entity]

    def _match(self, entity: str, filter: Mapping[str, Any]) -> list[Record]:
        return [r for r in self._rows(entity) if all(r.get(k) == v for k, v in filter.items())]

    async def read(
        self, entity: str, filter: Mapping[str, Any], sort: SortOrder, limit: int, offset: int
    ) -> list[Record]:
        rows = self._match(entity, filter)
        for field, direction in reversed(sort):
            rows.sort(key=lambda r: str(r.get(field)), reverse=direction == "desc")
        return rows[offset : offset + limit]

    async def get(self, entity: str, id: str) -> Record | None:
        return next((r for r in self._rows(entity) if r["id"] == id), None)

    async def count(self, entity: str, filter: Mapping[str, Any]) -> int:
        return len(self._match(entity, filter))

    async def create(self, entity: str, data: Mapping[str, Any]) -> Record:
        record = {"id": str(len(self._rows(entity)) + 1), **data}
        self._rows(entity).append(record)
        return record

    async def update(
        self,
        entity: str,
        data: Mapping[str, Any],
        *,
        id: str | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[Record]:
        rows = (
            [r for r in self._rows(entity) if r["id"] == id]
            if id is not None
            else self._match(entity, filter or {})
        )
        for row in rows:
            row.update(data)
        return rows

    async def delete(self, entity: str, id: str) -> bool:
        rows = self._rows(entity)
        before = len(rows)
        rows[:] = [r for r in rows if r["id"] != id]
        return len(rows) < before


def _users() -> MemoryStore:
    return MemoryStore(
        {
            "user": [
                {"id": "1", "role": "a", "age": 30},
                {"id": "2", "role": "b", "age": 20},
                {"id": "3", "role": "a", "age": 40},
            ]
        }
    )


@pytest.fixture
def store() -> Any:
    memory = _users()
    token = current_data_store.set(memory)
    yield memory
    current_data_store.reset(token)


@pytest.mark.anyio
async def test_dbal_read_filter_sort_page_count_get(store: MemoryStore) -> None:
    params = {
        "entity": "user",
        "filter": {"role": "{{ $json.role }}"},
        "sort": {"age": "desc"},
        "limit": 1,
        "offset": 1,
    }
    page = (await run_node("dbal-read", params, [{"role": "a"}])).json()[0][0]
    assert page["items"] == [{"id": "1", "role": "a", "age": 30}] and page["total"] == 2
    assert page["sort"] == {"age": "desc"} and page["limit"] == 1 and page["offset"] == 1
    count = await run_node("dbal-read", {"entity": "user", "operation": "count"}, [{}])
    assert count.json() == [[{"entity": "user", "filter": {}, "count": 3}]]
    got = await run_node("dbal-read", {"entity": "user", "operation": "get", "id": 2}, [{}])
    assert got.json() == [[{"id": "2", "role": "b", "age": 20}]]
    missing = await run_node("dbal-read", {"entity": "user", "operation": "get", "id": "9"}, [{}])
    assert missing.error["code"] == "DBAL_READ_ERROR"
    unknown = await run_node("dbal-read", {"entity": "ghost"}, [{}])
    assert unknown.error["code"] == "DBAL_READ_ERROR" and "ghost" in unknown.error["message"]
    no_id = await run_node("dbal-read", {"entity": "user", "operation": "get"}, [{}])
    assert no_id.record.status == "error"


@pytest.mark.anyio
async def test_dbal_write_create_update_delete(store: MemoryStore) -> None:
    created = await run_node(
        "dbal-write",
        {"entity": "user", "operation": "create", "data": {"role": "{{ $json.r }}"}},
        [{"r": "c"}],
    )
    assert created.json() == [[{"id": "4", "role": "c"}]]
    by_id = await run_node(
        "dbal-write", {"entity": "user", "operation": "update", "id": "2", "data": {"age": 21}}, [{}]
    )
    assert by_id.json()[0][0]["age"] == 21
    by_filter = await run_node(
        "dbal-write",
        {"entity": "user", "operation": "update", "filter": {"role": "a"}, "data": {"ok": True}},
        [{}],
    )
    assert by_filter.json()[0][0]["updated"] == 2
    deleted = await run_node("dbal-write", {"entity": "user", "operation": "delete", "id": "1"}, [{}])
    assert deleted.json() == [[{"entity": "user", "id": "1", "deleted": True}]]
    assert [r["id"] for r in store.entities["user"]] == ["2", "3", "4"]
    gone = await run_node("dbal-write", {"entity": "user", "operation": "delete", "id": "1"}, [{}])
    assert gone.error["code"] == "DBAL_WRITE_ERROR"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params",
    [
        {"entity": "user", "operation": "create"},
        {"entity": "user", "operation": "update", "data": {"a": 1}},
        {"entity": "user", "operation": "delete"},
        {"entity": "user", "operation": "upsert", "data": {"a": 1}},
        {"operation": "create", "data": {"a": 1}},
    ],
)
async def test_dbal_write_validation(store: MemoryStore, params: dict[str, Any]) -> None:
    run = await run_node("dbal-write", params, [{}])
    assert run.record.status == "error"


@pytest.mark.anyio
async def test_dbal_without_store_is_unavailable() -> None:
    run = await run_node("dbal-read", {"entity": "user"}, [{}])
    assert run.error["code"] == "DATA_STORE_UNAVAILABLE"


@pytest.mark.anyio
async def test_metabuilder_wait_sleeps_and_reports_how_long() -> None:
    [out] = (await run_node("wait", {"duration": 50, "unit": "ms"}, [{"a": 1}, {"a": 2}])).json()
    assert [item["waited"] for item in out] == [True, True]
    assert all(item["unit"] == "ms" and 40 <= item["duration"] < 1000 for item in out)


@pytest.mark.anyio
async def test_metabuilder_wait_rejects_an_unknown_unit() -> None:
    run = await run_node("wait", {"duration": 1, "unit": "fortnights"}, [{}])
    assert run.error["code"] == "INVALID_PARAMETER"
