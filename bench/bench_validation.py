"""Validator benchmark: ms per ``validate`` call for a 500- and a 10,000-node workflow (median of runs).

Targets: 500 nodes ≤ 5 ms, 10,000 nodes ≤ 100 ms. Two inputs are timed: an already normalised
``WorkflowDefinition`` (the validator's own work) and the raw document, which adds ``parse_workflow``
(normalisation is part of validating a document; its time alone is the last column).
Run: ``python bench/bench_validation.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType
from tenantflow.engine.validation import validate


class _Passthrough(NodeType):
    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return inputs


class Trigger(_Passthrough):
    type = "bench.trigger"
    is_trigger = True


class NoOp(_Passthrough):
    type = "bench.noOp"


class SetNode(_Passthrough):
    type = "bench.set"
    versions = (1, 2)
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"value": {"type": "string"}},
        "required": ["value"],
    }


def workflow(size: int) -> dict[str, Any]:
    """A trigger, then a chain of no-ops with a Set node carrying one expression every 10th node."""
    nodes: list[dict[str, Any]] = []
    connections: dict[str, Any] = {}
    for i in range(size):
        node: dict[str, Any] = {"id": f"id-{i}", "name": f"node {i}", "typeVersion": 1, "position": [i, 0]}
        if i == 0:
            node |= {"type": Trigger.type, "parameters": {}}
        elif i % 10 == 0:
            node |= {"type": SetNode.type, "parameters": {"value": "={{ $json.x }}"}}
        else:
            node |= {"type": NoOp.type, "parameters": {}}
        nodes.append(node)
        if i:
            connections[f"node {i - 1}"] = {"main": [[{"node": node["name"], "type": "main", "index": 0}]]}
    return {"name": f"bench {size}", "nodes": nodes, "connections": connections}


def median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    registry = NodeRegistry()
    for node_type in (Trigger, NoOp, SetNode):
        registry.register(node_type)
    print(f"{'nodes':>6}  {'definition':>12}  {'raw document':>14}  {'(parse_workflow alone)':>22}")
    for size, runs in ((500, 51), (10_000, 11)):
        raw = workflow(size)
        definition = parse_workflow(raw)
        assert validate(definition, registry).valid  # also warms the schema and expression caches
        print(
            f"{size:>6}  {median_ms(partial(validate, definition, registry), runs):>9.2f} ms"
            f"  {median_ms(partial(validate, raw, registry), runs):>11.2f} ms"
            f"  {median_ms(partial(parse_workflow, raw), runs):>19.2f} ms"
        )


if __name__ == "__main__":
    main()
