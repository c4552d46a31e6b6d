"""Execute Workflow and Execute Workflow Trigger through the real executor (nested executions included)."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.definition import WorkflowDefinition, parse_workflow
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import execute
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import NodeRegistry, WorkflowLoader
from tenantflow.nodes.n8n import core
from tenantflow.nodes.n8n.flow import subworkflow
from tenantflow.nodes.n8n.flow.subworkflow import ExecuteWorkflow


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for node_type in [*core.NODE_TYPES, *subworkflow.NODE_TYPES]:
        reg.register(node_type)
    return reg


def sub_workflow(*body: dict[str, Any], trigger_version: float = 1.1) -> dict[str, Any]:
    """Execute Workflow Trigger followed by ``body`` nodes in a chain."""
    nodes = [
        {
            "name": "Called",
            "type": "n8n-nodes-base.executeWorkflowTrigger",
            "typeVersion": trigger_version,
            "parameters": {"inputSource": "passthrough"},
        },
        *body,
    ]
    connections = {
        a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]} for a, b in pairwise(nodes)
    }
    return {"nodes": nodes, "connections": connections}


def data_node(name: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "n8n-nodes-testing.testData",
        "typeVersion": 1,
        "parameters": {"data": data},
    }


NOOP = {"name": "Echo", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}}
STOP = {
    "name": "Stop",
    "type": "n8n-nodes-base.stopAndError",
    "typeVersion": 1,
    "parameters": {"errorMessage": "bad"},
}
ITEMS = [{"json": {"n": 1}}, {"json": {"n": 2}}, {"json": {"n": 3}}]


async def call(
    parameters: dict[str, Any],
    *,
    items: list[dict[str, Any]] | None = None,
    version: float = 1.2,
    loader: WorkflowLoader | None = None,
) -> ExecutionRecord:
    workflow = {
        "nodes": [
            {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            {
                "name": "Run",
                "type": "n8n-nodes-base.executeWorkflow",
                "typeVersion": version,
                "parameters": parameters,
            },
        ],
        "connections": {"Trigger": {"main": [[{"node": "Run", "type": "main", "index": 0}]]}},
    }
    return await execute(workflow, registry=registry(), input_items=items or ITEMS, workflow_loader=loader)


def output(record: ExecutionRecord) -> list[dict[str, Any]]:
    assert record.status == "success", record.error
    return record.state["Run"].output[0]


def jsons(record: ExecutionRecord) -> list[Any]:
    return [item["json"] for item in output(record)]


# --- inline workflows ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("version", ExecuteWorkflow.versions)
@pytest.mark.parametrize("as_text", [True, False], ids=["json-text", "object"])
async def test_inline_workflow_gets_all_items_in_one_run(version: float, as_text: bool) -> None:
    inline = sub_workflow(NOOP, trigger_version=1)
    record = await call(
        {"source": "parameter", "workflowJson": json.dumps(inline) if as_text else inline}, version=version
    )
    assert jsons(record) == [item["json"] for item in ITEMS]
    assert [item["pairedItem"] for item in output(record)] == [{"item": 0}, {"item": 1}, {"item": 2}]


@pytest.mark.anyio
async def test_each_mode_runs_the_workflow_once_per_item() -> None:
    inline = sub_workflow(data_node("Two", [{"k": "a"}, {"k": "b"}]))
    once = await call({"source": "parameter", "workflowJson": inline, "mode": "once"})
    each = await call({"source": "parameter", "workflowJson": inline, "mode": "each"})
    assert jsons(once) == [{"k": "a"}, {"k": "b"}]
    assert jsons(each) == [{"k": "a"}, {"k": "b"}] * 3
    assert [item["pairedItem"]["item"] for item in output(each)] == [0, 0, 1, 1, 2, 2]


@pytest.mark.anyio
async def test_a_failing_sub_workflow_fails_the_node() -> None:
    inline = sub_workflow(STOP)
    once = await call({"source": "parameter", "workflowJson": inline})
    each = await call({"source": "parameter", "workflowJson": inline, "mode": "each"})
    assert once.status == "error" and once.state["Run"].error is not None
    assert "bad" in once.state["Run"].error["message"]
    assert each.status == "error" and each.state["Run"].error is not None
    assert each.state["Run"].error["message"] == "Error executing workflow with item at index 0"
    assert "bad" in each.state["Run"].error["description"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("workflow_json", "code"),
    [("{not json", ErrorCode.INVALID_PARAMETER), ('{"name": "no nodes"}', ErrorCode.WORKFLOW_INVALID)],
)
async def test_bad_inline_workflows_are_rejected(workflow_json: str, code: str) -> None:
    record = await call({"source": "parameter", "workflowJson": workflow_json})
    assert record.status == "error" and record.state["Run"].error is not None
    assert record.state["Run"].error["code"] == code


# --- references the host resolves ----------------------------------------------------------------------


def recording_loader(workflow: dict[str, Any]) -> tuple[WorkflowLoader, list[Any]]:
    seen: list[Any] = []

    async def load(reference: Any) -> WorkflowDefinition:
        seen.append(reference)
        return parse_workflow(workflow)

    return load, seen


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("version", "parameters", "reference"),
    [
        (1, {"workflowId": "42"}, {"source": "database", "workflowId": "42"}),
        (
            1.2,
            {"workflowId": {"__rl": True, "value": "42", "mode": "id"}},
            {"source": "database", "workflowId": "42"},
        ),
        (
            1.2,
            {"workflowId": {"__rl": True, "value": "={{ $json.n + 40 }}", "mode": "id"}},
            {"source": "database", "workflowId": "41"},
        ),
        (
            1.1,
            {"source": "localFile", "workflowPath": "/flows/a.json"},
            {"source": "localFile", "workflowId": "/flows/a.json"},
        ),
        (
            1.1,
            {"source": "url", "workflowUrl": "https://x.test/a.json"},
            {"source": "url", "workflowId": "https://x.test/a.json"},
        ),
    ],
    ids=["v1-id", "v1.2-locator", "v1.2-locator-expression", "localFile", "url"],
)
async def test_references_go_to_the_hosts_loader(
    version: float, parameters: dict[str, Any], reference: dict[str, Any]
) -> None:
    loader, seen = recording_loader(sub_workflow(NOOP))
    record = await call(parameters, version=version, loader=loader)
    assert jsons(record) == [item["json"] for item in ITEMS]
    assert seen == [reference]


@pytest.mark.anyio
async def test_a_reference_without_a_loader_fails_clearly() -> None:
    record = await call({"source": "database", "workflowId": "42"})
    assert record.status == "error" and record.state["Run"].error is not None
    assert "loader" in record.state["Run"].error["message"]


@pytest.mark.anyio
async def test_an_empty_workflow_id_is_a_parameter_error() -> None:
    record = await call({"workflowId": {"__rl": True, "value": "", "mode": "list"}})
    assert record.status == "error" and record.state["Run"].error is not None
    assert record.state["Run"].error["code"] == ErrorCode.INVALID_PARAMETER


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["once", "each"])
async def test_not_waiting_returns_the_input_and_still_runs_the_sub_workflow(mode: str) -> None:
    loader, seen = recording_loader(sub_workflow(NOOP))
    record = await call(
        {"workflowId": "7", "mode": mode, "options": {"waitForSubWorkflow": "={{ false }}"}}, loader=loader
    )
    assert jsons(record) == [item["json"] for item in ITEMS]
    for _ in range(100):
        if len(seen) == (1 if mode == "once" else 3) and not subworkflow._DETACHED:
            break
        await asyncio.sleep(0.01)
    assert len(seen) == (1 if mode == "once" else 3)
    assert not subworkflow._DETACHED


# --- schema --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "valid"),
    [
        ({"workflowId": {"__rl": True, "value": "={{ $json.foo }}", "mode": "id"}}, True),
        ({"source": "parameter", "workflowJson": "{}", "mode": "each"}, True),
        ({"options": {"waitForSubWorkflow": "={{ true }}"}}, True),
        ({"source": "git"}, False),
        ({"mode": "batch"}, False),
        ({"options": {"waitForSubWorkflow": "no"}}, False),
    ],
)
def test_schema(parameters: dict[str, Any], valid: bool) -> None:
    for version in ExecuteWorkflow.versions:
        schema = dict(ExecuteWorkflow().schema_for(version))
        assert jsonschema_rs.Draft202012Validator(schema).is_valid(parameters) is valid


def test_trigger_is_a_start_node_without_inputs() -> None:
    trigger = subworkflow.ExecuteWorkflowTrigger()
    definition = parse_workflow(sub_workflow()).nodes[0]
    assert trigger.is_trigger and trigger.input_count(definition) == 0
    assert trigger.versions == (1, 1.1)
