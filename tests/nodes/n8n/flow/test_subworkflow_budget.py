"""Sub-executions run inside the calling execution's budget: node runs, wall time and depth, counted in
its metrics; inline sub-workflows are validated as stored ones are."""

from __future__ import annotations

import json
import time
from itertools import pairwise
from typing import Any

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import RunLimits, execute
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.nodes.n8n import core
from tenantflow.nodes.n8n.flow import subworkflow
from tests.nodes.harness import REGISTRY

pytestmark = pytest.mark.anyio


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for node_type in [*core.NODE_TYPES, *subworkflow.NODE_TYPES]:
        reg.register(node_type)
    return reg


def _run_node(name: str, workflow_json: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "n8n-nodes-base.executeWorkflow",
        "typeVersion": 1.2,
        "parameters": {"source": "parameter", "workflowJson": workflow_json},
    }


def _self_caller(width: int) -> dict[str, Any]:
    """The issue's workflow: started by Execute Workflow Trigger, it runs ``width`` Execute Workflow nodes
    side by side, each running the document its items carry (``$json.wf``), which is this one."""
    runs = [_run_node(f"Run{i}", "={{ $json.wf }}") for i in range(width)]
    trigger = {
        "name": "Called",
        "type": "n8n-nodes-base.executeWorkflowTrigger",
        "typeVersion": 1.1,
        "parameters": {"inputSource": "passthrough"},
    }
    targets = [{"node": run["name"], "type": "main", "index": 0} for run in runs]
    return {"nodes": [trigger, *runs], "connections": {"Called": {"main": [targets]}}}


async def _call(inline: Any, *, items: list[dict[str, Any]] | None = None, **limits: Any) -> ExecutionRecord:
    workflow = {
        "nodes": [
            {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}},
            _run_node("Run", inline),
        ],
        "connections": {"Trigger": {"main": [[{"node": "Run", "type": "main", "index": 0}]]}},
    }
    return await execute(
        workflow, registry=registry(), input_items=items or [{"json": {}}], limits=RunLimits(**limits)
    )


async def _recursion(width: int, **limits: Any) -> tuple[ExecutionRecord, float]:
    document = _self_caller(width)
    started = time.perf_counter()
    record = await _call("={{ $json.wf }}", items=[{"json": {"wf": document}}], **limits)
    return record, time.perf_counter() - started


async def test_a_workflow_running_itself_three_wide_stops_at_the_parent_s_timeout() -> None:
    record, seconds = await _recursion(3, execution_timeout_s=2)
    assert seconds < 2 + 2, f"{seconds:.1f} s"
    assert record.status in ("timeout", "error")
    assert record.error is not None and record.error["code"] in (
        ErrorCode.EXECUTION_TIMEOUT,
        ErrorCode.EXECUTION_LIMIT,  # the shared node-run budget may run out first on a fast machine
    )
    assert record.metrics.nodes_executed > 3  # the sub-executions' node runs are counted too


async def test_every_node_run_of_the_tree_counts_against_the_parent_s_limit() -> None:
    record, seconds = await _recursion(3, max_node_executions=200)
    assert seconds < 2
    assert record.status == "error" and record.error is not None
    assert record.error["code"] == ErrorCode.EXECUTION_LIMIT
    assert "more than 200 node executions (sub-workflows included)" in record.error["message"]
    # finished runs: the Execute Workflow nodes still waiting on their sub-executions were cancelled
    assert 50 < record.metrics.nodes_executed <= 200


async def test_a_workflow_running_itself_stops_at_the_depth_limit() -> None:
    record, seconds = await _recursion(1)
    assert seconds < 2
    assert record.status == "error" and record.error is not None
    assert record.error["code"] == ErrorCode.EXECUTION_LIMIT
    assert record.error["message"].startswith("sub-workflows nest deeper than 10 levels")
    # the top execution's two nodes, then two in each of the ten sub-executions
    assert record.metrics.nodes_executed == 2 + 10 * 2


async def test_nodes_executed_includes_a_successful_sub_execution_s_nodes() -> None:
    inline = {
        "nodes": [
            {
                "name": "In",
                "type": "n8n-nodes-base.executeWorkflowTrigger",
                "typeVersion": 1,
                "parameters": {},
            },
            {"name": "A", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
            {"name": "B", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
        ],
        "connections": {
            "In": {"main": [[{"node": "A", "type": "main", "index": 0}]]},
            "A": {"main": [[{"node": "B", "type": "main", "index": 0}]]},
        },
    }
    record = await _call(inline)
    assert record.status == "success", record.error
    assert record.metrics.nodes_executed == 2 + 3
    assert record.metrics.success_nodes == 5


@pytest.mark.parametrize("as_text", [True, False], ids=["json text", "object"])
async def test_an_inline_workflow_is_validated_as_a_stored_one(as_text: bool) -> None:
    looped = _self_caller(1)
    looped["nodes"].append({"name": "Ghost", "type": "n8n-nodes-base.nothingLikeThis", "typeVersion": 1})
    looped["connections"]["Run0"] = {"main": [[{"node": "Called", "type": "main", "index": 0}] * 2]}
    record = await _call(json.dumps(looped) if as_text else looped)
    assert record.status == "error"
    error = record.state["Run"].error
    assert error is not None and error["code"] == ErrorCode.WORKFLOW_INVALID
    assert error["message"].startswith("sub-workflow is invalid: ")
    codes = {(issue["code"], issue["path"]) for issue in error["details"]["errors"]}
    assert ("UNKNOWN_NODE_TYPE", "nodes[2].type") in codes
    assert ("INVALID_EDGES", "connections['Run0'].main[0][1]") in codes
    assert record.metrics.nodes_executed == 2  # nothing of the sub-workflow ran


async def test_an_inline_workflow_past_the_document_limits_is_refused_before_it_is_read() -> None:
    values = [{"name": f"f{i}", "value": f"={{{{ $json.a{i} }}}}"} for i in range(3000)]
    inline = _self_caller(1)
    inline["nodes"][1] = {
        "name": "Run0",
        "type": "n8n-nodes-base.noOp",
        "typeVersion": 1,
        "parameters": {"values": {"string": values}},
    }
    started = time.perf_counter()
    record = await _call(json.dumps(inline))  # as text: an object's own expressions would be evaluated
    assert time.perf_counter() - started < 2
    error = record.state["Run"].error
    assert error is not None and error["code"] == ErrorCode.WORKFLOW_INVALID
    assert [(i["code"], i["path"]) for i in error["details"]["errors"]] == [
        ("LIMIT_EXCEEDED", "nodes"),  # 3,000 expressions in the workflow
        ("LIMIT_EXCEEDED", "nodes[1].parameters"),  # and in one node
    ]


MIB = 1024 * 1024


def _set(name: str, field: str, value: str) -> dict[str, Any]:
    assignment = {"id": field, "name": field, "type": "string", "value": value}
    return {
        "name": name,
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "parameters": {"assignments": {"assignments": [assignment]}, "options": {}},
    }


def _hold(name: str, fraction: float) -> dict[str, Any]:
    """A Set node whose one item holds ``fraction`` of a MiB (its input's fields are not kept)."""
    return _set(name, "data", f"={{{{ 'a'.repeat({int(fraction * MIB)}) }}}}")


def _linked(nodes: list[dict[str, Any]], **document: Any) -> dict[str, Any]:
    links = {
        a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]} for a, b in pairwise(nodes)
    }
    return {"nodes": nodes, "connections": links, **document}


def _holder(fraction: float, *, then: dict[str, Any] | None = None) -> dict[str, Any]:
    """A sub-workflow that holds ``fraction`` of a MiB, runs ``then`` if given, and returns one small item."""
    trigger = {"name": "In", "type": "n8n-nodes-base.executeWorkflowTrigger", "typeVersion": 1.1}
    inner = [_run_node("Inner", then)] if then is not None else []
    return _linked([trigger, _hold("Hold", fraction), *inner, _set("Small", "ok", "yes")])


async def _top(*nodes: dict[str, Any]) -> ExecutionRecord:
    trigger = {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "parameters": {}}
    document = _linked([trigger, *nodes], executionLimits={"maxMemoryMb": 1})
    return await execute(document, registry=REGISTRY)


async def test_nested_sub_executions_share_the_top_execution_s_data_budget() -> None:
    """Each level holds 60% of the top's maxMemoryMb: alone each fits, together the tree is over. Each
    execution used to have a budget of its own, so ten levels could hold ten times the limit."""
    started = time.perf_counter()
    record = await _top(_run_node("Run", _holder(0.6, then=_holder(0.6))))
    assert time.perf_counter() - started < 2
    assert record.status == "error" and record.error is not None
    assert record.error["code"] == ErrorCode.EXECUTION_LIMIT and record.error["node"] == "Run"
    message = record.error["message"]
    assert message.startswith("node 'Hold' output would bring the item data") and "maxMemoryMb" in message
    assert "1 MiB for the whole tree of sub-workflows" in message


async def test_a_finished_sub_execution_s_data_is_released() -> None:
    """30% held by the top execution, then 40% in each of two sub-executions one after the other: the first's
    data is dropped when it ends (only its small result stays), so the tree never holds more than 70%."""
    record = await _top(
        _hold("Own", 0.3), _run_node("First", _holder(0.4)), _run_node("Second", _holder(0.4))
    )
    assert record.status == "success", record.error
    assert [item["json"] for item in record.state["Second"].output[0]] == [{"ok": "yes"}]


async def test_items_handed_to_a_sub_execution_are_not_counted_twice() -> None:
    """The items the caller passes in are the caller's (the tree holds them already): 60% handed down a
    level, where only a small item is added, fits."""
    trigger = {"name": "In", "type": "n8n-nodes-base.executeWorkflowTrigger", "typeVersion": 1.1}
    passing = _linked([trigger, {"name": "Keep", "type": "n8n-nodes-base.noOp", "typeVersion": 1}])
    record = await _top(_hold("Own", 0.6), _run_node("Run", passing))
    assert record.status == "success", record.error
