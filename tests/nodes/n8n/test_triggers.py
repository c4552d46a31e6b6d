"""Schedule Trigger, Webhook and Respond to Webhook: items, ports, schemas and the recorded response."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.context import NodeRunContext
from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.executor import Execution, execute
from tenantflow.engine.sdk import Items
from tenantflow.engine.validation import validate
from tenantflow.nodes.n8n.triggers import RespondToWebhook, ScheduleTrigger, Webhook, schedule_item
from tests.nodes.harness import NODE, REGISTRY, workflow

RESPOND = "n8n-nodes-base.respondToWebhook"
ITEMS: Items = [{"json": {"a": 1}}, {"json": {"a": 2}}]


def test_schedule_item_in_a_zone_with_dst() -> None:
    assert schedule_item(1688220000123, "Europe/Berlin") == {  # 2023-07-01T14:00:00.123Z
        "timestamp": "2023-07-01T16:00:00.123+02:00",
        "Readable date": "July 1st 2023, 4:00:00 pm",
        "Readable time": "4:00:00 pm",
        "Day of week": "Saturday",
        "Year": "2023",
        "Month": "July",
        "Day of month": "01",
        "Hour": "16",
        "Minute": "00",
        "Second": "00",
        "Timezone": "Europe/Berlin (UTC+02:00)",
    }


def _single(node_type: str, parameters: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "nodes": [{"id": "t", "name": "T", "type": node_type, "typeVersion": 1.2, "parameters": parameters}],
        "connections": {},
        "settings": settings,
    }


@pytest.mark.anyio
async def test_schedule_trigger_emits_one_item_in_the_workflow_zone() -> None:
    parameters = {"rule": {"interval": [{"field": "hours", "hoursInterval": 2}]}}
    record = await execute(
        _single("n8n-nodes-base.scheduleTrigger", parameters, timezone="Asia/Kolkata"), registry=REGISTRY
    )
    assert record.status == "success", record.error
    [item] = record.state["T"].output[0]
    assert item["json"]["Timezone"] == "Asia/Kolkata (UTC+05:30)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30", item["json"]["timestamp"])


@pytest.mark.anyio
async def test_webhook_emits_the_request_item_it_is_given() -> None:
    request = {"headers": {"x": "1"}, "params": {}, "query": {"q": "a"}, "body": {"n": 1}}
    document = _single("n8n-nodes-base.webhook", {"httpMethod": "POST", "path": "hook"})
    record = await execute(document, registry=REGISTRY, input_items=[{"json": request}])
    assert record.status == "success", record.error
    assert [i["json"] for i in record.state["T"].output[0]] == [request]


def test_trigger_flags_and_schemas() -> None:
    assert ScheduleTrigger.is_trigger and Webhook.is_trigger and not RespondToWebhook.is_trigger
    schedule = jsonschema_rs.validator_for(dict(ScheduleTrigger().schema_for(1.2)))
    assert schedule.is_valid(
        {"rule": {"interval": [{"field": "cronExpression", "expression": "0 */5 * * * *"}]}}
    )
    assert not schedule.is_valid({"rule": {"interval": [{"field": "fortnights"}]}})
    assert not schedule.is_valid({"rule": {"interval": [{"field": "days", "triggerAtHour": 24}]}})
    webhook = jsonschema_rs.validator_for(dict(Webhook().schema_for(2)))
    assert webhook.is_valid({"httpMethod": ["GET", "POST"], "multipleMethods": True, "path": "p"})
    assert not webhook.is_valid({"httpMethod": "FETCH"})
    respond = jsonschema_rs.validator_for(dict(RespondToWebhook().schema_for(1.1)))
    assert not respond.is_valid({"respondWith": "jwt"})


async def respond(
    parameters: dict[str, Any], items: Items = ITEMS, version: float = 1.1
) -> tuple[list[Items], dict[str, Any]]:
    """Run the node on the executor's context and return its outputs and the recorded response."""
    execution = Execution(workflow(RESPOND, parameters, [], version=version), registry=REGISTRY)
    ctx = NodeRunContext(execution, execution.nodes[NODE], [items], 0)
    outputs = await RespondToWebhook().run(ctx, [items])
    return outputs, ctx.node_state["response"]


@pytest.mark.anyio
async def test_respond_with_all_items_under_a_key_with_headers() -> None:
    outputs, response = await respond(
        {
            "respondWith": "allIncomingItems",
            "options": {
                "responseCode": 201,
                "responseKey": "data.items",
                "responseHeaders": {"entries": [{"name": "X-Count", "value": 2}]},
            },
        }
    )
    assert outputs == [ITEMS]
    assert response == {
        "statusCode": 201,
        "headers": {"x-count": "2"},
        "body": {"data": {"items": [{"a": 1}, {"a": 2}]}},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, {"statusCode": 200, "headers": {}, "body": {"a": 1}}),
        (
            {"respondWith": "json", "responseBody": '={"n": {{ $json.a }}}'},
            {"statusCode": 200, "headers": {}, "body": {"n": 1}},
        ),
        ({"respondWith": "text", "responseBody": "hi"}, {"statusCode": 200, "headers": {}, "body": "hi"}),
        ({"respondWith": "noData"}, {"statusCode": 200, "headers": {}, "body": None}),
        (
            {"respondWith": "redirect", "redirectURL": "https://example.com/"},
            {"statusCode": 307, "headers": {"location": "https://example.com/"}, "body": None},
        ),
    ],
)
async def test_respond_modes(parameters: dict[str, Any], expected: dict[str, Any]) -> None:
    assert (await respond(parameters))[1] == expected


@pytest.mark.anyio
async def test_respond_errors() -> None:
    with pytest.raises(Exception, match="not valid JSON"):
        await respond({"respondWith": "json", "responseBody": "{nope"})
    with pytest.raises(Exception, match="No item"):
        await respond({"respondWith": "firstIncomingItem"}, [])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("version", "parameters", "outputs"),
    [(1.2, {}, 1), (1.3, {}, 2), (1.4, {}, 1), (1.4, {"enableResponseOutput": True}, 2), (1.5, {}, 1)],
)
async def test_respond_versions_and_the_response_output(
    version: float, parameters: dict[str, Any], outputs: int
) -> None:
    node = NodeDefinition.model_validate(
        {"id": "r", "name": "R", "type": RESPOND, "typeVersion": version, "parameters": parameters}
    )
    assert RespondToWebhook().output_count(node) == outputs
    result, _ = await respond({"respondWith": "noData", **parameters}, version=version)
    assert result == [ITEMS, [{"json": {"response": {"statusCode": 200, "headers": {}}}}]][:outputs]


def _validate(document: dict[str, Any]) -> list[str]:
    return [str(issue.code) for issue in validate(document, REGISTRY).errors]


@pytest.mark.parametrize(
    ("node_type", "version"),
    [
        ("n8n-nodes-base.scheduleTrigger", 1.3),
        ("n8n-nodes-base.webhook", 2.1),
        (RESPOND, 1.4),
        (RESPOND, 1.5),
    ],
)
def test_new_versions_validate(node_type: str, version: float) -> None:
    document = _single(node_type, {})
    document["nodes"][0]["typeVersion"] = version
    assert _validate(document) == []


@pytest.mark.anyio
async def test_webhook_with_multiple_methods_has_an_output_per_method() -> None:
    """Two real exports wire output 1 of a ``multipleMethods`` webhook (GET and POST by default)."""
    document = {
        "nodes": [
            {
                "id": "w",
                "name": "Hook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "parameters": {"multipleMethods": True, "path": "p"},
            },
            {"id": "a", "name": "A", "type": "n8n-nodes-base.noOp", "parameters": {}},
            {"id": "b", "name": "B", "type": "n8n-nodes-base.noOp", "parameters": {}},
        ],
        "connections": {
            "Hook": {
                "main": [
                    [{"node": "A", "type": "main", "index": 0}],
                    [{"node": "B", "type": "main", "index": 0}],
                ]
            }
        },
    }
    assert _validate(document) == []
    single = {**document["nodes"][0], "parameters": {"httpMethod": "POST", "path": "p"}}
    assert "INVALID_OUTPUT_INDEX" in _validate({**document, "nodes": [single, *document["nodes"][1:]]})
    record = await execute(document, registry=REGISTRY, input_items=[{"json": {"body": {}}}])
    assert record.status == "success", record.error
    assert [[item["json"] for item in items] for items in record.state["Hook"].output] == [[{"body": {}}], []]
    assert "B" not in record.state
