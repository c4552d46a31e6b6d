"""Executor benchmarks (figures, not pass/fail): run with ``uv run python bench/bench_executor.py``.

- per-node overhead on a 1,000-node chain of noOp (target <= 10 us/node)
- a 1,000-wide fan-out / fan-in
- a 10,000-item Set with one expression per item
- a 10,000-item pipeline: MetaBuilder list.filter -> math.add per item, then n8n Sort on the sums
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from itertools import pairwise
from typing import Any

from tenantflow.engine.definition import WorkflowDefinition, parse_workflow
from tenantflow.engine.executor import execute
from tenantflow.engine.record import ExecutionRecord
from tenantflow.nodes import default_registry

REGISTRY = default_registry(plugins=False)


def node(name: str, type_: str, **parameters: Any) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "type": type_,
        "typeVersion": 1,
        "position": [0, 0],
        "parameters": parameters,
    }


def link(target: str) -> dict[str, Any]:
    return {"node": target, "type": "main", "index": 0}


def noop_chain(length: int) -> WorkflowDefinition:
    nodes = [node("Start", "n8n-nodes-base.manualTrigger")] + [
        node(f"N{i}", "n8n-nodes-base.noOp") for i in range(length)
    ]
    names = [n["name"] for n in nodes]
    connections = {a: {"main": [[link(b)]]} for a, b in pairwise(names)}
    return parse_workflow({"name": "chain", "nodes": nodes, "connections": connections})


def fan_out_in(width: int) -> WorkflowDefinition:
    branches = [f"B{i}" for i in range(width)]
    nodes = [node("Start", "n8n-nodes-base.manualTrigger"), node("Join", "n8n-nodes-base.noOp")]
    nodes += [node(b, "n8n-nodes-base.noOp") for b in branches]
    connections: dict[str, Any] = {"Start": {"main": [[link(b) for b in branches]]}}
    connections.update({b: {"main": [[link("Join")]]} for b in branches})
    return parse_workflow({"name": "fan", "nodes": nodes, "connections": connections})


def set_items() -> WorkflowDefinition:
    set_node = node(
        "Set",
        "n8n-nodes-base.set",
        values={"number": [{"name": "doubled", "value": "={{ $json.n * 2 }}"}]},
        options={},
    )
    nodes = [node("Start", "n8n-nodes-base.manualTrigger"), set_node]
    return parse_workflow(
        {"name": "set", "nodes": nodes, "connections": {"Start": {"main": [[link("Set")]]}}}
    )


def pipeline() -> WorkflowDefinition:
    """Each item holds ten numbers: keep those above its own cut, add them up, sort the items by the sum."""
    filter_node = node(
        "Keep large", "list.filter", array="={{ $json.values }}", condition="={{ item > $json.cut }}"
    )
    add_node = node("Add up", "math.add", values="={{ $json.result }}")
    sort_node = node("Sort", "n8n-nodes-base.sort", sortFieldsUi={"sortField": [{"fieldName": "result"}]})
    nodes = [node("Start", "n8n-nodes-base.manualTrigger"), filter_node, add_node, sort_node]
    names = [n["name"] for n in nodes]
    connections = {a: {"main": [[link(b)]]} for a, b in pairwise(names)}
    return parse_workflow({"name": "pipeline", "nodes": nodes, "connections": connections})


async def timed(make: Callable[[], Awaitable[ExecutionRecord]], repeat: int = 9) -> tuple[float, float]:
    """(best, median) wall seconds of ``repeat`` runs inside one event loop (no loop start-up cost).

    The best run is the figure to compare: on a shared 2-core machine the median mostly measures neighbours.
    """
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        record = await make()
        samples.append(time.perf_counter() - started)
        assert record.status == "success", record.error
    return min(samples), statistics.median(samples)


def report(label: str, timing: tuple[float, float], count: int, unit: str) -> None:
    best, median = timing
    print(
        f"{label:<34} best {best * 1000:7.1f} ms ({best * 1e6 / count:6.1f} us/{unit})"
        f"   median {median * 1000:7.1f} ms ({median * 1e6 / count:6.1f} us/{unit})"
    )


async def main() -> None:
    chain = noop_chain(1000)
    report("noOp chain, 1,000 nodes", await timed(lambda: execute(chain, registry=REGISTRY)), 1001, "node")
    fan = fan_out_in(1000)
    report("fan-out/fan-in, 1,000 wide", await timed(lambda: execute(fan, registry=REGISTRY)), 1002, "node")
    items = [{"json": {"n": i}} for i in range(10_000)]
    definition = set_items()
    timing = await timed(lambda: execute(definition, registry=REGISTRY, input_items=items))
    report("Set, 10,000 items, 1 expression", timing, 10_000, "item")
    rows = [{"json": {"values": [(i * 7 + k) % 10 for k in range(10)], "cut": i % 10}} for i in range(10_000)]
    flow = pipeline()
    timing = await timed(lambda: execute(flow, registry=REGISTRY, input_items=rows), repeat=5)
    report("filter > add > sort, 10,000 items", timing, 10_000, "item")


if __name__ == "__main__":
    # Like a long-running service after start-up: the registry and its schemas are permanent, so the
    # cyclic GC stops re-scanning them (gc.freeze) and only the executions' own objects are collected.
    gc.freeze()
    asyncio.run(main())
