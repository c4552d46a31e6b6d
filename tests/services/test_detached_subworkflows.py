"""Sub-workflows started without waiting (n8n's ``waitForSubWorkflow: false``): a stored one becomes an
execution of its own (trigger ``subworkflow``, its parent named), recorded and run like any other, in the
caller's tenant only; chains of them stop at a depth; an inline one still runs beside the caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.services.executions import MAX_DETACHED_DEPTH, ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.unit import Store
from tests.services import test_executions as executions_suite
from tests.services.test_executions import chain, node, run, saved, set_node, tenant

pytestmark = pytest.mark.anyio

actor = executions_suite.actor
other = executions_suite.other
bus = executions_suite.bus
service = executions_suite.service


def start_without_waiting(target: str) -> dict[str, Any]:
    options = {"waitForSubWorkflow": False}
    parameters = {"source": "database", "workflowId": target, "options": options}
    return node("Start child", "executeWorkflow", parameters, 1.1)


async def executions_of(store: Store, actor: Actor, workflow_id: str) -> list[Any]:
    async with store.unit(actor, read_only=True) as unit:
        return list((await unit.executions.list(workflow_id=workflow_id, limit=100)).items)


async def finished(store: Store, actor: Actor, workflow_id: str, count: int) -> list[Any]:
    """The workflow's executions once ``count`` of them ended (fails after 10 s)."""
    for _ in range(200):
        found = await executions_of(store, actor, workflow_id)
        if sum(item.status not in ("queued", "running") for item in found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {count} finished executions of {workflow_id}: {found}")


async def test_a_stored_child_runs_as_an_execution_of_its_own(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    child = await saved(
        store, actor, chain("child", set_node("Mark", "seen", "={{ $json.order }}"), active=False)
    )
    parent = chain("parent", set_node("Order", "order", "42"), start_without_waiting(child))

    record = await run(service, actor, await saved(store, actor, parent))

    assert record.status == "success", record.error
    assert record.state["Start child"].output[0][0]["json"]["order"] == "42"  # the caller goes on at once
    [started] = await finished(store, actor, child, 1)
    child_record = await executions_suite.stored(store, actor, started.id)
    assert child_record.status == "success"  # a disabled workflow runs as a sub-workflow, as in n8n
    assert child_record.trigger_kind == "subworkflow"
    assert child_record.input["trigger"]["metadata"] == {"parentExecutionId": record.id, "depth": 1}
    assert child_record.state["Mark"].output[0][0]["json"]["seen"] == "42"
    assert any(entry.data and entry.data.get("executionId") == started.id for entry in record.logs)


async def test_another_tenants_workflow_reads_as_not_found(
    store: Store, service: ExecutionService, actor: Actor, other: Actor
) -> None:
    foreign = await saved(store, other, chain("foreign", set_node("Mark", "from", "b")))

    record = await run(
        service, actor, await saved(store, actor, chain("caller", start_without_waiting(foreign)))
    )

    assert record.status == "error"
    assert record.error["code"] == ErrorCode.WORKFLOW_NOT_FOUND and "not found" in record.error["message"]
    assert await executions_of(store, other, foreign) == []


async def test_a_chain_of_detached_starts_stops_at_the_depth_limit(
    store: Store, service: ExecutionService
) -> None:
    actor = await tenant(store, "chain")
    async with store.unit(actor) as unit:
        created = await unit.workflows.create(chain("self", set_node("Mark", "x", "1")))
    document = chain("self", start_without_waiting(created.id))
    async with store.unit(actor) as unit:
        await unit.workflows.update(
            created.id, {"nodes": document["nodes"], "connections": document["connections"]}
        )

    await run(service, actor, created.id)

    found = await finished(store, actor, created.id, MAX_DETACHED_DEPTH + 1)
    assert len(found) == MAX_DETACHED_DEPTH + 1  # the first run, then one per level
    last = [item for item in found if item.status == "error"]
    assert len(last) == 1 and last[0].error["code"] == ErrorCode.EXECUTION_LIMIT


async def test_an_inline_child_still_runs_beside_the_caller(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    inline = {"nodes": [node("Start", "manualTrigger")], "connections": {}}
    parameters = {"source": "parameter", "workflowJson": inline, "options": {"waitForSubWorkflow": False}}
    caller = await saved(
        store, actor, chain("inline", node("Start child", "executeWorkflow", parameters, 1.1))
    )

    record = await run(service, actor, caller)

    assert record.status == "success"
    assert await executions_of(store, actor, caller) != []  # only the caller's own execution is recorded
    assert len(await executions_of(store, actor, caller)) == 1
