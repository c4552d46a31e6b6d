"""Error workflows on SQLite and PostgreSQL: which failures start one, what its Error Trigger receives, and
what is refused (and noted) instead: another tenant's id, a disabled, invalid or trigger-less workflow."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tenantflow.engine.executor import execute
from tenantflow.nodes.n8n.triggers import ERROR_SAMPLE
from tenantflow.services.error_workflows import OPERATION, start_error_workflow, starts_error_workflow
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.executions import ExecutionSummary, ExecutionView
from tenantflow.store.models import Workflow
from tenantflow.store.unit import Store
from tests.nodes.harness import REGISTRY
from tests.services import test_executions as executions_suite
from tests.services.test_executions import chain, fail, node, saved, tenant, wait

pytestmark = pytest.mark.anyio


def error_workflow(
    *first: dict[str, Any], trigger: str = "errorTrigger", then: str = "noOp"
) -> dict[str, Any]:
    """Nodes ``first`` (other triggers, say), then a trigger and one node after it."""
    nodes = [*first, node("On Error", trigger), node("Handle", then)]
    return {
        "name": f"on-error-{uuid.uuid4().hex[:8]}",
        "nodes": nodes,
        "connections": {"On Error": {"main": [[{"node": "Handle", "type": "main", "index": 0}]]}},
        "active": True,
    }


def failing(error_workflow_id: Any, *nodes: dict[str, Any]) -> dict[str, Any]:
    document = chain("failing", *(nodes or (fail(),)))
    document["settings"] = {"errorWorkflow": error_workflow_id}
    return document


# The execution suite's fixtures, registered here too: tenant A's admin and a started service.
actor = executions_suite.actor
bus = executions_suite.bus
service = executions_suite.service


async def ended(service: ExecutionService, actor: Actor, summary: ExecutionSummary) -> ExecutionView:
    """The execution's end, once its run is over: its error workflow, if any, has been submitted by then."""
    view = await service.wait(actor.tenant_id, summary.id, 10)
    assert view is not None
    await asyncio.gather(*(task for task in asyncio.all_tasks() if task.get_name() == f"execution-{view.id}"))
    return view


async def run(service: ExecutionService, actor: Actor, workflow_id: str, **options: Any) -> ExecutionView:
    return await ended(service, actor, await service.submit(actor, workflow_id, **options))


async def executions_of(store: Store, actor: Actor, workflow_id: str) -> list[ExecutionSummary]:
    async with store.unit(actor, read_only=True) as unit:
        return list((await unit.executions.list(workflow_id=workflow_id)).items)


async def the_error_run(service: ExecutionService, actor: Actor, workflow_id: str) -> ExecutionView:
    """The one execution of the error workflow ``workflow_id``, ended."""
    [summary] = await executions_of(service.store, actor, workflow_id)
    return await ended(service, actor, summary)


async def notes(store: Store, actor: Actor, execution_id: str) -> list[dict[str, Any]]:
    """What the audit log says became of the failed execution's error workflow."""
    async with store.unit(actor, read_only=True) as unit:
        page = await unit.audit_log.list({"operation": OPERATION, "targetId": execution_id})
    return [{key: entry[key] for key in ("outcome", "errorCode", "details")} for entry in page.items]


async def test_a_failure_hands_the_error_trigger_n8ns_summary(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    handler = await saved(store, actor, error_workflow())
    document = failing(handler)
    workflow_id = await saved(store, actor, document)
    failed = await run(service, actor, workflow_id, trigger_kind="webhook")
    assert failed.status == "error"

    stopped = {"message": "check failed", "code": "STOPPED_BY_NODE", "node": "Check"}
    assert {key: failed.error[key] for key in stopped} == stopped

    handled = await the_error_run(service, actor, handler)
    assert handled.trigger_kind == "error" and handled.status == "success", handled.error
    item = handled.state["On Error"].output[0][0]["json"]
    assert item == {
        "execution": {
            "id": failed.id,
            "url": f"/api/v1/{actor.tenant_id}/executions/{failed.id}",
            "error": failed.error,
            "lastNodeExecuted": "Check",
            "mode": "webhook",
        },
        "workflow": {"id": workflow_id, "name": document["name"]},
    }
    assert handled.state["Handle"].output[0][0]["json"] == item
    assert await notes(store, actor, failed.id) == [
        {
            "outcome": "ok",
            "errorCode": None,
            "details": {"errorWorkflowId": handler, "executionId": handled.id},
        }
    ]

    await start_error_workflow(service, actor.tenant_id, failed)  # once per failed execution
    assert len(await executions_of(store, actor, handler)) == 1


async def test_the_run_starts_at_the_error_trigger_whatever_trigger_comes_first(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    handler = await saved(store, actor, error_workflow(node("Start", "manualTrigger")))
    failed = await run(service, actor, await saved(store, actor, failing(handler)), trigger_kind="webhook")

    handled = await the_error_run(service, actor, handler)

    assert handled.status == "success", handled.error
    assert set(handled.state) == {"On Error", "Handle"}
    assert handled.state["On Error"].output[0][0]["json"]["execution"]["id"] == failed.id


async def test_a_timeout_and_a_retry_say_so(store: Store, service: ExecutionService, actor: Actor) -> None:
    handler = await saved(store, actor, error_workflow())
    slow = failing(handler, wait(5))
    slow["settings"]["executionTimeout"] = 0.2
    timed_out = await run(service, actor, await saved(store, actor, slow), trigger_kind="schedule")
    assert timed_out.status == "timeout"
    execution = (
        (await the_error_run(service, actor, handler)).state["On Error"].output[0][0]["json"]["execution"]
    )
    # n8n's name for a schedule's run; the last node that ran, as in n8n: Wait never finished
    assert (execution["mode"], execution["lastNodeExecuted"]) == ("trigger", "Start")
    assert execution["error"] == timed_out.error and "retryOf" not in execution

    other_handler = await saved(store, actor, error_workflow())
    workflow_id = await saved(store, actor, failing(other_handler))
    failed = await run(service, actor, workflow_id, trigger_kind="api")
    retried = await ended(service, actor, await service.retry(actor, failed.id))
    assert retried.status == "error"
    [retry_run, first_run] = await executions_of(store, actor, other_handler)
    modes = []
    for summary in (first_run, retry_run):
        item = (await ended(service, actor, summary)).state["On Error"].output[0][0]["json"]
        modes.append((item["execution"]["mode"], item["execution"].get("retryOf")))
    assert modes == [("api", None), ("retry", failed.id)]


@pytest.mark.parametrize(
    ("status", "kind", "starts"),
    [
        ("error", "api", True),
        ("timeout", "webhook", True),
        ("crashed", "schedule", True),
        ("error", "retry", True),
        ("success", "api", False),
        ("aborted", "api", False),
        ("error", "manual", False),
        ("crashed", "error", False),
    ],
)
def test_which_ends_start_an_error_workflow(status: str, kind: str, starts: bool) -> None:
    end = ExecutionSummary(
        *("e1", "w1", 1, status, kind, 1, False, None, datetime.now(UTC), None, None, None, None)
    )
    assert starts_error_workflow(end) is starts


async def test_manual_successful_and_aborted_runs_and_an_empty_setting_start_nothing(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    unset = failing("")  # as n8n exports a workflow without an error workflow
    unset_run = await run(service, actor, await saved(store, actor, unset), trigger_kind="api")
    assert unset_run.status == "error" and await notes(store, actor, unset_run.id) == []
    handler = await saved(store, actor, error_workflow())
    manual = await run(service, actor, await saved(store, actor, failing(handler)))
    success = await run(
        service, actor, await saved(store, actor, failing(handler, node("Pass", "noOp"))), trigger_kind="api"
    )
    slow = await service.submit(
        actor, await saved(store, actor, failing(handler, wait(5))), trigger_kind="api"
    )
    await service.abort(actor, slow.id)
    aborted = await ended(service, actor, slow)
    assert (manual.status, success.status, aborted.status) == ("error", "success", "aborted")
    assert await executions_of(store, actor, handler) == []


async def test_an_error_workflow_that_fails_starts_no_error_workflow(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    first = await saved(store, actor, error_workflow(then="stopAndError"))
    second = error_workflow(then="stopAndError")
    second["settings"] = {"errorWorkflow": first}
    second_id = await saved(store, actor, second)
    async with store.unit(actor) as unit:  # each names the other: n8n would go round for ever
        await unit.workflows.update(first, {"settings": {"errorWorkflow": second_id}})
    failed = await run(service, actor, await saved(store, actor, failing(second_id)), trigger_kind="api")
    handled = await the_error_run(service, actor, second_id)
    assert (failed.status, handled.status) == ("error", "error")
    assert await executions_of(store, actor, first) == []


async def test_another_tenants_workflow_reads_as_not_found(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    other = await tenant(store, "b")
    theirs = await saved(store, other, error_workflow())
    failed = await run(service, actor, await saved(store, actor, failing(theirs)), trigger_kind="webhook")
    assert failed.status == "error"
    assert await executions_of(store, other, theirs) == []
    async with store.unit(other, read_only=True) as unit:  # the owner learns that someone reached, not who
        page = await unit.audit_log.list({"targetId": theirs, "outcome": "denied"})
    assert [(entry["operation"], entry["userId"]) for entry in page.items] == [("workflow.read", None)]
    assert await notes(store, actor, failed.id) == [
        {
            "outcome": "error",
            "errorCode": "WORKFLOW_NOT_FOUND",
            "details": {"message": f"error workflow {theirs!r} was not run: workflow {theirs!r} not found"},
        }
    ]


async def test_what_cannot_run_is_noted_on_the_failed_execution(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    disabled = {**error_workflow(), "active": False}
    invalid = await saved(store, actor, error_workflow(then="doesNotExist"), allow_invalid=True)
    async with store.database.transaction(actor.tenant_id) as session:  # the store refuses to enable it
        row = await session.get(Workflow, invalid)
        assert row is not None
        row.enabled = True
    await asyncio.sleep(0.15)  # past the hot cache's 100 ms
    targets: list[tuple[Any, str, str]] = [
        (await saved(store, actor, disabled), "WORKFLOW_DISABLED", "is disabled"),
        (invalid, "VALIDATION_STATUS_INVALID", "is not valid (invalid)"),
        (
            await saved(store, actor, error_workflow(trigger="noOp")),
            "WORKFLOW_NOT_EXECUTABLE",
            "no enabled Error Trigger",
        ),
        ("no-such-workflow", "WORKFLOW_NOT_FOUND", "not found"),
        (42, "INVALID_VALUE", "must be a workflow id"),
    ]
    for target, code, says in targets:
        failed = await run(service, actor, await saved(store, actor, failing(target)), trigger_kind="api")
        [note] = await notes(store, actor, failed.id)
        assert (note["outcome"], note["errorCode"]) == ("error", code), note
        assert note["details"]["message"].startswith(f"error workflow {target!r} was not run: ")
        assert says in note["details"]["message"]
        if isinstance(target, str):
            assert await executions_of(store, actor, target) == []


@pytest.mark.parametrize(
    ("trigger_data", "emitted"),
    [({}, ERROR_SAMPLE), ({"execution": {"id": "7"}}, {"execution": {"id": "7"}})],
)
async def test_the_error_trigger_run_by_hand_emits_n8ns_example(trigger_data: Any, emitted: Any) -> None:
    document = error_workflow()
    record = await execute(document, registry=REGISTRY, input_items=[{"json": trigger_data}])
    assert record.status == "success", record.error
    assert record.state["Handle"].output == [[{"json": emitted, "pairedItem": {"item": 0}}]]
