"""THE ACL table: one row per route of the app. It is README's and seed 003's access rules, written once.

Seed 003 (and seed 000 for the public routes):

* read: user+ (1); create: admin+ (3); update and delete: admin+ *or the workflow's creator*;
* execute: user+; enable / disable / bulk: admin+; release a lock: *the lock's holder* or admin+;
* secrets, users, API keys, audit: admin+;
* health, readiness, metrics, the node catalogue, login and bootstrap: public (0);
* a principal of another tenant is refused on every tenant route (403 TENANT_MISMATCH), god and supergod
  included; below the level it is 403 PERMISSION_DENIED, and with no credentials 401 UNAUTHENTICATED.

**Adding a route = adding one ``Rule`` to ``TABLE``**: its method, its path template exactly as FastAPI
lists it, the minimum level, the owner rule if any, a builder that makes a valid request (creating what it
needs in tenant A as A's admin), and the status an admitted caller gets. ``test_acl.py`` then runs it for
every level, for both tenants and anonymously, checks that each denial is in the audit log, and fails CI for
any route of the app that has no row here (and for any row whose route is gone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tenantflow.store.audit import Actor
from tenantflow.store.identity import Level
from tests.api.conftest import NO_BODY, PASSWORD, World, n8n_export, unique, workflow_body


@dataclass(frozen=True, slots=True)
class Call:
    """What a request needs besides its caller and its tenant: path parameters, query and body."""

    path: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = NO_BODY


Build = Callable[[World], Awaitable[Call]]


class Owner(StrEnum):
    """Who passes below the level: the workflow's creator, or the holder of its lock."""

    CREATOR = "creator"
    LOCK_HOLDER = "lock holder"


async def _nothing(world: World) -> Call:
    return Call()


async def _new_workflow(world: World) -> Call:
    return Call(json=workflow_body())


async def _on_workflow(world: World, *, json: Any = NO_BODY, **params: str) -> Call:
    created = await world.create()
    return Call(path={"workflow_id": created["id"]}, params=params, json=json)


async def _workflow(world: World) -> Call:
    return await _on_workflow(world)


async def _hooked(world: World) -> Call:
    """A disabled workflow with a Webhook node: what a test webhook listens with."""
    body = workflow_body()
    body["nodes"][0] = {
        "id": "n1",
        "name": "Start",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "position": [0, 0],
        "parameters": {"httpMethod": "POST", "path": unique("hook")},
    }
    created = await world.create(body)
    return Call(path={"workflow_id": created["id"]})


async def _replace(world: World) -> Call:
    return await _on_workflow(world, json=workflow_body(description="replaced"))


async def _patch(world: World) -> Call:
    return await _on_workflow(world, json={"description": "patched"})


async def _clone(world: World) -> Call:
    return await _on_workflow(world, json={"name": unique("clone")})


async def _lock(world: World) -> Call:
    return await _on_workflow(world, json={"timeout": 30})


async def _locked(world: World) -> Call:
    """A workflow whose lock A's admin (level 3) holds: the holder and levels 4-5 may release it."""
    call = await _on_workflow(world)
    url = world.url(f"/{call.path['workflow_id']}/lock")
    response = await world.send("POST", url, who=world.admin, json={"timeout": 60})
    assert response.status_code == 200, response.text
    return call


async def _version(world: World) -> Call:
    call = await _on_workflow(world)
    return Call(path={**call.path, "number": "1"})


async def _find(world: World) -> Call:
    created = await world.create()
    return Call(params={"field": "name", "value": created["name"]})


async def _import(world: World) -> Call:
    return Call(json=n8n_export())


async def _bulk(world: World) -> Call:
    return Call(json={"operation": "createMany", "items": [workflow_body()]})


async def run_to_end(world: World, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a workflow to its end as A's admin; returns the execute response."""
    created = await world.create(body)
    url = world.url(f"/{created['id']}/execute")
    response = await world.send("POST", url, who=world.admin, json={})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _executed(world: World, body: dict[str, Any] | None = None) -> str:
    """Run a workflow to its end as A's admin; returns the execution id."""
    execution_id: str = (await run_to_end(world, body))["executionId"]
    return execution_id


async def _execution(world: World) -> Call:
    return Call(path={"execution_id": await _executed(world)})


async def _failed_execution(world: World) -> Call:
    """A run that failed (a Stop and Error node): the kind retry accepts."""
    body = workflow_body()
    body["nodes"][1] = {
        **body["nodes"][1],
        "type": "n8n-nodes-base.stopAndError",
        "parameters": {"errorMessage": "stopped on purpose"},
    }
    return Call(path={"execution_id": await _executed(world, body)}, json={})


def file_workflow() -> dict[str, Any]:
    """A workflow whose second node makes a file: Convert to File writes the trigger's items as JSON."""
    body = workflow_body()
    body["nodes"][1] = {
        **body["nodes"][1],
        "type": "n8n-nodes-base.convertToFile",
        "parameters": {"operation": "toJson", "options": {"fileName": "items.json"}},
    }
    return body


async def _execution_file(world: World) -> Call:
    """A run that made a file, and the file's id (its ``binary`` entry's ``id``)."""
    result = await run_to_end(world, file_workflow())
    [[made]] = result["state"]["Pass"]["output"]
    return Call(path={"execution_id": result["executionId"], "binary_id": made["binary"]["data"]["id"]})


async def _queued_execution(world: World) -> Call:
    """A queued run no process has started (made through the store): abort finishes it as aborted."""
    created = await world.create()
    async with world.store.unit(Actor(world.a, world.admin.user_id, Level.ADMIN)) as unit:
        summary = await unit.executions.create(created["id"])
    return Call(path={"execution_id": summary.id})


async def _made(world: World, method: str, suffix: str, body: Any, status: int = 201) -> dict[str, Any]:
    """Make something in tenant A as its admin, over HTTP; returns the response body."""
    response = await world.send(method, f"/api/v1/{world.a}{suffix}", who=world.admin, json=body)
    assert response.status_code == status, response.text
    made: dict[str, Any] = response.json()
    return made


async def _new_secret(world: World) -> Call:
    return Call(path={"name": unique("secret")}, json={"value": "s3cret", "description": "acl"})


async def _secret(world: World) -> Call:
    name = unique("secret")
    await _made(world, "PUT", f"/secrets/{name}", {"value": "s3cret"}, 200)
    return Call(path={"name": name})


async def _new_user(world: World) -> Call:
    return Call(json={"email": f"{unique('user')}@example.com", "level": Level.USER})


async def _user(world: World) -> Call:
    """A fresh level-1 user of A, so changing it disturbs no other test."""
    made = await _made(world, "POST", "/users", (await _new_user(world)).json)
    return Call(path={"user_id": made["id"]})


async def _user_change(world: World) -> Call:
    return Call(path=(await _user(world)).path, json={"level": Level.MODERATOR})


async def _new_key(world: World) -> Call:
    return Call(json={"name": unique("key")})


async def _key(world: World) -> Call:
    made = await _made(world, "POST", "/api-keys", (await _new_key(world)).json)
    return Call(path={"key_id": made["id"]})


async def _login(world: World) -> Call:
    return Call(json={"tenant": world.a, "email": world.admin.email, "password": PASSWORD})


@dataclass(frozen=True, slots=True)
class Rule:
    method: str
    path: str
    level: Level
    expect: int
    build: Build = _nothing
    owner: Owner | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def tenanted(self) -> bool:
        return "{tenant}" in self.path

    def url(self, tenant: str, call: Call) -> str:
        return self.path.format(tenant=tenant, **call.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


T = "/api/v1/{tenant}"
W = T + "/workflows"
WID = W + "/{workflow_id}"
E = T + "/executions"
EID = E + "/{execution_id}"
USER, ADMIN, PUBLIC = Level.USER, Level.ADMIN, Level.PUBLIC

TABLE: tuple[Rule, ...] = (
    # --- public (seed 000's presets "public", "login", "bootstrap") ---
    Rule("GET", "/healthz", PUBLIC, 200),
    Rule("GET", "/readyz", PUBLIC, 200),
    Rule("GET", "/metrics", PUBLIC, 200),
    Rule("GET", "/api/v1/nodes", PUBLIC, 200),
    Rule("POST", "/api/v1/auth/login", PUBLIC, 200, _login),
    Rule("POST", "/api/v1/bootstrap", PUBLIC, 409),  # BOOTSTRAP_DONE: the database has tenants
    # --- workflows (seed 000's list/create, seed 003's operations) ---
    Rule("GET", W, USER, 200),
    Rule("POST", W, ADMIN, 201, _new_workflow),
    Rule("GET", W + "/find", USER, 200, _find),
    Rule("POST", W + "/import", ADMIN, 201, _import),
    Rule("POST", W + "/bulk", ADMIN, 200, _bulk),
    Rule("GET", WID, USER, 200, _workflow),
    Rule("PUT", WID, ADMIN, 200, _replace, Owner.CREATOR),
    Rule("PATCH", WID, ADMIN, 200, _patch, Owner.CREATOR),
    Rule("DELETE", WID, ADMIN, 204, _workflow, Owner.CREATOR),
    Rule("POST", WID + "/validate", USER, 200, _workflow),
    Rule("POST", WID + "/clone", ADMIN, 201, _clone),
    Rule("GET", WID + "/export", USER, 200, _workflow),
    Rule("POST", WID + "/enable", ADMIN, 200, _workflow),
    Rule("POST", WID + "/disable", ADMIN, 200, _workflow),
    Rule("POST", WID + "/lock", USER, 200, _lock),
    Rule("DELETE", WID + "/lock", ADMIN, 204, _locked, Owner.LOCK_HOLDER),
    Rule("GET", WID + "/stats", USER, 200, _workflow),
    Rule("GET", WID + "/versions", USER, 200, _workflow),
    Rule("GET", WID + "/versions/{number}", USER, 200, _version),
    Rule("POST", WID + "/versions/{number}/restore", ADMIN, 200, _version, Owner.CREATOR),
    # --- executions (execute is seed 000's; reading and controlling runs is user+ like execute) ---
    Rule("POST", WID + "/execute", USER, 200, _on_workflow),
    Rule("POST", WID + "/webhook-test", USER, 201, _hooked),
    Rule("GET", E, USER, 200),
    Rule("GET", EID, USER, 200, _execution),
    Rule("POST", EID + "/abort", USER, 200, _queued_execution),
    Rule("POST", EID + "/retry", USER, 202, _failed_execution),
    Rule("GET", EID + "/events", USER, 200, _execution),
    Rule("GET", EID + "/binary/{binary_id}", USER, 200, _execution_file),
    # --- secrets, users, API keys, audit: admin+ ---
    Rule("PUT", T + "/secrets/{name}", ADMIN, 200, _new_secret),
    Rule("GET", T + "/secrets", ADMIN, 200),
    Rule("DELETE", T + "/secrets/{name}", ADMIN, 204, _secret),
    Rule("POST", T + "/users", ADMIN, 201, _new_user),
    Rule("GET", T + "/users", ADMIN, 200),
    Rule("GET", T + "/users/{user_id}", ADMIN, 200, _user),
    Rule("PATCH", T + "/users/{user_id}", ADMIN, 200, _user_change),
    Rule("POST", T + "/api-keys", ADMIN, 201, _new_key),
    Rule("GET", T + "/api-keys", ADMIN, 200),
    Rule("DELETE", T + "/api-keys/{key_id}", ADMIN, 204, _key),
    Rule("GET", T + "/audit", ADMIN, 200),
)
