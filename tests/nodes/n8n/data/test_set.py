"""Set (Edit Fields): lodash path helpers, every version's field handling and n8n's type conversion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.executor import execute
from tenantflow.engine.expressions import UNDEFINED
from tenantflow.nodes.n8n.data.set import SetNode, get_path, parse_path, set_path, unset_path
from tests.nodes.harness import REGISTRY, run_node, run_with_items

FIXTURES = Path(__file__).resolve().parents[5] / "shared" / "n8n-conformance"


async def run_set(version: float, parameters: dict[str, Any], rows: list[dict[str, Any]]) -> list[Any]:
    """Run Set on ``rows`` (item json) through the executor and return its output items' json."""
    return (await run_node(SetNode.type, parameters, rows, version=version)).json()[0]


async def set_error(version: float, parameters: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Run Set on ``rows``, expecting it to fail; its recorded error."""
    return (await run_node(SetNode.type, parameters, rows, version=version)).error


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
INPUT = [{"nested": {"foo": "bar"}, "list": ["foo"]}]


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
    assert await run_set(1, params, [{}]) == [{"a.b": "x", "propertyName": "y"}]


@pytest.mark.anyio
async def test_legacy_keeps_binary_unless_keep_only_set() -> None:
    item = {"json": {}, "binary": {"file": {"data": "x", "mimeType": "text/plain"}}}
    kept = await run_with_items(SetNode.type, {}, [[item]])
    dropped = await run_with_items(SetNode.type, {"keepOnlySet": True}, [[item]])
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
    assert await run_set(3.3, assignments(("f", field_type, value)), [{}]) == [{"f": expected}]


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
    error = await set_error(3.3, assignments(("f", field_type, value)), [{}])
    assert error["message"] == message
    assert "Ignore Type Conversion Errors" in error.get("description", "")


@pytest.mark.anyio
async def test_ignore_conversion_errors_keeps_the_original_value() -> None:
    params = {
        **assignments(("n", "number", "hello"), ("b", "boolean", 52)),
        "options": {"ignoreConversionErrors": True},
    }
    assert await run_set(3.3, params, [{}]) == [{"n": "hello", "b": 52}]


@pytest.mark.anyio
@pytest.mark.parametrize(("version", "expected"), [(3, "null"), (3.1, None), (3.2, None)])
async def test_null_to_string_depends_on_version(version: float, expected: Any) -> None:
    params = {**fields(("s", "stringValue", "={{ null }}")), "options": {"ignoreConversionErrors": True}}
    assert await run_set(version, params, [{}]) == [{"s": expected}]


@pytest.mark.anyio
async def test_v3_1_null_string_without_ignore_is_an_error() -> None:
    error = await set_error(3.1, fields(("s", "stringValue", "={{ null }}")), [{}])
    assert "'s' expects a string but we got 'null'" in error["message"]


@pytest.mark.anyio
async def test_object_value_expressions_are_spliced_into_json_text() -> None:
    params = fields(("o", "objectValue", '={"inner": {{ $json.payload }}, "n": {{ $json.n }}}'))
    assert await run_set(3.2, params, [{"payload": {"x": [1]}, "n": 2}]) == [
        {"o": {"inner": {"x": [1]}, "n": 2}}
    ]


@pytest.mark.anyio
async def test_raw_mode_parses_json_output_and_repairs_loose_json() -> None:
    loose = {"mode": "raw", "jsonOutput": "{'a': 'b', c: [1,2,],}", "include": "none"}
    dotted = {"mode": "raw", "jsonOutput": '{"a.b": 1}'}
    assert await run_set(3, loose, [{"x": 1}]) == [{"a": "b", "c": [1, 2]}]
    assert await run_set(3, dotted, [{"x": 1}]) == [{"x": 1, "a": {"b": 1}}]


@pytest.mark.anyio
async def test_raw_mode_rejects_non_objects() -> None:
    error = await set_error(3, {"mode": "raw", "jsonOutput": "[1]"}, [{}])
    assert error["message"].startswith("The 'JSON Output' in item 0 does not contain a valid JSON object")


# --- v3+: which input fields survive -------------------------------------------------------------------

PEOPLE = [{"name": "Ann", "age": 3, "deep": {"a": 1, "b": 2}}]


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
    out = await run_with_items(SetNode.type, params, [[item]], version=3.4)
    assert out[0][0]["binary"] == {"file": item["binary"]["file"], "copy": item["binary"]["file"]}


@pytest.mark.anyio
async def test_duplicate_item_repeats_each_output_item() -> None:
    params = {**assignments(("t", "string", "x")), "duplicateItem": True, "duplicateCount": 2}
    assert await run_set(3.3, params, [{}]) == [{"t": "x"}] * 3


def test_schemas_catch_wrong_types_and_accept_expressions() -> None:
    node = SetNode()
    legacy = jsonschema_rs.validator_for(node.schema_for(1))
    v3 = jsonschema_rs.validator_for(node.schema_for(3.3))
    assert legacy.is_valid({"values": {"number": [{"name": "n", "value": "={{ $json.x }}"}]}})
    assert not legacy.is_valid({"values": {"number": [{"name": "n", "value": "twelve"}]}})
    assert v3.is_valid({"mode": "manual", "assignments": {"assignments": [{"name": "a", "type": "number"}]}})
    assert not v3.is_valid({"include": "some"})
    assert not v3.is_valid({"assignments": {"assignments": [{"name": "a", "type": "float"}]}})


# --- n8n's own Set fixtures: the whole workflow through the executor, each pinned node checked --------


def _fixture_cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted((FIXTURES / "Set").glob("*.json")):
        workflow = json.loads(path.read_text())
        cases += [(path.name, name) for name in workflow.get("pinData", {})]
    return cases


@pytest.mark.anyio
@pytest.mark.parametrize(("fixture", "node_name"), _fixture_cases())
async def test_set_fixture_node_matches_pinned_output(fixture: str, node_name: str) -> None:
    workflow = json.loads((FIXTURES / "Set" / fixture).read_text())
    pinned = workflow.pop("pinData")
    record = await execute(workflow, registry=REGISTRY)
    assert record.status == "success", record.error
    actual = [{"json": item["json"]} for item in record.state[node_name].output[0]]
    assert actual == pinned[node_name]
