"""The workflow routes over HTTP on SQLite and PostgreSQL: seed 000's list and create, seed 003's operations.

Every test makes its own workflows in tenant A (as A's admin unless it says otherwise) and isolates its
lists by a tag or a word of its own, so the module's tests share one app without seeing each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tenantflow.store.identity import Level
from tests.api.conftest import Member, World, expect_error, unique, workflow_body

pytestmark = pytest.mark.anyio

CONFORMANCE = Path("/work/shared/n8n-conformance")
SUMMARY_FIELDS = {
    "id",
    "name",
    "description",
    "category",
    "version",
    "createdAt",
    "updatedAt",
    "active",
    "validationStatus",
}


def invalid_body(**fields: Any) -> dict[str, Any]:
    """A workflow the validator refuses: its second node's type does not exist."""
    body = workflow_body(**fields)
    body["nodes"][1]["type"] = "n8n-nodes-base.noSuchNode"
    return body


async def listed(world: World, **params: Any) -> dict[str, Any]:
    response = await world.send("GET", world.url(), who=world.member(world.a, Level.USER), params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def ok(world: World, method: str, suffix: str, *, who: Member | None = None, **kwargs: Any) -> Any:
    """Send as ``who`` (A's admin by default) to ``/workflows{suffix}`` and expect a 2xx; the body if any."""
    response = await world.send(method, world.url(suffix), who=who or world.admin, **kwargs)
    assert 200 <= response.status_code < 300, response.text
    return response.json() if response.content else None


async def test_create_answers_201_with_the_seed_summary_location_and_etag(world: World) -> None:
    body = workflow_body(description="seed 000's create", tags=["create"])
    response = await world.send("POST", world.url(), who=world.admin, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == SUMMARY_FIELDS
    assert created["name"] == body["name"] and created["category"] == "automation"
    assert (created["version"], created["active"], created["validationStatus"]) == (1, True, "valid")
    assert response.headers["location"] == world.url(f"/{created['id']}")
    assert response.headers["etag"] == '"1"'

    fetched = await world.send("GET", response.headers["location"], who=world.member(world.a, Level.USER))
    assert fetched.status_code == 200 and fetched.headers["etag"] == '"1"'
    stored = fetched.json()
    assert stored["tenantId"] == world.a and stored["createdBy"] == world.admin.user_id
    assert stored["nodes"] == body["nodes"] and stored["connections"] == body["connections"]
    assert stored["description"] == body["description"] and stored["tags"] == ["create"]

    again = await world.send("POST", world.url(), who=world.admin, json=body)
    expect_error(again, 409, "DUPLICATE_WORKFLOW_NAME", path="$.name")


async def test_list_pages_filters_sorts_and_searches(world: World) -> None:
    tag, alone, word = unique("tag"), unique("alone"), unique("needle").replace("-", "")
    made = [
        await world.create(workflow_body(f"alpha {tag}", tags=[tag, alone], description=f"with {word}")),
        await world.create(workflow_body(f"beta {tag}", tags=[tag], category="integration")),
        await world.create(workflow_body(f"gamma {tag}", tags=[tag], active=False)),
    ]
    names = [workflow["name"] for workflow in made]

    page = await listed(world, tags=tag)
    assert page["pagination"] == {"total": 3, "limit": 50, "offset": 0, "hasMore": False}
    assert sorted(item["name"] for item in page["workflows"]) == names
    assert all(item["tenantId"] == world.a for item in page["workflows"])

    first = await listed(world, tags=tag, limit=2, sort="name")
    assert [item["name"] for item in first["workflows"]] == names[:2]
    assert first["pagination"] == {"total": 3, "limit": 2, "offset": 0, "hasMore": True}
    rest = await listed(world, tags=tag, limit=2, offset=2, sort="name")
    assert [item["name"] for item in rest["workflows"]] == names[2:]
    assert rest["pagination"] == {"total": 3, "limit": 2, "offset": 2, "hasMore": False}

    descending = await listed(world, tags=tag, sort="-name")
    assert [item["name"] for item in descending["workflows"]] == names[::-1]
    assert [i["name"] for i in (await listed(world, tags=f"{alone}, {unique()}"))["workflows"]] == names[:1]
    assert [i["name"] for i in (await listed(world, tags=tag, category="integration"))["workflows"]] == [
        names[1]
    ]
    assert [i["name"] for i in (await listed(world, tags=tag, active="false"))["workflows"]] == [names[2]]
    assert [i["name"] for i in (await listed(world, search=word))["workflows"]] == [names[0]]

    for params, where in (
        ({"limit": 101}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"active": "maybe"}, "query.active"),
    ):
        refused = await world.send("GET", world.url(), who=world.admin, params=params)
        expect_error(refused, 400, "INVALID_REQUEST", path=where)
    expect_error(
        await world.send("GET", world.url(), who=world.admin, params={"sort": "nope"}), 400, "INVALID_SORT"
    )


async def test_replace_and_patch_need_a_current_version(world: World) -> None:
    created = await world.create()
    url = world.url(f"/{created['id']}")
    patched = await world.send(
        "PATCH", url, who=world.admin, json={"description": "v2"}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"' and patched.json()["description"] == "v2"

    stale = await world.send(
        "PATCH", url, who=world.admin, json={"description": "lost"}, headers={"If-Match": '"1"'}
    )
    assert expect_error(stale, 409, "VERSION_CONFLICT")["details"] == {"currentVersion": 2}
    body = workflow_body(created["name"], description="replaced", expectedVersion=1)
    expect_error(await world.send("PUT", url, who=world.admin, json=body), 409, "VERSION_CONFLICT")
    disagree = await world.send("PUT", url, who=world.admin, json=body, headers={"If-Match": '"2"'})
    expect_error(disagree, 400, "INVALID_REQUEST", path="$.expectedVersion")
    garbled = await world.send("PATCH", url, who=world.admin, json={}, headers={"If-Match": "yesterday"})
    expect_error(garbled, 400, "INVALID_REQUEST", path="header.If-Match")

    current = await world.read(created["id"])
    assert (current["version"], current["description"]) == (2, "v2")

    replaced = await world.send("PUT", url, who=world.admin, json={**body, "expectedVersion": 2})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"3"'
    assert (replaced.json()["description"], replaced.json()["version"]) == ("replaced", 3)


async def test_delete_answers_204_then_the_workflow_is_gone(world: World) -> None:
    created = await world.create()
    url = world.url(f"/{created['id']}")
    workflows, versions = await world.counts()
    deleted = await world.send("DELETE", url, who=world.admin)
    assert deleted.status_code == 204 and deleted.content == b""
    assert await world.counts() == (workflows - 1, versions - 1)  # its history goes with it
    expect_error(await world.send("GET", url, who=world.admin), 404, "WORKFLOW_NOT_FOUND")
    expect_error(await world.send("DELETE", url, who=world.admin), 404, "WORKFLOW_NOT_FOUND")


async def test_validate_clone_and_export_import_round_trip(world: World) -> None:
    created = await world.create(workflow_body(description="round trip", tags=["trip"]))
    wid = created["id"]
    report = await ok(world, "POST", f"/{wid}/validate", who=world.member(world.a, Level.USER))
    assert report["valid"] is True and report["errors"] == []

    clone = await world.send("POST", world.url(f"/{wid}/clone"), who=world.admin)
    assert clone.status_code == 201, clone.text
    assert clone.json()["name"] == f"{created['name']} (copy)" and clone.json()["active"] is False
    assert clone.headers["location"] == world.url(f"/{clone.json()['id']}")

    exported = await ok(world, "GET", f"/{wid}/export", who=world.member(world.a, Level.USER))
    assert exported["formatVersion"] and exported["validationReport"]["valid"] is True
    assert exported["workflow"]["name"] == created["name"]

    clash = await world.send("POST", world.url("/import"), who=world.admin, json=exported)
    expect_error(clash, 409, "DUPLICATE_WORKFLOW_NAME")
    renamed = await world.send(
        "POST", world.url("/import"), who=world.admin, json=exported, params={"onConflict": "rename"}
    )
    assert renamed.status_code == 201, renamed.text
    assert renamed.json()["name"] == f"{created['name']} 2"
    original, imported = await world.read(wid), await world.read(renamed.json()["id"])
    for field in ("nodes", "connections", "description", "tags", "category", "settings"):
        assert imported[field] == original[field], field


@pytest.mark.parametrize("fixture", ["Set/Set.v3.workflow.json", "Merge/workflow.append.json"])
async def test_a_bare_n8n_export_imports_unchanged(world: World, fixture: str) -> None:
    payload = json.loads((CONFORMANCE / fixture).read_text())
    name = unique("n8n")
    response = await world.send(
        "POST", world.url("/import"), who=world.admin, json=payload, params={"name": name}
    )
    assert response.status_code == 201, response.text
    assert response.json()["validationStatus"] == "valid"
    stored = await world.read(response.json()["id"])
    assert stored["name"] == name
    assert [node["name"] for node in stored["nodes"]] == [node["name"] for node in payload["nodes"]]
    assert stored["connections"] == payload["connections"]


async def test_enable_disable_and_an_invalid_draft_stays_disabled(world: World) -> None:
    created = await world.create(workflow_body(active=False))
    enabled = await ok(world, "POST", f"/{created['id']}/enable")
    assert enabled["enabled"] is True
    disabled = await ok(world, "POST", f"/{created['id']}/disable")
    assert disabled["enabled"] is False

    before = await world.counts()
    refused = await world.send("POST", world.url(), who=world.admin, json=invalid_body())
    error = expect_error(refused, 422, "WORKFLOW_INVALID", path="$.nodes[1].type")
    assert error["details"]["errors"]
    assert await world.counts() == before

    draft = await world.send(
        "POST", world.url(), who=world.admin, json=invalid_body(active=False), params={"draft": "true"}
    )
    assert draft.status_code == 201, draft.text
    assert draft.json()["validationStatus"] == "invalid"
    draft_id = draft.json()["id"]
    expect_error(
        await world.send("POST", world.url(f"/{draft_id}/enable"), who=world.admin), 422, "WORKFLOW_INVALID"
    )
    assert (await world.read(draft_id))["enabled"] is False


async def test_a_lock_refuses_others_with_423_until_an_admin_releases_it(world: World) -> None:
    created = await world.create()
    lock_url = world.url(f"/{created['id']}/lock")
    taken = await ok(world, "POST", f"/{created['id']}/lock", json={"timeout": 60})
    assert taken["acquired"] is True and taken["lockedBy"] == world.admin.user_id and taken["expiresAt"]

    refused = await world.send("POST", lock_url, who=world.peer, json={"timeout": 60})
    assert refused.status_code == 423, refused.text
    assert refused.json()["acquired"] is False and refused.json()["lockedBy"] == world.admin.user_id
    god = world.member(world.a, Level.GOD)
    blocked = await world.send("PATCH", world.url(f"/{created['id']}"), who=god, json={"description": "no"})
    expect_error(blocked, 423, "WORKFLOW_LOCKED")
    assert (await ok(world, "PATCH", f"/{created['id']}", json={"description": "holder"}))["version"] == 2

    assert (await world.send("DELETE", lock_url, who=god)).status_code == 204
    assert (await world.read(created["id"]))["isLocked"] is False
    retaken = await world.send("POST", lock_url, who=world.peer, json={"timeout": 60})
    assert retaken.status_code == 200 and retaken.json()["lockedBy"] == world.peer.user_id


async def test_versions_and_restore(world: World) -> None:
    created = await world.create()
    wid = created["id"]
    await ok(world, "PATCH", f"/{wid}", json={"description": "second"})
    history = await ok(world, "GET", f"/{wid}/versions")
    assert [entry["version"] for entry in history["versions"]] == [2, 1]
    assert [
        e["version"] for e in (await ok(world, "GET", f"/{wid}/versions", params={"limit": 1}))["versions"]
    ] == [2]
    assert [
        e["version"] for e in (await ok(world, "GET", f"/{wid}/versions", params={"before": 2}))["versions"]
    ] == [1]
    first = await ok(world, "GET", f"/{wid}/versions/1")
    assert first["definition"]["name"] == created["name"] and first["author"] == world.admin.user_id
    expect_error(
        await world.send("GET", world.url(f"/{wid}/versions/99"), who=world.admin), 404, "VERSION_NOT_FOUND"
    )

    restored = await ok(world, "POST", f"/{wid}/versions/1/restore", json={"message": "back to one"})
    assert (restored["version"], restored["description"]) == (3, None)
    newest = (await ok(world, "GET", f"/{wid}/versions"))["versions"][0]
    assert (newest["version"], newest["message"]) == (3, "back to one")


async def test_stats_count_the_workflow_executions(world: World) -> None:
    created = await world.create()
    wid = created["id"]
    empty = await ok(world, "GET", f"/{wid}/stats", params={"window": "1h"})
    assert (empty["window"], empty["total"], empty["byStatus"]) == ("1h", 0, {})
    ran = await ok(world, "POST", f"/{wid}/execute", who=world.member(world.a, Level.USER), json={})
    assert ran["status"] == "success" and ran["metrics"]["nodesExecuted"] == 2
    counted = await ok(world, "GET", f"/{wid}/stats", params={"window": "1h"})
    assert (counted["total"], counted["byStatus"], counted["successRate"]) == (1, {"success": 1}, 1.0)

    events = await world.send(
        "GET", f"/api/v1/{world.a}/executions/{ran['executionId']}/events", who=world.admin
    )
    assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
    assert "event: execution.started" in events.text and "event: execution.finished" in events.text


async def test_create_many_is_all_or_nothing(world: World) -> None:
    before = await world.counts()
    items = [workflow_body(), invalid_body(), workflow_body()]
    refused = await world.send(
        "POST", world.url("/bulk"), who=world.admin, json={"operation": "createMany", "items": items}
    )
    error = expect_error(refused, 422, "WORKFLOW_INVALID")
    assert error["path"].startswith("$.items[1]"), error
    assert await world.counts() == before

    items[1] = {key: value for key, value in workflow_body().items() if key != "category"}
    malformed = await world.send(
        "POST", world.url("/bulk"), who=world.admin, json={"operation": "createMany", "items": items}
    )
    expect_error(malformed, 422, "INVALID_REQUEST", path="$.items[1].category")
    assert await world.counts() == before

    items[1] = workflow_body()
    created = await ok(world, "POST", "/bulk", json={"operation": "createMany", "items": items})
    assert created["operation"] == "createMany" and created["count"] == 3
    assert [summary["name"] for summary in created["workflows"]] == [item["name"] for item in items]
    assert await world.counts() == (before[0] + 3, before[1] + 3)


async def test_update_many_delete_many_and_find(world: World) -> None:
    tag = unique("bulk")
    made = [await world.create(workflow_body(tags=[tag])) for _ in range(2)]
    other = await world.create()

    found = await ok(world, "GET", "/find", params={"field": "name", "value": made[0]["name"]})
    assert [item["id"] for item in found["workflows"]] == [made[0]["id"]]
    newest = await ok(
        world, "GET", "/find", params={"field": "category", "value": "automation", "first": "true"}
    )
    assert [item["id"] for item in newest["workflows"]] == [other["id"]]
    expect_error(
        await world.send(
            "GET", world.url("/find"), who=world.admin, params={"field": "secret", "value": "x"}
        ),
        400,
        "FIELD_NOT_SEARCHABLE",
    )

    patch = {"operation": "updateMany", "filter": {"tags": [tag]}, "patch": {"description": "bulk"}}
    assert (await ok(world, "POST", "/bulk", json=patch))["count"] == 2
    for workflow in made:
        current = await world.read(workflow["id"])
        assert (current["description"], current["version"]) == ("bulk", 2)
    assert (await world.read(other["id"]))["version"] == 1

    deleted = await ok(world, "POST", "/bulk", json={"operation": "deleteMany", "filter": {"tags": [tag]}})
    assert deleted == {"operation": "deleteMany", "count": 2, "workflows": None}
    assert (await listed(world, tags=tag))["pagination"]["total"] == 0
    assert (await world.read(other["id"]))["version"] == 1


READS = (
    ("GET", ""),
    ("GET", "/export"),
    ("GET", "/stats"),
    ("GET", "/versions"),
    ("GET", "/versions/1"),
    ("POST", "/validate"),
    ("POST", "/clone"),
)
WRITES: tuple[tuple[str, str, Any], ...] = (
    ("PUT", "", workflow_body()),
    ("PATCH", "", {"description": "taken over"}),
    ("POST", "/enable", None),
    ("POST", "/disable", None),
    ("POST", "/lock", {"timeout": 60}),
    ("DELETE", "/lock", None),
    ("POST", "/versions/1/restore", {}),
    ("POST", "/execute", {}),
    ("DELETE", "", None),
)


async def assert_reached_for(world: World, response: httpx2.Response, intruder: Member) -> None:
    """A's log learns that another tenant reached for its workflow (not who); the intruder's own log has the
    attempt exactly when it was answered as a write (403), since a 404 must look like an absent id."""
    request_id = response.headers["x-request-id"]
    owner_log = await world.audit(world.a, request_id)
    assert [(e["userId"], e["outcome"], e["errorCode"]) for e in owner_log] == [
        (None, "denied", "CROSS_TENANT_ACCESS_DENIED")
    ]
    own_log = await world.audit(world.b, request_id)
    if response.status_code == 404:
        assert own_log == []
    else:
        assert [(e["userId"], e["errorCode"]) for e in own_log] == [
            (intruder.user_id, "CROSS_TENANT_ACCESS_DENIED")
        ]


@pytest.mark.parametrize("level", [Level.ADMIN, Level.SUPERGOD])
async def test_another_tenant_cannot_read_or_change_a_workflow(world: World, level: Level) -> None:
    """Tenant B's admins, on B's own routes, find A's ids absent on reads and are refused on every write,
    running included (CROSS_TENANT_ACCESS_DENIED); A sees nothing change, and learns of every attempt."""
    created = await world.create()
    original = await world.read(created["id"])
    before = await world.counts()
    intruder = world.member(world.b, level)
    url = world.url(f"/{created['id']}", tenant=world.b)
    for method, suffix in READS:
        response = await world.send(method, url + suffix, who=intruder)
        expect_error(response, 404, "WORKFLOW_NOT_FOUND")
        await assert_reached_for(world, response, intruder)
    for method, suffix, body in WRITES:
        response = await world.send(method, url + suffix, who=intruder, json=body)
        expect_error(response, 403, "CROSS_TENANT_ACCESS_DENIED")
        await assert_reached_for(world, response, intruder)
    for bulk in (
        {"operation": "updateMany", "filter": {"name": created["name"]}, "patch": {"description": "x"}},
        {"operation": "deleteMany", "filter": {"name": created["name"]}},
    ):
        response = await world.send("POST", world.url("/bulk", tenant=world.b), who=intruder, json=bulk)
        assert response.status_code == 200 and response.json()["count"] == 0, response.text

    assert await world.read(created["id"]) == original
    assert await world.counts() == before


async def test_execute_answers_output_json_cannot_carry(world: World) -> None:
    """A Code node may output NaN or a NUL: the record still goes out (NaN as null, as JSON.stringify
    writes it; NUL as U+FFFD, as it is stored), never a 500."""
    body = workflow_body()
    body["nodes"][1] = {
        "id": "n2",
        "name": "Pass",
        "type": "n8n-nodes-base.code",
        "typeVersion": 2,
        "position": [200, 0],
        "parameters": {"jsCode": "return [{json: {x: NaN, y: 'a' + String.fromCharCode(0) + 'b'}}];"},
    }
    created = await world.create(body)
    ran = await ok(world, "POST", f"/{created['id']}/execute", json={})
    assert ran["status"] == "success", ran
    assert ran["state"]["Pass"]["output"][0][0]["json"] == {"x": None, "y": "a\ufffdb"}
    stored = (
        await world.send("GET", f"/api/v1/{world.a}/executions/{ran['executionId']}", who=world.admin)
    ).json()
    assert stored["state"]["Pass"]["output"][0][0]["json"] == {"x": None, "y": "a\ufffdb"}
