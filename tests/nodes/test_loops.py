"""Split In Batches / Loop Over Items: batching, the node context n8n exposes, and each version's outputs."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import NodeError
from tenantflow.nodes.loops import SplitInBatchesNode


class Ctx:
    """A loop node's view: literal parameters plus node state that persists between runs."""

    def __init__(self, version: float, parameters: dict[str, Any]) -> None:
        self.node = NodeDefinition(
            id="s",
            name="Loop",
            type="n8n-nodes-base.splitInBatches",
            typeVersion=version,
            parameters=parameters,
        )
        self.node_state: dict[str, Any] = {}

    def param(self, path: str, item_index: int = 0, default: Any = None) -> Any:
        return self.node.parameters.get(path, default)


def numbered(count: int) -> list[dict[str, Any]]:
    return [{"json": {"i": i}} for i in range(count)]


async def drive(ctx: Ctx, items: list[dict[str, Any]], loop_output: int) -> list[list[list[dict[str, Any]]]]:
    """Run the node the way the executor does: each batch goes round the loop (tagged) and comes back."""
    node = SplitInBatchesNode()
    runs = [await node.run(ctx, [items])]  # type: ignore[arg-type]
    while runs[-1][loop_output] and len(runs) < 50:
        processed = [{"json": {**item["json"], "run": len(runs) - 1}} for item in runs[-1][loop_output]]
        runs.append(await node.run(ctx, [processed]))  # type: ignore[arg-type]
    return runs


@pytest.mark.anyio
async def test_v2_loops_batches_and_emits_all_processed_items_on_done() -> None:
    ctx = Ctx(2, {"batchSize": 3})
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
    runs = await drive(Ctx(3, {}), numbered(2), loop_output=1)
    assert [(len(done), len(loop)) for done, loop in runs] == [(0, 1), (0, 1), (2, 0)]


@pytest.mark.anyio
async def test_v1_has_one_output_and_reports_no_items_left() -> None:
    ctx = Ctx(1, {"batchSize": 2})
    node = SplitInBatchesNode()
    first = await node.run(ctx, [numbered(3)])  # type: ignore[arg-type]
    assert first == [numbered(2)]
    assert ctx.node_state["noItemsLeft"] is False
    second = await node.run(ctx, [first[0]])  # type: ignore[arg-type]
    assert second == [[{"json": {"i": 2}}]]
    assert ctx.node_state["noItemsLeft"] is True
    assert "processedItems" not in ctx.node_state
    assert await node.run(ctx, [second[0]]) == [[]]  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_reset_restarts_with_the_new_input() -> None:
    ctx = Ctx(2, {"batchSize": 1, "options": {"reset": True}})
    node = SplitInBatchesNode()
    await node.run(ctx, [numbered(3)])  # type: ignore[arg-type]
    again = await node.run(ctx, [[{"json": {"new": True}}]])  # type: ignore[arg-type]
    assert again == [[{"json": {"new": True}}], []]
    assert ctx.node_state["currentRunIndex"] == 0
    assert ctx.node_state["processedItems"] == []


@pytest.mark.anyio
async def test_reset_must_be_exactly_true() -> None:
    ctx = Ctx(2, {"batchSize": 1, "options": {"reset": "true"}})
    node = SplitInBatchesNode()
    await node.run(ctx, [numbered(2)])  # type: ignore[arg-type]
    assert (await node.run(ctx, [numbered(1)]))[0] == [{"json": {"i": 1}}]  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_empty_input_goes_straight_to_done() -> None:
    assert await SplitInBatchesNode().run(Ctx(3, {}), [[]]) == [[], []]  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("size", [0, -1, "abc"])
async def test_invalid_batch_size_is_a_node_error(size: Any) -> None:
    with pytest.raises(NodeError, match="Batch Size"):
        await SplitInBatchesNode().run(Ctx(2, {"batchSize": size}), [numbered(1)])  # type: ignore[arg-type]


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
