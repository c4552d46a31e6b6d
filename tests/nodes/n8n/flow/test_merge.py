"""Merge: lodash-style merging, every mode of v1, v2/v2.1 and v3, and n8n's Merge fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import NodeError
from tenantflow.nodes.n8n.flow.merge import (
    MergeNode,
    deep_merge,
    fuzzy_equals,
    select_merge_method,
    shallow_merge,
)
from tests.nodes.harness import run_with_items

FIXTURES = Path(__file__).resolve().parents[5] / "shared" / "n8n-conformance" / "Merge"
MERGE = "n8n-nodes-base.merge"
MIXED = ("workflow.mixed.forceInputNodeExecution.json", "workflow.mixed.not.forceInputNodeExecution.json")


def items(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"json": row} for row in rows]


async def merge(version: float, params: dict[str, Any], *inputs: list[dict[str, Any]]) -> list[Any]:
    out = await run_with_items(MERGE, params, list(inputs), version=version)
    return [item["json"] for item in out[0]]


A = items({"id": 1, "a": "x", "deep": {"p": 1}}, {"id": 2, "a": "y"})
B = items({"id": 1, "b": "z", "deep": {"q": 2}}, {"id": 3, "b": "w"})


# --- merge helpers ---------------------------------------------------------------------------------------


def test_deep_merge_merges_nested_objects_and_lists_by_index_without_touching_inputs() -> None:
    left = {"o": {"a": 1}, "l": [1, 2, 3]}
    right = {"o": {"b": 2}, "l": [9], "n": None}
    assert deep_merge(left, right) == {"o": {"a": 1, "b": 2}, "l": [9, 2, 3], "n": None}
    assert left == {"o": {"a": 1}, "l": [1, 2, 3]}


def test_shallow_merge_and_override_empty() -> None:
    assert shallow_merge({"o": {"a": 1}}, {"o": {"b": 2}}) == {"o": {"b": 2}}
    keep_filled = select_merge_method({"overrideEmpty": True, "mergeMode": "deepMerge"})
    assert keep_filled({"a": 1, "b": None}, {"a": "", "b": 2, "c": None}) == {"a": 1, "b": 2, "c": None}


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, "1", True),
        ("true", True, True),
        (True, 1, True),
        (None, "", True),
        ([], None, True),
        ({"x": 1}, '{"x": 1}', True),
        (1, 2, False),
        ("a", "b", False),
        (False, "1", False),
    ],
)
def test_fuzzy_compare(a: Any, b: Any, equal: bool) -> None:
    assert fuzzy_equals(a, b) is equal


# --- v1 --------------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [*[i["json"] for i in A], *[i["json"] for i in B]]),
        (
            {"mode": "mergeByIndex", "join": "inner"},
            [{"id": 1, "a": "x", "b": "z", "deep": {"q": 2}}, {"id": 3, "a": "y", "b": "w"}],
        ),
        ({"mode": "keepKeyMatches", "propertyName1": "id", "propertyName2": "id"}, [A[0]["json"]]),
        ({"mode": "removeKeyMatches", "propertyName1": "id", "propertyName2": "id"}, [A[1]["json"]]),
        (  # input 1's items without a match stay, unchanged (n8n's regression workflow 108)
            {"mode": "mergeByKey", "propertyName1": "id", "propertyName2": "id"},
            [{"id": 1, "a": "x", "b": "z", "deep": {"q": 2}}, A[1]["json"]],
        ),
        ({"mode": "passThrough", "output": "input2"}, [i["json"] for i in B]),
        ({"mode": "wait"}, [{}]),
    ],
)
async def test_v1_modes(params: dict[str, Any], expected: list[Any]) -> None:
    assert await merge(1, params, A, B) == expected


@pytest.mark.anyio
async def test_v1_merge_by_key_overwrite_if_blank() -> None:
    params = {"mode": "mergeByKey", "propertyName1": "k", "propertyName2": "k", "overwrite": "blank"}
    out = await merge(1, params, items({"k": "1", "a": "", "b": 1}), items({"k": 1, "a": "new", "b": 2}))
    assert out == [{"k": "1", "a": "new", "b": 1}]


# --- v2 / v3 ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_v2_0_refuses_a_match_field_missing_from_an_input() -> None:
    params = {"mode": "combine", "mergeByFields": {"values": [{"field1": "idd", "field2": "idd"}]}}
    with pytest.raises(NodeError, match="Field 'idd' is not present in any of items in 'Input 1'"):
        await merge(2, params, A, B)
    assert await merge(2.1, params, A, []) == []


@pytest.mark.anyio
async def test_empty_match_fields_are_rejected() -> None:
    with pytest.raises(NodeError, match="at least one pair"):
        await merge(
            2.1, {"mode": "combine", "mergeByFields": {"values": [{"field1": "", "field2": ""}]}}, A, B
        )


@pytest.mark.anyio
async def test_v3_combine_by_fields_with_a_field_list_and_first_match_only() -> None:
    params = {
        "mode": "combine",
        "combineBy": "combineByFields",
        "fieldsToMatchString": "id",
        "options": {"multipleMatches": "first"},
    }
    second = items({"id": 1, "b": "first"}, {"id": 1, "b": "second"})
    assert await merge(3, params, A, second) == [{"id": 1, "a": "x", "deep": {"p": 1}, "b": "first"}]


@pytest.mark.anyio
async def test_v3_enrich_input2_prefers_input1_values_on_clash() -> None:
    params = {"mode": "combine", "fieldsToMatchString": "id", "joinMode": "enrichInput2"}
    out = await merge(3.1, params, items({"id": 1, "v": "one"}), items({"id": 1, "v": "two"}, {"id": 5}))
    assert out == [{"id": 1, "v": "one"}, {"id": 5}]


@pytest.mark.anyio
async def test_v3_fuzzy_compare_matches_numbers_and_numeric_strings() -> None:
    params = {"mode": "combine", "fieldsToMatchString": "id", "options": {"fuzzyCompare": True}}
    assert await merge(3, params, items({"id": 1}), items({"id": "1", "x": True})) == [{"id": "1", "x": True}]


@pytest.mark.anyio
async def test_v3_append_and_choose_branch_over_more_inputs() -> None:
    third = items({"c": 3})
    assert await merge(3, {"numberInputs": 3}, A, B, third) == [*(i["json"] for i in [*A, *B]), {"c": 3}]
    assert await merge(
        3.2, {"mode": "chooseBranch", "useDataOfInput": 3, "numberInputs": 3}, A, B, third
    ) == [{"c": 3}]
    with pytest.raises(NodeError, match="Input 4 doesn't exist"):
        await merge(3, {"mode": "chooseBranch", "useDataOfInput": 4}, A, B)


@pytest.mark.anyio
async def test_v3_combine_by_position_over_three_inputs_prefers_the_chosen_input() -> None:
    params = {
        "mode": "combine",
        "combineBy": "combineByPosition",
        "numberInputs": 3,
        "options": {"clashHandling": {"values": {"resolveClash": "preferInput1"}}},
    }
    out = await merge(3, params, items({"k": 1}), items({"k": 2, "b": 1}), items({"k": 3, "c": 1}, {"k": 4}))
    assert out == [{"k": 1, "b": 1, "c": 1}]


@pytest.mark.anyio
async def test_v3_combine_all_is_a_cross_join() -> None:
    out = await merge(
        3, {"mode": "combine", "combineBy": "combineAll"}, items({"a": 1}, {"a": 2}), items({"b": 1})
    )
    assert out == [{"a": 1, "b": 1}, {"a": 2, "b": 1}]


@pytest.mark.anyio
async def test_v3_sql_mode_is_refused_clearly() -> None:
    with pytest.raises(NodeError, match="not supported"):
        await merge(3, {"mode": "combineBySql"}, A, B)


def test_input_count_follows_number_inputs_from_v3() -> None:
    def definition(version: float, **params: Any) -> NodeDefinition:
        return NodeDefinition(
            id="m", name="M", type="n8n-nodes-base.merge", typeVersion=version, parameters=params
        )

    assert MergeNode().input_count(definition(3.2, numberInputs=4)) == 4
    assert MergeNode().input_count(definition(2.1, numberInputs=4)) == 2
    assert MergeNode().input_count(definition(3)) == 2


def test_schemas_reject_unknown_modes() -> None:
    assert not jsonschema_rs.validator_for(MergeNode().schema_for(2)).is_valid({"mode": "zip"})
    assert jsonschema_rs.validator_for(MergeNode().schema_for(3)).is_valid({"mode": "={{ 'append' }}"})
    assert not jsonschema_rs.validator_for(MergeNode().schema_for(3)).is_valid({"numberInputs": 11})


# --- n8n's own Merge fixtures, each Merge fed its two testData inputs directly ----------------------------


def _fixture_cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name in MIXED:
            continue
        workflow = json.loads(path.read_text())
        for name in workflow["pinData"]:
            node = next(n for n in workflow["nodes"] if n["name"] == name)
            if node["type"] == "n8n-nodes-base.merge":
                cases.append((path.name, name))
    return cases


def _inputs(workflow: dict[str, Any], name: str) -> list[list[dict[str, Any]]]:
    inputs: list[list[dict[str, Any]]] = [[], []]
    for source, ports in workflow["connections"].items():
        parent = next(n for n in workflow["nodes"] if n["name"] == source)
        for target in (t for port in ports.get("main", []) for t in port):
            if target["node"] == name and parent["type"].endswith("testData"):
                inputs[target["index"]] += [{"json": row} for row in parent["parameters"]["data"]]
    return inputs


@pytest.mark.anyio
@pytest.mark.parametrize(("fixture", "node_name"), _fixture_cases())
async def test_merge_fixture_node_matches_pinned_output(fixture: str, node_name: str) -> None:
    workflow = json.loads((FIXTURES / fixture).read_text())
    node = next(n for n in workflow["nodes"] if n["name"] == node_name)
    out = await run_with_items(
        MERGE, node["parameters"], _inputs(workflow, node_name), version=node["typeVersion"]
    )
    actual = [{"json": item["json"]} for item in out[0]]
    if node.get("alwaysOutputData") and not actual:
        actual = [{"json": {}}]
    assert actual == workflow["pinData"][node_name]
