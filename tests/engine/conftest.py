"""Small node types that exercise the executor's rules without depending on the node library."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any, ClassVar

import pytest

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import NodeError
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType


class Trigger(NodeType):
    type = "test.trigger"
    is_trigger = True

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [inputs[0] if inputs else [{"json": {}}]]


class Echo(NodeType):
    """Passes input 0 through, tagging each item with ``tag`` (evaluated per item) when set."""

    type = "test.echo"
    calls: ClassVar[list[str]] = []

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        Echo.calls.append(ctx.node.name)
        delay = ctx.param("delay", 0, 0)
        if delay:
            await ctx.sleep(delay)
        out: Items = []
        for index, item in enumerate(inputs[0] if inputs else []):
            tag = ctx.param("tag", index)
            json = dict(item["json"])
            if tag is not None:
                json["path"] = [*item["json"].get("path", []), tag]
            out.append({"json": json})
        return [out]


class Branch(NodeType):
    """Two outputs: each item goes to output ``route`` (0 or 1, evaluated per item); other routes drop it."""

    type = "test.branch"

    def output_count(self, node: NodeDefinition) -> int:
        return 2

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        outputs: list[Items] = [[], []]
        for index, item in enumerate(inputs[0]):
            route = int(ctx.param("route", index, 0))
            if route in (0, 1):
                outputs[route].append(item)
        return outputs


class Fail(NodeType):
    """Fails its first ``times`` attempts (state kept in node_state), then passes items through."""

    type = "test.fail"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        seen = ctx.node_state.setdefault("attempts", 0) + 1
        ctx.node_state["attempts"] = seen
        if seen <= int(ctx.param("times", 0, 1_000_000)):
            raise NodeError(
                str(ctx.param("message", 0, "boom")),
                code=str(ctx.param("code", 0, "NODE_EXECUTION_FAILED")),
                status_code=ctx.param("status", 0),
            )
        return [inputs[0]]


class Merge2(NodeType):
    type = "test.merge"

    def input_count(self, node: NodeDefinition) -> int:
        return 2

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [[{"json": {**i["json"], "input": n}} for n, items in enumerate(inputs) for i in items]]


class Loop(NodeType):
    """A minimal batch loop: output 0 = done (all processed items), output 1 = next batch of one."""

    type = "test.loop"
    is_loop = True

    def output_count(self, node: NodeDefinition) -> int:
        return 2

    def loop_outputs(self, node: NodeDefinition) -> frozenset[int]:
        return frozenset({1})

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        state = ctx.node_state
        if "pending" not in state:
            state["pending"], state["done"] = list(inputs[0]), []
        else:
            state["done"].extend(inputs[0])
        if state["pending"]:
            return [[], [state["pending"].pop(0)]]
        return [state["done"], []]


class Concurrency(NodeType):
    """Sleeps briefly and records how many of its kind run at once."""

    type = "test.concurrency"
    active: ClassVar[int] = 0
    peak: ClassVar[int] = 0

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        Concurrency.active += 1
        Concurrency.peak = max(Concurrency.peak, Concurrency.active)
        try:
            await asyncio.sleep(float(ctx.param("delay", 0, 0.02)))
        finally:
            Concurrency.active -= 1
        return [inputs[0]]


class Api(NodeType):
    type = "test.api"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        ctx.count_api_call()
        ctx.log("info", "called", secret=ctx.param("token", 0))
        return [[{"json": {"token": ctx.param("token", 0)}}]]


TEST_TYPES: list[type[NodeType]] = [Trigger, Echo, Branch, Fail, Merge2, Loop, Concurrency, Api]


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    for node_type in TEST_TYPES:
        registry.register(node_type)
    Echo.calls.clear()
    Concurrency.active = Concurrency.peak = 0
    return registry


def wf(nodes: list[dict[str, Any]], connections: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Build an n8n-style document: nodes as {name, type, ...}; ids default to the name."""
    full = [{"id": n["name"], "typeVersion": 1, "position": [0, 0], "parameters": {}, **n} for n in nodes]
    return {"name": "test", "nodes": full, "connections": connections, **extra}


def chain(*names: str) -> dict[str, Any]:
    """Connections a -> b -> c on main output 0 / input 0."""
    return {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in pairwise(names)}
