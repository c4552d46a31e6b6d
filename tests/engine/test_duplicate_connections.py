"""Repeated identical connections: refused at validation and when a document is normalised for a run.

n8n enqueues a connection's target once per connection entry, so ten copies of one edge per hop run
every later node ten times more per hop; collapsing them would change the workflow's meaning, so they are
refused with the copy's path.
"""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from typing import Any

import pytest

from tenantflow.engine.definition import DefinitionError, parse_workflow
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import execute
from tenantflow.engine.validation import validate
from tenantflow.nodes import default_registry

REGISTRY = default_registry(plugins=False)


def _node(name: str, type_: str = "n8n-nodes-base.noOp") -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "type": type_, "typeVersion": 1, "parameters": {}}


def _parallel_hops(hops: int, copies: int) -> dict[str, Any]:
    """Start -> H1 -> ... -> Hn, each hop written ``copies`` times."""
    names = ["Start", *(f"H{i}" for i in range(1, hops + 1))]
    nodes = [_node("Start", "n8n-nodes-base.manualTrigger"), *(_node(n) for n in names[1:])]
    connections = {
        a: {"main": [[{"node": b, "type": "main", "index": 0}] * copies]} for a, b in pairwise(names)
    }
    return {"name": "fan", "nodes": nodes, "connections": connections}


def test_the_issue_workflow_is_refused_by_validation_with_each_copy_s_path() -> None:
    started = time.perf_counter()
    report = validate(_parallel_hops(7, 10), REGISTRY)
    assert time.perf_counter() - started < 2
    assert not report.valid
    duplicates = [i for i in report.errors if "duplicate connection" in i.message]
    assert len(duplicates) == 7 * 9
    assert {i.code for i in duplicates} == {ErrorCode.INVALID_EDGES.value}
    assert duplicates[0].path == "connections['H1'].main[0][1]"
    assert "n8n would run the target once per copy" in duplicates[0].message


def test_a_run_of_the_document_is_refused_before_any_node_runs() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_workflow(_parallel_hops(7, 10))
    assert "duplicate connection" in str(caught.value)
    started = time.perf_counter()
    with pytest.raises(DefinitionError):
        asyncio.run(execute(_parallel_hops(4, 10), registry=REGISTRY))
    assert time.perf_counter() - started < 2


def test_the_same_target_by_name_and_by_id_is_a_duplicate_too() -> None:
    doc = _parallel_hops(1, 1)
    doc["connections"]["Start"]["main"][0].append({"node": "id-H1", "type": "main", "index": 0})
    report = validate(doc, REGISTRY)
    assert [(i.code, i.path) for i in report.errors] == [("INVALID_EDGES", "connections['Start'].main[0][1]")]


def test_a_source_listed_by_name_and_by_id_with_the_same_target_is_a_duplicate() -> None:
    doc = _parallel_hops(1, 1)
    doc["connections"]["id-Start"] = {"main": [[{"node": "H1", "type": "main", "index": 0}]]}
    with pytest.raises(DefinitionError, match="duplicate connection"):
        parse_workflow(doc)
    report = validate(doc, REGISTRY)
    assert [(i.code, i.path) for i in report.errors] == [
        ("INVALID_EDGES", "connections['id-Start'].main[0][0]")
    ]


def test_distinct_connections_from_one_output_stay_valid() -> None:
    doc = _parallel_hops(2, 1)
    doc["connections"]["Start"]["main"][0].append({"node": "H2", "type": "main", "index": 0})
    assert validate(doc, REGISTRY).valid
    doc["connections"]["Start"]["main"][0].append({"node": "H1", "type": "main", "index": 1})
    assert not any("duplicate" in i.message for i in validate(doc, REGISTRY).errors)
