"""Schedule Trigger, Webhook and Respond to Webhook: items, ports, schemas and the recorded response."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.context import NodeRunContext
from tenantflow.engine.executor import Execution, execute
from tenantflow.engine.sdk import Items
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


async def respond(parameters: dict[str, Any], items: Items = ITEMS) -> tuple[list[Items], dict[str, Any]]:
    """Run the node on the executor's context and return its outputs and the recorded response."""
    execution = Execution(workflow(RESPOND, parameters, [], version=1.1), registry=REGISTRY)
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
