"""The Code node in Python: n8n's Python names, result rules and errors, through the executor."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.executor import Execution
from tests.nodes.harness import REGISTRY, NodeRun, run_node, workflow

pytestmark = pytest.mark.anyio

CODE = "n8n-nodes-base.code"
ROWS = [{"value": 1, "name": "a"}, {"value": 2, "name": "b"}]


async def run_python(code: str, rows: list[Any] = ROWS, **parameters: Any) -> NodeRun:
    return await run_node(CODE, {"language": "python", "pythonCode": code, **parameters}, rows, version=2)


async def test_all_items_mode_sees_input_items_as_dicts_with_attribute_access() -> None:
    code = """
items = _input.all()
return [{"n": len(items), "first": _input.first().json.value, "last": _input.last()["json"]["value"],
         "legacy": len(_items), "run": _runIndex, "current": _json["value"],
         "names": [i.json.name for i in items]}]
"""
    run = await run_python(code)
    assert run.json() == [
        [{"n": 2, "first": 1, "last": 2, "legacy": 2, "run": 0, "current": 1, "names": ["a", "b"]}]
    ]


async def test_each_item_mode_pairs_items_and_drops_none() -> None:
    code = """
if _json.value == 2:
    return None
return {"json": {"double": _input.item.json.value * 2, "i": _itemIndex}}
"""
    run = await run_python(code, mode="runOnceForEachItem")
    assert run.outputs == [[{"json": {"double": 2, "i": 0}, "pairedItem": {"item": 0}}]]


async def test_input_item_is_the_first_item_when_run_for_all_items() -> None:
    run = await run_python("return [{'name': _input.item.json.name, 'each': _item}]")
    assert run.json() == [[{"name": "a", "each": None}]]


async def test_python_native_is_the_same_language() -> None:
    run = await run_python("return {'ok': True}", language="pythonNative")
    assert run.json() == [[{"ok": True}]]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return [{'a': 1}, {'a': 2}]", [{"a": 1}, {"a": 2}]),
        ("return [{'json': {'a': 1}}]", [{"a": 1}]),
        ("return {'a': 1}", [{"a": 1}]),
        ("return _input.all()", ROWS),
    ],
)
async def test_result_shapes_n8n_accepts(code: str, expected: list[Any]) -> None:
    assert (await run_python(code)).json() == [expected]


async def test_items_changed_in_place_are_returned_like_in_n8n() -> None:
    code = """
for i, item in enumerate(_input.all()):
    _input.all()[i].json.restoreEmail = f"{item.json.name}@example.com"
return _input.all()
"""
    run = await run_python(code)
    assert [row["restoreEmail"] for row in run.json()[0]] == ["a@example.com", "b@example.com"]


async def test_other_nodes_are_read_with_underscore_and_paired_items() -> None:
    code = """
node = _('Input 0')
return [{"all": [i.json.value for i in node.all()], "first": node.first().json.name,
         "last": node.last().json.name, "matching": node.itemMatching(1).json.value,
         "executed": node.isExecuted}]
"""
    run = await run_python(code)
    assert run.json() == [[{"all": [1, 2], "first": "a", "last": "b", "matching": 2, "executed": True}]]
    each = await run_python("return {'mine': _('Input 0').item.json.name}", mode="runOnceForEachItem")
    assert each.json() == [[{"mine": "a"}, {"mine": "b"}]]
    missing = await run_python("return _('Nope').all()")
    assert "Referenced node doesn't exist" in missing.error["message"]


async def test_allowed_standard_library_modules_work() -> None:
    code = """
import base64, datetime, hashlib, hmac, json, random, re, statistics, uuid, time
from collections import Counter
stamp = datetime.datetime.strptime("2024-03-01 10:20", "%Y-%m-%d %H:%M")
return [{
    "day": stamp, "sha": hashlib.sha256(b"x").hexdigest()[:8],
    "mac": hmac.new(b"k", b"m", hashlib.sha1).hexdigest()[:8], "b64": base64.b64encode(b"hi").decode(),
    "mean": statistics.mean([1, 2, 3]), "words": Counter(re.findall(r"\\w+", "a b a"))["a"],
    "uuid": len(str(uuid.uuid4())), "rand": 0 <= random.random() < 1, "now": time.time() > 0,
    "dumped": json.dumps({"k": [1]}), "utf16": "é".encode("utf-16").hex(),
    "jp": _jmespath({"a": [1, 2]}, "a[1]"),
    "today": _today <= _now,
}]
"""
    run = await run_python(code)
    assert run.json() == [
        [
            {
                "day": "2024-03-01T10:20:00",
                "sha": "2d711642",
                "mac": "772b71c8",
                "b64": "aGk=",
                "mean": 2,
                "words": 2,
                "uuid": 36,
                "rand": True,
                "now": True,
                "dumped": '{"k": [1]}',
                "utf16": "fffee900",
                "jp": 2,
                "today": True,
            }
        ]
    ]


async def test_print_goes_to_the_execution_log() -> None:
    run = await run_python("print('hello', {'a': 1})\nprint('partial', end='')\nreturn []")
    lines = [str(entry) for entry in run.record.logs]
    assert any("hello {'a': 1}" in line for line in lines)
    assert any("partial" in line for line in lines)


async def test_log_lines_are_capped_at_100() -> None:
    run = await run_python("for i in range(500):\n    print('line', i)\nreturn []")
    assert sum("line " in str(entry) for entry in run.record.logs) == 100


@pytest.mark.parametrize(
    ("code", "mode", "message"),
    [
        ("return 1", "runOnceForAllItems", "Code doesn't return items properly"),
        ("return [1]", "runOnceForAllItems", "Code doesn't return items properly"),
        ("return [{'json': {}, 'foo': 1}]", "runOnceForAllItems", "Unknown top-level item key: foo [item 0]"),
        ("return [{'a': 1}]", "runOnceForEachItem", "Code doesn't return a single object [item 0]"),
        ("return 'x'", "runOnceForEachItem", "Code doesn't return an object [item 0]"),
        ("if _itemIndex == 1:\n    raise ValueError('bad')\nreturn {}", "runOnceForEachItem", "bad [item 1]"),
        ("return [{", "runOnceForAllItems", "SyntaxError"),
        ("return undefined_name", "runOnceForAllItems", "NameError: name 'undefined_name' is not defined"),
        ("import os", "runOnceForAllItems", "ImportError: Import of module 'os' is not allowed"),
        ("from scipy.sparse import coo_array", "runOnceForAllItems", "module 'scipy.sparse' is not allowed"),
        ("return [{'x': object()}]", "runOnceForAllItems", "Object of type object is not JSON serializable"),
        (
            "return [{'x': float('nan')}]",
            "runOnceForAllItems",
            "Out of range float values are not JSON compliant",
        ),
        ("return [{'home': _env['HOME']}]", "runOnceForAllItems", "access to env vars denied"),
        ("import asyncio", "runOnceForAllItems", "not allowed"),
    ],
)
async def test_bad_results_and_exceptions_are_code_errors(code: str, mode: str, message: str) -> None:
    error = (await run_python(code, mode=mode)).error
    assert message in error["message"]
    assert error["code"] == "CODE_ERROR"


async def test_the_traceback_names_the_users_line() -> None:
    error = (await run_python("x = 1\n\ndef f():\n    return 1 / 0\n\nreturn [f()]")).error
    assert error["message"] == "ZeroDivisionError: division by zero"
    assert "line 4, in f" in error["description"] and "return 1 / 0" in error["description"]


async def test_static_data_is_kept_between_executions() -> None:
    counter = "data = _getWorkflowStaticData('global')\ndata['count'] = data.get('count', 0) + 1\n"
    counter += "return [dict(data)]"
    parameters = {"language": "python", "pythonCode": counter}
    static: dict[str, Any] = {}
    for expected in (1, 2):
        execution = Execution(
            workflow(CODE, parameters, [{"n": 1}], version=2), registry=REGISTRY, static_data=static
        )
        record = await execution.run()
        assert record.state["Node"].output[0][0]["json"] == {"count": expected}
        static = execution.static_data
