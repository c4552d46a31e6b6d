"""Property: on random DAGs every reachable node runs exactly once, and only after all of its parents."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.executor import execute
from tenantflow.engine.graph import build_graph, reachable_from
from tenantflow.engine.sdk import NodeRegistry

from .conftest import TEST_TYPES, Echo, wf


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], list[float]]:
    size = draw(st.integers(min_value=2, max_value=25))
    edges = draw(
        st.lists(
            st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).filter(lambda e: e[0] < e[1]),
            max_size=size * 3,
            unique=True,
        )
    )
    delays = draw(st.lists(st.sampled_from([0.0, 0.0, 0.001, 0.003]), min_size=size, max_size=size))
    return size, edges, delays


def _document(size: int, edges: list[tuple[int, int]], delays: list[float]) -> dict[str, Any]:
    nodes = [{"name": "N0", "type": "test.trigger"}] + [
        {"name": f"N{i}", "type": "test.echo", "parameters": {"delay": delays[i]}} for i in range(1, size)
    ]
    connections: dict[str, Any] = {}
    for source, target in edges:
        outputs = connections.setdefault(f"N{source}", {"main": [[]]})["main"][0]
        outputs.append({"node": f"N{target}", "type": "main", "index": 0})
    return wf(nodes, connections, settings={"maxConcurrency": 4})


@settings(max_examples=60, deadline=None)
@given(dags())
def test_every_reachable_node_runs_once_after_its_parents(
    dag: tuple[int, list[tuple[int, int]], list[float]],
) -> None:
    size, edges, delays = dag
    registry = NodeRegistry()
    for node_type in TEST_TYPES:
        registry.register(node_type)
    Echo.calls.clear()
    record = asyncio.run(execute(_document(size, edges, delays), registry=registry))
    assert record.status == "success"
    order = ["N0", *Echo.calls]
    # N0 is the trigger, so only what it reaches runs; roots without a connection from it do not.
    graph = build_graph(parse_workflow(_document(size, edges, delays)), registry)
    reachable = reachable_from(graph, ["N0"])
    assert sorted(order) == sorted(reachable)
    assert len(order) == len(set(order))
    position = {name: i for i, name in enumerate(order)}
    for source, target in edges:
        if f"N{target}" in position and f"N{source}" in position:
            assert position[f"N{source}"] < position[f"N{target}"]
