"""What expressions see of the run (n8n's data-proxy rows 122-161, rebuilt on real executions)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from tenantflow.engine.executor import execute
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType
from tenantflow.nodes import default_registry

pytestmark = pytest.mark.anyio

VALUES = [105, 160, 121, 275, 950]


class Probe(NodeType):
    """Evaluates each ``probes`` entry for item ``item`` and returns the results (or the error message)."""

    type = "test.probe"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        results: dict[str, Any] = {}
        for key, expression in ctx.raw_param("probes", {}).items():
            try:
                results[key] = ctx.evaluate(expression, int(ctx.raw_param("item", 0)))
            except Exception as exc:  # the probe reports failures instead of failing the node
                results[key] = f"error: {exc}"
        return [[{"json": results}]]


def _registry() -> NodeRegistry:
    registry = default_registry(plugins=False)
    registry.register(Probe)
    return registry


def _node(name: str, type_: str, **parameters: Any) -> dict[str, Any]:
    version = 3.4 if type_.endswith(".set") else 1
    return {
        "id": name,
        "name": name,
        "type": type_,
        "typeVersion": version,
        "position": [0, 0],
        "parameters": parameters,
    }


def _link(*names: str) -> dict[str, Any]:
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in pairwise(names)}


async def probe(
    probes: dict[str, str], item: int = 0, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Start -> Function (testData) -> Rename (Set) -> End (probe), like n8n's base fixture."""
    rename = {
        "assignments": {
            "assignments": [
                {"id": "1", "name": "data", "value": "={{ $json.initialName }}", "type": "number"}
            ]
        },
    }
    nodes = [
        _node("Start", "n8n-nodes-base.manualTrigger"),
        _node("Function", "n8n-nodes-testing.testData", data=[{"initialName": v} for v in VALUES]),
        _node("Rename", "n8n-nodes-base.set", **rename),
        _node("End", "test.probe", probes=probes, item=item),
        _node("Set", "n8n-nodes-base.set"),
    ]
    document = {
        "id": "123",
        "name": "test workflow",
        "nodes": nodes,
        "connections": _link("Start", "Function", "Rename", "End"),
    }
    record = await execute(document, registry=_registry(), variables={}, context=context or {"tenant": "t1"})
    assert record.status == "success", record.error
    return record.state["End"].output[0][0]["json"]


async def test_json_and_input() -> None:
    got = await probe(
        {
            "json": "={{ $json }}",
            "item": "={{ $input.item.json.data }}",
            "second": "={{ $input.all()[1].json.data }}",
            "count": "={{ $input.all().length }}",
            "first_last": "={{ [$input.first().json.data, $input.last().json.data] }}",
            "this_item": "={{ $thisItem.json.data }}",
            "binary": "={{ $binary }}",
            "indexes": "={{ [$itemIndex, $runIndex] }}",
            "prev": "={{ $prevNode.name }}",
            "workflow": "={{ [$workflow.id, $workflow.name, $workflow.active] }}",
            "node_version": "={{ $nodeVersion }}",
        }
    )
    assert got == {
        "json": {"data": 105},
        "item": 105,
        "second": 160,
        "count": 5,
        "first_last": [105, 950],
        "this_item": 105,
        "binary": {},
        "indexes": [0, 0],
        "prev": "Rename",
        "workflow": ["123", "test workflow", False],
        "node_version": 1,
    }


async def test_named_node_accessors() -> None:
    got = await probe(
        {
            "item": "={{ $('Rename').item.json.data }}",
            "two_back": "={{ $('Function').item.json.initialName }}",
            "all": "={{ $('Rename').all()[1].json.data }}",
            "first_last": "={{ [$('Rename').first().json.data, $('Rename').last().json.data] }}",
            "matching": "={{ $('Rename').itemMatching(2).json.data }}",
            "executed": "={{ [$('Function').isExecuted, $('Set').isExecuted] }}",
            "legacy": '={{ $node["Rename"].json.data }}',
            "items": "={{ [$items().length, $items('Rename', 0, -1)[0].json.data] }}",
            "item_fn": "={{ $item(1).$json.data }}",
            "steps": "={{ $steps.Rename.output.data }}",
            "nodes": "={{ $nodes['Function'].initialName }}",
            "context": "={{ $context.tenant }}",
        },
        item=0,
    )
    assert got == {
        "item": 105,
        "two_back": 105,
        "all": 160,
        "first_last": [105, 950],
        "matching": 121,
        "executed": [True, False],
        "legacy": 105,
        "items": [5, 105],
        "item_fn": 160,
        "steps": 105,
        "nodes": 105,
        "context": "t1",
    }


async def test_references_to_missing_or_unrun_nodes_fail_clearly() -> None:
    got = await probe(
        {
            "missing": "={{ $('doNotExist').item }}",
            "not_run": "={{ $('Set').item }}",
            "bad_run": "={{ $items('Rename', 0, 999) }}",
        }
    )
    assert got["missing"].startswith("error:") and "doesn't exist" in got["missing"]
    assert got["not_run"].startswith("error:") and "hasn't been executed" in got["not_run"]
    assert got["bad_run"].startswith("error:")


async def test_expressions_never_reach_python_objects_through_the_proxy() -> None:
    got = await probe(
        {
            "dunder": "={{ $input.__class__ }}",
            "node_dunder": "={{ $('Rename').__dict__ }}",
            "ctor": "={{ $input.all.constructor }}",
        }
    )
    for value in got.values():
        assert value in (None, {}) or str(value).startswith("error:")


@pytest.mark.parametrize(
    ("trigger", "mode"),
    [
        (None, "test"),  # run by hand (tenantflow run, or a host that says nothing)
        ({"kind": "manual", "metadata": {}}, "test"),
        ({"kind": "webhook", "metadata": {"test": True}}, "test"),  # a test webhook URL
        ({"kind": "webhook", "metadata": {}}, "production"),
        ({"kind": "schedule", "metadata": {"tick": "2026-12-06T00:00:00+00:00"}}, "production"),
    ],
)
async def test_execution_mode_is_n8ns_test_or_production(trigger: dict[str, Any] | None, mode: str) -> None:
    context: dict[str, Any] = {"tenant": "t1"} if trigger is None else {"tenant": "t1", "trigger": trigger}
    seen = await probe(
        {"mode": "={{ $execution.mode }}", "id": "={{ typeof $execution.id }}"}, context=context
    )
    assert seen == {"mode": mode, "id": "string"}
