"""Binary data over HTTP: executions show each file's metadata and ``tfbin:`` id, never its bytes;
``GET …/executions/{id}/binary/{binaryId}`` serves the bytes to the execution's tenant only; a retry's
nodes read the files the reused outputs carry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantflow.services.executions import ExecutionService
from tenantflow.store.identity import Level
from tests.api.acl import file_workflow, run_to_end
from tests.api.conftest import World, expect_error

pytestmark = pytest.mark.anyio

ITEMS = [{"who": "ada"}]


def binary_url(tenant: str, execution_id: str, binary_id: str) -> str:
    return f"/api/v1/{tenant}/executions/{execution_id}/binary/{binary_id}"


async def test_execution_shows_file_metadata_and_the_route_serves_the_bytes(world: World) -> None:
    result = await run_to_end(world, file_workflow())
    [[made]] = result["state"]["Pass"]["output"]
    entry = made["binary"]["data"]
    assert "data" not in entry and entry["id"].startswith("tfbin:")
    assert (entry["fileName"], entry["mimeType"]) == ("items.json", "application/json")
    url = f"/api/v1/{world.a}/executions/{result['executionId']}"
    stored = await world.send("GET", url, who=world.member(world.a, Level.USER))
    assert stored.json()["state"]["Pass"]["output"] == result["state"]["Pass"]["output"]
    response = await world.send(
        "GET", binary_url(world.a, result["executionId"], entry["id"]), who=world.member(world.a, Level.USER)
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.content) == [{}]  # the trigger's one empty item, as Convert to File wrote it
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="items.json"'
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_binary_of_another_tenant_or_unknown_id_is_not_found(world: World) -> None:
    """Tenant B on its own routes: A's execution reads as absent, and so does A's file under B's run."""
    result = await run_to_end(world, file_workflow())
    theirs, file_id = result["executionId"], result["state"]["Pass"]["output"][0][0]["binary"]["data"]["id"]
    b_admin = world.member(world.b, Level.ADMIN)
    created = await world.send("POST", f"/api/v1/{world.b}/workflows", who=b_admin, json=file_workflow())
    execute = f"/api/v1/{world.b}/workflows/{created.json()['id']}/execute"
    mine = (await world.send("POST", execute, who=b_admin, json={})).json()["executionId"]
    for tenant, who, execution_id, binary_id in (
        (world.b, b_admin, theirs, file_id),
        (world.b, b_admin, mine, "tfbin:" + "0" * 64),
        (world.a, world.admin, theirs, "0" * 64),
        (world.a, world.admin, "no-such-execution", file_id),
    ):
        response = await world.send("GET", binary_url(tenant, execution_id, binary_id), who=who)
        expect_error(response, 404, "EXECUTION_NOT_FOUND")
    malformed = await world.send("GET", binary_url(world.a, theirs, "tfbin:XYZ"), who=world.admin)
    expect_error(malformed, 400, "INVALID_REQUEST", path="path.binary_id")


async def test_retry_reads_the_file_a_reused_node_made(world: World) -> None:
    """Convert to File succeeds, the node after it fails; fixed, the retry reuses the file node's stored
    output, and the new node reads the file from it (its bytes come back from the store)."""
    body = file_workflow()
    body["nodes"].append(
        {
            "id": "n3",
            "name": "Last",
            "type": "n8n-nodes-base.stopAndError",
            "typeVersion": 1,
            "position": [400, 0],
            "parameters": {"errorMessage": "not yet"},
        }
    )
    body["connections"]["Pass"] = {"main": [[{"node": "Last", "type": "main", "index": 0}]]}
    created = await world.create(body)
    execute = world.url(f"/{created['id']}/execute")
    first = (await world.send("POST", execute, who=world.admin, json={"triggerData": ITEMS[0]})).json()
    assert first["status"] == "error"
    body["nodes"][2] = {
        **body["nodes"][2],
        "type": "n8n-nodes-base.extractFromFile",
        "parameters": {"operation": "fromJson"},
    }
    replaced = await world.send("PUT", world.url(f"/{created['id']}"), who=world.admin, json=body)
    assert replaced.status_code == 200, replaced.text
    retry_url = f"/api/v1/{world.a}/executions/{first['executionId']}/retry"
    retried = await world.send("POST", retry_url, who=world.admin, json={"useCurrentVersion": True})
    assert retried.status_code == 202, retried.text
    service: ExecutionService = world.app.state.runtime.executions
    view = await service.wait(world.a, retried.json()["executionId"], 10)
    assert view is not None and view.status == "success", view
    shown: dict[str, Any] = view.to_dict()
    [[read]] = shown["state"]["Last"]["output"]
    assert read["json"] == {"data": ITEMS}
    entry = shown["state"]["Pass"]["output"][0][0]["binary"]["data"]
    assert "data" not in entry  # shown as stored: metadata only
    again = await world.send("GET", binary_url(world.a, view.id, entry["id"]), who=world.admin)
    assert json.loads(again.content) == ITEMS  # the retry stored its own copy of the reused file
