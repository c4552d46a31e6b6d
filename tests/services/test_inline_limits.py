"""Concurrency limits in the inline mode: a workflow's ``maxConcurrentExecutions`` and the tenant limit hold
back the runs beyond them (their rows stay ``queued``), a held run starts as soon as a slot frees up, the
tenant that runs the fewest first, and an abort or a shutdown ends held runs instead of leaving them
queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tenantflow.services.events import InProcessEventBus
from tenantflow.services.executions import ExecutionService, ExecutionSettings
from tenantflow.store.audit import Actor
from tenantflow.store.executions import ExecutionView
from tenantflow.store.unit import Store
from tests.services import test_executions as executions_suite
from tests.services.test_executions import chain, saved, stored, tenant, wait

pytestmark = pytest.mark.anyio

actor = executions_suite.actor


@pytest.fixture
async def limited(store: Store) -> AsyncIterator[ExecutionService]:
    """A service whose tenants each run at most two executions at once."""
    running = ExecutionService(store, InProcessEventBus(), ExecutionSettings(tenant_limit=2))
    await running.start()
    try:
        yield running
    finally:
        await running.shutdown()


def limited_to(count: int, seconds: float) -> dict[str, Any]:
    document = chain("limited", wait(seconds))
    document["settings"] = {"maxConcurrentExecutions": count}
    return document


async def ended(service: ExecutionService, actor: Actor, ids: list[str]) -> list[ExecutionView]:
    views = [await service.wait(actor.tenant_id, execution_id, 10) for execution_id in ids]
    assert all(view is not None for view in views)
    return [view for view in views if view is not None]


def most_at_once(views: list[ExecutionView]) -> int:
    spans = [(view.started_at, view.finished_at) for view in views]
    assert all(start is not None and end is not None for start, end in spans)
    return max(sum(start <= at < end for start, end in spans) for at, _ in spans)  # type: ignore[operator]


async def test_a_workflows_limit_holds_the_rest_queued_until_a_slot_frees(
    store: Store, limited: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, limited_to(1, 0.2))
    ids = [(await limited.submit(actor, workflow_id)).id for _ in range(3)]

    assert [(await stored(store, actor, execution_id)).status for execution_id in ids[1:]] == ["queued"] * 2
    views = await ended(limited, actor, ids)

    assert [view.status for view in views] == ["success"] * 3
    assert most_at_once(views) == 1
    assert [view.started_at for view in views] == sorted(view.started_at for view in views)  # oldest first


async def test_the_tenant_limit_holds_one_tenant_and_not_another(
    store: Store, limited: ExecutionService
) -> None:
    busy, quiet = await tenant(store, "busy"), await tenant(store, "quiet")
    slow = [await saved(store, busy, chain(f"slow-{index}", wait(0.3))) for index in range(2)]
    quick = await saved(store, quiet, chain("single", wait(0.05)))  # saved first: a save is not timed here
    ids = [(await limited.submit(busy, workflow_id)).id for workflow_id in [*slow, *slow]]
    single = await limited.submit(quiet, quick)

    [single_view] = await ended(limited, quiet, [single.id])
    views = await ended(limited, busy, ids)

    assert most_at_once(views) == 2
    assert single_view.finished_at is not None and views[2].started_at is not None
    assert single_view.finished_at < views[2].started_at  # its own tenant's slots, not behind the burst


async def test_an_abort_ends_a_held_run_at_once(
    store: Store, limited: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, limited_to(1, 5))
    first = await limited.submit(actor, workflow_id)
    held = await limited.submit(actor, workflow_id)

    answered = await asyncio.wait_for(limited.abort(actor, held.id), 2)

    assert answered.status == "aborted"
    assert (await stored(store, actor, first.id)).status == "running"
    await limited.abort(actor, first.id)


async def test_a_shutdown_ends_held_runs_instead_of_leaving_them_queued(store: Store, actor: Actor) -> None:
    service = ExecutionService(store, InProcessEventBus())
    await service.start()
    workflow_id = await saved(store, actor, limited_to(1, 5))
    ids = [(await service.submit(actor, workflow_id)).id for _ in range(3)]

    await service.shutdown()

    statuses = [(await stored(store, actor, execution_id)).status for execution_id in ids]
    assert statuses == ["aborted"] * 3
