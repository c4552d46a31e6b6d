"""``validate`` never raises: arbitrary JSON, arbitrary text, and valid workflows with random damage."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantflow.engine.definition import DefinitionError, parse_workflow
from tenantflow.engine.validation import ValidationReport, validate
from tests.engine.conftest_validation_types import make_registry

REGISTRY = make_registry()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["nodes", "connections", "main", "error", "node", "type", "index", "id", "name", "nodeType"]
WORDS += ["typeVersion", "parameters", "variables", "defaultValue", "onError", "0", "1", "Start", "IF", "n1"]
TEMPLATES = ["={{ $json.x }}", "={{ (", "{{ $('Ghost').a }}", "={{ $vars.nope }}", "=", "{{ }}"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(WORDS + TEMPLATES)
)
keys = st.sampled_from(WORDS) | st.text(max_size=6)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
)


def n8n_node(node_id: str, name: str, type_: str, version: float = 1, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version,
            "position": [0, 0], "parameters": parameters}  # fmt: skip


def targets(*names: str) -> list[dict[str, Any]]:
    return [{"node": name, "type": "main", "index": 0} for name in names]


N8N: dict[str, Any] = {
    "name": "fuzz",
    "nodes": [
        n8n_node("1", "Start", "manualTrigger"),
        n8n_node("2", "IF", "if", c="={{ 1 }}"),
        n8n_node("3", "Set", "set", 2, value="={{ $('IF').item.json.x }}", count=1),
        n8n_node("4", "Loop", "splitInBatches", 3),
    ],
    "connections": {
        "Start": {"main": [targets("IF")]},
        "IF": {"main": [targets("Loop"), targets("Set")]},
        "Loop": {"main": [[], targets("Set")]},
        "Set": {"main": [targets("Loop")]},
    },
    "variables": {"limit": {"type": "number", "defaultValue": 3}},
}
METABUILDER: dict[str, Any] = {
    "id": "wf",
    "name": "mb",
    "nodes": [
        {"id": "n1", "name": "Start", "type": "trigger", "nodeType": "n8n-nodes-base.manualTrigger"},
        {
            "id": "n2",
            "name": "Read",
            "type": "operation",
            "nodeType": "dbal-read",
            "parameters": {"q": "{{ $vars.limit }}"},
        },
    ],
    "connections": {"n1": {"main": {"0": targets("n2")}}},
    "variables": {"limit": {"type": "number"}},
}


def assert_consistent(report: ValidationReport) -> None:
    assert report.valid == (not report.errors)
    assert [i.path for i in report.errors] == sorted(i.path for i in report.errors)
    json.dumps(report.to_dict())


def test_the_seed_workflows_are_valid() -> None:
    for doc in (N8N, METABUILDER):
        report = validate(doc, REGISTRY)
        assert report.valid and not report.warnings, report.errors


@FUZZ
@given(json_values)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    assert_consistent(validate(value, REGISTRY))
    assert_consistent(validate(json.dumps(value), REGISTRY))


@FUZZ
@given(st.text() | st.binary())
def test_never_raises_on_arbitrary_text(text: str | bytes) -> None:
    assert_consistent(validate(text, REGISTRY))


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        if isinstance(child, dict | list):
            found.extend(_containers(child, (*path, key)))
    return found


@FUZZ
@given(st.sampled_from([N8N, METABUILDER]), st.data())
def test_never_raises_on_damaged_workflows(seed: dict[str, Any], data: st.DataObject) -> None:
    doc = copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        container: Any = doc
        for key in data.draw(st.sampled_from(_containers(doc))):
            container = container[key]
        if isinstance(container, dict):
            key = data.draw(st.sampled_from([*container, *WORDS]))
        else:
            key = data.draw(st.integers(0, len(container))) if container else 0
        present = key in container if isinstance(container, dict) else key < len(container)
        if present and data.draw(st.booleans()):
            del container[key]
        elif isinstance(container, dict):
            container[key] = data.draw(json_values)
        else:
            container.insert(key, data.draw(json_values))
    report = validate(doc, REGISTRY)
    assert_consistent(report)
    try:
        definition = parse_workflow(doc)
    except DefinitionError:  # the normaliser's only exception, whatever the damage
        return
    assert_consistent(validate(definition, REGISTRY))
