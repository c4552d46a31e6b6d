"""Remove Duplicates v2 across executions: each run hands its static data to the next, as the service and
``tenantflow run --static-data`` do, and the node's history in it decides what passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenantflow.cli import app
from tenantflow.engine.definition import parse_workflow
from tenantflow.engine.executor import Execution
from tenantflow.nodes.n8n.data.lists.dedupe_history import HISTORY_KEY
from tests.nodes.harness import NODE, REGISTRY, workflow

pytestmark = pytest.mark.anyio

TYPE = "n8n-nodes-base.removeDuplicates"
SEEN = "removeItemsSeenInPreviousExecutions"
BY_ID = {"operation": SEEN, "dedupeValue": "={{ $json.id }}"}
BY_NUMBER = {"operation": SEEN, "logic": "removeItemsUpToStoredIncrementalKey"}
BY_DATE = {"operation": SEEN, "logic": "removeItemsUpToStoredDate", "dateDedupeValue": "={{ $json.at }}"}
CLEAR = {"operation": "clearDeduplicationHistory", "mode": "cleanDatabase"}


def rows(*values: Any, field: str = "id") -> list[dict[str, Any]]:
    return [{field: value} for value in values]


async def execute(document: dict[str, Any], static: dict[str, Any]) -> Execution:
    execution = Execution(document, registry=REGISTRY, static_data=static)
    await execution.run()
    return execution


async def run(
    parameters: dict[str, Any], data: list[dict[str, Any]], static: dict[str, Any]
) -> tuple[list[list[Any]], dict[str, Any]]:
    """Kept and discarded item json, and the static data the run leaves for the next one."""
    done = await execute(workflow(TYPE, parameters, data, version=2), static)
    assert done.record.status == "success", done.record.error
    outputs = done.record.state[NODE].output
    return [[item["json"] for item in output] for output in outputs], done.static_data


async def failure(parameters: dict[str, Any], data: list[dict[str, Any]], static: dict[str, Any]) -> str:
    done = await execute(workflow(TYPE, parameters, data, version=2), static)
    assert done.record.status == "error" and done.record.error is not None
    return str(done.record.error["message"])


async def test_a_value_seen_in_an_earlier_execution_is_discarded() -> None:
    (kept, dropped), static = await run(BY_ID, rows(1, 2, 2, "a"), {})
    assert (kept, dropped) == (rows(1, 2, 2, "a"), [])  # only earlier executions count
    (kept, dropped), static = await run(BY_ID, rows(3, 2, "a", 1, 4), static)
    assert (kept, dropped) == (rows(3, 4), rows(1, 2, "a"))  # in JS key order, as n8n groups
    assert static == {f"node:{NODE}": {HISTORY_KEY: {"mode": "entries", "data": static_hashes(static)}}}
    # n8n's MD5 (base64) of String(value): 1 and "1" are one value
    assert static_hashes(static)[:2] == ["xMpCOKC5I4INzFCab3WEmw==", "yB5yjZ1ML2NvBn+JzBSGLA=="]
    (kept, dropped), _ = await run(BY_ID, rows("1", 5), static)
    assert (kept, dropped) == (rows(5), rows("1"))


def static_hashes(static: dict[str, Any]) -> list[str]:
    hashes: list[str] = static[f"node:{NODE}"][HISTORY_KEY]["data"]
    return hashes


async def test_the_history_size_bounds_what_is_kept() -> None:
    small = {**BY_ID, "options": {"historySize": 4}}
    _, static = await run(small, rows(1, 2, 3), {})
    assert len(static_hashes(static)) == 3
    message = await failure(small, rows(1, 4), static)  # 3 stored + 2 incoming could pass 4
    assert message.startswith("The number of items to be processed exceeds the maximum history size")
    (kept, _), static = await run(small, rows(4), static)
    assert kept == rows(4) and len(static_hashes(static)) == 4
    refused = await failure({**BY_ID, "options": {"historySize": 10**6}}, rows(1), {})
    assert refused == "History Size must be a number from 0 to 100000"


async def test_clearing_the_history_lets_every_value_through_again() -> None:
    _, static = await run(BY_ID, rows(1, 2), {"global": {"mine": 1}})
    (passed, *_), cleared = await run(CLEAR, rows(7), static)
    assert passed == rows(7) and cleared == {"global": {"mine": 1}}  # the node's scope is gone
    (kept, dropped), _ = await run(BY_ID, rows(1, 2), cleared)
    assert (kept, dropped) == (rows(1, 2), [])


async def test_incremental_values_pass_only_above_the_largest_seen() -> None:
    by_n = {**BY_NUMBER, "incrementalDedupeValue": "={{ $json.n }}"}
    (kept, _), static = await run(by_n, rows(5, 10, 2, field="n"), {})
    assert kept == rows(2, 5, 10, field="n")
    assert static[f"node:{NODE}"][HISTORY_KEY] == {"mode": "latestIncrementalKey", "data": "10"}
    (kept, dropped), static = await run(by_n, rows(11, "10", 3, "12.5", field="n"), static)
    assert (kept, dropped) == (rows(11, "12.5", field="n"), rows(3, "10", field="n"))  # ascending, as n8n
    assert static[f"node:{NODE}"][HISTORY_KEY]["data"] == "12.5"
    message = await failure(by_n, rows("abc", field="n"), static)
    assert message == "The value 'abc' is not a number. Please provide a number."
    assert await failure(by_n, [{}], static) == "The `Value to Dedupe` On is empty. Please provide a value."


async def test_dates_pass_only_when_later_than_the_latest_seen() -> None:
    (kept, _), static = await run(BY_DATE, rows("2024-03-01T10:00:00Z", "2024-01-01", field="at"), {})
    assert len(kept) == 2
    assert static[f"node:{NODE}"][HISTORY_KEY]["data"] == "2024-03-01T10:00:00Z"
    later = rows("Fri, 01 Mar 2024 12:00:00 GMT", "2024-03-01T10:00:00Z", "2024-02-01", field="at")
    (kept, dropped), static = await run(BY_DATE, later, static)
    assert (kept, dropped) == ([later[0]], [later[2], later[1]])
    message = await failure(BY_DATE, rows("soon", field="at"), static)
    assert message == "The value 'soon' is not a valid date. Please provide a valid date."


async def test_switching_logic_needs_a_clean_history_first() -> None:
    _, static = await run(BY_ID, rows(1), {})
    message = await failure({**BY_NUMBER, "incrementalDedupeValue": 5}, [{}], static)
    assert "incompatible setting of the ‘Keep Items Where’ parameter" in message
    static[f"node:{NODE}"][HISTORY_KEY] = "oops"  # what a careless Code node could leave
    assert "is damaged" in await failure(BY_ID, rows(1), static)
    assert await failure({**BY_ID, "options": {"scope": "tenant"}}, rows(1), {}) == (
        'The scope \'tenant\' is not supported. Please select either "node" or "workflow".'
    )


def two_nodes(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Test data -> Remove Duplicates "A" -> Remove Duplicates "B"."""
    document = workflow(TYPE, first, rows(1, 2), version=2)
    document["nodes"].append({**document["nodes"][1], "id": "b", "name": "B", "parameters": second})
    document["connections"][NODE] = {"main": [[{"node": "B", "type": "main", "index": 0}]]}
    return document


async def test_workflow_scope_is_one_history_for_every_node_that_uses_it() -> None:
    shared = {**BY_ID, "options": {"scope": "workflow"}}
    done = await execute(two_nodes(shared, shared), {})
    assert done.record.state["B"].output[0] == []  # A recorded 1 and 2 where B looks
    assert list(done.static_data) == ["global"]
    own = await execute(two_nodes(BY_ID, BY_ID), {})
    assert len(own.record.state["B"].output[0]) == 2
    assert sorted(own.static_data) == ["node:B", f"node:{NODE}"]
    cleared = await execute(two_nodes({**CLEAR, "options": {"scope": "workflow"}}, BY_ID), done.static_data)
    assert sorted(cleared.static_data) == ["node:B"]


def test_the_host_keeps_static_data_only_for_history_operations() -> None:
    node_type = REGISTRY.get(TYPE)
    assert node_type is not None
    for parameters, version, keeps in (
        (BY_ID, 2, True),
        (CLEAR, 2, True),
        ({}, 2, False),
        ({"operation": "removeDuplicateInputItems"}, 2, False),
        (BY_ID, 1.1, False),
    ):
        node = parse_workflow(workflow(TYPE, parameters, [], version=version)).nodes[1]
        assert node_type.keeps_static_data(node) is keeps, (parameters, version)


def test_two_cli_runs_with_static_data_dedupe_across_runs(tmp_path: Path) -> None:
    document = workflow(TYPE, BY_ID, rows(1, 2), version=2)
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(document))
    kept = []
    for _ in range(2):
        done = CliRunner().invoke(app, ["run", str(path), "--json", "--static-data"])
        assert done.exit_code == 0, done.output
        kept.append(len(json.loads(done.stdout)["state"][NODE]["output"][0]))
    assert kept == [2, 0]
    saved = json.loads((tmp_path / "wf.json.static-data.json").read_text())
    assert len(saved[f"node:{NODE}"][HISTORY_KEY]["data"]) == 2


async def test_within_input_takes_n8ns_value_and_our_first_spelling_and_keeps_no_history() -> None:
    for operation in ("removeDuplicateInputItems", "removeItemsRepeatedWithinCurrentInput"):
        (kept,), static = await run({"operation": operation}, rows(1, 1, 2), {})
        assert (kept, static) == (rows(1, 2), {})
