"""The service keeps the static data of a workflow whose Remove Duplicates node keeps a history, though no
script there mentions ``$getWorkflowStaticData``: the node type asks for it."""

from __future__ import annotations

import pytest

from tenantflow.nodes.n8n.data.lists.dedupe_history import HISTORY_KEY
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.unit import Store
from tests.services.test_executions import actor, bus, chain, node, run, saved, service

__all__ = ["actor", "bus", "service"]  # fixtures, shared with the executions suite

pytestmark = pytest.mark.anyio


async def test_a_history_kept_by_the_service_drops_what_an_earlier_execution_passed(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    ids = node("Ids", "set", {"values": {"number": [{"name": "id", "value": 7}]}})
    dedupe = node(
        "Dedupe",
        "removeDuplicates",
        {"operation": "removeItemsSeenInPreviousExecutions", "dedupeValue": "={{ $json.id }}"},
        2,
    )
    workflow_id = await saved(store, actor, chain("dedupe", ids, dedupe))
    first, second = [await run(service, actor, workflow_id) for _ in range(2)]
    assert first.status == second.status == "success"
    assert [len(view.state["Dedupe"].output[0]) for view in (first, second)] == [1, 0]
    async with store.unit(actor, read_only=True) as unit:
        kept = await unit.workflows.static_data(workflow_id)
    assert kept.data["node:Dedupe"][HISTORY_KEY]["mode"] == "entries"
