"""The group-commit writer keeps two attempts of one execution apart: a run whose lease expired and the run
that took the execution over (in the same worker, as happens when its heartbeat starved and it claimed the
row again) neither fence each other's checkpoints out nor slip their own in under the other's lease."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import NodeState, utc_now
from tenantflow.queue.reaper import requeue
from tenantflow.services.writer import GroupCommitWriter
from tenantflow.store.audit import Actor
from tenantflow.store.errors import ConflictError
from tenantflow.store.executions import FinishedRun, Lease
from tenantflow.store.reaper import Stale
from tenantflow.store.unit import Store
from tests.services.test_executions import tenant

pytestmark = pytest.mark.anyio

OWNER = "host:1:same-worker"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def checkpoint(name: str, value: int) -> tuple[str, int, NodeState]:
    now = utc_now()
    return (
        name,
        0,
        NodeState(status="success", output=[[{"json": {"n": value}}]], start_time=now, end_time=now),
    )


async def claimed_twice(store: Store, actor: Actor) -> tuple[Lease, Lease]:
    """An execution claimed, its lease lapsed and requeued, then claimed again by the same worker."""
    async with store.unit(actor) as unit:
        execution_id = (await unit.executions.create(None)).id
    async with store.unit(actor) as unit:
        old = await unit.executions.claim(execution_id, owner=OWNER, lease_seconds=3)
    assert old is not None
    later = utc_now() + timedelta(seconds=10)
    assert await requeue(
        store, Stale(actor.tenant_id, execution_id, "running", old.attempt), hold_seconds=1, now=later
    )
    async with store.unit(actor) as unit:
        new = await unit.executions.claim(execution_id, owner=OWNER, lease_seconds=3)
    assert new is not None and new.attempt == old.attempt + 1
    return old, new


@pytest.mark.parametrize("stale_first", [True, False])
async def test_the_stale_attempt_is_fenced_and_the_new_one_keeps_every_checkpoint(
    store: Store, stale_first: bool
) -> None:
    actor = await tenant(store, "writer")
    old, new = await claimed_twice(store, actor)
    writer = GroupCommitWriter(store)
    writer.start()
    try:

        def write(name: str, lease: Lease) -> Any:
            return writer.progress(
                actor.tenant_id, new.execution_id, nodes=[checkpoint(name, 1)], lease=lease
            )

        if stale_first:  # both queued in the same tick, so that one batch would hold them
            stale, current = write("Stale", old), write("Start", new)
        else:
            current, stale = write("Start", new), write("Stale", old)
        await current
        with pytest.raises(ConflictError) as refused:
            await stale
        assert refused.value.code == ErrorCode.LEASE_LOST
        end = FinishedRun("success")
        await writer.progress(
            actor.tenant_id, new.execution_id, nodes=[checkpoint("Label", 2)], finish=end, lease=new
        )
    finally:
        await writer.close()
    async with store.unit(actor, read_only=True) as unit:
        view = await unit.executions.get(new.execution_id)
    assert (view.status, view.attempt, sorted(view.state)) == ("success", new.attempt, ["Label", "Start"])
