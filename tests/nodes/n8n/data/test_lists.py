"""The item-list family: Item Lists v1-v3.1, Split Out, Aggregate, Limit, Remove Duplicates, Summarize, Sort
and Rename Keys, through the executor: one node at a time (see ``tests/nodes/harness.py``) and on n8n's
fixtures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.conformance import run_fixture
from tenantflow.engine.sdk import NodeType
from tenantflow.nodes import default_registry
from tenantflow.nodes.n8n.data.lists import (
    Aggregate,
    ItemLists,
    Limit,
    RemoveDuplicates,
    RenameKeys,
    Sort,
    SplitOut,
    Summarize,
)
from tenantflow.nodes.n8n.data.lists.operations import flatten_keys, js_keys, lodash_lt, pick
from tests.nodes.harness import run_node, run_with_items

CORPUS = Path(__file__).resolve().parents[5] / "shared" / "n8n-conformance"


async def run(
    node_type: NodeType, version: float, parameters: dict[str, Any], data: list[Any]
) -> list[dict[str, Any]]:
    """Run the node on ``data`` (item json) through the executor and return its first output's json."""
    return (await run_node(node_type.type, parameters, data, version=version)).json()[0]


async def fails(
    node_type: NodeType, version: float, parameters: dict[str, Any], data: list[Any], match: str
) -> None:
    """Run the node on ``data``, expecting it to fail with a message matching ``match``."""
    error = (await run_node(node_type.type, parameters, data, version=version)).error
    assert re.search(match, error["message"]), error


# --- helpers --------------------------------------------------------------------------------------------


def test_js_keys_puts_array_indexes_first() -> None:
    assert js_keys({"b": 1, "2": 2, "a": 3, "1": 4, "01": 5}) == ["1", "2", "b", "a", "01"]


def test_flatten_keys_lists_leaf_paths() -> None:
    assert flatten_keys({"a": {"b": 1, "c": [5, {}]}, "d": None, "e": {}}) == ["a.b", "a.c.0", "d"]


def test_lodash_lt_is_numeric_unless_both_strings() -> None:
    assert lodash_lt("10", "9") and not lodash_lt(10, 9) and lodash_lt("9", 10) and lodash_lt(False, True)
    assert not lodash_lt({}, 1) and not lodash_lt(None, None)


def test_pick_keeps_nested_and_verbatim_paths() -> None:
    assert pick({"a": {"b": 1, "c": 2}, "x.y": 3, "z": 4}, ["a.b", "x.y", "missing"]) == {
        "a": {"b": 1},
        "x.y": 3,
    }


# --- split out ------------------------------------------------------------------------------------------

_NESTED = {"data": {"e1": {"id": 1}, "e2": {"id": 2}}, "list": ["a", "b"], "tag": "t", "none": None}


@pytest.mark.anyio
async def test_split_v1_needs_a_list() -> None:
    await fails(ItemLists(), 1, {"fieldToSplitOut": "data"}, [_NESTED], "is not an array")
    await fails(ItemLists(), 1, {"fieldToSplitOut": "nope"}, [_NESTED], "Couldn't find the field 'nope'")


@pytest.mark.anyio
async def test_split_v2_versions_differ_on_missing_and_scalar_fields() -> None:
    assert await run(ItemLists(), 2, {"fieldToSplitOut": "data"}, [_NESTED]) == [{"id": 1}, {"id": 2}]
    await fails(ItemLists(), 2, {"fieldToSplitOut": "nope"}, [_NESTED], "Couldn't find")
    assert await run(ItemLists(), 2.1, {"fieldToSplitOut": "nope"}, [_NESTED]) == []
    await fails(ItemLists(), 2.1, {"fieldToSplitOut": "tag"}, [_NESTED], "not an array or object")
    assert await run(ItemLists(), 2.2, {"fieldToSplitOut": "tag"}, [_NESTED]) == [{"tag": "t"}]


@pytest.mark.anyio
async def test_split_several_fields_side_by_side() -> None:
    params = {"fieldToSplitOut": "list, tag", "options": {"destinationFieldName": "x, y"}}
    assert await run(ItemLists(), 3, params, [_NESTED]) == [{"x": "a", "y": "t"}, {"x": "b"}]
    one_destination = {**params, "options": {"destinationFieldName": "x"}}
    await fails(ItemLists(), 3, one_destination, [_NESTED], "same number of destination fields")


@pytest.mark.anyio
async def test_split_out_keeps_other_fields_and_strips_json_prefix() -> None:
    params = {"fieldToSplitOut": "$json.list", "include": "allOtherFields"}
    rows = await run(SplitOut(), 1, params, [_NESTED])
    assert rows == [{**_NESTED, "list": "a"}, {**_NESTED, "list": "b"}]
    selected = {"fieldToSplitOut": "list", "include": "selectedOtherFields", "fieldsToInclude": "tag"}
    assert await run(SplitOut(), 1, selected, [_NESTED]) == [
        {"list": "a", "tag": "t"},
        {"list": "b", "tag": "t"},
    ]
    await fails(SplitOut(), 1, {**selected, "fieldsToInclude": ""}, [_NESTED], "No fields specified")


@pytest.mark.anyio
async def test_split_out_binary_entries() -> None:
    binary = {"a": {"data": "x", "mimeType": "text/plain"}, "b": {"data": "y", "mimeType": "text/plain"}}
    out = await run_with_items(
        SplitOut.type, {"fieldToSplitOut": "$binary"}, [[{"json": {}, "binary": binary}]]
    )
    assert [item["binary"] for item in out[0]] == [{"a": binary["a"]}, {"b": binary["b"]}]


# --- aggregate ------------------------------------------------------------------------------------------

_ROWS = [{"id": 1, "tags": ["x", None], "n": {"v": 1}}, {"id": 2, "tags": None}, {"id": None, "n": {"v": 3}}]


@pytest.mark.anyio
async def test_aggregate_individual_fields() -> None:
    fields = [{"fieldToAggregate": "id"}, {"fieldToAggregate": "tags"}, {"fieldToAggregate": "n.v"}]
    params: dict[str, Any] = {"fieldsToAggregate": {"fieldToAggregate": fields}}
    assert await run(Aggregate(), 1, params, _ROWS) == [{"id": [1, 2], "tags": [["x"]], "v": [1, 3]}]
    merged = {**params, "options": {"mergeLists": True, "keepMissing": True}}
    assert await run(Aggregate(), 1, merged, _ROWS) == [
        {"id": [1, 2, None], "tags": ["x", None, None, None], "v": [1, None, 3]}
    ]


@pytest.mark.anyio
async def test_aggregate_field_checks_by_version() -> None:
    params = {
        "operation": "aggregateItems",
        "fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "x"}]},
    }
    await fails(ItemLists(), 2, params, _ROWS, "Couldn't find the field 'x'")
    assert await run(ItemLists(), 2.1, params, _ROWS) == [{"x": []}]
    twice = {
        "fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "id"}, {"fieldToAggregate": "id"}]}
    }
    await fails(Aggregate(), 1, twice, _ROWS, "used more than once")
    await fails(Aggregate(), 1, {**twice, "options": {"groupByFields": "id"}}, _ROWS, "Group By Fields")


@pytest.mark.anyio
async def test_aggregate_all_item_data_filters_fields() -> None:
    params = {"aggregate": "aggregateAllItemData", "fieldsToInclude": "n", "destinationFieldName": "out"}
    assert await run(Aggregate(), 1, params, _ROWS) == [{"out": [{"n": {"v": 1}}, {"n": {"v": 3}}]}]


# --- remove duplicates ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_remove_duplicates_keeps_first_of_each() -> None:
    data = [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}, {"a": 1, "b": "x"}, {"a": 1, "b": "y"}]
    assert await run(RemoveDuplicates(), 1, {}, data) == [data[0], data[1], data[3]]
    selected = {"compare": "selectedFields", "fieldsToCompare": "b", "options": {"removeOtherFields": True}}
    assert await run(RemoveDuplicates(), 1, selected, data) == [{"b": "x"}, {"b": "y"}]
    except_a = {"compare": "allFieldsExcept", "fieldsToExclude": "a"}
    assert await run(RemoveDuplicates(), 2, except_a, data) == [data[0], data[3]]


@pytest.mark.anyio
async def test_remove_duplicates_type_rules_by_version() -> None:
    data = [{"v": "1"}, {"v": 1}, {"v": None}, {"v": 1}]
    await fails(RemoveDuplicates(), 1.1, {}, data, "isn't always the same type")
    await fails(ItemLists(), 3, {"operation": "removeDuplicates"}, data, "isn't always the same type")
    assert await run(ItemLists(), 3.1, {"operation": "removeDuplicates"}, data) == data[:3]
    await fails(RemoveDuplicates(), 1, {}, [{"v": 1}, {"v": 1, "w": 2}], "'w' field is missing")


@pytest.mark.anyio
async def test_remove_duplicates_refuses_an_operation_n8n_does_not_have() -> None:
    """An operation name n8n never had (this one was tenantflow's own guess) is refused, not run as the
    within-input operation."""
    history = {"operation": "removeItemsProcessedPreviously"}
    await fails(RemoveDuplicates(), 2, history, [{"a": 1}], "removeItemsProcessedPreviously")


# --- sort and limit -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sort_by_fields_case_insensitively() -> None:
    data = [{"k": "b", "n": 1}, {"k": "A", "n": 2}, {"k": "a", "n": 3}, {"k": "C", "n": 0}]
    fields = [{"fieldName": "k"}, {"fieldName": "n", "order": "descending"}]
    rows = await run(Sort(), 1, {"sortFieldsUi": {"sortField": fields}}, data)
    assert [row["n"] for row in rows] == [3, 2, 1, 0]
    missing = {"sortFieldsUi": {"sortField": [{"fieldName": "x"}]}}
    await fails(Sort(), 1, missing, data, "Couldn't find the field 'x'")
    by_code = {"operation": "sort", "type": "code", "code": "return a.json.n - b.json.n;"}
    assert [row["n"] for row in await run(ItemLists(), 1, by_code, data)] == [0, 1, 2, 3]
    shuffled = await run(Sort(), 1, {"type": "random"}, data)
    assert sorted(row["n"] for row in shuffled) == [0, 1, 2, 3]


@pytest.mark.anyio
async def test_limit_first_and_last() -> None:
    data = [{"i": i} for i in range(5)]
    assert await run(Limit(), 1, {"maxItems": 2}, data) == data[:2]
    assert await run(Limit(), 1, {"maxItems": 2, "keep": "lastItems"}, data) == data[3:]
    assert await run(Limit(), 1, {"maxItems": 9}, data) == data


# --- summarize ------------------------------------------------------------------------------------------

_SALES = [
    {"region": "N", "sales": 100, "g": 1},
    {"region": "N", "sales": 200, "g": "1"},
    {"region": "S", "sales": None, "g": 2},
    {"region": "", "sales": "300", "g": None},
]


@pytest.mark.anyio
async def test_summarize_aggregations() -> None:
    values = [
        {"aggregation": "sum", "field": "sales"},
        {"aggregation": "average", "field": "sales"},
        {"aggregation": "min", "field": "sales"},
        {"aggregation": "max", "field": "sales"},
        {"aggregation": "countUnique", "field": "region"},
        {"aggregation": "concatenate", "field": "region", "separateBy": "other", "customSeparator": "|"},
        {"field": "sales"},
    ]
    params = {"fieldsToSummarize": {"values": values}}
    assert await run(Summarize(), 1.1, params, _SALES) == [
        {
            "sum_sales": 300,
            "average_sales": 150,
            "min_sales": 100,
            "max_sales": "300",
            "unique_count_region": 2,
            "concatenated_region": "N|N|S",
            "count_sales": 3,
        }
    ]
    legacy = await run(ItemLists(), 2, {"operation": "summarize", **params}, _SALES)
    assert legacy[0]["max_sales"] == 200


@pytest.mark.anyio
async def test_summarize_groups_in_js_key_order_with_version_types() -> None:
    params = {"fieldsToSummarize": {"values": [{"field": "sales"}]}, "fieldsToSplitBy": "g"}
    assert await run(Summarize(), 1, params, _SALES) == [
        {"g": "1", "count_sales": 2},
        {"g": "2", "count_sales": 0},
        {"g": "null", "count_sales": 1},
    ]
    typed = await run(Summarize(), 1.1, params, _SALES)
    assert [row["g"] for row in typed] == [1, 2, None]
    single = {**params, "options": {"outputFormat": "singleItem"}}
    assert await run(Summarize(), 1, single, _SALES) == [
        {"1": {"count_sales": 2}, "2": {"count_sales": 0}, "null": {"count_sales": 1}}
    ]


@pytest.mark.anyio
async def test_summarize_missing_field_by_version() -> None:
    params = {"fieldsToSummarize": {"values": [{"field": "nope"}]}}
    await fails(Summarize(), 1, params, _SALES, "does not exist in any items")
    assert await run(Summarize(), 1.1, params, _SALES) == [{"count_nope": 0}]
    no_field = {"fieldsToSummarize": {"values": [{"field": ""}]}}
    await fails(Summarize(), 1.1, no_field, _SALES, "at least one aggregation")


# --- rename keys ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rename_keys_paths_and_regex() -> None:
    data = [{"a": {"b": 1}, "regex": 2, "keep": {"regexInner": 3}}]
    params = {
        "keys": {"key": [{"currentKey": "a.b", "newKey": "x.y"}, {"currentKey": "missing", "newKey": "z"}]},
        "additionalOptions": {
            "regexReplacement": {
                "replacements": [{"searchRegex": "^(re)g", "replaceRegex": "$1G", "options": {"depth": 0}}]
            }
        },
    }
    assert await run(RenameKeys(), 1, params, data) == [
        {"a": {}, "x": {"y": 1}, "reGex": 2, "keep": {"regexInner": 3}}
    ]


# --- schemas and registry -------------------------------------------------------------------------------


def test_schemas_reject_unknown_operations_per_version() -> None:
    node = ItemLists()
    v1 = jsonschema_rs.validator_for(dict(node.schema_for(1)))
    v3 = jsonschema_rs.validator_for(dict(node.schema_for(3)))
    assert v1.is_valid({"operation": "aggregateItems"}) and not v1.is_valid({"operation": "concatenateItems"})
    assert v3.is_valid({"operation": "concatenateItems", "maxItems": "={{ 2 }}"})
    assert not v3.is_valid({"operation": "limit", "keep": "middleItems"})


def test_registry_knows_the_family_and_aliases() -> None:
    registry = default_registry(plugins=False)
    for alias in ("itemLists", "splitOut", "aggregate", "limit", "removeDuplicates", "summarize", "sort"):
        assert registry.get(alias) is not None
    assert registry.get("renameKeys") is not None


# --- n8n fixtures through the executor ------------------------------------------------------------------

FIXTURES = [
    "Aggregate/workflow.aggregate.json",
    "ItemLists/workflow.aggregateItems.json",
    "ItemLists/workflow.limit.json",
    "ItemLists/workflow.removeDuplicates.json",
    "ItemLists/workflow.removeDuplicates_3_1.json",
    "ItemLists/workflow.splitOutItems.json",
    "ItemLists/workflow.splitOutItems.split_object.json",
    "ItemLists/workflow.summarize.json",
    "ItemLists/workflow.update_2_1.json",
    "ItemLists/workflow.update_2_2.json",
    "ItemLists/workflow.update_3.json",
    "Limit/workflow.limit.json",
    "RemoveDuplicates/workflow.removeDuplicates.json",
    "RenameKeys/RenameKeys.workflow.json",
    "SplitInBatches/SplitInBatches.workflow_v1.json",
    "SplitInBatches/SplitInBatches.workflow_v2.json",
    "SplitOut/workflow.splitOut.json",
    "SplitOut/workflow.splitOutObject.json",
    "Summarize/workflow.summarize.json",
    "Summarize/workflow.summarize_countWithEmpty.json",
    "Summarize/workflow.summarize_datatypes.json",
    "Switch/V1/switch.expression.workflow.json",
    "Switch/V1/switch.rules.workflow.json",
]


@pytest.mark.anyio
@pytest.mark.parametrize("fixture", FIXTURES)
async def test_n8n_fixture_passes(fixture: str) -> None:
    result = await run_fixture(CORPUS / fixture, default_registry(plugins=False), CORPUS)
    assert result.status == "pass", result.reason
