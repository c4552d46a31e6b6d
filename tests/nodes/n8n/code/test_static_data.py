"""Workflow static data: scripts read and change it; the execution hands it back for the next run."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.executor import Execution
from tests.nodes.harness import REGISTRY, workflow

pytestmark = pytest.mark.anyio

COUNTER = """
const data = $getWorkflowStaticData('global');
const mine = $getWorkflowStaticData('node');
data.count = (data.count || 0) + 1;
mine.seen = [...(mine.seen || []), $input.first().json.n];
return [{ json: { count: data.count, seen: mine.seen } }];
"""


async def run(node_type: str, parameters: dict[str, Any], static: dict[str, Any]) -> Execution:
    execution = Execution(workflow(node_type, parameters, [{"n": 7}]), registry=REGISTRY, static_data=static)
    record = await execution.run()
    assert record.status == "success", record.error
    return execution


async def test_static_data_survives_from_one_execution_to_the_next() -> None:
    first = await run("n8n-nodes-base.code", {"jsCode": COUNTER}, {})
    assert first.record.state["Node"].output[0][0]["json"] == {"count": 1, "seen": [7]}
    assert first.static_data == {"global": {"count": 1}, "node:Node": {"seen": [7]}}
    second = await run("n8n-nodes-base.code", {"jsCode": COUNTER}, first.static_data)
    assert second.record.state["Node"].output[0][0]["json"] == {"count": 2, "seen": [7, 7]}
    assert first.static_data == {"global": {"count": 1}, "node:Node": {"seen": [7]}}  # the input is copied


async def test_the_function_node_keeps_it_too_and_scripts_that_never_ask_leave_it_alone() -> None:
    legacy = "const d = getWorkflowStaticData('global'); d.last = items[0].json.n; return items;"
    done = await run(
        "n8n-nodes-base.function", {"functionCode": legacy}, {"global": {"last": 1}, "x": {"y": 1}}
    )
    assert done.static_data == {"global": {"last": 7}, "x": {"y": 1}}
    untouched = await run("n8n-nodes-base.code", {"jsCode": "return $input.all();"}, {"global": {"a": 1}})
    assert untouched.static_data == {"global": {"a": 1}}
