"""The workflow validator: one test per rule, asserting the code and the exact source path."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest

from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.errors import VALIDATION_CLASSES, ErrorCode, error_number
from tenantflow.engine.expressions import ExpressionSyntaxError, compile_template
from tenantflow.engine.validation import ValidationIssue, ValidationReport, validate
from tenantflow.engine.validation.report import SeedClass
from tests.engine.conftest_validation_types import make_registry

REGISTRY = make_registry()
TRIGGER = "n8n-nodes-base.manualTrigger"
NOOP = "n8n-nodes-base.noOp"
SET = "n8n-nodes-base.set"


def seed(code: str, number: int) -> SeedClass:
    return SeedClass(code=code, number=number)


def node(name: str, type_: str = NOOP, **fields: Any) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "type": type_, "typeVersion": 1, "position": [0, 0], **fields}


def to(*names: str, index: int = 0) -> list[dict[str, Any]]:
    return [{"node": name, "type": "main", "index": index} for name in names]


def chain(*names: str) -> dict[str, Any]:
    """n8n connections a -> b -> c ..."""
    return {a: {"main": [to(b)]} for a, b in pairwise(names)}


def workflow(
    *nodes: dict[str, Any], connections: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"name": "wf", "nodes": list(nodes), "connections": connections or {}, **extra}


def simple(*extra_nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Start -> A, plus ``extra_nodes`` connected after A in order."""
    nodes = [node("Start", TRIGGER), node("A"), *extra_nodes]
    return workflow(*nodes, connections=chain(*(n["name"] for n in nodes)), **extra)


def check(source: Any, **kwargs: Any) -> ValidationReport:
    return validate(source, REGISTRY, **kwargs)


def issues(report: ValidationReport) -> list[tuple[str, str]]:
    return [(i.code, i.path) for i in report.errors]


def warnings(report: ValidationReport) -> list[tuple[str, str]]:
    return [(i.code, i.path) for i in report.warnings]


# --- input ------------------------------------------------------------------------------------------------


def test_a_valid_workflow_passes_as_dict_text_bytes_and_definition() -> None:
    doc = simple(node("B", SET, parameters={"value": "={{ $json.x }}", "count": 2}))
    for source in (doc, json.dumps(doc), json.dumps(doc).encode(), parse_workflow(doc)):
        report = check(source)
        assert report.valid, report.errors
        assert report.errors == report.warnings == []
        assert report.definition is not None and report.definition.nodes[2].name == "B"
    definition = parse_workflow(doc)
    assert check(definition).definition is definition


def test_bad_json_is_an_error_with_line_and_column() -> None:
    report = check('{"nodes": [\n  {"id": 1,}\n]}')
    assert issues(report) == [("INVALID_JSON", "$")]
    assert "line 2, column 12" in report.errors[0].message
    assert report.definition is None


def test_undecodable_bytes_are_invalid_json() -> None:
    assert issues(check(b"\xff\xfe\x00")) == [("INVALID_JSON", "$")]


@pytest.mark.parametrize("source", [[], 42, None, "[1, 2]", "null", 3.5])
def test_a_non_object_workflow_is_invalid_format(source: Any) -> None:
    assert issues(check(source)) == [("INVALID_WORKFLOW_FORMAT", "$")]


# --- structure --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [None, [], {"a": 1}, "nodes"])
def test_nodes_must_be_a_non_empty_array(nodes: Any) -> None:
    assert issues(check({"nodes": nodes, "connections": {}})) == [("INVALID_NODES", "nodes")]


def test_a_node_that_is_not_an_object() -> None:
    report = check(workflow(node("Start", TRIGGER), "oops"))
    assert ("INVALID_NODES", "nodes[1]") in issues(report)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "  "), ("name", None), ("name", ""), ("type", None), ("type", " ")],
)
def test_id_name_and_type_must_be_present_and_non_blank(field: str, value: Any) -> None:
    bad = node("B")
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    report = check(workflow(node("Start", TRIGGER), node("A"), bad, connections=chain("Start", "A")))
    assert ("INVALID_NODES", f"nodes[2].{field}") in issues(report)
    assert not report.valid


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_id_is_generated_as_n8n_does_on_import(value: Any) -> None:
    bad = node("B", id=value) if value is not None else {k: v for k, v in node("B").items() if k != "id"}
    report = check(workflow(node("Start", TRIGGER), bad, connections=chain("Start", "B")))
    assert report.valid, report.errors
    assert (
        report.definition is not None
        and report.definition.nodes[1].id == parse_workflow(workflow(node("Start", TRIGGER), bad)).nodes[1].id
    )


def test_without_a_name_to_derive_it_from_a_missing_id_is_refused() -> None:
    report = check(workflow(node("Start", TRIGGER), {"type": NOOP}))
    assert issues(report) == [("INVALID_NODES", "nodes[1].id"), ("INVALID_NODES", "nodes[1].name")]


def test_a_numeric_id_is_accepted() -> None:
    assert check(workflow(node("Start", TRIGGER, id=7))).valid


def test_parameters_must_be_an_object() -> None:
    assert issues(check(simple(node("B", parameters=[1])))) == [("INVALID_NODES", "nodes[2].parameters")]


def test_field_problems_found_by_the_normaliser_are_reported_once() -> None:
    report = check(simple(node("B", onError="explode", timeout=0)))
    assert issues(report) == [("INVALID_NODES", "nodes[2].onError"), ("INVALID_NODES", "nodes[2].timeout")]
    assert report.definition is None


def test_connections_must_be_an_object() -> None:
    assert issues(check(workflow(node("Start", TRIGGER), connections=[1]))) == [
        ("INVALID_EDGES", "connections")
    ]


def test_a_connection_source_entry_must_be_an_object() -> None:
    doc = workflow(node("Start", TRIGGER), connections={"Start": [to("Start")]})
    assert issues(check(doc)) == [("INVALID_EDGES", "connections['Start']")]


def test_only_main_error_and_n8n_ai_ports() -> None:
    doc = workflow(
        node("Start", TRIGGER), node("A"), connections={"Start": {"main": [to("A")], "custom": [to("A")]}}
    )
    assert issues(check(doc)) == [("INVALID_EDGES", "connections['Start'].custom")]


def ai_to(name: str, kind: str) -> list[list[dict[str, Any]]]:
    return [[{"node": name, "type": kind, "index": 0}]]


def test_ai_connections_between_unknown_types_report_only_the_unknown_types_once_each() -> None:
    agent, model, tool = "@n8n/n8n-nodes-langchain.agent", "@n8n/n8n-nodes-langchain.lmChatOpenAi", "x.tool"
    doc = workflow(
        node("Start", TRIGGER),
        node("Agent", agent),
        node("Model", model),
        node("Tool", tool),
        connections={
            "Start": {"main": [to("Agent")]},
            "Model": {"ai_languageModel": ai_to("Agent", "ai_languageModel")},
            "Tool": {"ai_tool": ai_to("Agent", "ai_tool")},
        },
    )
    report = check(doc)
    assert issues(report) == [
        ("UNKNOWN_NODE_TYPE", "nodes[1].type"),
        ("UNKNOWN_NODE_TYPE", "nodes[2].type"),
        ("UNKNOWN_NODE_TYPE", "nodes[3].type"),
    ]
    assert report.warnings == []  # a sub-node attached by an ai_* connection is no orphan


def test_ai_connections_are_checked_against_known_types_ports() -> None:
    """A known type declares main inputs and outputs only: an ai_* port on either end is refused there."""
    model = "@n8n/n8n-nodes-langchain.lmChatOpenAi"
    doc = workflow(
        node("Start", TRIGGER),
        node("A"),
        node("Model", model),
        connections={
            "Start": {"main": [to("A")], "ai_tool": ai_to("Model", "ai_tool") + ai_to("Model", "ai_tool")},
            "Model": {"ai_languageModel": ai_to("A", "ai_languageModel")},
        },
    )
    assert issues(check(doc)) == [
        ("INVALID_EDGES", "connections['Model'].ai_languageModel[0][0].type"),
        ("INVALID_EDGES", "connections['Start'].ai_tool"),
        ("UNKNOWN_NODE_TYPE", "nodes[2].type"),
    ]


def test_outputs_must_be_an_array_or_index_map() -> None:
    doc = workflow(node("Start", TRIGGER), connections={"Start": {"main": "A"}})
    assert issues(check(doc)) == [("INVALID_EDGES", "connections['Start'].main")]


def test_output_keys_must_be_integers() -> None:
    doc = workflow(
        node("Start", TRIGGER), node("A"), connections={"Start": {"main": {"0": to("A"), "x": to("A")}}}
    )
    assert issues(check(doc)) == [("INVALID_OUTPUT_INDEX", "connections['Start'].main['x']")]


def test_a_target_needs_a_node() -> None:
    doc = workflow(node("Start", TRIGGER), node("A"), connections={"Start": {"main": [[{"type": "main"}]]}})
    assert issues(check(doc)) == [("INVALID_EDGES", "connections['Start'].main[0][0]")]


def test_a_target_index_must_be_a_non_negative_integer() -> None:
    doc = workflow(
        node("Start", TRIGGER), node("A"), connections={"Start": {"main": [[{"node": "A", "index": -1}]]}}
    )
    assert issues(check(doc)) == [("INVALID_INPUT_INDEX", "connections['Start'].main[0][0].index")]


# --- node types, versions, parameters ---------------------------------------------------------------------


def test_unknown_node_type_names_the_type() -> None:
    report = check(simple(node("B", "n8n-nodes-base.nope")))
    assert issues(report) == [("UNKNOWN_NODE_TYPE", "nodes[2].type")]
    assert "n8n-nodes-base.nope" in report.errors[0].message


def test_unsupported_type_version_lists_the_supported_ones() -> None:
    report = check(simple(node("B", SET, typeVersion=5)))
    assert issues(report) == [("UNSUPPORTED_TYPE_VERSION", "nodes[2].typeVersion")]
    assert "1, 2, 3.4" in report.errors[0].message


def test_a_supported_fractional_version_passes() -> None:
    assert check(simple(node("B", SET, typeVersion=3.4))).valid


def test_parameters_are_checked_against_the_type_schema() -> None:
    report = check(simple(node("B", SET, parameters={"count": -1, "value": 3})))
    assert issues(report) == [
        ("INVALID_PARAMETER", "nodes[2].parameters.count"),
        ("INVALID_PARAMETER", "nodes[2].parameters.value"),
    ]


def test_a_missing_required_parameter_points_at_parameters() -> None:
    report = check(simple(node("B", "n8n-nodes-base.httpRequest", typeVersion=4)))
    assert issues(report) == [("INVALID_PARAMETER", "nodes[2].parameters")]
    assert "url" in report.errors[0].message


def test_an_expression_satisfies_any_schema_type() -> None:
    assert check(simple(node("B", SET, parameters={"count": "={{ $json.n }}"}))).valid


def test_a_broken_type_schema_is_reported_not_raised() -> None:
    report = check(simple(node("B", "test.brokenSchema")))
    assert issues(report) == [("INVALID_PARAMETER", "nodes[2].parameters")]
    assert "invalid parameter schema" in report.errors[0].message


def test_disabled_nodes_are_still_validated() -> None:
    assert issues(check(simple(node("B", "x.unknown", disabled=True)))) == [
        ("UNKNOWN_NODE_TYPE", "nodes[2].type")
    ]


def test_sticky_notes_are_known_never_checked_and_never_orphans() -> None:
    note = node("Note", "n8n-nodes-base.stickyNote", parameters={"content": "={{ nonsense ((("})
    report = check(simple(note))
    assert report.valid and report.warnings == []


def test_duplicate_names() -> None:
    report = check(workflow(node("Start", TRIGGER), node("A"), {**node("A"), "id": "other"}))
    assert ("DUPLICATE_NODE_NAME", "nodes[2].name") in issues(report)
    assert "nodes[1]" in report.errors[0].message


def test_duplicate_ids() -> None:
    doc = simple({**node("B"), "id": "id-A"})
    assert issues(check(doc)) == [("DUPLICATE_NODE_ID", "nodes[2].id")]


# --- connections and graph ---------------------------------------------------------------------------------


def test_connection_from_an_unknown_node() -> None:
    doc = workflow(
        node("Start", TRIGGER), node("A"), connections={**chain("Start", "A"), "Ghost": {"main": [to("A")]}}
    )
    assert issues(check(doc)) == [("UNKNOWN_CONNECTION_SOURCE", "connections['Ghost']")]


def test_connection_to_an_unknown_node() -> None:
    doc = workflow(node("Start", TRIGGER), node("A"), connections={"Start": {"main": [to("A", "Ghost")]}})
    assert issues(check(doc)) == [("UNKNOWN_CONNECTION_TARGET", "connections['Start'].main[0][1].node")]


def test_connection_from_an_output_the_node_does_not_have() -> None:
    nodes = [node("Start", TRIGGER), node("IF", "n8n-nodes-base.if"), node("A"), node("B"), node("C")]
    connections = {**chain("Start", "IF"), "IF": {"main": [to("A"), to("B"), to("C")]}}
    report = check(workflow(*nodes, connections=connections))
    assert issues(report) == [("INVALID_OUTPUT_INDEX", "connections['IF'].main[2]")]


def test_continue_error_output_adds_one_main_output() -> None:
    nodes = [node("Start", TRIGGER), node("A", onError="continueErrorOutput"), node("OK"), node("Failed")]
    connections = {**chain("Start", "A"), "A": {"main": [to("OK"), to("Failed")]}}
    assert check(workflow(*nodes, connections=connections)).valid


def test_unknown_output_count_is_not_checked() -> None:
    switch = node("Switch", "n8n-nodes-base.switch", parameters={"rules": "={{ $json.rules }}"})
    nodes = [node("Start", TRIGGER), switch, node("A")]
    connections = {**chain("Start", "Switch"), "Switch": {"main": [[], [], [], to("A")]}}
    assert check(workflow(*nodes, connections=connections)).valid


def test_connection_into_an_input_the_node_does_not_have() -> None:
    nodes = [node("Start", TRIGGER), node("A"), node("Merge", "n8n-nodes-base.merge")]
    connections = {"Start": {"main": [to("A") + to("Merge", index=1)]}, "A": {"main": [to("Merge", index=2)]}}
    report = check(workflow(*nodes, connections=connections))
    assert issues(report) == [("INVALID_INPUT_INDEX", "connections['A'].main[0][0].index")]


def test_a_trigger_has_no_inputs() -> None:
    doc = workflow(node("Start", TRIGGER), node("A"), connections=chain("Start", "A", "Start"))
    assert ("INVALID_INPUT_INDEX", "connections['A'].main[0][0].index") in issues(check(doc))


def test_a_cycle_without_a_loop_node_is_legal_and_warned_when_nothing_leaves_it() -> None:
    doc = workflow(node("Start", TRIGGER), node("A"), node("B"), connections=chain("Start", "A", "B", "A"))
    report = check(doc)
    assert report.valid and issues(report) == []
    [warning] = report.warnings
    assert (warning.code, warning.path, warning.number) == ("CIRCULAR_DEPENDENCY", "nodes[1]", 4222)


def test_a_self_loop_is_a_cycle_nothing_leaves() -> None:
    doc = workflow(
        node("Start", TRIGGER),
        node("A"),
        connections={"Start": {"main": [to("A")]}, "A": {"main": [to("A")]}},
    )
    report = check(doc)
    assert report.valid
    assert [(w.code, w.path) for w in report.warnings] == [("CIRCULAR_DEPENDENCY", "nodes[1]")]


def test_a_cycle_through_split_in_batches_is_a_loop() -> None:
    nodes = [
        node("Start", TRIGGER),
        node("Loop", "n8n-nodes-base.splitInBatches", typeVersion=3),
        node("Body"),
    ]
    connections = {
        **chain("Start", "Loop"),
        "Loop": {"main": [[], to("Body")]},
        "Body": {"main": [to("Loop")]},
    }
    report = check(workflow(*nodes, connections=connections))
    assert report.valid, report.errors


def test_an_unconnected_unreachable_node_is_an_orphan_warning() -> None:
    report = check(simple(node("B"), node("Lonely")) | {"connections": chain("Start", "A", "B")})
    assert report.valid
    assert warnings(report) == [("ORPHANED_NODE", "nodes[3]")]
    assert (report.warnings[0].number, report.warnings[0].seed_class) == (4223, seed("ORPHANED_NODE", 4223))


def test_without_triggers_every_unconnected_node_is_a_start_node() -> None:
    assert check(workflow(node("A"), node("B"))).warnings == []


# --- expressions and variables -----------------------------------------------------------------------------


def test_expression_syntax_error_carries_the_column() -> None:
    text = "={{ $json.a + }}"
    with pytest.raises(ExpressionSyntaxError) as expected:
        compile_template(text)
    doc = simple(node("B", SET, parameters={"options": {"headers": [{"v": "ok"}, {"v": text}]}}))
    report = check(doc)
    assert issues(report) == [("EXPRESSION_SYNTAX", "nodes[2].parameters.options.headers[1].v")]
    assert f"column {expected.value.column}" in report.errors[0].message


def test_expression_naming_a_node_that_does_not_exist() -> None:
    value = "={{ $('Start').item.json.a + $node[\"Ghost\"].json.b }}"
    report = check(simple(node("B", SET, parameters={"value": value})))
    assert issues(report) == [("UNKNOWN_NODE_REFERENCE", "nodes[2].parameters.value")]
    assert "Ghost" in report.errors[0].message


def test_variables_must_be_an_object() -> None:
    assert issues(check(simple(variables=["limit"]))) == [("INVALID_FIELD", "variables")]


def test_variable_with_an_unknown_type() -> None:
    report = check(simple(variables={"limit": {"type": "integer"}}))
    assert issues(report) == [("INVALID_VARIABLE_TYPE", "variables.limit.type")]


@pytest.mark.parametrize(
    ("declared", "default"),
    [("number", "10"), ("number", True), ("string", 1), ("boolean", "yes"), ("array", {}), ("date", "soon")],
)
def test_variable_default_must_match_its_type(declared: str, default: Any) -> None:
    report = check(simple(variables={"v": {"type": declared, "defaultValue": default}}))
    assert issues(report) == [("INVALID_VARIABLE_TYPE", "variables.v.defaultValue")]
    assert report.errors[0].seed_class == seed("INVALID_VARIABLE_TYPE", 4225)


def test_well_typed_and_required_variables_pass() -> None:
    variables = {
        "when": {"type": "date", "defaultValue": "2024-05-01T10:00:00+00:00"},
        "limit": {"type": "number", "defaultValue": 2.5},
        "token": {"type": "string", "required": True},
        "bare": 3,
    }
    assert check(simple(variables=variables)).valid


def test_expression_using_an_undeclared_variable() -> None:
    params = {"a": "={{ $vars.limit }}", "b": "={{ $workflow.variables['nope'] }}", "c": "={{ $vars.other }}"}
    report = check(simple(node("B", SET, parameters=params), variables={"limit": {"type": "number"}}))
    assert issues(report) == [
        ("MISSING_VARIABLE", "nodes[2].parameters.b"),
        ("MISSING_VARIABLE", "nodes[2].parameters.c"),
    ]
    assert report.errors[0].seed_class == seed("MISSING_VARIABLE", 4224)


def test_undeclared_variables_are_not_checked_when_none_are_declared() -> None:
    assert check(simple(node("B", SET, parameters={"value": "={{ $vars.anything }}"}))).valid


# --- limits, dialects, reporting ---------------------------------------------------------------------------


def test_node_count_limit() -> None:
    report = check(simple(node("B")), max_nodes=2)
    assert issues(report) == [("LIMIT_EXCEEDED", "nodes")]
    assert check(parse_workflow(simple(node("B"))), max_nodes=2).errors[0].code == "LIMIT_EXCEEDED"


def metabuilder(connections: dict[str, Any]) -> dict[str, Any]:
    def mb_node(node_id: str, name: str, category: str, node_type: str) -> dict[str, Any]:
        return {"id": node_id, "name": name, "type": category, "nodeType": node_type, "typeVersion": 1,
                "position": [0, 0], "parameters": {}}  # fmt: skip

    nodes = [
        mb_node("n1", "Start", "trigger", TRIGGER),
        mb_node("n2", "Read", "operation", "dbal-read"),
        mb_node("n3", "Check", "logic", "n8n-nodes-base.if"),
    ]
    return {"id": "wf", "name": "mb", "version": "3.0.0", "nodes": nodes, "connections": connections}


def test_metabuilder_dialect_with_id_keyed_index_map_connections() -> None:
    doc = metabuilder(
        {"n1": {"main": {"0": [{"node": "n2", "type": "main", "index": 0}]}}, "Read": {"main": {"0": ["n3"]}}}
    )
    report = check(doc)
    assert report.valid, report.errors
    assert report.definition is not None and report.definition.dialect == "metabuilder"


def test_metabuilder_paths_use_the_source_keys() -> None:
    doc = metabuilder(
        {
            "n1": {
                "main": {
                    "0": [
                        {"node": "n2", "type": "main", "index": 0},
                        {"node": "n9", "type": "main", "index": 0},
                    ]
                }
            },
            "n3": {"main": {"3": ["n2"]}},
        }
    )
    doc["nodes"][1]["nodeType"] = "dbal-unknown"
    assert issues(check(doc)) == [
        ("UNKNOWN_CONNECTION_TARGET", "connections['n1'].main['0'][1].node"),
        ("INVALID_OUTPUT_INDEX", "connections['n3'].main['3']"),
        ("UNKNOWN_NODE_TYPE", "nodes[1].nodeType"),
    ]


def test_metabuilder_node_type_problems_point_at_node_type() -> None:
    doc = metabuilder({})
    doc["nodes"][1]["nodeType"] = 5
    report = check(doc)
    assert issues(report) == [("INVALID_NODES", "nodes[1].nodeType")]


def test_never_stops_at_the_first_error() -> None:
    nodes = [
        node("Start", TRIGGER),
        node("Bad", "x.unknown"),
        node("B", SET, parameters={"value": "={{ 1 + }}"}),
    ]
    connections = {"Start": {"main": [to("Bad", "Ghost")]}, "Bad": {"main": [to("B")]}}
    report = check(workflow(*nodes, connections=connections))
    assert issues(report) == [
        ("UNKNOWN_CONNECTION_TARGET", "connections['Start'].main[0][1].node"),
        ("UNKNOWN_NODE_TYPE", "nodes[1].type"),
        ("EXPRESSION_SYNTAX", "nodes[2].parameters.value"),
    ]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ({"name": ["A"]}, ("INVALID_NODES", "nodes[1].name")),
        ({"onError": []}, ("INVALID_NODES", "nodes[1].onError")),
        ({"parameters": {1: "x"}}, ("INVALID_NODES", "nodes[1].parameters[1]['[key]']")),
        (
            {"errorRecoveryStrategy": {"strategy": "retry", "maxRetries": "x"}},
            ("INVALID_NODES", "nodes[1].errorRecoveryStrategy.maxRetries"),
        ),
    ],
)
def test_values_that_break_the_normaliser_are_reported(
    damage: dict[str, Any], expected: tuple[str, str]
) -> None:
    report = check(workflow(node("Start", TRIGGER), node("A") | damage))
    assert issues(report) == [expected]


def test_a_list_as_target_node_is_reported() -> None:
    doc = workflow(node("Start", TRIGGER), node("A"), connections={"Start": {"main": [[{"node": ["A"]}]]}})
    assert issues(check(doc)) == [("INVALID_EDGES", "connections['Start'].main[0][0].node")]


def test_parameters_that_are_not_json_are_reported() -> None:
    report = check(simple(node("B", SET, parameters={"value": {"a", "set"}})))
    assert issues(report) == [("INVALID_PARAMETER", "nodes[2].parameters")]


def test_semantic_checks_still_run_when_the_document_cannot_be_normalised() -> None:
    nodes = [node("Start", TRIGGER), 17, node("Bad", "x.unknown", parameters={"v": "={{ $('Ghost').x }}"})]
    report = check(workflow(*nodes, connections={"Start": {"main": [to("Bad", "Nowhere")]}}))
    assert report.definition is None
    assert issues(report) == [
        ("UNKNOWN_CONNECTION_TARGET", "connections['Start'].main[0][1].node"),
        ("INVALID_NODES", "nodes[1]"),
        ("UNKNOWN_NODE_REFERENCE", "nodes[2].parameters.v"),
        ("UNKNOWN_NODE_TYPE", "nodes[2].type"),
    ]


def test_issues_are_sorted_by_path_and_stable() -> None:
    report = check(
        simple(node("B", SET, parameters={"value": "={{ $('X').a + $('Y').b }}"}), node("C", "x.y"))
    )
    assert [i.path for i in report.errors] == sorted(i.path for i in report.errors)
    assert [i.message for i in report.errors if i.code == "UNKNOWN_NODE_REFERENCE"] == [
        "expression references node 'X', which does not exist",
        "expression references node 'Y', which does not exist",
    ]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_issue_carries_its_number_and_validation_codes_their_seed_class(code: ErrorCode) -> None:
    issue = ValidationIssue.of("nodes", code, "m").to_dict()
    group = VALIDATION_CLASSES.get(code)
    expected = None if group is None else {"code": group.value, "number": error_number(group)}
    assert (issue["number"], issue.get("seedClass")) == (error_number(code), expected)


@pytest.mark.parametrize(
    ("document", "code", "seed_class"),
    [
        (simple(node("B", "x.nowhere")), "UNKNOWN_NODE_TYPE", ("INVALID_NODES", 4220)),
        (simple(node("B"), node("B")), "DUPLICATE_NODE_NAME", ("INVALID_NODES", 4220)),
        (
            simple() | {"connections": {"Start": {"main": [to("Ghost")]}}},
            "UNKNOWN_CONNECTION_TARGET",
            ("INVALID_EDGES", 4221),
        ),
        (
            simple() | {"connections": {"Start": {"main": [[], to("A")]}}},
            "INVALID_OUTPUT_INDEX",
            ("INVALID_EDGES", 4221),
        ),
    ],
)
def test_precise_codes_name_their_seed_class(
    document: dict[str, Any], code: str, seed_class: tuple[str, int]
) -> None:
    issue = next(issue for issue in check(document).errors if issue.code == code)
    assert issue.seed_class == seed(*seed_class)


def test_report_to_dict_shape() -> None:
    report = check(workflow(node("Start", TRIGGER), {**node("A"), "name": ""}, node("Lonely")))
    data = report.to_dict()
    assert set(data) == {"valid", "errors", "warnings"}
    assert data["errors"][0] == {
        "path": "nodes[1].name",
        "code": "INVALID_NODES",
        "number": 4220,
        "message": "node name is blank",
        "seedClass": {"code": "INVALID_NODES", "number": 4220},
    }
    assert list(data["errors"][0]) == ["path", "code", "number", "message", "seedClass"]
    assert data["warnings"][0]["seedClass"] == {"code": "ORPHANED_NODE", "number": 4223}
    assert "seedCode" not in json.dumps(data)
    assert json.loads(json.dumps(data)) == data


def test_nodes_listed_against_the_flow_are_not_a_cycle() -> None:
    doc = workflow(
        node("C"), node("B"), node("A"), node("Start", TRIGGER), connections=chain("Start", "A", "B", "C")
    )
    report = check(doc)
    assert report.valid and report.warnings == []
