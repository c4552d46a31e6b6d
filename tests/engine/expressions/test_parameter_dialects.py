"""Which parameter strings are templates: code is never one, and n8n's nodes follow n8n's ``=`` rule."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.expressions import follows_n8n, is_template, resolve_value
from tenantflow.engine.validation import validate
from tenantflow.nodes import default_registry
from tests.nodes.harness import NODE, run_node, workflow

REGISTRY = default_registry(plugins=False)
LITERAL_BRACES = 'const s = "{{ not a template }}"; return [{json: {s}}];'


def _expression_issues(document: dict[str, Any]) -> list[tuple[str, str]]:
    report = validate(document, REGISTRY)
    return [(i.code, i.path) for i in report.errors if "EXPRESSION" in i.code or "REFERENCE" in i.code]


@pytest.mark.parametrize(
    ("node_type", "parameters"),
    [
        ("n8n-nodes-base.code", {"jsCode": LITERAL_BRACES}),
        ("code", {"jsCode": LITERAL_BRACES}),
        ("n8n-nodes-base.code", {"language": "python", "pythonCode": "s = '{{ not a template }}'"}),
        ("n8n-nodes-base.function", {"functionCode": "const s = '{{ $node[\"Nowhere\"] }}'; return items;"}),
        ("n8n-nodes-base.functionItem", {"functionCode": "=item.s = '{{ 1 +'; return item;"}),
        ("@n8n/n8n-nodes-langchain.code", {"code": {"execute": {"code": "={{ syntax error"}}}),
    ],
)
def test_code_parameters_are_never_validated_as_templates(node_type: str, parameters: dict[str, Any]) -> None:
    assert _expression_issues(workflow(node_type, parameters, [{"a": 1}], version=2)) == []


def test_a_non_code_parameter_of_a_code_node_is_still_checked() -> None:
    document = workflow("n8n-nodes-base.code", {"jsCode": "return [];", "mode": "={{ 1 + }}"}, [{"a": 1}])
    assert _expression_issues(document) == [("EXPRESSION_SYNTAX", "nodes[1].parameters.mode")]


@pytest.mark.anyio
@pytest.mark.parametrize("node_type", ["n8n-nodes-base.code", "code"])
async def test_code_with_braces_runs_and_returns_the_literal_text(node_type: str) -> None:
    document = workflow(node_type, {"jsCode": LITERAL_BRACES}, [{"a": 1}], version=2)
    assert _expression_issues(document) == []
    run = await run_node(node_type, {"jsCode": LITERAL_BRACES}, [{"a": 1}], version=2)
    assert run.json() == [[{"s": "{{ not a template }}"}]]
    assert run.state.error is None and NODE in run.record.state


# --- n8n's rule for n8n's nodes, MetaBuilder's for the others -----------------------------------------


def _assign(value: str) -> dict[str, Any]:
    """Set (v3.4) parameters writing ``value`` to the field ``auth``."""
    return {"assignments": {"assignments": [{"id": "a", "name": "auth", "value": value, "type": "string"}]}}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("node_type", "value", "expected"),
    [
        ("n8n-nodes-base.set", "Bearer {{ 1+1 }}", "Bearer {{ 1+1 }}"),  # n8n keeps it as written
        ("n8n-nodes-base.set", "=Bearer {{ 1+1 }}", "Bearer 2"),
        ("n8n-nodes-base.set", "{{ $json.a }}", "{{ $json.a }}"),
        ("set", "Bearer {{ 1+1 }}", "Bearer 2"),  # not an n8n type name: MetaBuilder's dialect
        ("set", "=Bearer {{ 1+1 }}", "Bearer 2"),
    ],
)
async def test_set_node_follows_its_dialect(node_type: str, value: str, expected: str) -> None:
    run = await run_node(node_type, _assign(value), [{"a": 1}], version=3.4)
    assert run.json() == [[{"auth": expected}]]


@pytest.mark.anyio
async def test_metabuilder_node_keeps_rendering_bare_templates() -> None:
    mapping = {"n": "{{ $json.a * 2 }}", "deep": {"who": "{{ $json.who }}"}}
    run = await run_node("transform", {"mapping": mapping}, [{"a": 3, "who": "Ada"}])
    assert run.json() == [[{"result": {"n": 6, "deep": {"who": "Ada"}}}]]


@pytest.mark.parametrize(
    ("node_type", "value", "errors"),
    [
        ("n8n-nodes-base.set", "Bearer {{ 1 + }}", []),
        ("n8n-nodes-base.set", "=Bearer {{ 1 + }}", ["EXPRESSION_SYNTAX"]),
        ("n8n-nodes-base.set", "{{ $('Ghost').item }}", []),
        ("n8n-nodes-base.set", "={{ $('Ghost').item }}", ["UNKNOWN_NODE_REFERENCE"]),
        ("set", "Bearer {{ 1 + }}", ["EXPRESSION_SYNTAX"]),
        ("set", "{{ $('Ghost').item }}", ["UNKNOWN_NODE_REFERENCE"]),
    ],
)
def test_validation_checks_templates_of_the_nodes_dialect(
    node_type: str, value: str, errors: list[str]
) -> None:
    document = workflow(node_type, _assign(value), [{"a": 1}], version=3.4)
    assert [code for code, _ in _expression_issues(document)] == errors


def test_the_dialect_helpers() -> None:
    assert follows_n8n("n8n-nodes-base.set") and follows_n8n("@n8n/n8n-nodes-langchain.agent")
    assert not follows_n8n("set") and not follows_n8n("transform") and not follows_n8n("n8n-nodes-testing.x")
    assert is_template("Bearer {{ 1 }}") and not is_template("Bearer {{ 1 }}", n8n=True)
    assert is_template("={{ 1 }}", n8n=True) and is_template("=plain", n8n=True)
    parameters = {"a": ["x {{ 1 + 1 }}", "=y {{ 1 + 1 }}"]}
    assert resolve_value(parameters, {}, n8n=True) == {"a": ["x {{ 1 + 1 }}", "y 2"]}
    assert resolve_value(parameters, {}) == {"a": ["x 2", "y 2"]}
