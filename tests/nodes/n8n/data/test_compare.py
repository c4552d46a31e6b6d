"""Compare Datasets v1-v2.3: n8n's fixtures through the executor, then the options they leave out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.conformance import run_fixture
from tenantflow.engine.definition import NodeDefinition
from tenantflow.nodes.n8n.data.compare import CompareDatasets
from tests.nodes.harness import REGISTRY, run_node

ROOT = Path(__file__).resolve().parents[5] / "shared" / "n8n-conformance"
COMPARE = "n8n-nodes-base.compareDatasets"
FIXTURES = [
    "CompareDatasets/workflow.compareDatasets.json",
    "CompareDatasets/workflow.compareDatasets.fuzzy.json",
    "CompareDatasets/workflow.compareDatasets.fuzzy.missing_keys.json",
    "CompareDatasets/workflow.compareDatasets.mix-falsy-values.json",
    "CompareDatasets/workflow.compareDatasets.skipFields.json",
    "CompareDatasets/workflow.update_2_2.json",
]
BY_ID = {"mergeByFields": {"values": [{"field1": "id", "field2": "id"}]}}


@pytest.mark.anyio
@pytest.mark.parametrize("fixture", FIXTURES)
async def test_n8n_fixture_passes(fixture: str) -> None:
    result = await run_fixture(ROOT / fixture, REGISTRY, ROOT)
    assert result.status == "pass", result.reason


async def compare(parameters: dict[str, Any], a: list[Any], b: list[Any], version: float = 2.3) -> list[Any]:
    run = await run_node(COMPARE, {**BY_ID, **parameters}, [a, b], version=version)
    return run.json()


@pytest.mark.anyio
async def test_four_outputs_in_n8n_order() -> None:
    only_a, same, different, only_b = await compare(
        {},
        [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}, {"id": 3}],
        [{"id": 2, "v": "y"}, {"id": 3, "v": 0}, {"id": 4}],
    )
    assert only_a == [{"id": 1, "v": "x"}]
    assert same == [{"id": 2, "v": "y"}]
    assert different == [
        {"keys": {"id": 3}, "same": {"id": 3}, "different": {"v": {"inputA": None, "inputB": 0}}}
    ]
    assert only_b == [{"id": 4}]


@pytest.mark.anyio
async def test_prefer_input_resolution_picks_one_side() -> None:
    a, b = [{"id": 1, "v": "a"}], [{"id": 1, "v": "b"}]
    assert (await compare({"resolve": "preferInput1"}, a, b))[2] == [{"id": 1, "v": "a"}]
    assert (await compare({"resolve": "preferInput2"}, a, b))[2] == [{"id": 1, "v": "b"}]


@pytest.mark.anyio
async def test_mix_before_2_3_turns_falsy_exceptions_into_null() -> None:
    params = {"resolve": "mix", "preferWhenMix": "input1", "exceptWhenMix": "qty"}
    a, b = [{"id": 1, "qty": 5, "name": "a"}], [{"id": 1, "qty": 0, "name": "b"}]
    assert (await compare(params, a, b, version=2.2))[2] == [{"id": 1, "qty": None, "name": "a"}]
    assert (await compare(params, a, b, version=2.3))[2] == [{"id": 1, "qty": 0, "name": "a"}]


@pytest.mark.anyio
async def test_all_matches_and_v1_report_names() -> None:
    outputs = await compare(
        {"resolve": "includeBoth", "options": {"multipleMatches": "all"}},
        [{"id": 1, "v": 1}],
        [{"id": 1, "v": 1}, {"id": 1, "v": 2}],
        version=1,
    )
    assert outputs[1] == [{"id": 1, "v": 1}]
    assert outputs[2] == [
        {"keys": {"id": 1}, "same": {"id": 1}, "different": {"v": {"input1": 1, "input2": 2}}}
    ]


@pytest.mark.anyio
async def test_first_match_only_leaves_later_matches_in_b_only() -> None:
    outputs = await compare({}, [{"id": 1}], [{"id": 1}, {"id": 1, "x": 2}])
    assert outputs[1] == [{"id": 1}]
    assert outputs[3] == [{"id": 1, "x": 2}]


@pytest.mark.anyio
async def test_dot_notation_and_disabling_it() -> None:
    a, b = [{"user": {"id": 7}, "v": 1}], [{"user": {"id": 7}, "v": 2}]
    params = {"mergeByFields": {"values": [{"field1": "user.id", "field2": "user.id"}]}}
    dotted = await compare({**params, "resolve": "preferInput1"}, a, b)
    literal = await compare({**params, "options": {"disableDotNotation": True}}, a, b)
    assert dotted[2] == a
    assert literal[0] == a and literal[3] == b


@pytest.mark.anyio
async def test_v2_fuzzy_treats_null_and_zero_alike() -> None:
    outputs = await compare(
        {"fuzzyCompare": True}, [{"id": "1", "v": None}], [{"id": 1, "v": "0"}], version=2
    )
    assert outputs[1] == [{"id": "1", "v": None}]


@pytest.mark.anyio
async def test_missing_match_field_is_an_error() -> None:
    run = await run_node(
        COMPARE, {"mergeByFields": {"values": [{"field1": "id"}]}}, [[{"id": 1}], [{"id": 1}]]
    )
    assert "both fields" in run.error["message"]


def test_ports_and_schema() -> None:
    node = NodeDefinition(id="c", name="C", type=COMPARE, typeVersion=2.3, parameters={})
    assert CompareDatasets().input_count(node) == 2
    assert CompareDatasets().output_count(node) == 4
    schema = jsonschema_rs.validator_for(dict(CompareDatasets().schema_for(2.3)))
    assert not schema.is_valid({"resolve": "preferBoth"})
    assert schema.is_valid({"resolve": "={{ 'mix' }}", "options": {"fuzzyCompare": True}})
