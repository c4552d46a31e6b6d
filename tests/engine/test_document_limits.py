"""Document limits: checked before any other validation work, each refusal LIMIT_EXCEEDED with a path,
and every document within them validated in about a second."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.validation import ValidationReport, validate
from tenantflow.engine.validation.limits import DEFAULT_LIMITS, DocumentLimits
from tests.engine.conftest_validation_types import make_registry

REGISTRY = make_registry()


def _node(name: str, type_: str = "n8n-nodes-base.noOp", **parameters: Any) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "type": type_, "typeVersion": 1, "parameters": parameters}


def _workflow(*nodes: dict[str, Any], links: int = 0) -> dict[str, Any]:
    """Start -> each node; ``links`` more connections, from each node to the next ones."""
    nodes = (_node("Start", "n8n-nodes-base.manualTrigger"), *nodes)
    connections: dict[str, Any] = {
        "Start": {"main": [[{"node": nodes[1]["name"], "type": "main", "index": 0}]]}
    }
    per_node = links // max(len(nodes) - 2, 1)
    for i, source in enumerate(nodes[1:-1], start=1):
        targets = [n["name"] for n in nodes[i + 1 : i + 1 + per_node]]
        connections[source["name"]] = {"main": [[{"node": t, "type": "main", "index": 0} for t in targets]]}
    return {"name": "limits", "nodes": list(nodes), "connections": connections}


def _issue_set_node(expressions: int) -> dict[str, Any]:
    """The issue's document: one Set node holding ``expressions`` distinct expressions."""
    values = [{"name": f"field{i}", "value": f"={{{{ $json.a{i} + {i} }}}}"} for i in range(expressions)]
    return _workflow(_node("Set", "n8n-nodes-base.set", values={"string": values}))


def _errors(report: ValidationReport) -> list[tuple[str, str]]:
    return [(i.code, i.path) for i in report.errors]


def _timed(source: Any, **kwargs: Any) -> tuple[ValidationReport, float]:
    started = time.perf_counter()
    report = validate(source, REGISTRY, **kwargs)
    return report, time.perf_counter() - started


@pytest.mark.parametrize("as_text", [True, False], ids=["json text", "parsed document"])
def test_the_issue_s_600000_expression_set_node_is_refused_at_once(as_text: bool) -> None:
    document = _issue_set_node(600_000)
    source = json.dumps(document) if as_text else document
    report, seconds = _timed(source)
    assert seconds < 2
    assert not report.valid
    assert {i.code for i in report.errors} == {"LIMIT_EXCEEDED"}
    assert ("LIMIT_EXCEEDED", "$") in _errors(report)
    message = report.errors[0].message
    assert "8,388,608" in message if as_text else "250000 JSON values" in message


def test_each_limit_names_the_part_of_the_document_that_passed_it() -> None:
    limits = DocumentLimits(
        parameter_bytes=200, expression_bytes=30, expressions_per_node=3, expressions=4, expression_text=150
    )
    big = _node("Big", text="x" * 300)
    many = _node("Many", a="={{ 1 }}", b="={{ 2 }}", c="={{ 3 }}", d="={{ 4 }}")
    long = _node("Long", nested={"list": ["plain", "={{ " + "1 + " * 10 + "1 }}"]})
    report, _ = _timed(_workflow(big, many, long), limits=limits)
    assert _errors(report) == [
        ("LIMIT_EXCEEDED", "nodes"),  # 5 expressions in the workflow
        ("LIMIT_EXCEEDED", "nodes[1].parameters"),  # 300 bytes of parameters
        ("LIMIT_EXCEEDED", "nodes[2].parameters"),  # 4 expressions in one node
        ("LIMIT_EXCEEDED", "nodes[3].parameters.nested.list[1]"),  # one expression of 48 characters
    ]
    assert [i.message for i in report.errors] == [
        "the workflow has 5 expressions; the limit is 4",
        "the node's parameters are 312 bytes; the limit is 200",
        "the node has 4 expressions; the limit is 3",
        "the expression is 48 characters; the limit is 30",
    ]


def test_the_expression_text_counts_each_distinct_expression_once() -> None:
    same = [_node(f"N{i}", value="={{ $json.value + 1 }}") for i in range(20)]
    limits = DocumentLimits(expression_text=40)
    assert validate(_workflow(*same), REGISTRY, limits=limits).valid
    other = _node("Other", value="={{ $json.other + 2 }}")
    report = validate(_workflow(*same, other), REGISTRY, limits=limits)
    assert _errors(report) == [("LIMIT_EXCEEDED", "nodes")]
    assert report.errors[0].message == (
        "the workflow's distinct expressions total 44 characters; the limit is 40"
    )


def test_script_source_is_measured_but_is_no_expression() -> None:
    code = _node("Code", "n8n-nodes-base.code", jsCode="const s = '{{ x }}';\n=" + "x" * 100)
    limits = DocumentLimits(expression_bytes=10, expressions=0)
    assert "LIMIT_EXCEEDED" not in {i.code for i in validate(_workflow(code), REGISTRY, limits=limits).errors}
    report = validate(_workflow(code), REGISTRY, limits=DocumentLimits(parameter_bytes=50))
    assert _errors(report) == [("LIMIT_EXCEEDED", "nodes[1].parameters")]


def test_depth_values_and_size_of_the_whole_document() -> None:
    deep: Any = "leaf"
    for _ in range(70):
        deep = [deep]
    report, _ = _timed(_workflow(_node("Deep", value=deep)))
    assert _errors(report) == [("LIMIT_EXCEEDED", "$")]
    assert report.errors[0].message == "the document nests deeper than 64 levels"
    many = _workflow(_node("Many", value=list(range(300))))
    assert _errors(validate(many, REGISTRY, limits=DocumentLimits(values=200))) == [("LIMIT_EXCEEDED", "$")]
    sized = _workflow(_node("Sized", value="y" * 2000))
    for source in (sized, json.dumps(sized), json.dumps(sized).encode()):
        report = validate(source, REGISTRY, limits=DocumentLimits(document_bytes=1500))
        assert _errors(report) == [("LIMIT_EXCEEDED", "$")], source
        assert report.errors[0].message.startswith("the document is ")


def test_shared_containers_count_at_full_size_and_a_cycle_cannot_hide() -> None:
    shared = {"list": list(range(1000))}
    document = _workflow(*(_node(f"N{i}", value=shared) for i in range(10)))
    assert _errors(validate(document, REGISTRY, limits=DocumentLimits(values=5000))) == [
        ("LIMIT_EXCEEDED", "$")
    ]
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    report, seconds = _timed(_workflow(_node("Cycle", value=cyclic)))
    assert seconds < 2 and _errors(report) == [("LIMIT_EXCEEDED", "$")]


def test_a_normalised_definition_is_held_to_the_node_limits() -> None:
    definition = parse_workflow(_workflow(_node("Big", text="x" * 300)))
    report = validate(definition, REGISTRY, limits=DocumentLimits(parameter_bytes=200))
    assert _errors(report) == [("LIMIT_EXCEEDED", "nodes[1].parameters")]


def test_the_largest_document_within_every_limit_validates_within_a_second() -> None:
    """The costliest parts at once: expression text at its limit in the densest form (one token per two
    characters), expressions at their count, and connections and values up to the value limit."""
    short = [
        _node(f"Short{i}", value=f"={{{{ $json.f{i} }}}}") for i in range(DEFAULT_LIMITS.expressions - 3)
    ]
    room = DEFAULT_LIMITS.expression_text - sum(len(n["parameters"]["value"]) for n in short)
    dense: list[dict[str, Any]] = []
    while room > 64:  # a value of ``length`` characters: "={{ [" + "i," * (length // 2 - 4) + "i] }}"
        length = min(room, DEFAULT_LIMITS.expression_bytes) // 2 * 2
        elements = ",".join(["7"] * (length // 2 - 4))
        dense.append(_node(f"Dense{len(dense)}", value=f"={{{{ [{elements}] }}}}"))
        room -= len(dense[-1]["parameters"]["value"])
    document = _workflow(*dense, *short, links=40_000)
    text = json.dumps(document)
    report, seconds = _timed(text)
    assert report.valid, report.errors[:3]
    assert seconds < 2, f"{seconds:.2f} s"  # about 0.6 s on an idle reference machine


def test_connections_count_by_their_shape_before_the_normaliser_walks_them() -> None:
    """150,000 duplicate targets (6 MB of JSON) are refused by the value limit at once; the normaliser took
    3 s over them, and reported each one."""
    document = _workflow(_node("A"), _node("B"))
    target = {"node": "B", "type": "main", "index": 0}
    document["connections"] = {"A": {"main": [[target] * 150_000]}}
    report, seconds = _timed(json.dumps(document))
    assert _errors(report) == [("LIMIT_EXCEEDED", "$")] and seconds < 1
    assert "250000 JSON values" in report.errors[0].message


def test_unknown_fields_of_nodes_and_connections_are_never_read() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    document = _workflow(_node("A"), _node("B"), links=1)
    document["nodes"][0]["junk"] = deep
    for targets in document["connections"].values():
        targets["main"][0][0]["junk"] = deep
    assert validate(document, REGISTRY).valid
