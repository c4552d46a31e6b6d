"""Set (Edit Fields): lodash path helpers, every version's field handling and n8n's type conversion."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import NodeError
from tenantflow.engine.expressions.values import UNDEFINED
from tenantflow.nodes.transform import SetNode, get_path, parse_path, set_path, unset_path

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "n8n-conformance"
_JSON_PATH = re.compile(r"""=\{\{\s*\$json(?:\.([\w.]+)|\["(\w+)"\])\s*\}\}""")
_LITERALS = {"={{ null }}": None, "={{ undefined }}": UNDEFINED}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Ctx:
    """Just enough of NodeContext for Set: parameters, with ``={{ $json.a.b }}`` evaluated per item."""

    def __init__(self, version: float, parameters: dict[str, Any], items: list[dict[str, Any]]) -> None:
        self.node = NodeDefinition(
            id="n", name="Set", type="n8n-nodes-base.set", typeVersion=version, parameters=parameters
        )
        self.items = items

    def raw_param(self, path: str, default: Any = None) -> Any:
        value: Any = self.node.parameters
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value

    def param(self, path: str, item_index: int = 0, default: Any = None) -> Any:
        return self.evaluate(self.raw_param(path, default), item_index)

    def evaluate(self, value: Any, item_index: int = 0) -> Any:
        if isinstance(value, dict):
            return {k: self.evaluate(v, item_index) for k, v in value.items()}
        if isinstance(value, list):
            return [self.evaluate(v, item_index) for v in value]
        if not isinstance(value, str) or not value.startswith("="):
            return value
        if value in _LITERALS:
            return _LITERALS[value]
        match = _JSON_PATH.fullmatch(value)
        if not match:
            return value[1:]
        return get_path(self.items[item_index]["json"], match.group(1) or match.group(2))


async def run_set(version: float, parameters: dict[str, Any], items: list[dict[str, Any]]) -> list[Any]:
    out = await SetNode().run(Ctx(version, parameters, items), [items])  # type: ignore[arg-type]
    return [item["json"] for item in out[0]]


# --- lodash paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("a", ["a"]),
        ("a.b.c", ["a", "b", "c"]),
        ("list[1]", ["list", "1"]),
        ("a[0].b", ["a", "0", "b"]),
        ('a["x.y"]', ["a", "x.y"]),
        (".a", ["", "a"]),
        ("a.", ["a", ""]),
    ],
)
def test_parse_path_splits_like_lodash(path: str, keys: list[str]) -> None:
    assert parse_path(path) == keys


def test_parse_path_keeps_an_existing_dotted_key_whole() -> None:
    assert parse_path("a.b", {"a.b": 1}) == ["a.b"]


def test_set_path_creates_lists_for_index_keys_and_pads_holes() -> None:
    data: dict[str, Any] = {"list": ["foo"]}
    set_path(data, "list[3]", 1)
    set_path(data, "new[1].x", True)
    assert data == {"list": ["foo", None, None, 1], "new": [None, {"x": True}]}


def test_set_path_replaces_scalars_on_the_way_and_refuses_prototype_keys() -> None:
    data: dict[str, Any] = {"a": "text"}
    set_path(data, "a.b", 1)
    set_path(data, "__proto__.x", 1)
    assert data == {"a": {"b": 1}}


def test_get_and_unset_path() -> None:
    data = {"a": {"b": [10, 20]}, "s": "abc"}
    assert get_path(data, "a.b[1]") == 20
    assert get_path(data, "s.length") == 3
    assert get_path(data, "a.missing.deeper") is UNDEFINED
    unset_path(data, "a.b[0]")
    unset_path(data, "s")
    assert data == {"a": {"b": [None, 20]}}


# --- v1 / v2 ---------------------------------------------------------------------------------------------

LEGACY_VALUES = {
    "string": [{"name": "nested.string", "value": "foo"}],
    "boolean": [{"name": "nested.boolean", "value": "false"}],
    "number": [{"name": "nested.number", "value": "12"}],
}
INPUT = [{"json": {"nested": {"foo": "bar"}, "list": ["foo"]}}]


@pytest.mark.anyio
async def test_v1_writes_dotted_names_into_objects_and_booleans_are_js_truthy() -> None:
    out = await run_set(1, {"values": LEGACY_VALUES}, INPUT)
    assert out == [
        {"nested": {"foo": "bar", "string": "foo", "boolean": True, "number": "12"}, "list": ["foo"]}
    ]


@pytest.mark.anyio
async def test_v2_turns_numeric_strings_into_numbers() -> None:
    out = await run_set(2, {"values": LEGACY_VALUES, "keepOnlySet": True}, INPUT)
    assert out == [{"nested": {"string": "foo", "boolean": True, "number": 12}}]


@pytest.mark.anyio
async def test_legacy_dot_notation_off_and_default_field_name() -> None:
    params = {
        "values": {"string": [{"name": "a.b", "value": "x"}, {"value": "y"}]},
        "options": {"dotNotation": False},
    }
    assert await run_set(1, params, [{"json": {}}]) == [{"a.b": "x", "propertyName": "y"}]


@pytest.mark.anyio
async def test_legacy_keeps_binary_unless_keep_only_set() -> None:
    item = {"json": {}, "binary": {"file": {"data": "x", "mimeType": "text/plain"}}}
    kept = await SetNode().run(Ctx(1, {}, [item]), [[item]])  # type: ignore[arg-type]
    dropped = await SetNode().run(Ctx(1, {"keepOnlySet": True}, [item]), [[item]])  # type: ignore[arg-type]
    assert kept[0][0]["binary"] == item["binary"]
    assert "binary" not in dropped[0][0]


# --- v3+: conversion -------------------------------------------------------------------------------------


def fields(*entries: tuple[str, str, Any]) -> dict[str, Any]:
    return {"fields": {"values": [{"name": n, "type": t, t: v} for n, t, v in entries]}, "include": "none"}


def assignments(*entries: tuple[str, str, Any]) -> dict[str, Any]:
    return {"assignments": {"assignments": [{"name": n, "type": t, "value": v} for n, t, v in entries]}}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        ("number", " ", 0),
        ("number", "0x10", 16),
        ("number", True, 1),
        ("number", [5], 5),
        ("boolean", "TRUE", True),
        ("boolean", "0", False),
        ("boolean", 1, True),
        ("array", "['a', 'b']", ["a", "b"]),
        ("object", '{"a": {"b": 1}}', {"a": {"b": 1}}),
        ("object", "null", None),
        ("string", {"a": [1, 2]}, '{"a":[1,2]}'),
        ("string", 1.5, "1.5"),
    ],
)
async def test_v3_3_converts_like_n8n(field_type: str, value: Any, expected: Any) -> None:
    assert await run_set(3.3, assignments(("f", field_type, value)), [{"json": {}}]) == [{"f": expected}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field_type", "value", "message"),
    [
        ("number", "hello", "'f' expects a number but we got 'hello' [item 0]"),
        ("boolean", "3", "'f' expects a boolean but we got '3' [item 0]"),
        ("array", "3", "'f' expects a array but we got '3' [item 0]"),
        ("object", [1], "'f' expects a object but we got array [item 0]"),
    ],
)
async def test_conversion_failures_raise_n8n_messages(field_type: str, value: Any, message: str) -> None:
    with pytest.raises(NodeError) as caught:
        await run_set(3.3, assignments(("f", field_type, value)), [{"json": {}}])
    assert caught.value.message == message
    assert "Ignore Type Conversion Errors" in (caught.value.description or "")


@pytest.mark.anyio
async def test_ignore_conversion_errors_keeps_the_original_value() -> None:
    params = {
        **assignments(("n", "number", "hello"), ("b", "boolean", 52)),
        "options": {"ignoreConversionErrors": True},
    }
    assert await run_set(3.3, params, [{"json": {}}]) == [{"n": "hello", "b": 52}]


@pytest.mark.anyio
@pytest.mark.parametrize(("version", "expected"), [(3, "null"), (3.1, None), (3.2, None)])
async def test_null_to_string_depends_on_version(version: float, expected: Any) -> None:
    params = {**fields(("s", "stringValue", "={{ null }}")), "options": {"ignoreConversionErrors": True}}
    assert await run_set(version, params, [{"json": {}}]) == [{"s": expected}]


@pytest.mark.anyio
async def test_v3_1_null_string_without_ignore_is_an_error() -> None:
    with pytest.raises(NodeError, match="'s' expects a string but we got 'null'"):
        await run_set(3.1, fields(("s", "stringValue", "={{ null }}")), [{"json": {}}])


@pytest.mark.anyio
async def test_object_value_expressions_are_spliced_into_json_text() -> None:
    params = fields(("o", "objectValue", '={"inner": {{ $json.payload }}, "n": {{ $json.n }}}'))
    ctx = Ctx(3.2, params, [{"json": {"payload": {"x": [1]}, "n": 2}}])
    out = await SetNode().run(ctx, [ctx.items])  # type: ignore[arg-type]
    assert out[0][0]["json"] == {"o": {"inner": {"x": [1]}, "n": 2}}


@pytest.mark.anyio
async def test_raw_mode_parses_json_output_and_repairs_loose_json() -> None:
    loose = {"mode": "raw", "jsonOutput": "{'a': 'b', c: [1,2,],}", "include": "none"}
    dotted = {"mode": "raw", "jsonOutput": '{"a.b": 1}'}
    assert await run_set(3, loose, [{"json": {"x": 1}}]) == [{"a": "b", "c": [1, 2]}]
    assert await run_set(3, dotted, [{"json": {"x": 1}}]) == [{"x": 1, "a": {"b": 1}}]


@pytest.mark.anyio
async def test_raw_mode_rejects_non_objects() -> None:
    with pytest.raises(NodeError, match="The 'JSON Output' in item 0 does not contain a valid JSON object"):
        await run_set(3, {"mode": "raw", "jsonOutput": "[1]"}, [{"json": {}}])


# --- v3+: which input fields survive -------------------------------------------------------------------

PEOPLE = [{"json": {"name": "Ann", "age": 3, "deep": {"a": 1, "b": 2}}}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"include": "selected", "includeFields": "name, deep.a"}, {"name": "Ann", "a": 1, "t": "x"}),
        ({"include": "except", "excludeFields": "age,deep.b"}, {"name": "Ann", "deep": {"a": 1}, "t": "x"}),
        ({"include": "none"}, {"t": "x"}),
        ({}, {"name": "Ann", "age": 3, "deep": {"a": 1, "b": 2}, "t": "x"}),
    ],
)
async def test_v3_include_modes(params: dict[str, Any], expected: dict[str, Any]) -> None:
    params = {**params, "fields": {"values": [{"name": "t", "stringValue": "x"}]}}
    assert await run_set(3, params, PEOPLE) == [expected]


@pytest.mark.anyio
async def test_v3_3_drops_other_fields_unless_include_other_fields() -> None:
    base = assignments(("t", "string", "x"))
    assert await run_set(3.3, base, PEOPLE) == [{"t": "x"}]
    kept = await run_set(
        3.3, {**base, "includeOtherFields": True, "include": "except", "excludeFields": "deep"}, PEOPLE
    )
    assert kept == [{"name": "Ann", "age": 3, "t": "x"}]


@pytest.mark.anyio
async def test_v3_4_keeps_binary_by_default_and_copies_binary_assignments() -> None:
    item = {"json": {}, "binary": {"file": {"data": "eA==", "mimeType": "text/plain"}}}
    params = {**assignments(("copy", "binary", "file")), "includeOtherFields": True}
    out = await SetNode().run(Ctx(3.4, params, [item]), [[item]])  # type: ignore[arg-type]
    assert out[0][0]["binary"] == {"file": item["binary"]["file"], "copy": item["binary"]["file"]}


@pytest.mark.anyio
async def test_duplicate_item_repeats_each_output_item() -> None:
    params = {**assignments(("t", "string", "x")), "duplicateItem": True, "duplicateCount": 2}
    assert await run_set(3.3, params, [{"json": {}}]) == [{"t": "x"}] * 3


def test_schemas_catch_wrong_types_and_accept_expressions() -> None:
    node = SetNode()
    legacy = jsonschema_rs.validator_for(node.schema_for(1))
    v3 = jsonschema_rs.validator_for(node.schema_for(3.3))
    assert legacy.is_valid({"values": {"number": [{"name": "n", "value": "={{ $json.x }}"}]}})
    assert not legacy.is_valid({"values": {"number": [{"name": "n", "value": "twelve"}]}})
    assert v3.is_valid({"mode": "manual", "assignments": {"assignments": [{"name": "a", "type": "number"}]}})
    assert not v3.is_valid({"include": "some"})
    assert not v3.is_valid({"assignments": {"assignments": [{"name": "a", "type": "float"}]}})


# --- n8n's own Set fixtures, fed the fixture's test data directly -------------------------------------


def _fixture_cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted((FIXTURES / "Set").glob("*.json")):
        workflow = __import__("json").loads(path.read_text())
        cases += [(path.name, name) for name in workflow.get("pinData", {})]
    return cases


def _upstream_items(workflow: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The items a node receives, following testData / noOp / Set parents (enough for the Set fixtures)."""
    for source, ports in workflow["connections"].items():
        if any(t["node"] == name for port in ports.get("main", []) for t in port):
            parent = next(n for n in workflow["nodes"] if n["name"] == source)
            if parent["type"].endswith("testData"):
                return [{"json": d} for d in parent["parameters"]["data"]]
            return [{"json": {}}] if parent["type"].endswith("manualTrigger") else _run_sync(workflow, source)
    return [{"json": {}}]


def _run_sync(workflow: dict[str, Any], name: str) -> list[dict[str, Any]]:
    import asyncio

    node = next(n for n in workflow["nodes"] if n["name"] == name)
    items = _upstream_items(workflow, name)
    if not node["type"].endswith(".set"):
        return items
    ctx = Ctx(node["typeVersion"], node["parameters"], items)
    return asyncio.run(SetNode().run(ctx, [items]))[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(("fixture", "node_name"), _fixture_cases())
def test_set_fixture_node_matches_pinned_output(fixture: str, node_name: str) -> None:
    workflow = __import__("json").loads((FIXTURES / "Set" / fixture).read_text())
    actual = [{"json": item["json"]} for item in _run_sync(workflow, node_name)]
    assert actual == workflow["pinData"][node_name]
