"""Execute Workflow (v1 to v1.2) and its counterpart, the Execute Workflow Trigger (v1, v1.1).

The node hands the sub-workflow to ``ctx.execute_workflow``: the inline workflow document when ``source``
is ``parameter``, otherwise a ``{"source", "workflowId"}`` reference that the host's loader resolves (the
executor refuses clearly when the host configured none). Nested executions, their limits and their
records are the executor's business, not this node's: it validates an inline workflow as it would a stored
one, and runs every sub-execution inside the calling execution's node, time and depth budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import (
    BOOLEAN,
    JSON_TEXT_OR_VALUE,
    STRING,
    TriggerNode,
    first_input,
    object_schema,
    one_of,
    parse_json_param,
)

# The parameter holding the workflow's identifier for each loader-resolved source.
_REFERENCE_PARAMS = {"database": "workflowId", "localFile": "workflowPath", "url": "workflowUrl"}

# The execution tree's shared budget running out, passed up unwrapped (see tenantflow.engine.budget).
_BUDGET_CODES = frozenset({ErrorCode.EXECUTION_LIMIT, ErrorCode.EXECUTION_TIMEOUT})

# Sub-workflows started without waiting: kept referenced until done so they are not garbage-collected.
_DETACHED: set[asyncio.Task[list[Items]]] = set()


def workflow_source(ctx: NodeContext, index: int) -> dict[str, Any]:
    """What to run for item ``index``: an inline workflow document or a reference for the host's loader."""
    source = ctx.param("source", index, "database")
    if source == "parameter":
        return _inline_definition(parse_json_param(ctx.param("workflowJson", index, ""), "workflowJson"))
    if source not in _REFERENCE_PARAMS:
        raise NodeError(f"Unknown source {source!r}", code=ErrorCode.INVALID_PARAMETER)
    identifier = ctx.param(_REFERENCE_PARAMS[source], index, "")
    if isinstance(identifier, dict):  # v1.2 resource locator: {"__rl": true, "value": ..., "mode": ...}
        identifier = identifier.get("value")
    if identifier in (None, ""):
        raise NodeError(
            f"Parameter '{_REFERENCE_PARAMS[source]}' is empty",
            code=ErrorCode.INVALID_PARAMETER,
        )
    return {"source": source, "workflowId": str(identifier)}


def _inline_definition(raw: Any) -> dict[str, Any]:
    """The inline workflow document; the executor normalises and validates it like any other workflow."""
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        raise NodeError(
            "The workflow JSON must be an object with a 'nodes' array",
            code=ErrorCode.WORKFLOW_INVALID,
        )
    return raw


def _last_output(outputs: list[Items]) -> Items:
    """Output 0 of the sub-run's last node; a sub-run that produced nothing yields no items."""
    return list(outputs[0]) if outputs else []


def _paired_to(results: Items, input_count: int) -> Items:
    """n8n's pairing for a whole-batch sub-run, for items the sub-run could not pair with the input item
    they came from: same length pairs by position, else with every input item."""
    fallback = [{"item": i} for i in range(input_count)]
    return [
        result
        if "pairedItem" in result
        else {**result, "pairedItem": {"item": n} if len(results) == input_count else fallback}
        for n, result in enumerate(results)
    ]


async def _start_detached(ctx: NodeContext, source: Any, items: Items) -> None:
    """n8n's ``waitForSubWorkflow: false``: start the sub-run and move on. A stored workflow becomes an
    execution of its own where the host starts one (recorded, queued, surviving this one); otherwise it
    runs beside this execution, and its failure is only logged."""
    started = await ctx.start_workflow(source, items)
    if started is not None:
        ctx.log("info", "sub-workflow started without waiting", executionId=started)
        return
    task = asyncio.ensure_future(ctx.execute_workflow(source, items))
    _DETACHED.add(task)

    def finished(done: asyncio.Task[list[Items]]) -> None:
        _DETACHED.discard(done)
        if not done.cancelled() and done.exception() is not None:
            ctx.log("warn", "sub-workflow started without waiting failed", error=str(done.exception()))

    task.add_done_callback(finished)


class ExecuteWorkflow(NodeType):
    """Runs another workflow on the items, once for all of them or once per item."""

    type = "n8n-nodes-base.executeWorkflow"
    versions = (1, 1.1, 1.2)
    display_name = "Execute Workflow"
    description = "Runs another workflow and returns the output of its last node."
    aliases = ("executeWorkflow",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "source": one_of("database", "localFile", "parameter", "url"),
            "workflowId": {"type": ["string", "object"]},
            "workflowPath": STRING,
            "workflowUrl": STRING,
            "workflowJson": JSON_TEXT_OR_VALUE,
            "mode": one_of("once", "each"),
            "options": object_schema({"waitForSubWorkflow": BOOLEAN}),
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        if ctx.param("mode", 0, "once") == "each":
            return [await self._each(ctx, items)]
        return [await self._once(ctx, items)]

    async def _once(self, ctx: NodeContext, items: Items) -> Items:
        source = workflow_source(ctx, 0)
        if not ctx.param("options.waitForSubWorkflow", 0, True):
            await _start_detached(ctx, source, items)
            return items
        return _paired_to(_last_output(await ctx.execute_workflow(source, items)), len(items))

    async def _each(self, ctx: NodeContext, items: Items) -> Items:
        out: Items = []
        for index, item in enumerate(items):
            out.extend(await self._one_item(ctx, index, item))
        return out

    async def _one_item(self, ctx: NodeContext, index: int, item: Item) -> Items:
        source = workflow_source(ctx, index)
        if not ctx.param("options.waitForSubWorkflow", index, True):
            await _start_detached(ctx, source, [item])
            return [item]
        try:
            results = _last_output(await ctx.execute_workflow(source, [item]))
        except NodeError as exc:
            if exc.code in _BUDGET_CODES:  # the execution's own budget ran out: say that, at every level
                raise
            raise NodeError(
                f"Error executing workflow with item at index {index}",
                code=exc.code,
                status_code=exc.status_code,
                description=exc.message,
                details=exc.details,
            ) from exc
        return [{**result, "pairedItem": {"item": index}} for result in results]


class ExecuteWorkflowTrigger(TriggerNode):
    """Where a sub-workflow starts: emits the items the calling Execute Workflow node passed in."""

    type = "n8n-nodes-base.executeWorkflowTrigger"
    versions = (1, 1.1)
    display_name = "Execute Workflow Trigger"
    description = "Starts the workflow when another workflow runs it through Execute Workflow."
    aliases = ("executeWorkflowTrigger",)
    parameters_schema = object_schema({"inputSource": one_of("workflowInputs", "jsonExample", "passthrough")})


NODE_TYPES: list[type[NodeType]] = [ExecuteWorkflow, ExecuteWorkflowTrigger]
