"""The per-execution item-data budgets: what node outputs hold together (executionLimits.maxMemoryMb) and
what one node run may output (maxDataSizeMb), both counted as the outputs serialise, shared references at
their full size, an item passed on counted once for what the execution holds."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantflow.engine.definition import DEFAULT_MAX_DATA_MB, DEFAULT_MAX_MEMORY_MB, parse_workflow
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import RunLimits, execute
from tenantflow.engine.outputs import DataMeter
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType

from .conftest import Loop, Trigger, chain, wf
from .memory_cap import address_space_cap

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


class Shared(NodeType):
    """One item holding ``count`` references to one new string of ``size`` characters."""

    type = "test.shared"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        size, count = int(ctx.param("size", 0, 0)), int(ctx.param("count", 0, 1))
        text = str(ctx.run_index) + "a" * size
        return [[{"json": {"value": [text] * count}}]]


class Pass(NodeType):
    """Its input items, as they are (what noOp, If and Filter do with the items they keep)."""

    type = "test.pass"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [inputs[0]]


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    for node_type in (Trigger, Shared, Pass, Loop):
        registry.register(node_type)
    return registry


def shared(name: str, size: int, count: int = 1) -> dict[str, Any]:
    return {"name": name, "type": "test.shared", "parameters": {"size": size, "count": count}}


def passes(count: int) -> list[dict[str, Any]]:
    return [{"name": f"P{i}", "type": "test.pass"} for i in range(count)]


async def run(
    registry: NodeRegistry, nodes: list[dict[str, Any]], limits: RunLimits | None = None, **document: Any
) -> ExecutionRecord:
    names = [node["name"] for node in nodes]
    return await execute(
        wf([{"name": "T", "type": "test.trigger"}, *nodes], chain("T", *names), **document),
        registry=registry,
        limits=limits,
    )


def assert_over(record: ExecutionRecord, node: str, setting: str) -> None:
    assert record.status == "error"
    assert record.error is not None
    assert record.error["code"] == ErrorCode.EXECUTION_LIMIT and record.error["node"] == node
    assert setting in record.error["message"] and f"'{node}'" in record.error["message"]
    state = record.state[node]
    assert state.status == "error" and state.output == []  # what went over is not kept, nor recorded


async def test_an_output_of_shared_references_fails_fast_and_records_small(registry: NodeRegistry) -> None:
    """1,000 references to one 10 MB string: 10 GB once written out. It used to hang while recorded."""
    started = time.monotonic()
    with address_space_cap(400 * MIB):
        record = await run(registry, [shared("Big", 10_000_000, 1000), *passes(1)])
    assert time.monotonic() - started < 2
    assert_over(record, "Big", "executionLimits.maxDataSizeMb")
    assert "P0" not in record.state
    assert len(json.dumps(record.to_dict(), default=str)) < 10_000


async def test_one_node_run_may_output_up_to_max_data_size_mb(registry: NodeRegistry) -> None:
    limits = {"executionLimits": {"maxDataSizeMb": 1}}
    assert (await run(registry, [shared("S", MIB - 100)], **limits)).status == "success"
    record = await run(registry, [shared("S", 300_000, 4)], **limits)
    assert_over(record, "S", "maxDataSizeMb")
    assert "1 MiB" in record.error["message"]  # type: ignore[index]


async def test_the_data_held_together_is_bounded_by_max_memory_mb(registry: NodeRegistry) -> None:
    nodes = [shared(f"S{i}", 300_000) for i in range(5)]
    limits = {"executionLimits": {"maxMemoryMB": 1}}  # the spelling is accepted too
    record = await run(registry, nodes, **limits)
    assert_over(record, "S3", "executionLimits.maxMemoryMb")
    assert record.state["S2"].status == "success"
    assert record.metrics.peak_memory <= MIB


async def test_items_passed_on_count_once_for_what_is_held(registry: NodeRegistry) -> None:
    """A hundred nodes that pass 600 KB on hold 600 KB, not 60 MB; each run still adds to dataProcessed."""
    record = await run(registry, [shared("S", 600_000), *passes(100)], executionLimits={"maxMemoryMb": 1})
    assert record.status == "success", record.error
    assert 600_000 < record.metrics.peak_memory < 610_000
    assert record.metrics.data_processed > 100 * 600_000


async def test_every_run_of_a_loop_counts(registry: NodeRegistry) -> None:
    """Each run's outputs stay in the execution (for $node references), so a loop's new data adds up."""
    nodes = [
        {"name": "T", "type": "test.trigger"},
        {"name": "L", "type": "test.loop"},
        shared("Body", 200_000),
    ]
    connections = {
        "T": {"main": [[{"node": "L", "type": "main", "index": 0}]]},
        "L": {"main": [[], [{"node": "Body", "type": "main", "index": 0}]]},
        "Body": {"main": [[{"node": "L", "type": "main", "index": 0}]]},
    }
    document = wf(nodes, connections, executionLimits={"maxMemoryMb": 1})
    items = [{"json": {"n": n}} for n in range(10)]
    record = await execute(document, registry=registry, input_items=items)
    assert record.error is not None and record.error["code"] == ErrorCode.EXECUTION_LIMIT
    assert record.error["node"] == "Body"


async def test_the_host_caps_what_a_workflow_asks_for(registry: NodeRegistry) -> None:
    host = RunLimits(max_data_bytes=100_000, max_memory_bytes=150_000)
    asks_more = {"executionLimits": {"maxDataSizeMb": 2048, "maxMemoryMb": 2048}}
    assert_over(await run(registry, [shared("S", 200_000)], host, **asks_more), "S", "maxDataSizeMb")
    record = await run(registry, [shared("S", 90_000), shared("U", 90_000)], host, **asks_more)
    assert_over(record, "U", "maxMemoryMb")


def test_the_defaults_and_bounds_of_the_settings() -> None:
    limits = parse_workflow(wf([{"name": "T", "type": "test.trigger"}], {})).limits
    assert (
        (limits.max_memory_mb, limits.max_data_mb)
        == (DEFAULT_MAX_MEMORY_MB, DEFAULT_MAX_DATA_MB)
        == (512, 100)
    )
    for bad in ({"maxMemoryMb": 0}, {"maxDataSizeMb": 4096}, {"maxMemoryMb": "lots"}):
        with pytest.raises(Exception, match="executionLimits"):
            parse_workflow(wf([{"name": "T", "type": "test.trigger"}], {}, executionLimits=bad))


def test_the_meter_counts_what_json_writes() -> None:
    text = "é\n" * 200
    outputs: list[Items] = [[{"json": {"a": [1, 2.5, None, True, text, text], "b": {"c": float("nan")}}}], []]
    written = json.dumps(outputs, separators=(",", ":"))
    meter = DataMeter()
    distinct = len(written) - len(json.dumps(text))  # the second reference is not new data
    assert meter.measure(outputs, 10**9) == len(written) and meter.new == distinct
    meter.keep()
    again = list(outputs)  # the same branches in a new outer list, as a node passing its input on returns
    assert meter.measure(again, 10**9) == len(written) and meter.new == len("[,]")  # only the new outer list
    meter.keep()
    assert meter.held == distinct + len("[,]")
    assert meter.measure(outputs, 100) > 100  # stops once over


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=24,
)
_ITEMS = st.lists(
    st.fixed_dictionaries(
        {"json": st.dictionaries(st.text(max_size=6), _VALUES, max_size=6)},
        optional={"pairedItem": st.fixed_dictionaries({"item": st.integers(0, 9)}), "binary": _VALUES},
    ),
    max_size=4,
)


@given(st.lists(_ITEMS, max_size=3), st.booleans())
def test_the_meter_counts_any_output_as_json_writes_it(outputs: list[Items], share: bool) -> None:
    if share and outputs:  # every item again: shared references, written (and counted) twice
        outputs = [*outputs, outputs[0] + outputs[0]]
    meter = DataMeter()
    assert meter.measure(outputs, 10**12) == len(json.dumps(outputs, separators=(",", ":")))
    meter.keep()
    again = [list(branch) for branch in outputs]  # the same items in new lists: only the lists are new
    assert meter.measure(again, 10**12) == len(json.dumps(outputs, separators=(",", ":")))
    assert meter.new == len(
        json.dumps([[0] * len(branch) for branch in outputs], separators=(",", ":"))
    ) - sum(len(branch) for branch in outputs)
