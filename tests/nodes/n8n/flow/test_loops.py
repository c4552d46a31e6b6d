"""Split In Batches / Loop Over Items: batching, the node context n8n exposes, and each version's outputs."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.context import NodeRunContext
from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import NodeError
from tenantflow.engine.executor import Execution
from tenantflow.nodes.n8n.flow.loops import SplitInBatchesNode
from tests.nodes.harness import NODE, REGISTRY, workflow


class Loop:
    """One Split In Batches node in a real execution, run by hand the way the executor drives loops:
    node state persists between runs because it lives in the execution."""

    def __init__(self, version: float, parameters: dict[str, Any]) -> None:
        document = workflow("n8n-nodes-base.splitInBatches", parameters, [], version=version)
        self.execution = Execution(document, registry=REGISTRY)
        self.runs = 0

    @property
    def node_state(self) -> dict[str, Any]:
        return self.execution.node_state(NODE)

    async def run(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        ctx = NodeRunContext(self.execution, self.execution.nodes[NODE], [items], self.runs)
        self.runs += 1
        return await SplitInBatchesNode().run(ctx, [items])


def numbered(count: int) -> list[dict[str, Any]]:
    return [{"json": {"i": i}} for i in range(count)]


async def drive(ctx: Loop, items: list[dict[str, Any]], loop_output: int) -> list[list[list[dict[str, Any]]]]:
    """Run the node the way the executor does: each batch goes round the loop (tagged) and comes back."""
    runs = [await ctx.run(items)]  # type: ignore[arg-type]
    while runs[-1][loop_output] and len(runs) < 50:
        processed = [{"json": {**item["json"], "run": len(runs) - 1}} for item in runs[-1][loop_output]]
        runs.append(await ctx.run(processed))  # type: ignore[arg-type]
    return runs


@pytest.mark.anyio
async def test_v2_loops_batches_and_emits_all_processed_items_on_done() -> None:
    ctx = Loop(2, {"batchSize": 3})
    runs = await drive(ctx, numbered(10), loop_output=0)
    assert [len(run[0]) for run in runs] == [3, 3, 3, 1, 0]
    assert all(run[1] == [] for run in runs[:-1])
    assert [item["json"] for item in runs[-1][1]] == [{"i": i, "run": i // 3} for i in range(10)]
    assert ctx.node_state["done"] is True
    assert ctx.node_state["noItemsLeft"] is True
    assert ctx.node_state["maxRunIndex"] == 4
    assert ctx.node_state["currentRunIndex"] == 4


@pytest.mark.anyio
async def test_v3_swaps_the_outputs_and_defaults_to_batches_of_one() -> None:
    runs = await drive(Loop(3, {}), numbered(2), loop_output=1)
    assert [(len(done), len(loop)) for done, loop in runs] == [(0, 1), (0, 1), (2, 0)]


@pytest.mark.anyio
async def test_v1_has_one_output_and_reports_no_items_left() -> None:
    ctx = Loop(1, {"batchSize": 2})
    first = await ctx.run(numbered(3))
    assert first == [numbered(2)]
    assert ctx.node_state["noItemsLeft"] is False
    second = await ctx.run(first[0])
    assert second == [[{"json": {"i": 2}}]]
    assert ctx.node_state["noItemsLeft"] is True
    assert "processedItems" not in ctx.node_state
    assert await ctx.run(second[0]) == [[]]  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_reset_restarts_with_the_new_input() -> None:
    ctx = Loop(2, {"batchSize": 1, "options": {"reset": True}})
    await ctx.run(numbered(3))
    again = await ctx.run([{"json": {"new": True}}])
    assert again == [[{"json": {"new": True}}], []]
    assert ctx.node_state["currentRunIndex"] == 0
    assert ctx.node_state["processedItems"] == []


@pytest.mark.anyio
async def test_reset_must_be_exactly_true() -> None:
    ctx = Loop(2, {"batchSize": 1, "options": {"reset": "true"}})
    await ctx.run(numbered(2))
    assert (await ctx.run(numbered(1)))[0] == [{"json": {"i": 1}}]  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_empty_input_goes_straight_to_done() -> None:
    assert await Loop(3, {}).run([]) == [[], []]  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("size", [0, -1, "abc"])
async def test_invalid_batch_size_is_a_node_error(size: Any) -> None:
    with pytest.raises(NodeError, match="Batch Size"):
        await Loop(2, {"batchSize": size}).run(numbered(1))


def test_loop_outputs_and_output_count_per_version() -> None:
    def definition(version: float) -> NodeDefinition:
        return NodeDefinition(id="s", name="S", type="n8n-nodes-base.splitInBatches", typeVersion=version)

    node = SplitInBatchesNode()
    assert node.is_loop
    assert [node.output_count(definition(v)) for v in (1, 2, 3)] == [1, 2, 2]
    assert [node.loop_outputs(definition(v)) for v in (1, 2, 3)] == [{0}, {0}, {1}]


def test_schema_accepts_expressions_for_reset() -> None:
    validator = jsonschema_rs.validator_for(SplitInBatchesNode().schema_for(2))
    assert validator.is_valid({"batchSize": 3, "options": {"reset": '={{ $node["X"].context["done"] }}'}})
    assert not validator.is_valid({"batchSize": "three"})
