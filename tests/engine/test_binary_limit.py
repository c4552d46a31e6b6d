"""The per-execution binary cap: files count once however far they travel, and going over stops the run."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from tenantflow.engine import executor
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import DEFAULT_MAX_BINARY_BYTES, RunLimits, decoded_size, execute
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType

from .conftest import Trigger, chain, wf

pytestmark = pytest.mark.anyio


class File(NodeType):
    """Adds a new file of ``size`` bytes to every item, as ``binary[name]``."""

    type = "test.file"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        size, name = int(ctx.param("size", 0, 0)), str(ctx.param("name", 0, "data"))
        return [
            [{**item, "binary": {**item.get("binary", {}), name: _entry(bytes(size))}} for item in inputs[0]]
        ]


class Copy(NodeType):
    """Passes its items on as copies: ``deep`` copies, or ``json`` round-trips them (new base64 text)."""

    type = "test.copy"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        how = ctx.param("how", 0, "shallow")
        if how == "json":
            return [json.loads(json.dumps(inputs[0]))]
        if how == "deep":
            return [copy.deepcopy(inputs[0])]
        return [[{**item} for item in inputs[0]]]


def _entry(data: bytes) -> dict[str, Any]:
    return {"data": base64.b64encode(data).decode(), "mimeType": "application/octet-stream"}


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    for node_type in (Trigger, File, Copy):
        registry.register(node_type)
    return registry


async def run(
    registry: NodeRegistry, nodes: list[dict[str, Any]], cap: int | None, items: int = 1
) -> ExecutionRecord:
    names = [node["name"] for node in nodes]
    document = wf([{"name": "T", "type": "test.trigger"}, *nodes], chain("T", *names))
    return await execute(
        document,
        registry=registry,
        input_items=[{"json": {"n": n}} for n in range(items)],
        limits=RunLimits(max_binary_bytes=cap),
    )


def _copies(count: int, how: str = "shallow") -> list[dict[str, Any]]:
    return [{"name": f"C{i}", "type": "test.copy", "parameters": {"how": how}} for i in range(count)]


FILE = {"name": "F", "type": "test.file", "parameters": {"size": 1000}}


@pytest.mark.parametrize("how", ["shallow", "deep"])
async def test_a_file_passed_through_a_hundred_nodes_counts_once(registry: NodeRegistry, how: str) -> None:
    record = await run(registry, [FILE, *_copies(100, how)], cap=1500)
    assert record.status == "success", record.error
    assert (
        record.state["C99"].output[0][0]["binary"]["data"]["data"] == base64.b64encode(bytes(1000)).decode()
    )


async def test_going_over_the_cap_fails_the_execution_at_the_node_that_added_the_file(
    registry: NodeRegistry,
) -> None:
    second = {"name": "G", "type": "test.file", "parameters": {"size": 1000, "name": "other"}}
    record = await run(registry, [FILE, *_copies(3), second, *_copies(1)], cap=1500)
    assert record.status == "error"
    assert record.error is not None
    assert record.error["code"] == ErrorCode.BINARY_LIMIT and record.error["node"] == "G"
    assert "2000 bytes" in record.error["message"] and "1500" in record.error["message"]
    assert record.state["F"].status == "success"
    state = record.state["G"]
    assert (
        state.status == "error" and state.error is not None and state.error["code"] == ErrorCode.BINARY_LIMIT
    )
    assert "C3" not in record.state  # nothing runs after the node that went over
    assert record.metrics.failed_nodes == 1


async def test_every_item_and_every_run_of_a_file_node_counts(registry: NodeRegistry) -> None:
    assert (await run(registry, [FILE], cap=3000, items=3)).status == "success"
    record = await run(registry, [FILE], cap=2999, items=3)
    assert record.error is not None and record.error["code"] == ErrorCode.BINARY_LIMIT


async def test_new_base64_text_for_the_same_file_counts_again(registry: NodeRegistry) -> None:
    """A node that re-encodes its items holds a second copy of the file: that is memory the cap is for."""
    assert (await run(registry, [FILE, *_copies(1, "json")], cap=2000)).status == "success"
    record = await run(registry, [FILE, *_copies(2, "json")], cap=2000)
    assert record.error is not None and record.error["code"] == ErrorCode.BINARY_LIMIT
    assert record.error["node"] == "C1"


async def test_items_without_files_or_with_malformed_binary_are_not_counted(registry: NodeRegistry) -> None:
    document = wf([{"name": "T", "type": "test.trigger"}, *_copies(2)], chain("T", "C0", "C1"))
    odd: Items = [
        {"json": {}, "binary": "not an object"},
        {"json": {}, "binary": {"a": "no entry", "b": {"data": 42}, "c": {"mimeType": "text/plain"}}},
        {"json": {"binary": {"data": "QUJD"}}},
    ]
    record = await execute(document, registry=registry, input_items=odd, limits=RunLimits(max_binary_bytes=1))
    assert record.status == "success", record.error


async def test_without_a_host_limit_the_default_cap_applies(
    registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_MAX_BINARY_BYTES == 256 * 1024 * 1024 and RunLimits().max_binary_bytes is None
    monkeypatch.setattr(executor, "DEFAULT_MAX_BINARY_BYTES", 1500)  # the executor reads it when it counts
    assert (await run(registry, [FILE], cap=None)).status == "success"
    record = await run(registry, [FILE], cap=None, items=2)
    assert record.error is not None and record.error["code"] == ErrorCode.BINARY_LIMIT


def test_decoded_size_matches_decoding() -> None:
    for size in range(40):
        assert decoded_size(base64.b64encode(bytes(range(size))).decode()) == size
