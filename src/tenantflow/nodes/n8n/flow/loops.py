"""Split In Batches / Loop Over Items: feed a loop body one batch of items per run.

The node keeps its progress in ``ctx.node_state`` under n8n's node-context keys (``items``,
``processedItems``, ``currentRunIndex``, ``maxRunIndex``, ``noItemsLeft``, ``done``), because workflows
read them back through ``$node["Name"].context[...]`` to decide when a loop is finished.

Outputs per version: v1 has one output (the batch); v2 has ``loop`` (0) and ``done`` (1); v3 swaps them to
``done`` (0) and ``loop`` (1). From v2, the items that come back through the loop are collected and the
``done`` output emits all of them once no batch is left.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import to_integer, to_number
from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, NUMBER, first_input, object_schema


class SplitInBatchesNode(NodeType):
    """Split In Batches (v1, v2) and Loop Over Items (v3)."""

    cpu_only = True

    type = "n8n-nodes-base.splitInBatches"
    versions = (1, 2, 3)
    display_name = "Loop Over Items (Split in Batches)"
    description = "Split data into batches and iterate over each batch"
    aliases = ("splitInBatches", "loopOverItems")
    is_loop = True
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"batchSize": NUMBER, "options": object_schema({"reset": BOOLEAN})}
    )

    def output_count(self, node: NodeDefinition) -> int:
        return 1 if node.type_version < 2 else 2

    def loop_outputs(self, node: NodeDefinition) -> frozenset[int]:
        return frozenset({1}) if node.type_version >= 3 else frozenset({0})

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        version = ctx.node.type_version
        items = [dict(item) for item in first_input(inputs)]
        batch_size = self._batch_size(ctx, default=1 if version >= 3 else 10)
        state = ctx.node_state
        options = ctx.param("options", 0, {}) or {}
        source = ctx.input_source()
        if "items" not in state or options.get("reset") is True:
            batch = self._start(state, items, batch_size, collect=version >= 2)
            state["sourceData"] = source
        else:
            batch = self._next_batch(state, items, batch_size, collect=version >= 2, source=source)
        state["noItemsLeft"] = not state["items"]
        if version < 2:
            return [batch]
        state["done"] = not batch
        loop, done = (batch, []) if batch else ([], list(state["processedItems"]))
        return [done, loop] if version >= 3 else [loop, done]

    @staticmethod
    def _batch_size(ctx: NodeContext, default: int) -> int:
        raw = ctx.param("batchSize", 0, default)
        size = to_integer(raw)
        if not isinstance(size, int) or size < 1:
            raise NodeError(
                f"Batch Size must be a whole number of at least 1, got {raw!r}",
                code=ErrorCode.INVALID_PARAMETER,
            )
        return size

    @staticmethod
    def _start(state: dict[str, Any], items: Items, batch_size: int, *, collect: bool) -> Items:
        """First run (or reset): remember all input items and hand out the first batch."""
        state["currentRunIndex"] = 0
        state["maxRunIndex"] = math.ceil(len(items) / batch_size)
        state["items"] = items[batch_size:]
        if collect:
            state["processedItems"] = []
        return items[:batch_size]

    @staticmethod
    def _next_batch(
        state: dict[str, Any],
        returned: Items,
        batch_size: int,
        *,
        collect: bool,
        source: dict[str, Any] | None,
    ) -> Items:
        """A later run: the input is the processed batch coming back; hand out the next batch.

        Both the batch (items of the first run's input) and the processed items (of this run's) are emitted
        on some later run, so their ``pairedItem`` names the output they came from, as n8n's does."""
        state["currentRunIndex"] = int(to_number(state.get("currentRunIndex", 0))) + 1
        remaining = list(state["items"])
        state["items"] = remaining[batch_size:]
        if collect:
            processed = [{**item, "pairedItem": _from(source, index)} for index, item in enumerate(returned)]
            state["processedItems"] = [*state.get("processedItems", []), *processed]
        return [_handed_out(item, state.get("sourceData")) for item in remaining[:batch_size]]


def _from(source: dict[str, Any] | None, index: int) -> dict[str, Any]:
    return {"item": index} if source is None else {"item": index, "sourceOverwrite": source}


def _handed_out(item: dict[str, Any], source: dict[str, Any] | None) -> dict[str, Any]:
    """An item of the first run's input, pointing at where that input came from."""
    paired = item.get("pairedItem")
    if not isinstance(paired, dict) or not isinstance(paired.get("item"), int):
        return item
    return {**item, "pairedItem": _from(source, paired["item"])}


NODE_TYPES: list[type[NodeType]] = [SplitInBatchesNode]
