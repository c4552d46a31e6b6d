"""Error workflows in the served app, on both backends: a webhook's failed run starts the error workflow its
settings name (``triggerKind: error``, the failure's summary as its Error Trigger's item), and naming another
tenant's workflow starts nothing there; the failed execution's audit says why."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tenantflow.api.app import create_app
from tests.served import admin_client, served_settings

pytestmark = pytest.mark.anyio


def _node(name: str, kind: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    version = 2 if kind == "webhook" else 1
    return {
        "name": name,
        "type": f"n8n-nodes-base.{kind}",
        "typeVersion": version,
        "parameters": parameters or {},
    }


def _workflow(first: dict[str, Any], then: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "name": f"wf-{uuid.uuid4().hex[:8]}",
        "category": "automation",
        "nodes": [first, then],
        "connections": {first["name"]: {"main": [[{"node": then["name"], "type": "main", "index": 0}]]}},
        "settings": settings,
    }


async def _create(client: httpx2.AsyncClient, document: dict[str, Any]) -> str:
    created = await client.post("/workflows", json=document)
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    return workflow_id


async def _fail_by_webhook(client: httpx2.AsyncClient, tenant: str, error_workflow: str) -> str:
    """A webhook workflow whose run fails, naming ``error_workflow``, called once: its failed run's id."""
    path = f"ew-{uuid.uuid4().hex[:8]}"
    hook = _node("Hook", "webhook", {"path": path, "httpMethod": "POST"})
    await _create(
        client,
        _workflow(hook, _node("Check", "stopAndError", {"errorMessage": "no"}), errorWorkflow=error_workflow),
    )
    called = await client.post(f"http://tenantflow.test/webhook/{tenant}/{path}", json={"order": 7})
    assert called.status_code == 200, called.text
    execution_id = called.headers["x-execution-id"]
    for _ in range(100):
        record = (await client.get(f"/executions/{execution_id}")).json()
        if record["status"] == "error":
            return execution_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"the webhook's run did not fail: {record}")


async def _settled(client: httpx2.AsyncClient, url: str, params: dict[str, str], key: str) -> list[Any]:
    """The first non-empty ``key`` list ``url`` answers within five seconds (else the empty one)."""
    found: list[Any] = []
    for _ in range(100):
        response = await client.get(url, params=params)
        assert response.status_code == 200, response.text
        found = response.json()[key]
        if found and all(item.get("status") not in ("queued", "running") for item in found):
            break
        await asyncio.sleep(0.05)
    return found


async def test_a_failed_webhook_run_starts_its_error_workflow_in_its_own_tenant_only(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(served_settings(database_url, tmp_path))
    async with (
        app.router.lifespan_context(app),
        admin_client(app, "ew-a") as (client, tenant),
        admin_client(app, "ew-b") as (other, other_tenant),
    ):
        handler = await _create(client, _workflow(_node("On Error", "errorTrigger"), _node("Handle", "noOp")))
        failed = await _fail_by_webhook(client, tenant, handler)
        [run] = await _settled(client, "/executions", {"workflowId": handler}, "items")
        assert (run["triggerKind"], run["status"]) == ("error", "success"), run
        record = (await client.get(f"/executions/{run['id']}")).json()
        execution = record["state"]["Handle"]["output"][0][0]["json"]["execution"]
        assert (execution["id"], execution["mode"], execution["lastNodeExecuted"]) == (
            failed,
            "webhook",
            "Check",
        )
        assert execution["url"] == f"/api/v1/{tenant}/executions/{failed}"

        theirs = await _create(other, _workflow(_node("On Error", "errorTrigger"), _node("Handle", "noOp")))
        refused = await _fail_by_webhook(client, tenant, theirs)
        params = {"operation": "execution.errorWorkflow", "targetId": refused}
        [note] = await _settled(client, "/audit", params, "entries")
        assert (note["outcome"], note["errorCode"]) == ("error", "WORKFLOW_NOT_FOUND"), note
        assert (await other.get("/executions", params={"workflowId": theirs})).json()["items"] == []
        assert other_tenant not in note["details"]["message"]
