"""The JavaScript Code node through the real executor: n8n semantics, then the sandbox's walls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tenantflow.conformance import run_fixture
from tenantflow.engine.executor import execute
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.nodes import default_registry
from tenantflow.nodes.n8n.code import CodeNode, SandboxLimits, run_js_comparator_sort
from tests.nodes.harness import NODE, NodeRun, run_node, workflow

CODE = "n8n-nodes-base.code"
FIXTURES = Path("/work/shared/n8n-conformance")
ROWS = [{"value": 1}, {"value": 2}]


def _tight_registry() -> NodeRegistry:
    """The default registry with a Code node limited to one second and 64 MB, for the limit tests."""
    registry = default_registry(plugins=False)
    registry.register(CodeNode(SandboxLimits(timeout=1, max_memory_mb=64)))
    return registry


async def _run_code(code: str, rows: list[Any] = ROWS, **parameters: Any) -> NodeRun:
    return await run_node(CODE, {"jsCode": code, **parameters}, rows, version=2)


# --- n8n behaviour ------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fixture", ["Code/Code.workflow.json", "Code/workflow.do_not_obfuscate_validation_error.json"]
)
async def test_conformance_fixtures_pass(fixture: str) -> None:
    result = await run_fixture(FIXTURES / fixture, default_registry(plugins=False))
    assert result.status == "pass", result.reason


@pytest.mark.anyio
async def test_all_items_mode_wraps_plain_objects_and_sees_every_helper() -> None:
    code = """
      const all = $input.all();
      return [{ n: all.length, first: $input.first().json.value, last: $input.last().json.value,
                legacy: items.length, run: $runIndex, current: $json.value }];
    """
    run = await _run_code(code)
    assert run.json() == [[{"n": 2, "first": 1, "last": 2, "legacy": 2, "run": 0, "current": 1}]]


@pytest.mark.anyio
async def test_each_item_mode_sets_paired_item_and_drops_null_results() -> None:
    code = "if ($json.value === 2) return null; return { json: { double: $json.value * 2, i: $itemIndex } };"
    run = await _run_code(code, mode="runOnceForEachItem")
    assert run.outputs == [[{"json": {"double": 2, "i": 0}, "pairedItem": {"item": 0}}]]


@pytest.mark.anyio
async def test_helpers_can_be_redeclared_like_in_n8n() -> None:
    run = await _run_code("const items = $input.all(); let $json = 5; return items.map(i => ({ v: $json }));")
    assert run.json() == [[{"v": 5}, {"v": 5}]]


@pytest.mark.anyio
async def test_dollar_reads_other_nodes_outputs() -> None:
    run = await _run_code("return $('Input 0').all().map(i => ({ seen: i.json.value }));")
    assert run.json() == [[{"seen": 1}, {"seen": 2}]]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "mode", "message"),
    [
        ("return 1;", "runOnceForAllItems", "Code doesn't return items properly"),
        ("return [1];", "runOnceForAllItems", "Code doesn't return items properly"),
        ("return [{json: {}, foo: 1}];", "runOnceForAllItems", "Unknown top-level item key: foo [item 0]"),
        ("return [{json: {}}, {binary: {}}];", "runOnceForAllItems", "Inconsistent item format"),
        ("return [{a: 1}];", "runOnceForEachItem", "Code doesn't return a single object [item 0]"),
        ("return 'x';", "runOnceForEachItem", "Code doesn't return an object [item 0]"),
        ("if ($itemIndex === 1) throw new Error('bad');", "runOnceForEachItem", "bad [item 1]"),
        ("return [{}", "runOnceForAllItems", "SyntaxError"),
        ("return undefinedName;", "runOnceForAllItems", "ReferenceError: undefinedName is not defined"),
    ],
)
async def test_bad_results_and_exceptions_are_node_errors(code: str, mode: str, message: str) -> None:
    error = (await _run_code(code, mode=mode)).error
    assert message in error["message"]
    assert error["code"] == "CODE_ERROR"


# --- the sandbox --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("require('fs'); return [];", "require is not defined"),
        ("return [{ env: process.env }];", "process is not defined"),
        ("await fetch('http://169.254.169.254/'); return [];", "fetch is not defined"),
        (
            "return [{ p: globalThis.constructor.constructor('return process')().env }];",
            "process is not defined",
        ),
        ("return [{ w: WebAssembly }];", "WebAssembly is not defined"),
    ],
)
async def test_host_capabilities_are_absent(code: str, message: str) -> None:
    error = (await _run_code(code)).error
    assert message in error["message"]


async def _run_tight(code: str) -> NodeRun:
    document = workflow(CODE, {"jsCode": code}, ROWS, version=2)
    return NodeRun(await execute(document, registry=_tight_registry()))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        ("while (true) {}", "TIMEOUT"),
        ("await new Promise((resolve) => setTimeout(resolve, 60000));", "TIMEOUT"),
        ("await new Promise(() => { while (true) {} });", "TIMEOUT"),
        ("const x = []; for (;;) x.push(new Array(1e6).fill(x.length));", "LIMIT_EXCEEDED"),
        ("new Array(1e9).fill(1); return [];", None),
        ("'a'.repeat(2 ** 29); return [];", None),
    ],
)
async def test_runaway_scripts_end_in_bounded_time_and_the_next_run_works(code: str, error_code: str) -> None:
    started = time.monotonic()
    error = (await _run_tight(code)).error
    assert time.monotonic() - started < 10
    assert error_code is None or error["code"] == error_code
    assert error["code"] in {"TIMEOUT", "LIMIT_EXCEEDED", "CODE_ERROR"}
    assert (await _run_tight("return [{ ok: true }];")).json() == [[{"ok": True}]]


@pytest.mark.anyio
async def test_timers_work_within_the_time_limit() -> None:
    run = await _run_code("await new Promise((resolve) => setTimeout(resolve, 10)); return [{ done: true }];")
    assert run.json() == [[{"done": True}]]


@pytest.mark.anyio
async def test_no_state_leaks_between_executions() -> None:
    first = await _run_code("globalThis.leak = 42; Object.prototype.polluted = 1; return [{ set: true }];")
    second = await _run_code("return [{ leak: typeof leak, polluted: typeof ({}).polluted }];")
    assert first.json() == [[{"set": True}]]
    assert second.json() == [[{"leak": "undefined", "polluted": "undefined"}]]


@pytest.mark.anyio
async def test_input_items_are_copies() -> None:
    document = workflow(CODE, {"jsCode": "$input.first().json.value = 99; return [];"}, ROWS, version=2)
    record = await execute(document, registry=default_registry(plugins=False))
    assert record.state["Input 0"].output == [[{"json": {"value": 1}}, {"json": {"value": 2}}]]
    assert record.state[NODE].output == [[]]


@pytest.mark.anyio
async def test_console_output_goes_to_the_execution_log() -> None:
    run = await _run_code("console.log('hello', { a: 1 }); return [];")
    assert any('hello {"a":1}' in str(entry) for entry in run.record.logs)


# --- the Sort node's comparator ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_comparator_sort_keeps_whole_items() -> None:
    items = [{"json": {"id": 3}, "pairedItem": {"item": 0}}, {"json": {"id": 1}, "pairedItem": {"item": 1}}]
    code = "fieldName = 'id'; return a.json[fieldName] - b.json[fieldName];"
    assert await run_js_comparator_sort(items, code) == [items[1], items[0]]


@pytest.mark.anyio
async def test_comparator_errors_are_node_errors() -> None:
    from tenantflow.engine.errors import NodeError

    with pytest.raises(NodeError, match="boom"):
        await run_js_comparator_sort([{"json": {}}, {"json": {}}], "throw new Error('boom')")


# --- the legacy Function nodes -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_function_node_wraps_plain_objects_and_sees_items() -> None:
    code = "items[0].json.seen = items.length; return items;"
    run = await run_node("n8n-nodes-base.function", {"functionCode": code}, ROWS)
    assert run.json() == [[{"value": 1, "seen": 2}, {"value": 2}]]
    plain = await run_node("n8n-nodes-base.function", {"functionCode": "return { success: true };"}, ROWS)
    assert plain.json() == [[{"success": True}]]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("return 5;", "Always an Array of items has to be returned!"),
        ("return [{ json: 5 }];", "The json-property has to be an object!"),
        ("throw new Error('Incorrect data');", "Incorrect data"),
    ],
)
async def test_function_node_errors(code: str, message: str) -> None:
    error = (await run_node("n8n-nodes-base.function", {"functionCode": code}, ROWS)).error
    assert error["message"] == message


@pytest.mark.anyio
async def test_function_item_node_gets_json_as_item() -> None:
    code = "item.double = item.value * 2; return item;"
    run = await run_node("n8n-nodes-base.functionItem", {"functionCode": code}, ROWS)
    assert run.outputs == [
        [
            {"json": {"value": 1, "double": 2}, "pairedItem": {"item": 0}},
            {"json": {"value": 2, "double": 4}, "pairedItem": {"item": 1}},
        ]
    ]


@pytest.mark.anyio
async def test_function_item_node_must_return_an_object() -> None:
    error = (await run_node("n8n-nodes-base.functionItem", {"functionCode": "return;"}, ROWS)).error
    assert error["message"] == "No data got returned. Always an object has to be returned! [item 0]"
