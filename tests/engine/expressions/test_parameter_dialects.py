"""Which parameter strings are templates: code is never one, and n8n's nodes follow n8n's ``=`` rule."""

from __future__ import annotations

from typing import Any

import pytest

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
