"""Core nodes through the real executor, their parameter schemas, and n8n's own fixtures for them."""

from __future__ import annotations

import asyncio
import json
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.executor import Execution, execute
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import NodeRegistry, NodeType
from tenantflow.nodes.n8n import core
from tenantflow.nodes.n8n.core import parse_json_param

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "n8n-conformance"


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for node_type in core.NODE_TYPES:
        reg.register(node_type)
    return reg


def node(
    name: str, type_name: str, parameters: dict[str, Any] | None = None, version: float = 1
) -> dict[str, Any]:
    return {
        "name": name,
        "type": f"n8n-nodes-base.{type_name}",
        "typeVersion": version,
        "parameters": parameters or {},
    }


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A workflow whose nodes are connected one after the other."""
    connections = {
        a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]} for a, b in pairwise(nodes)
    }
    return {"nodes": list(nodes), "connections": connections}


def first_output(record: ExecutionRecord, name: str) -> list[dict[str, Any]]:
    return record.state[name].output[0]


TRIGGER = node("Trigger", "manualTrigger")


# --- triggers, NoOp, Test Data -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_manual_trigger_emits_one_empty_item_by_default() -> None:
    record = await execute(chain(TRIGGER, node("Pass", "noOp")), registry=registry())
    assert record.status == "success"
    # As n8n records them: every item a node receives knows its place (pairedItem), and passes it on.
    assert first_output(record, "Trigger") == [{"json": {}, "pairedItem": {"item": 0}}]
    assert first_output(record, "Pass") == [{"json": {}, "pairedItem": {"item": 0}}]


@pytest.mark.anyio
@pytest.mark.parametrize("trigger_type", ["manualTrigger", "start"])
async def test_triggers_emit_the_execution_input_items(trigger_type: str) -> None:
    items = [{"json": {"a": 1}}, {"json": {"a": 2}}]
    workflow = chain(node("Trigger", trigger_type), node("Pass", "noOp"))
    record = await execute(workflow, registry=registry(), input_items=items)
    assert first_output(record, "Pass") == [
        {**item, "pairedItem": {"item": i}} for i, item in enumerate(items)
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [[{"id": 1}, {"id": 2}], {"id": 1}, '[{"id": 1}, {"id": 2}]', '{"id": 1}'],
    ids=["array", "object", "array-text", "object-text"],
)
async def test_test_data_emits_its_data_and_ignores_its_input(data: Any) -> None:
    source = node("Data", "testData", {"data": data})
    source["type"] = "n8n-nodes-testing.testData"
    record = await execute(chain(TRIGGER, source), registry=registry(), input_items=[{"json": {"x": 1}}] * 3)
    expected = json.loads(data) if isinstance(data, str) else data
    expected = expected if isinstance(expected, list) else [expected]
    assert first_output(record, "Data") == [{"json": element} for element in expected]


def test_parse_json_param_reports_bad_json_as_invalid_parameter() -> None:
    assert parse_json_param({"a": 1}, "data") == {"a": 1}
    with pytest.raises(NodeError) as caught:
        parse_json_param("[1, 2", "data")
    assert caught.value.code == ErrorCode.INVALID_PARAMETER
    assert "data" in caught.value.message


# --- Stop and Error ------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"errorMessage": "Not a valid uuid"}, "Not a valid uuid"),
        ({"errorType": "errorObject", "errorObject": '{"message": "boom", "code": 7}'}, "boom"),
        (
            {"errorType": "errorObject", "errorObject": {"description": "only a description"}},
            "only a description",
        ),
        ({"errorType": "errorObject", "errorObject": '{"error": {"message": "nested"}}'}, "nested"),
        ({"errorType": "errorObject", "errorObject": '{"code": 7}'}, 'Error: {"code": 7}'),
    ],
)
async def test_stop_and_error_fails_the_run_with_the_users_message(
    parameters: dict[str, Any], message: str
) -> None:
    record = await execute(chain(TRIGGER, node("Stop", "stopAndError", parameters)), registry=registry())
    assert record.status == "error"
    assert record.state["Stop"].error is not None
    assert record.state["Stop"].error["message"] == message
    assert record.state["Stop"].error["code"] == ErrorCode.STOPPED_BY_NODE


@pytest.mark.anyio
async def test_stop_and_error_takes_the_error_path_under_continue_on_fail() -> None:
    stop = {**node("Stop", "stopAndError", {"errorMessage": "halt"}), "onError": "continueRegularOutput"}
    record = await execute(chain(TRIGGER, stop, node("After", "noOp")), registry=registry())
    assert record.status == "success"
    assert "halt" in json.dumps(first_output(record, "After"))


# --- Wait ----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_wait_sleeps_then_passes_the_items_on() -> None:
    items = [{"json": {"n": 1}}]
    wait = node("Wait", "wait", {"amount": 0.2, "unit": "seconds"}, version=1.1)
    started = time.monotonic()
    record = await execute(chain(TRIGGER, wait), registry=registry(), input_items=items)
    assert time.monotonic() - started >= 0.2
    assert record.status == "success"
    assert first_output(record, "Wait") == [{**items[0], "pairedItem": {"item": 0}}]


@pytest.mark.anyio
async def test_wait_ends_early_when_the_execution_is_aborted() -> None:
    wait = node("Wait", "wait", {"amount": 1, "unit": "hours"})
    execution = Execution(chain(TRIGGER, wait), registry=registry())
    task = asyncio.create_task(execution.run())
    await asyncio.sleep(0.1)
    execution.abort()
    record = await asyncio.wait_for(task, timeout=5)
    assert record.status == "aborted"


@pytest.mark.anyio
async def test_wait_refuses_resume_modes_it_cannot_do_yet() -> None:
    wait = node("Wait", "wait", {"resume": "={{ 'webhook' }}"})
    record = await execute(chain(TRIGGER, wait), registry=registry())
    assert record.status == "error"
    assert record.state["Wait"].error is not None
    assert "Resume mode 'webhook' is not supported yet" in record.state["Wait"].error["message"]


@pytest.mark.parametrize(
    ("amount", "unit", "seconds"),
    [(42, "seconds", 42), (1.5, "minutes", 90), (2, "hours", 7200), (1, "days", 86400)],
)
def test_wait_units(amount: float, unit: str, seconds: float) -> None:
    assert core._wait_seconds(amount, unit) == seconds


@pytest.mark.parametrize(("amount", "unit"), [(-1, "seconds"), ("soon", "seconds"), (1, "weeks")])
def test_wait_rejects_bad_amounts_and_units(amount: Any, unit: str) -> None:
    with pytest.raises(NodeError):
        core._wait_seconds(amount, unit)


# --- Sticky Note ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sticky_note_is_accepted_and_produces_nothing() -> None:
    workflow = chain(TRIGGER, node("Pass", "noOp"))
    workflow["nodes"].append(node("Note", "stickyNote", {"content": "## hi", "height": 200, "width": 300}))
    record = await execute(workflow, registry=registry())
    assert record.status == "success"
    assert first_output(record, "Pass") == [{"json": {}, "pairedItem": {"item": 0}}]
    sticky = core.StickyNote()
    assert await sticky.run(None, []) == []  # type: ignore[arg-type]


# --- schemas -------------------------------------------------------------------------------------------


def validator(node_type: type[NodeType], version: float) -> Any:
    return jsonschema_rs.Draft202012Validator(dict(node_type().schema_for(version)))


@pytest.mark.parametrize("node_type", core.NODE_TYPES)
def test_every_schema_compiles_for_every_version(node_type: type[NodeType]) -> None:
    for version in node_type.versions:
        assert validator(node_type, version).is_valid({"someFutureKey": 1})


@pytest.mark.parametrize(
    ("node_type", "parameters", "valid"),
    [
        (core.Wait, {"amount": 42, "unit": "seconds"}, True),
        (core.Wait, {"amount": "={{ $json.n }}", "unit": "={{ $json.unit }}"}, True),
        (core.Wait, {"resume": "webhook"}, False),
        (core.Wait, {"unit": "weeks"}, False),
        (core.Wait, {"amount": "42"}, False),
        (core.Wait, {"amount": -1}, False),
        (core.StopAndError, {"errorType": "errorObject", "errorObject": "{}"}, True),
        (core.StopAndError, {"errorType": "errorText"}, False),
        (core.TestData, {"data": [{"a": 1}]}, True),
        (core.TestData, {"data": 5}, False),
        (core.StickyNote, {"content": "x", "height": "tall"}, False),
    ],
)
def test_schemas_catch_real_mistakes(
    node_type: type[NodeType], parameters: dict[str, Any], valid: bool
) -> None:
    assert validator(node_type, node_type.versions[-1]).is_valid(parameters) is valid


def test_triggers_have_no_inputs_and_sticky_notes_no_ports() -> None:
    definition = Execution(chain(TRIGGER), registry=registry()).definition.nodes[0]
    assert core.ManualTrigger().input_count(definition) == 0
    assert core.ManualTrigger.is_trigger and core.Start.is_trigger
    assert core.StickyNote().input_count(definition) == 0
    assert core.StickyNote().output_count(definition) == 0


# --- n8n fixtures --------------------------------------------------------------------------------------


def _own_subgraphs() -> list[tuple[str, str]]:
    """(fixture, checked node) pairs whose node and every ancestor are core node types."""
    own = {t.type for t in core.NODE_TYPES}
    cases = []
    for path in sorted(FIXTURES.glob("**/*.json")):
        workflow = json.loads(path.read_text())
        if not isinstance(workflow, dict) or "nodes" not in workflow:
            continue
        types = {n["name"]: n["type"] for n in workflow["nodes"]}
        for name in workflow.get("pinData") or {}:
            ancestors = _ancestors(workflow, name)
            if all(types.get(n) in own for n in ancestors):
                cases.append((str(path.relative_to(FIXTURES)), name))
    return cases


def _ancestors(workflow: dict[str, Any], name: str) -> set[str]:
    parents: dict[str, set[str]] = {}
    for source, ports in workflow.get("connections", {}).items():
        for targets in ports.get("main", []):
            for target in targets or []:
                parents.setdefault(target["node"], set()).add(source)
    seen, frontier = set(), [name]
    while frontier:
        current = frontier.pop()
        if current not in seen:
            seen.add(current)
            frontier.extend(parents.get(current, ()))
    return seen


def _strip(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k not in ("pairedItem", "binary")} for item in items]


@pytest.mark.anyio
@pytest.mark.skipif(not FIXTURES.is_dir(), reason="n8n conformance corpus not present")
@pytest.mark.parametrize(("fixture", "checked"), _own_subgraphs() if FIXTURES.is_dir() else [])
async def test_n8n_fixture_nodes_built_from_core_nodes(fixture: str, checked: str) -> None:
    """The part of an n8n fixture made only of core nodes runs and yields the pinned items (n8n harness)."""
    workflow = json.loads((FIXTURES / fixture).read_text())
    keep = _ancestors(workflow, checked)
    workflow["nodes"] = [n for n in workflow["nodes"] if n["name"] in keep]
    workflow["connections"] = {
        source: {
            "main": [[t for t in targets or [] if t["node"] in keep] for targets in ports.get("main", [])]
        }
        for source, ports in workflow["connections"].items()
        if source in keep
    }
    expected = workflow.pop("pinData")[checked]
    record = await execute(workflow, registry=registry())
    assert record.status == "success"
    assert record.state[checked].runs == 1
    assert _strip(first_output(record, checked)) == _strip(expected)
