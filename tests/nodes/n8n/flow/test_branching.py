"""If, Filter and Switch: routing per version, output counts, schemas, and n8n's own fixtures end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.sdk import NodeRegistry, NodeType
from tenantflow.nodes.n8n.flow.branching import NODE_TYPES, Filter, If, Switch
from tests.nodes.harness import run_node, run_with_items

FIXTURES = Path("/work/shared/n8n-conformance")


def make_node(type_: str, version: float, parameters: dict[str, Any]) -> NodeDefinition:
    return NodeDefinition.model_validate(
        {"id": "n1", "name": "Node", "type": type_, "typeVersion": version, "parameters": parameters}
    )


async def run(
    node_type: NodeType, version: float, parameters: dict[str, Any], rows: list[Any]
) -> list[list[Any]]:
    """Run the node on ``rows`` (item json) through the executor and return each output's item json."""
    return (await run_node(node_type.type, parameters, rows, version=version)).json()


async def failure(
    node_type: NodeType, version: float, parameters: dict[str, Any], rows: list[Any], match: str
) -> dict[str, Any]:
    """Run the node on ``rows``, expecting it to fail with a message matching ``match``; its error."""
    error = (await run_node(node_type.type, parameters, rows, version=version)).error
    assert re.search(match, error["message"]), error
    return error


def filter_value(*conditions: dict[str, Any], combinator: str = "and", **options: Any) -> dict[str, Any]:
    return {
        "options": {"caseSensitive": True, "typeValidation": "strict", **options},
        "conditions": list(conditions),
        "combinator": combinator,
    }


def field_cond(kind: str, operation: str, field: str, right: Any = "", **operator: Any) -> dict[str, Any]:
    return {
        "leftValue": f"={{{{ $json.{field} }}}}",
        "rightValue": right,
        "operator": {"type": kind, "operation": operation, **operator},
    }


# --- If ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_if_v1_all_and_any() -> None:
    rows = [{"a": True, "b": False}, {"a": False, "b": True}, {"a": False, "b": False}]
    conditions = {
        "boolean": [
            {"value1": "={{ $json.a }}", "value2": True},
            {"value1": "={{ $json.b }}", "value2": True},
        ]
    }
    assert await run(If(), 1, {"conditions": conditions}, rows) == [[], rows]
    any_of = await run(If(), 1, {"conditions": conditions, "combineOperation": "any"}, rows)
    assert any_of == [rows[:2], rows[2:]]


@pytest.mark.anyio
async def test_if_v1_mixes_groups() -> None:
    conditions = {
        "number": [{"value1": "={{ $json.n }}", "operation": "larger", "value2": 1}],
        "string": [{"value1": "={{ $json.s }}", "operation": "startsWith", "value2": "a"}],
    }
    rows = [{"n": 2, "s": "abc"}, {"n": 2, "s": "xbc"}, {"n": 0, "s": "abc"}]
    assert await run(If(), 1, {"conditions": conditions}, rows) == [rows[:1], rows[1:]]


@pytest.mark.anyio
async def test_if_v2_loose_boolean_depends_on_version() -> None:
    rows = [{"admin": True}, {"admin": "false"}, {"admin": "0"}, {"admin": 1}]
    params = {
        "conditions": filter_value(
            field_cond("boolean", "true", "admin", singleValue=True), typeValidation="loose"
        ),
    }
    assert await run(If(), 2.2, params, rows) == [[rows[0], rows[3]], [rows[1], rows[2]]]
    assert await run(If(), 2, params, rows) == [rows, []]  # options version 1: JavaScript truthiness


@pytest.mark.anyio
async def test_if_v2_strict_type_error_and_loose_switches() -> None:
    params: dict[str, Any] = {"conditions": filter_value(field_cond("number", "gt", "n", 3))}
    wrong_type = r"Wrong type: '5' is a string but was expecting a number \[condition 0, item 1\]"
    await failure(If(), 2, params, [{"n": 4}, {"n": "5"}], wrong_type)
    loose_v21 = {**params, "looseTypeValidation": True}
    assert await run(If(), 2.1, loose_v21, [{"n": 4}, {"n": "2"}]) == [[{"n": 4}], [{"n": "2"}]]
    loose_v2 = {**params, "options": {"looseTypeValidation": True}}
    assert await run(If(), 2, loose_v2, [{"n": "5"}]) == [[{"n": "5"}], []]


@pytest.mark.anyio
async def test_if_v2_ignore_case_option() -> None:
    params = {
        "conditions": filter_value(field_cond("string", "equals", "s", "abc")),
        "options": {"ignoreCase": True},
    }
    assert await run(If(), 2, params, [{"s": "ABC"}]) == [[{"s": "ABC"}], []]


@pytest.mark.anyio
async def test_if_keeps_item_objects_and_sets_paired_item() -> None:
    row = {"a": 1}
    items = [{"json": row, "binary": {"data": {"mimeType": "text/plain"}}, "pairedItem": {"item": 9}}]
    params = {"conditions": {"number": [{"value1": "={{ $json.a }}", "operation": "equal", "value2": 1}]}}
    true, false = await run_with_items(If.type, params, [items])
    assert true[0]["json"] is row and true[0]["binary"] is items[0]["binary"]
    assert true[0]["pairedItem"] == {"item": 0} and items[0]["pairedItem"] == {"item": 9}
    assert false == []


@pytest.mark.anyio
async def test_metabuilder_guard_condition() -> None:
    rows = [{"ok": 1}, {"ok": 0}, {}]
    assert await run(If(), 1, {"condition": "={{ $json.ok }}"}, rows) == [rows[:1], rows[1:]]


@pytest.mark.anyio
async def test_if_with_no_input_items() -> None:
    assert await run_with_items(If.type, {}, [], version=2) == [[], []]


# --- Filter -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_filter_v1_and_or() -> None:
    rows = [{"id": 1}, {"id": 2}, {"id": 3}]
    conditions = {
        "number": [
            {"value1": "={{ $json.id }}", "operation": "larger", "value2": 1},
            {"value1": "={{ $json.id }}", "operation": "smaller", "value2": 3},
        ]
    }
    assert await run(Filter(), 1, {"conditions": conditions}, rows) == [[rows[1]]]
    assert await run(Filter(), 1, {"conditions": conditions, "combineConditions": "OR"}, rows) == [rows]


@pytest.mark.anyio
async def test_filter_v2_single_output() -> None:
    rows = [{"tags": ["a"]}, {"tags": []}, {}]
    params = {"conditions": filter_value(field_cond("array", "notEmpty", "tags", singleValue=True))}
    assert await run(Filter(), 2.2, params, rows) == [[rows[0]]]


# --- Switch -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_switch_v1_expression_and_range() -> None:
    rows = [{"o": 0}, {"o": 3}, {"o": "1"}]
    outputs = await run(Switch(), 1, {"mode": "expression", "output": "={{ $json.o }}"}, rows)
    assert outputs == [[rows[0]], [rows[2]], [], [rows[1]]]
    error = await failure(
        Switch(), 1, {"mode": "expression", "output": 4}, [{}], "The output 4 is not allowed"
    )
    assert error["description"] == "Output indexes are zero based, if you want to use the extra output use 3"
    await failure(Switch(), 1, {"mode": "expression", "output": 1.5}, [{}], "not a whole number")


@pytest.mark.anyio
async def test_switch_v1_rules_outputs_and_fallback() -> None:
    params = {
        "dataType": "string",
        "value1": "={{ $json.s }}",
        "rules": {
            "rules": [{"operation": "startsWith", "value2": "a", "output": 2}, {"value2": "b", "output": 1}]
        },
        "fallbackOutput": 3,
    }
    rows = [{"s": "abc"}, {"s": "b"}, {"s": "zzz"}]
    assert await run(Switch(), 1, params, rows) == [[], [rows[1]], [rows[0]], [rows[2]]]
    without_fallback = {k: v for k, v in params.items() if k != "fallbackOutput"}
    assert await run(Switch(), 1, without_fallback, rows) == [[], [rows[1]], [rows[0]], []]


@pytest.mark.anyio
async def test_switch_v1_dates_and_numbers_use_type_defaults() -> None:
    dates = {
        "dataType": "dateTime",
        "value1": "={{ $json.d }}",
        "rules": {"rules": [{"value2": "2020-01-01", "output": 1}]},
    }
    rows = [{"d": "2021-05-05"}, {"d": "2019-05-05"}]
    assert await run(Switch(), 1, dates, rows) == [[], [rows[0]], [], []]
    numbers = {
        "value1": "={{ $json.n }}",
        "rules": {"rules": [{"value2": 5, "output": 2}]},
    }  # default: smaller
    assert await run(Switch(), 1, numbers, [{"n": 1}, {"n": 9}]) == [[], [], [{"n": 1}], []]


@pytest.mark.anyio
async def test_switch_v2_rules_are_their_outputs_with_extra_fallback() -> None:
    params = {
        "dataType": "string",
        "value1": "={{ $json.s }}",
        "rules": {"rules": [{"value2": "a", "outputKey": "A"}, {"value2": "b"}]},
        "fallbackOutput": -3,
    }
    rows = [{"s": "b"}, {"s": "a"}, {"s": "c"}]
    assert await run(Switch(), 2, params, rows) == [[rows[1]], [rows[0]], [rows[2]]]
    assert Switch().output_count(make_node(Switch.type, 2, params)) == 3


@pytest.mark.anyio
async def test_switch_v2_expression_uses_outputs_amount() -> None:
    params = {"mode": "expression", "output": "={{ $json.o }}", "outputsAmount": 2}
    assert await run(Switch(), 2, params, [{"o": 1}]) == [[], [{"o": 1}]]
    await failure(Switch(), 2, params, [{"o": 2}], "The output 2 is not allowed")


def rule(*conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"conditions": filter_value(*conditions), **extra}


@pytest.mark.anyio
async def test_switch_v3_first_match_and_all_matching() -> None:
    rules = {"values": [rule(field_cond("number", "gt", "n", 1)), rule(field_cond("number", "gt", "n", 5))]}
    rows = [{"n": 9}, {"n": 3}, {"n": 0}]
    assert await run(Switch(), 3, {"rules": rules}, rows) == [[rows[0], rows[1]], []]
    every = {"rules": rules, "options": {"allMatchingOutputs": True}}
    assert await run(Switch(), 3, every, rows) == [[rows[0], rows[1]], [rows[0]]]


@pytest.mark.anyio
async def test_switch_v3_fallbacks() -> None:
    rules = {
        "values": [
            rule(field_cond("string", "equals", "s", "a")),
            rule(field_cond("string", "equals", "s", "b")),
        ]
    }
    rows = [{"s": "a"}, {"s": "z"}]
    extra = {"rules": rules, "options": {"fallbackOutput": "extra"}}
    assert await run(Switch(), 3, extra, rows) == [[rows[0]], [], [rows[1]]]
    to_second = {"rules": rules, "options": {"fallbackOutput": 1}}
    assert await run(Switch(), 3, to_second, rows) == [[rows[0]], [rows[1]]]
    assert await run(Switch(), 3, {"rules": rules, "options": {"fallbackOutput": "none"}}, rows) == [
        [rows[0]],
        [],
    ]
    to_third = {"rules": rules, "options": {"fallbackOutput": 2}}
    await failure(Switch(), 3, to_third, rows, "The output 2 is not allowed")


@pytest.mark.anyio
async def test_switch_v3_node_switches_reach_the_conditions() -> None:
    rules = {"values": [rule(field_cond("string", "equals", "s", "abc"))]}
    assert await run(Switch(), 3, {"rules": rules, "options": {"ignoreCase": True}}, [{"s": "ABC"}]) == [
        [{"s": "ABC"}]
    ]
    numeric = {"values": [rule(field_cond("number", "equals", "n", 1))]}
    await failure(Switch(), 3.1, {"rules": numeric}, [{"n": "1"}], "Wrong type")
    assert await run(Switch(), 3.1, {"rules": numeric, "looseTypeValidation": True}, [{"n": "1"}]) == [
        [{"n": "1"}]
    ]


@pytest.mark.anyio
async def test_switch_v3_expression_mode() -> None:
    params = {"mode": "expression", "numberOutputs": 2, "output": "={{ $json.o }}"}
    assert await run(Switch(), 3, params, [{"o": 1}, {"o": 0}]) == [[{"o": 0}], [{"o": 1}]]


@pytest.mark.parametrize(
    ("version", "parameters", "expected"),
    [
        (1, {}, 4),
        (1, {"mode": "expression"}, 4),
        (2, {"mode": "expression"}, 4),
        (2, {"mode": "expression", "outputsAmount": 6}, 6),
        (2, {"mode": "expression", "outputsAmount": "={{ 2 }}"}, None),
        (2, {"rules": {"rules": [{}, {}]}}, 2),
        (2, {"rules": {"rules": [{}, {}]}, "fallbackOutput": -3}, 3),
        (2, {}, 0),
        (3, {"rules": {"values": [{}, {}, {}]}}, 3),
        (3.2, {"rules": {"values": [{}]}, "options": {"fallbackOutput": "extra"}}, 2),
        (3.1, {"rules": {"values": [{}]}, "options": {"fallbackOutput": 0}}, 1),
        (3, {"mode": "expression", "numberOutputs": 3}, 3),
        (3, {"mode": "expression"}, 4),
        (3, {"mode": "={{ 'rules' }}"}, None),
    ],
)
def test_switch_output_count(version: float, parameters: dict[str, Any], expected: int | None) -> None:
    assert Switch().output_count(make_node(Switch.type, version, parameters)) == expected


def test_if_and_filter_output_counts() -> None:
    assert If().output_count(make_node(If.type, 1, {})) == 2
    assert Filter().output_count(make_node(Filter.type, 2, {})) == 1


# --- registry and schemas ---------------------------------------------------------------------------


def test_types_versions_and_aliases() -> None:
    registry = NodeRegistry()
    for node_type in NODE_TYPES:
        registry.register(node_type)
    assert registry.get("logic.if") is registry.get("n8n-nodes-base.if")
    assert registry.get("condition") is registry.get("if")
    assert registry.get("flow.switch") is registry.get("n8n-nodes-base.switch")
    assert isinstance(registry.get("filter"), Filter)
    assert If.versions == (1, 2, 2.1, 2.2) and Filter.versions == (1, 2, 2.1, 2.2)
    assert Switch.versions == (1, 2, 3, 3.1, 3.2)


def _fixture_nodes() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(FIXTURES.glob("*/**/*.json")):
        if path.parts[len(FIXTURES.parts)] not in ("If", "Filter", "Switch"):
            continue
        for node in json.loads(path.read_text())["nodes"]:
            if node["type"] in (If.type, Filter.type, Switch.type):
                found.append((f"{path.name}:{node['name']}", node))
    return found


@pytest.mark.parametrize(("label", "node"), _fixture_nodes(), ids=[label for label, _ in _fixture_nodes()])
def test_fixture_parameters_pass_the_schema(label: str, node: dict[str, Any]) -> None:
    node_type = {t.type: t for t in NODE_TYPES}[node["type"]]()
    validator = jsonschema_rs.Draft202012Validator(node_type.schema_for(node["typeVersion"]))
    assert validator.is_valid(node["parameters"]), list(validator.iter_errors(node["parameters"]))


@pytest.mark.parametrize(
    ("node_type", "version", "parameters"),
    [
        (If(), 1, {"combineOperation": "AND"}),
        (If(), 1, {"conditions": {"number": [{"value1": 1, "operation": "startsWith"}]}}),
        (
            If(),
            2,
            {"conditions": {"conditions": [{"operator": {"type": "number", "operation": "contains"}}]}},
        ),
        (If(), 2.1, {"looseTypeValidation": "yes"}),
        (Filter(), 1, {"combineConditions": "any"}),
        (Filter(), 2.2, {"options": {"ignoreCase": 1}}),
        (Switch(), 1, {"mode": "regex"}),
        (Switch(), 1, {"dataType": "string", "rules": {"rules": [{"operation": "smaller"}]}}),
        (Switch(), 1, {"rules": {"rules": [{"operation": "startsWith"}]}}),  # dataType defaults to number
        (Switch(), 2, {"dataType": "boolean", "rules": {"rules": [{"value2": "yes"}]}}),
        (Switch(), 2, {"outputsAmount": "three"}),
        (Switch(), 3, {"options": {"fallbackOutput": "last"}}),
        (Switch(), 3.2, {"rules": {"values": [{"conditions": {"combinator": "both"}}]}}),
    ],
)
def test_schemas_catch_mistakes(node_type: NodeType, version: float, parameters: dict[str, Any]) -> None:
    assert not jsonschema_rs.Draft202012Validator(node_type.schema_for(version)).is_valid(parameters)


def test_schemas_accept_expressions_for_typed_fields() -> None:
    params = {
        "mode": "expression",
        "numberOutputs": "={{ 2 }}",
        "output": "={{ $json.o }}",
        "options": {"fallbackOutput": "={{ 1 }}", "allMatchingOutputs": "={{ true }}"},
    }
    assert jsonschema_rs.Draft202012Validator(Switch().schema_for(3)).is_valid(params)


# --- n8n's fixtures through the real executor -------------------------------------------------------


def _fixture_files() -> list[Path]:
    return [p for folder in ("If", "Filter", "Switch") for p in sorted((FIXTURES / folder).rglob("*.json"))]


@pytest.mark.anyio
@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
async def test_conformance_fixture(path: Path) -> None:
    from tenantflow.conformance import run_fixture
    from tenantflow.nodes import default_registry

    result = await run_fixture(path, default_registry(plugins=False), FIXTURES)
    if result.status == "unsupported":
        pytest.skip(result.reason)
    assert result.status == "pass", result.reason


def _workflow(*nodes: dict[str, Any], connections: dict[str, Any]) -> dict[str, Any]:
    trigger = {
        "id": "t",
        "name": "T",
        "type": "n8n-nodes-base.manualTrigger",
        "typeVersion": 1,
        "parameters": {},
    }
    return {"nodes": [trigger, *nodes], "connections": connections}


def _main(*outputs: list[str]) -> dict[str, Any]:
    return {"main": [[{"node": name, "type": "main", "index": 0} for name in targets] for targets in outputs]}


def test_validator_rejects_a_connection_to_a_missing_switch_output() -> None:
    from tenantflow.engine.validation.validator import validate
    from tenantflow.nodes import default_registry

    switch = {
        "id": "s",
        "name": "S",
        "type": Switch.type,
        "typeVersion": 3.2,
        "parameters": {"rules": {"values": [{}, {}]}, "options": {"fallbackOutput": "extra"}},
    }
    noop = {"id": "a", "name": "A", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}}
    registry = default_registry(plugins=False)
    fine = _workflow(switch, noop, connections={"T": _main(["S"]), "S": _main([], [], ["A"])})
    assert validate(fine, registry).valid
    broken = _workflow(switch, noop, connections={"T": _main(["S"]), "S": _main([], [], [], ["A"])})
    report = validate(broken, registry)
    assert [issue.code for issue in report.errors] == ["INVALID_OUTPUT_INDEX"]


@pytest.mark.anyio
async def test_real_expressions_and_strict_errors_through_the_executor() -> None:
    condition = {
        "leftValue": "={{ $json.n * 2 }}",
        "rightValue": "={{ $json.limit }}",
        "operator": {"type": "number", "operation": "gt"},
    }
    params = {"conditions": filter_value(condition)}
    rows = [{"n": 3, "limit": 5}, {"n": 1, "limit": 5}]
    assert await run(If(), 2.2, params, rows) == [rows[:1], rows[1:]]
    bad = await run_node(If.type, params, [{"n": 1, "limit": "5"}], version=2.2)
    assert bad.record.status == "error"
    assert "Wrong type: '5' is a string but was expecting a number" in bad.error["message"]
