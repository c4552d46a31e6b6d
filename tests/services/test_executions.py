"""The execution service on SQLite and PostgreSQL: what the execute/abort/retry/events routes rely on."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select

from tenantflow.engine.errors import ErrorCode
from tenantflow.services.events import InProcessEventBus, ProgressEvent
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.errors import AccessDeniedError, ConflictError, StoreError
from tenantflow.store.models import Execution, ExecutionLog, ExecutionNode, Workflow
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.unit import Store
from tenantflow.store.workflows import StaticData
from tests.store.conftest import new_tenant

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-value-never-stored"


def node(
    name: str, kind: str, parameters: dict[str, Any] | None = None, version: float = 1
) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "type": f"n8n-nodes-base.{kind}",
        "typeVersion": version,
        "position": [0, 0],
        "parameters": parameters or {},
    }


def set_node(name: str, field: str, value: str) -> dict[str, Any]:
    assignments = {"assignments": [{"id": field, "name": field, "type": "string", "value": value}]}
    return node(name, "set", {"assignments": assignments, "includeOtherFields": True, "options": {}}, 3.4)


def chain(name: str, *nodes: dict[str, Any], active: bool = True) -> dict[str, Any]:
    everything = [node("Start", "manualTrigger"), *nodes]
    connections = {
        source["name"]: {"main": [[{"node": target["name"], "type": "main", "index": 0}]]}
        for source, target in pairwise(everything)
    }
    return {
        "name": f"{name}-{uuid.uuid4().hex[:8]}",
        "nodes": everything,
        "connections": connections,
        "active": active,
    }


def fail(name: str = "Check") -> dict[str, Any]:
    return node(name, "stopAndError", {"errorMessage": "check failed"})


def wait(seconds: float) -> dict[str, Any]:
    return node("Wait", "wait", {"amount": seconds, "unit": "seconds"}, 1.1)


async def tenant(store: Store, label: str) -> Actor:
    return Actor(await new_tenant(store, label), user_id=f"user-{label}", level=3, request_id=f"req-{label}")


@pytest.fixture
async def actor(store: Store) -> Actor:
    return await tenant(store, "a")


@pytest.fixture
async def other(store: Store) -> Actor:
    return await tenant(store, "b")


@pytest.fixture
def bus() -> InProcessEventBus:
    return InProcessEventBus()


@pytest.fixture
async def service(store: Store, bus: InProcessEventBus) -> AsyncIterator[ExecutionService]:
    running = ExecutionService(store, bus)
    await running.start()
    try:
        yield running
    finally:
        await running.shutdown()


async def saved(store: Store, actor: Actor, document: dict[str, Any], **options: Any) -> str:
    async with store.unit(actor) as unit:
        return (await unit.workflows.create(document, **options)).id


async def run(service: ExecutionService, actor: Actor, workflow_id: str, **options: Any) -> Any:
    summary = await service.submit(actor, workflow_id, **options)
    view = await service.wait(actor.tenant_id, summary.id, 10)
    assert view is not None
    return view


async def stored(store: Store, actor: Actor, execution_id: str) -> Any:
    async with store.unit(actor, read_only=True) as unit:
        return await unit.executions.get(execution_id)


async def refusal(attempt: Awaitable[Any], kind: type[StoreError] = StoreError) -> ErrorCode:
    """The code of the store error ``attempt`` raises, which must be a ``kind``."""
    with pytest.raises(kind) as refused:
        await attempt
    return refused.value.code


async def collect(events: AsyncIterator[ProgressEvent]) -> list[ProgressEvent]:
    return [event async for event in events]


async def test_success_is_stored_as_the_engine_recorded_it(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("ok", set_node("Double", "doubled", "={{ $json.n * 2 }}")))
    view = await run(
        service, actor, workflow_id, trigger_data={"n": 21}, variables={"v": 1}, idempotency_key="k1"
    )
    assert view.status == "success" and view.workflow_id == workflow_id
    assert view.state["Double"].output == [[{"json": {"n": 21, "doubled": "42"}, "pairedItem": {"item": 0}}]]
    back = await stored(store, actor, view.id)
    assert json.dumps(back.to_dict(), sort_keys=True, indent=1) == json.dumps(
        view.to_dict(), sort_keys=True, indent=1
    )
    assert back.metrics["nodesExecuted"] == 2 and back.input["triggerData"] == {"n": 21}
    assert back.created_by == actor.user_id and back.idempotency_key == "k1"


async def test_finished_runs_leave_nothing_to_the_garbage_collector(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    """A run's units, its engine objects and the run itself are freed as its work ends, not by the cyclic
    collector: at a request's worth of objects each, the collector's passes took 3-4% of the server's
    CPU, and each full pass paused every request for about 10 ms."""
    workflow_id = await saved(store, actor, chain("ok", set_node("Double", "doubled", "={{ $json.n * 2 }}")))
    await run(service, actor, workflow_id, trigger_data={"n": 1})  # caches and statements warmed
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for n in range(3):
            await run(service, actor, workflow_id, trigger_data={"n": n})
        await stored(store, actor, (await run(service, actor, workflow_id)).id)
        gc.collect()
        cycles = sorted(
            {type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("tenantflow")}
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cycles == []


async def test_context_carries_tenant_user_execution_trigger_and_request(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    document = chain("ctx", set_node("Ctx", "ctx", "={{ JSON.stringify($context) }}"))
    request = {
        "method": "POST",
        "headers": {"authorization": "Bearer x", "x-trace": "t"},
        "query": {"q": "1"},
    }
    view = await run(service, actor, await saved(store, actor, document), request=request, trigger_kind="api")
    context = json.loads(view.state["Ctx"].output[0][0]["json"]["ctx"])
    assert context["tenantId"] == actor.tenant_id and context["userId"] == actor.user_id
    assert context["executionId"] == view.id and context["trigger"]["kind"] == "api"
    assert context["request"]["headers"] == {"x-trace": "t"} and context["request"]["query"] == {"q": "1"}
    assert view.trigger_kind == "api"


async def test_trigger_data_list_is_one_item_each(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("items", node("Pass", "noOp")))
    view = await run(service, actor, workflow_id, trigger_data=[{"a": 1}, {"a": 2}])
    assert [item["json"] for item in view.state["Pass"].output[0]] == [{"a": 1}, {"a": 2}]
    assert (
        await refusal(service.submit(actor, workflow_id, trigger_data=[1]), StoreError)
        == ErrorCode.INVALID_VALUE
    )


async def test_checkpoints_are_stored_while_a_later_node_runs(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("slow", node("First", "noOp"), wait(1)))
    summary = await service.submit(actor, workflow_id)
    deadline = time.monotonic() + 5
    while True:
        view = await stored(store, actor, summary.id)
        if "First" in view.state:
            break
        assert time.monotonic() < deadline, "the first node was never checkpointed"
        await asyncio.sleep(0.02)
    assert view.status == "running" and "Wait" not in view.state
    assert (await service.wait(actor.tenant_id, summary.id, 5)) is not None


async def test_a_failed_node_fails_the_execution(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    view = await run(service, actor, await saved(store, actor, chain("fails", fail())))
    back = await stored(store, actor, view.id)
    assert back.status == "error" and back.error["node"] == "Check"
    assert back.state["Check"].status == "error" and any(e.level == "error" for e in back.logs)


async def test_abort_ends_a_sleeping_execution_within_a_second(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    summary = await service.submit(actor, await saved(store, actor, chain("sleeps", wait(30))))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    aborted = await service.abort(actor, summary.id)
    assert time.monotonic() - started < 1
    assert aborted.status == "aborted"
    assert (await stored(store, actor, summary.id)).status == "aborted"
    assert await refusal(service.abort(actor, summary.id), ConflictError) == ErrorCode.EXECUTION_FINISHED


async def test_abort_of_a_queued_execution_nobody_runs(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("queued", node("Pass", "noOp")))
    async with store.unit(actor) as unit:
        queued = await unit.executions.create(workflow_id)
    assert (await service.abort(actor, queued.id)).status == "aborted"


async def test_retry_resumes_the_nodes_that_succeeded(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(
        store, actor, chain("retry", set_node("Stamp", "ran", "={{ $execution.id }}"), fail())
    )
    first = await run(service, actor, workflow_id)
    assert first.status == "error"
    retried = await service.retry(actor, first.id)
    second = await service.wait(actor.tenant_id, retried.id, 10)
    assert second is not None and second.status == "error" and second.trigger_kind == "retry"
    assert second.input["trigger"]["metadata"]["retryOf"] == first.id
    back = await stored(store, actor, second.id)
    assert back.state["Stamp"].output[0][0]["json"]["ran"] == first.id  # resumed, not re-run
    assert back.state["Stamp"].start_time == first.state["Stamp"].start_time
    assert back.state["Check"].start_time != first.state["Check"].start_time  # the failed node ran again


async def test_retry_with_original_or_current_version(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    document = chain("versions", set_node("Stamp", "ran", "ok"), fail())
    workflow_id = await saved(store, actor, document)
    first = await run(service, actor, workflow_id)
    fixed = [*document["nodes"][:2], node("Check", "noOp")]
    async with store.unit(actor) as unit:
        await unit.workflows.update(workflow_id, {"nodes": fixed})
    original = await service.wait(actor.tenant_id, (await service.retry(actor, first.id)).id, 10)
    current = await service.wait(
        actor.tenant_id, (await service.retry(actor, first.id, use_current_version=True)).id, 10
    )
    assert original is not None and original.status == "error" and original.workflow_version == 1
    assert current is not None and current.status == "success" and current.workflow_version == 2
    assert await refusal(service.retry(actor, current.id), ConflictError) == ErrorCode.EXECUTION_FINISHED


async def test_retry_of_a_running_execution_is_refused(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    summary = await service.submit(actor, await saved(store, actor, chain("busy", wait(30))))
    assert await refusal(service.retry(actor, summary.id), ConflictError) == ErrorCode.EXECUTION_IN_PROGRESS
    await service.abort(actor, summary.id)


async def test_an_idempotency_key_makes_one_execution(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("once", node("Pass", "noOp")))
    first = await service.submit(actor, workflow_id, idempotency_key="same")
    again = await service.submit(actor, workflow_id, idempotency_key="same")
    together = await asyncio.gather(
        *(service.submit(actor, workflow_id, idempotency_key="together") for _ in range(8))
    )
    assert first.id == again.id and len({summary.id for summary in together}) == 1
    await service.wait(actor.tenant_id, together[0].id, 10)
    async with store.unit(actor, read_only=True) as unit:
        page = await unit.executions.list(workflow_id=workflow_id)
    assert len(page.items) == 2


async def test_disabled_and_invalid_workflows_are_refused(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    disabled = await saved(store, actor, chain("off", node("Pass", "noOp"), active=False))
    draft = chain("draft", node("Broken", "doesNotExist"), active=False)
    invalid = await saved(store, actor, draft, allow_invalid=True)
    for workflow_id, code in (
        (disabled, ErrorCode.WORKFLOW_DISABLED),
        (invalid, ErrorCode.WORKFLOW_DISABLED),
    ):
        assert await refusal(service.submit(actor, workflow_id), ConflictError) == code
    async with store.database.transaction(actor.tenant_id) as session:  # the store refuses to enable it
        row = await session.get(Workflow, invalid)
        assert row is not None
        row.enabled = True
    await asyncio.sleep(0.15)  # past the hot cache's 100 ms
    assert await refusal(service.submit(actor, invalid), ConflictError) == ErrorCode.VALIDATION_STATUS_INVALID


async def test_secrets_never_reach_the_stored_execution_or_the_events(
    store: Store, service: ExecutionService, bus: InProcessEventBus, actor: Actor
) -> None:
    async with store.unit(actor) as unit:
        await unit.secrets.set("API_TOKEN", SECRET)
    document = chain(
        "secret",
        set_node("Use", "token", "={{ $secrets.API_TOKEN }}"),
        node("Leak", "stopAndError", {"errorMessage": "={{ 'bad ' + $secrets[\"API_TOKEN\"] }}"}),
    )
    view = await run(service, actor, await saved(store, actor, document))
    assert view.status == "error" and view.state["Use"].output[0][0]["json"]["token"] == "***"
    events = await collect(service.events(actor, view.id))
    assert SECRET not in json.dumps([event.to_dict() for event in events])
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        rows = [
            *(await session.scalars(select(Execution).where(Execution.id == view.id))),
            *(await session.scalars(select(ExecutionNode).where(ExecutionNode.execution_id == view.id))),
            *(await session.scalars(select(ExecutionLog).where(ExecutionLog.execution_id == view.id))),
        ]
    dumped = repr([vars(row) for row in rows])  # every column's value, JSON columns included
    assert "***" in dumped and SECRET not in dumped


async def test_sub_workflows_resolve_only_in_the_same_tenant(
    store: Store, service: ExecutionService, actor: Actor, other: Actor
) -> None:
    foreign = await saved(store, other, chain("foreign", set_node("Mark", "from", "b")))
    own = await saved(store, actor, chain("own", set_node("Mark", "from", "a")))

    def caller(target: str) -> dict[str, Any]:
        call = node("Call", "executeWorkflow", {"source": "database", "workflowId": target}, 1)
        return chain("caller", call)

    mine = await run(service, actor, await saved(store, actor, caller(own)))
    assert mine.status == "success" and mine.state["Call"].output[0][0]["json"]["from"] == "a"
    theirs = await run(service, actor, await saved(store, actor, caller(foreign)))
    assert theirs.status == "error" and "not found" in theirs.error["message"]


async def test_another_tenant_reaches_nothing(
    store: Store, service: ExecutionService, actor: Actor, other: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("mine", fail()))
    view = await run(service, actor, workflow_id)
    refused = await refusal(service.submit(other, workflow_id), AccessDeniedError)
    assert refused == ErrorCode.CROSS_TENANT_ACCESS_DENIED  # running is a write: refused
    attempts = (
        service.abort(other, view.id),
        service.retry(other, view.id),
        collect(service.events(other, view.id)),
        service.wait(other.tenant_id, view.id, 0.1),
    )
    for attempt in attempts:
        assert await refusal(attempt) in (ErrorCode.EXECUTION_NOT_FOUND, ErrorCode.CROSS_TENANT_ACCESS_DENIED)
    assert await collect(service.bus.subscribe(other.tenant_id, view.id)) == []


async def test_a_workflow_read_by_the_caller_runs_only_in_its_own_tenant(
    store: Store, service: ExecutionService, actor: Actor, other: Actor
) -> None:
    """A webhook hands ``submit`` the workflow its lookup read; one of another tenant, or another
    workflow, is a caller's bug: refused before anything is stored."""
    workflow_id = await saved(store, actor, chain("hooked", set_node("Mark", "from", "a")))
    async with store.unit(actor, read_only=True) as unit:
        read = await unit.workflows.get(workflow_id)

    summary = await service.submit(actor, workflow_id, workflow=read)
    assert (await service.wait(actor.tenant_id, summary.id, 10)).status == "success"
    for wrong_actor, wrong_id in ((other, workflow_id), (actor, "another-workflow")):
        with pytest.raises(ValueError, match="is not"):
            await service.submit(wrong_actor, wrong_id, workflow=read)
    async with store.unit(other, read_only=True) as unit:
        assert (await unit.executions.list()).items == []


# The progress events through this service run on every bus, with the buses' contract: test_event_bus.py.


async def test_shutdown_leaves_no_running_rows(store: Store, bus: InProcessEventBus, actor: Actor) -> None:
    service = ExecutionService(store, bus)
    await service.start()
    workflow_id = await saved(store, actor, chain("long", wait(30)))
    ids = [(await service.submit(actor, workflow_id)).id for _ in range(3)]
    await asyncio.sleep(0.1)
    await service.shutdown()
    for execution_id in ids:
        view = await stored(store, actor, execution_id)
        assert view.status == "aborted" and "shut down" in view.error["message"]
    assert await refusal(service.submit(actor, workflow_id)) == ErrorCode.SERVICE_UNAVAILABLE


async def test_many_executions_at_once(
    store: Store, service: ExecutionService, actor: Actor, other: Actor
) -> None:
    first = await saved(store, actor, chain("many", set_node("Set", "x", "={{ $json.i }}")))
    second = await saved(store, other, chain("many", set_node("Set", "x", "={{ $json.i }}")))
    summaries = await asyncio.gather(
        *(
            service.submit(actor if i % 2 else other, first if i % 2 else second, trigger_data={"i": i})
            for i in range(40)
        )
    )
    views = await asyncio.gather(
        *(service.wait((actor if i % 2 else other).tenant_id, s.id, 10) for i, s in enumerate(summaries))
    )
    assert all(view is not None and view.status == "success" for view in views)
    for i, summary in enumerate(summaries):
        back = await stored(store, actor if i % 2 else other, summary.id)
        assert back.state["Set"].output[0][0]["json"]["x"] == str(i)


# ----- workflow static data ---------------------------------------------------------------------------
COUNTER = (
    "const d = $getWorkflowStaticData('global'); d.runs = (d.runs || 0) + 1; return [{json: {runs: d.runs}}];"
)


async def test_static_data_is_kept_from_one_execution_to_the_next(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("static", node("Count", "code", {"jsCode": COUNTER}, 2)))
    runs = [
        (await run(service, actor, workflow_id)).state["Count"].output[0][0]["json"]["runs"] for _ in range(3)
    ]
    assert runs == [1, 2, 3]
    async with store.unit(actor, read_only=True) as unit:
        kept = await unit.workflows.static_data(workflow_id)
    assert (kept.data, kept.version) == ({"global": {"runs": 3}}, 3)


async def test_static_data_saved_by_another_execution_meanwhile_is_not_overwritten(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    slow = "await new Promise((r) => setTimeout(r, 300));\n" + COUNTER
    workflow_id = await saved(store, actor, chain("race", node("Count", "code", {"jsCode": slow}, 2)))
    first, second = await asyncio.gather(run(service, actor, workflow_id), run(service, actor, workflow_id))
    async with store.unit(actor, read_only=True) as unit:
        kept = await unit.workflows.static_data(workflow_id)
    assert (kept.data, kept.version) == ({"global": {"runs": 1}}, 1)
    lost = [
        view for view in (first, second) if any("static data was not saved" in e.message for e in view.logs)
    ]
    assert len(lost) == 1 and lost[0].status == "success"


async def test_workflows_without_static_data_never_read_or_write_it(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("plain", set_node("Set", "x", "1")))
    await run(service, actor, workflow_id)
    async with store.unit(actor, read_only=True) as unit:
        assert await unit.workflows.static_data(workflow_id) == StaticData({}, 0)
