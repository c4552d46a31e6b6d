"""Files at the webhook edges: request bodies the Webhook node makes binary data of, as n8n's does, and the
file Respond to Webhook answers with."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import Execution, RunLimits
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import Item, Items
from tenantflow.services.inputs import request_data
from tests.nodes.harness import REGISTRY
from tests.nodes.n8n.test_triggers import respond

pytestmark = pytest.mark.anyio

WEBHOOK = "n8n-nodes-base.webhook"
RESPOND = "n8n-nodes-base.respondToWebhook"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def request(body: Any, raw: bytes, content_type: str | None, **headers: str) -> dict[str, Any]:
    """The request item a webhook route hands the node: headers, params, query, parsed body and raw bytes."""
    if content_type is not None:
        headers["content-type"] = content_type
    return {"headers": headers, "params": {}, "query": {}, "body": body, "rawBody": b64(raw)}


def hook_document(version: float, options: dict[str, Any], respond_with: dict[str, Any] | None = None) -> Any:
    nodes: list[dict[str, Any]] = [
        {
            "id": "w",
            "name": "Hook",
            "type": WEBHOOK,
            "typeVersion": version,
            "parameters": {
                "httpMethod": "POST",
                "path": "p",
                "responseMode": "responseNode",
                "options": options,
            },
        }
    ]
    connections: dict[str, Any] = {}
    if respond_with is not None:
        nodes.append(
            {"id": "r", "name": "Respond", "type": RESPOND, "typeVersion": 1.1, "parameters": respond_with}
        )
        connections["Hook"] = {"main": [[{"node": "Respond", "type": "main", "index": 0}]]}
    return {"nodes": nodes, "connections": connections}


async def hook(
    version: float, options: dict[str, Any], item: dict[str, Any], limits: RunLimits | None = None
) -> tuple[ExecutionRecord, Execution]:
    execution = Execution(
        hook_document(version, options), registry=REGISTRY, input_items=[{"json": item}], limits=limits
    )
    return await execution.run(), execution


async def hook_item(version: float, options: dict[str, Any], item: dict[str, Any]) -> Item:
    record, _ = await hook(version, options, item)
    assert record.status == "success", record.error
    [[result]] = record.state["Hook"].output
    assert "rawBody" not in result["json"] and result["pairedItem"] == {"item": 0}
    return {key: value for key, value in result.items() if key != "pairedItem"}


# --- the Webhook node ----------------------------------------------------------------------------------


async def test_a_file_upload_becomes_binary_data_named_by_content_disposition() -> None:
    item = request(None, PNG, "image/png", **{"content-disposition": 'attachment; filename="cat.png"'})
    result = await hook_item(2, {}, item)
    assert result["json"] == {"headers": item["headers"], "params": {}, "query": {}, "body": {}}
    assert result["binary"] == {
        "data": {
            "mimeType": "image/png",
            "fileType": "image",
            "fileExtension": "png",
            "fileName": "cat.png",
            "data": b64(PNG),
            "fileSize": "264 B",
        }
    }


async def test_an_unnamed_upload_gets_a_uuid_name_and_the_chosen_property() -> None:
    result = await hook_item(2.1, {"binaryPropertyName": "upload"}, request(None, b"%PDF-1.4", None))
    meta = result["binary"]["upload"]
    assert UUID.fullmatch(meta["fileName"]) and meta["mimeType"] == "application/octet-stream"
    assert "fileExtension" not in meta  # n8n's copyBinaryFile: only a file name gives the extension
    assert base64.b64decode(meta["data"]) == b"%PDF-1.4"


async def test_version_1_makes_a_file_only_with_the_binary_data_option() -> None:
    item = request(None, b"hello", "text/plain; charset=utf-8")
    plain = await hook_item(1, {}, item)
    assert "binary" not in plain and plain["json"]["body"] is None
    result = await hook_item(1, {"binaryData": True, "binaryPropertyName": "file"}, item)
    assert result["json"]["body"] == {}
    assert result["binary"]["file"]["mimeType"] == "text/plain"
    assert result["binary"]["file"]["fileType"] == "text"


async def test_a_parsed_body_stays_json_and_raw_body_adds_the_bytes() -> None:
    raw = b'{"event": "paid", "amount": 5}'
    item = request({"event": "paid", "amount": 5}, raw, "application/json")
    assert await hook_item(2, {}, item) == {"json": {k: v for k, v in item.items() if k != "rawBody"}}
    result = await hook_item(2, {"rawBody": True}, item)
    assert result["json"]["body"] == {"event": "paid", "amount": 5}
    assert result["binary"] == {"data": {"data": b64(raw), "mimeType": "application/json"}}


async def test_an_empty_unparsed_body_makes_no_file() -> None:
    assert await hook_item(2, {}, request(None, b"", None)) == {
        "json": {"headers": {}, "params": {}, "query": {}, "body": {}}
    }


async def test_requests_without_raw_bytes_pass_as_they_are() -> None:
    item: dict[str, Any] = {"headers": {}, "params": {}, "query": {}, "body": None}
    assert await hook_item(2, {}, item) == {"json": item}


FORM = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\nHolidays\r\n'
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="tag"\r\n\r\nsea\r\n'
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="tag"\r\n\r\nsun\r\n'
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="cover"; filename="cover.png"\r\nContent-Type: image/png\r\n\r\n'
    + PNG
    + b"\r\n--XyZ\r\n"
    b'Content-Disposition: form-data; name="files[]"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
    b"first\r\n--XyZ\r\n"
    b"Content-Disposition: form-data; name=\"files[]\"; filename*=UTF-8''%C3%A9t%C3%A9.csv\r\n\r\n"
    b"a,b\r\n1,2\r\n--XyZ--\r\n"
)


async def test_a_form_gives_its_fields_as_the_body_and_a_property_per_file() -> None:
    result = await hook_item(2, {}, request(None, FORM, "multipart/form-data; boundary=XyZ"))
    assert result["json"]["body"] == {"title": "Holidays", "tag": ["sea", "sun"]}
    files = result["binary"]
    assert list(files) == ["cover", "files0", "files1"]
    assert base64.b64decode(files["cover"]["data"]) == PNG and files["cover"]["fileName"] == "cover.png"
    assert (
        files["files0"]["mimeType"] == "text/plain" and base64.b64decode(files["files0"]["data"]) == b"first"
    )
    assert files["files1"]["fileName"] == "été.csv" and files["files1"]["mimeType"] == "text/csv"
    assert base64.b64decode(files["files1"]["data"]) == b"a,b\r\n1,2"
    renamed = await hook_item(
        2, {"binaryPropertyName": "up"}, request(None, FORM, "multipart/form-data; boundary=XyZ")
    )
    assert list(renamed["binary"]) == ["up0", "up1", "up2"]


async def test_the_hosts_request_carries_the_raw_body_to_the_webhook() -> None:
    given = {"method": "POST", "headers": {"Authorization": "Bearer x", "Content-Type": "image/png"}}
    data = request_data({**given, "body": None, "rawBody": b64(PNG)})
    assert data["rawBody"] == b64(PNG) and "Authorization" not in data["headers"]
    assert "rawBody" not in request_data({**given, "body": {}})
    result = await hook_item(2, {}, {"params": {}, **data})
    assert result["binary"]["data"]["mimeType"] == "image/png"


async def test_an_upload_over_the_executions_binary_cap_fails_the_run() -> None:
    record, _ = await hook(2, {}, request(None, PNG, "image/png"), RunLimits(max_binary_bytes=100))
    assert record.status == "error" and record.error is not None
    assert record.error["code"] == ErrorCode.BINARY_LIMIT and record.error["node"] == "Hook"


# --- Respond to Webhook ---------------------------------------------------------------------------------

FILE: Item = {
    "json": {"n": 1},
    "binary": {
        "audio": {
            "data": b64(b"ID3 sound"),
            "mimeType": "audio/mpeg",
            "fileName": "a.mp3",
            "fileSize": "9 B",
        },
        "data": {"data": b64(b"<p>hi</p>"), "mimeType": "text/html", "fileName": "p.html"},
    },
}


async def test_respond_with_the_first_binary_property() -> None:
    outputs, response = await respond({"respondWith": "binary"}, [FILE])
    assert outputs == [[FILE]]
    assert response == {
        "statusCode": 200,
        "headers": {"content-type": "audio/mpeg", "content-length": "9"},
        "body": None,
        "binary": FILE["binary"]["audio"],
    }


async def test_respond_with_a_named_property_a_code_and_a_content_type_header() -> None:
    parameters = {
        "respondWith": "binary",
        "responseDataSource": "set",
        "inputFieldName": "data",
        "options": {
            "responseCode": 201,
            "responseHeaders": {"entries": [{"name": "Content-Type", "value": "={{ 'text/plain' }}"}]},
        },
    }
    _, response = await respond(parameters, [FILE], version=1.5)
    assert response["statusCode"] == 201 and response["binary"]["fileName"] == "p.html"
    assert response["headers"] == {"content-type": "text/plain", "content-length": "9"}


@pytest.mark.parametrize(
    ("parameters", "items", "message"),
    [
        ({}, [{"json": {}}], "No binary data exists on the first item!"),
        ({}, [], "No binary data exists on the first item!"),
        ({}, [{"json": {}, "binary": {}}], "No binary data exists on the first item!"),
        (
            {"responseDataSource": "set", "inputFieldName": "video"},
            [FILE],
            "The item has no binary field 'video' [item 0]",
        ),
    ],
)
async def test_respond_without_the_file_fails_with_n8ns_message(
    parameters: dict[str, Any], items: Items, message: str
) -> None:
    with pytest.raises(Exception, match=re.escape(message)) as caught:
        await respond({"respondWith": "binary", **parameters}, items)
    assert getattr(caught.value, "code", None) == ErrorCode.INVALID_PARAMETER


async def test_the_response_output_carries_the_file() -> None:
    outputs, _ = await respond({"respondWith": "binary", "enableResponseOutput": True}, [FILE], version=1.4)
    assert outputs[1][0]["json"]["response"]["binary"]["data"] == FILE["binary"]["audio"]["data"]


async def test_an_upload_answered_with_itself() -> None:
    """Webhook -> Respond to Webhook: the uploaded file is the response, in one run of the executor."""
    document = hook_document(2, {}, {"respondWith": "binary"})
    item = request(None, PNG, "image/png", **{"content-disposition": "inline; filename=x.png"})
    execution = Execution(document, registry=REGISTRY, input_items=[{"json": item}])
    record = await execution.run()
    assert record.status == "success", record.error
    response = execution.node_state("Respond")["response"]
    assert response["headers"] == {"content-type": "image/png", "content-length": str(len(PNG))}
    assert base64.b64decode(response["binary"]["data"]) == PNG and response["binary"]["fileName"] == "x.png"
