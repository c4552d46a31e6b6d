"""Cycles without a loop node, as n8n runs them: polling loops and retry counters from real exports.

Each node re-runs whenever a cycle brings it new items, with the next run index; downstream nodes see the
latest run. ``maxNodeExecutions`` stops a cycle that never ends, and validation warns about one that
nothing can leave.
"""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.executor import Execution
from tenantflow.engine.graph import build_graph
from tenantflow.engine.validation import ValidationReport, validate
from tenantflow.nodes import default_registry

from .conftest import wf

pytestmark = pytest.mark.anyio

REGISTRY = default_registry(plugins=False)


def to(node: str) -> dict[str, Any]:
    return {"node": node, "type": "main", "index": 0}


def node(name: str, kind: str, version: float = 1, **extra: Any) -> dict[str, Any]:
    """A node of n8n's base package, for :func:`wf` to complete."""
    return {"name": name, "type": f"n8n-nodes-base.{kind}", "typeVersion": version, **extra}


def set_node(name: str, **fields: str) -> dict[str, Any]:
    """A Set v3.4 node keeping the item's other fields and assigning each of ``fields`` (expressions)."""
    assignments = [
        {"id": key, "name": key, "type": "number", "value": value} for key, value in fields.items()
    ]
    parameters = {"assignments": {"assignments": assignments}, "includeOtherFields": True, "options": {}}
    return node(name, "set", 3.4, parameters=parameters)


def if_node(name: str, left: str, operation: str, right: Any, kind: str = "number") -> dict[str, Any]:
    condition = {
        "id": "c",
        "leftValue": left,
        "rightValue": right,
        "operator": {"type": kind, "operation": operation},
    }
    conditions = {
        "options": {"version": 2, "leftValue": "", "caseSensitive": True, "typeValidation": "strict"},
        "combinator": "and",
        "conditions": [condition],
    }
    return node(name, "if", 2.2, parameters={"conditions": conditions, "options": {}})


def retry_counter() -> dict[str, Any]:
    """Set(counter + 1) -> IF(counter < 3) -> back to Set; the false branch leaves the loop."""
    return wf(
        [
            node("Start", "manualTrigger"),
            set_node("Count", counter="={{ ($json.counter ?? 0) + 1 }}", run="={{ $runIndex }}"),
            if_node("Again?", "={{ $json.counter }}", "lt", 3),
            node("Done", "noOp"),
        ],
        {
            "Start": {"main": [[to("Count")]]},
            "Count": {"main": [[to("Again?")]]},
            "Again?": {"main": [[to("Count")], [to("Done")]]},
        },
    )


async def run(document: dict[str, Any]) -> Execution:
    execution = Execution(document, registry=REGISTRY)
    await execution.run()
    return execution


def cycle_warnings(report: ValidationReport) -> list[str]:
    return [issue.path for issue in report.warnings if issue.code == "CIRCULAR_DEPENDENCY"]


async def test_a_retry_counter_runs_three_times_then_leaves_by_the_false_branch() -> None:
    execution = await run(retry_counter())
    record = execution.record
    assert record.status == "success", record.error
    assert record.state["Count"].runs == 3 and record.state["Again?"].runs == 3
    passes = [run[0][0]["json"] for run in execution.runs_of("Count")]
    assert passes == [{"counter": 1, "run": 0}, {"counter": 2, "run": 1}, {"counter": 3, "run": 2}]
    assert [[len(output) for output in run] for run in execution.runs_of("Again?")] == [
        [1, 0],
        [1, 0],
        [0, 1],
    ]
    assert record.state["Done"].runs == 1
    assert record.state["Done"].output == [[{"json": {"counter": 3, "run": 2}, "pairedItem": {"item": 0}}]]


async def test_a_polling_loop_sees_the_latest_poll_and_pairs_items_back_to_the_start() -> None:
    """Wait -> IF -> back to the request, as the video-generation exports poll a job until it is done."""
    document = wf(
        [
            node("Start", "manualTrigger"),
            set_node("Job", job="={{ 7 }}"),
            set_node("Poll", ready="={{ $runIndex >= 2 ? 1 : 0 }}", job="={{ $('Job').item.json.job }}"),
            if_node("Ready?", "={{ $json.ready }}", "equals", 1),
            node("Wait", "wait", 1.1, parameters={"amount": 0, "unit": "seconds"}),
            set_node(
                "Result", seen="={{ $('Poll').first().json.ready }}", start="={{ $('Job').item.json.job }}"
            ),
        ],
        {
            "Start": {"main": [[to("Job")]]},
            "Job": {"main": [[to("Poll")]]},
            "Poll": {"main": [[to("Ready?")]]},
            "Ready?": {"main": [[to("Result")], [to("Wait")]]},
            "Wait": {"main": [[to("Poll")]]},
        },
    )
    execution = await run(document)
    record = execution.record
    assert record.status == "success", record.error
    assert [record.state[name].runs for name in ("Poll", "Ready?", "Wait", "Result")] == [3, 3, 2, 1]
    assert [run[0][0]["json"]["job"] for run in execution.runs_of("Poll")] == [7, 7, 7]
    assert record.state["Result"].output[0][0]["json"] == {"job": 7, "ready": 1, "seen": 1, "start": 7}


async def test_a_real_retry_export_counts_its_tries_and_stops_at_the_limit() -> None:
    """The shape of "Retry on error" (Zie619 1963): a failing node's error output, a known-error check,
    Wait, Update tries -> If tries left -> back to Set tries; at three tries Stop and Error ends it."""
    document = wf(
        [
            node("Manual Trigger", "manualTrigger"),
            set_node("Set tries", tries="={{ $json.tries || 0 }}"),
            node(
                "Replace Me",
                "stopAndError",
                parameters={"errorMessage": "service unavailable"},
                onError="continueErrorOutput",
            ),
            node("Success", "noOp"),
            if_node("Catch known error", "={{ $json.error }}", "contains", "could not be found", "string"),
            node("Known Error", "noOp"),
            node("Wait", "wait", 1.1, parameters={"amount": 0, "unit": "seconds"}),
            set_node("Update tries", tries="={{ $('Set tries').item.json.tries + 1 }}"),
            if_node("If tries left", "={{ $json.tries }}", "lt", 3),
            node("Retry limit reached", "stopAndError", parameters={"errorMessage": "Retry limit reached"}),
        ],
        {
            "Manual Trigger": {"main": [[to("Set tries")]]},
            "Set tries": {"main": [[to("Replace Me")]]},
            "Replace Me": {"main": [[to("Success")], [to("Catch known error")]]},
            "Catch known error": {"main": [[to("Known Error")], [to("Wait")]]},
            "Wait": {"main": [[to("Update tries")]]},
            "Update tries": {"main": [[to("If tries left")]]},
            "If tries left": {"main": [[to("Set tries")], [to("Retry limit reached")]]},
        },
    )
    assert validate(document, REGISTRY).valid
    execution = await run(document)
    record = execution.record
    assert record.status == "error"
    assert record.error is not None and record.error["node"] == "Retry limit reached"
    assert [run[0][0]["json"]["tries"] for run in execution.runs_of("Set tries")] == [0, 1, 2]
    assert [run[0][0]["json"]["tries"] for run in execution.runs_of("Update tries")] == [1, 2, 3]
    assert "Success" not in record.state and "Known Error" not in record.state


async def test_a_cycle_nothing_leaves_stops_at_max_node_executions() -> None:
    document = wf(
        [node("Start", "manualTrigger"), set_node("Tick", n="={{ $runIndex }}"), node("Tock", "noOp")],
        {
            "Start": {"main": [[to("Tick")]]},
            "Tick": {"main": [[to("Tock")]]},
            "Tock": {"main": [[to("Tick")]]},
        },
    )
    document["executionLimits"] = {"maxNodeExecutions": 25}
    execution = await run(document)
    record = execution.record
    assert record.status == "error"
    assert record.error is not None and record.error["code"] == "EXECUTION_LIMIT"
    assert record.state["Tick"].runs == 12 and record.state["Tock"].runs == 12
    assert execution.runs_of("Tick")[-1][0][0]["json"]["n"] == 11


def test_a_cycle_is_valid_and_one_nothing_leaves_is_a_warning() -> None:
    report = validate(retry_counter(), REGISTRY)
    assert report.valid and report.errors == [] and cycle_warnings(report) == []
    closed = wf(
        [node("Start", "manualTrigger"), node("A", "noOp"), node("B", "noOp")],
        {"Start": {"main": [[to("A")]]}, "A": {"main": [[to("B")]]}, "B": {"main": [[to("A")]]}},
    )
    report = validate(closed, REGISTRY)
    assert report.valid and cycle_warnings(report) == ["nodes[1]"]
    assert "maxNodeExecutions" in report.warnings[0].message


def test_a_self_loop_nothing_leaves_is_a_warning() -> None:
    document = wf(
        [node("Start", "manualTrigger"), node("A", "noOp")],
        {"Start": {"main": [[to("A")]]}, "A": {"main": [[to("A")]]}},
    )
    report = validate(document, REGISTRY)
    assert report.valid and cycle_warnings(report) == ["nodes[1]"]


def test_a_branch_output_left_unconnected_can_end_the_cycle() -> None:
    """An IF whose false output is not wired drops those items there: the loop ends, so no warning."""
    document = retry_counter()
    document["connections"]["Again?"] = {"main": [[to("Count")]]}
    del document["nodes"][3]
    report = validate(document, REGISTRY)
    assert report.valid and cycle_warnings(report) == []


async def test_ai_connections_carry_no_items_and_order_nothing() -> None:
    """A LangChain sub-node hangs off the node that uses it by an ``ai_*`` connection: it is neither a
    predecessor the user waits for nor a start node of its own."""
    document = wf(
        [node("Start", "manualTrigger"), node("Agent", "noOp"), node("Model", "noOp")],
        {
            "Start": {"main": [[to("Agent")]]},
            "Model": {"ai_languageModel": [[{"node": "Agent", "type": "ai_languageModel", "index": 0}]]},
        },
    )
    graph = build_graph(parse_workflow(document), REGISTRY)
    assert [edge.source for edge in graph.incoming["Agent"]] == ["Start"]
    assert "Model" not in graph.start_nodes and not graph.outgoing.get("Model")
    record = (await run(document)).record
    assert record.status == "success"
    assert record.state["Agent"].runs == 1 and "Model" not in record.state
