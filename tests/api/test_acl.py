"""Seed 003's ACL, route by route: tests/api/acl.py's TABLE × levels 0-5 × own tenant / other tenant / nobody.

The whole matrix runs on SQLite; PostgreSQL runs a slice of every row (one level below, the level itself, and
a supergod of the other tenant), since the gate is the same code and only the audit rows differ by backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tenantflow.api.app import create_app
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tenantflow.store.identity import Level
from tests.api.acl import TABLE, Rule
from tests.api.conftest import LEVELS, Member, World, expect_error, unique, workflow_body

pytestmark = pytest.mark.anyio

# FastAPI's own documentation routes: not part of the product's API, no access rule.
DOCUMENTATION = frozenset({"/docs", "/openapi.json", "/docs/oauth2-redirect"})
# Webhooks answer anyone (no API key; the path's tenant is the workflow's, not a caller's), or whoever the
# node's own header or basic auth admits: their rules, cross-tenant ones included, are in test_webhooks.py.
WEBHOOKS = ("/webhook/", "/webhook-test/")


@dataclass(frozen=True, slots=True)
class Caller:
    """``own``: a key of tenant A, whose route it is; ``foreign``: a key of tenant B; ``anonymous``: none."""

    kind: str
    level: int = 0

    def __str__(self) -> str:
        return self.kind if self.kind == "anonymous" else f"{self.kind}-{self.level}"


def every_caller(rule: Rule) -> list[Caller]:
    own = [Caller("own", level) for level in LEVELS]
    foreign = [Caller("foreign", level) for level in LEVELS] if rule.tenanted else []
    return [*own, *foreign, Caller("anonymous")]


def slice_of(rule: Rule) -> list[Caller]:
    below = Caller("own", rule.level - 1) if rule.level > Level.PUBLIC else Caller("anonymous")
    foreign = [Caller("foreign", Level.SUPERGOD)] if rule.tenanted else []
    return [below, Caller("own", rule.level), *foreign]


def expected(rule: Rule, caller: Caller) -> tuple[int, str | None]:
    """The status (and error code) the table promises this caller."""
    if caller.kind == "anonymous":
        return (rule.expect, None) if rule.level == Level.PUBLIC else (401, "UNAUTHENTICATED")
    if caller.kind == "foreign" and rule.tenanted:
        return 403, "TENANT_MISMATCH"
    if caller.level < rule.level:
        return 403, "PERMISSION_DENIED"
    return rule.expect, None


def _cases(callers: Callable[[Rule], list[Caller]]) -> list[Any]:
    return [
        pytest.param(rule, caller, id=f"{rule.method}-{rule.path}-{caller}")
        for rule in TABLE
        for caller in callers(rule)
    ]


async def assert_denial_audited(world: World, request_id: str, who: Member, code: str) -> None:
    """The refusal is in the caller's tenant's log under its user; a tenant mismatch also in tenant A's
    log, without naming the caller."""
    entries = await world.audit(who.tenant, request_id)
    assert [(e["userId"], e["outcome"], e["errorCode"]) for e in entries] == [(who.user_id, "denied", code)]
    if who.tenant != world.a:
        reached = await world.audit(world.a, request_id)
        assert [(e["userId"], e["outcome"], e["errorCode"]) for e in reached] == [(None, "denied", code)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("rule", "caller"), _cases(every_caller))
async def test_route_admits_exactly_the_table_levels(world: World, rule: Rule, caller: Caller) -> None:
    await check_admission(world, rule, caller)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize(("rule", "caller"), _cases(slice_of))
async def test_route_admission_on_postgres(world: World, rule: Rule, caller: Caller) -> None:
    await check_admission(world, rule, caller)


async def check_admission(world: World, rule: Rule, caller: Caller) -> None:
    """Build the row's request, send it as ``caller`` and compare with what the table promises."""
    call = await rule.build(world)
    who = None
    if caller.kind != "anonymous":
        who = world.member(world.a if caller.kind == "own" else world.b, caller.level)
    request_id = unique("acl")
    response = await world.send(
        rule.method,
        rule.url(world.a, call),
        who=who,
        json=call.json,
        params=call.params,
        headers={"X-Request-Id": request_id},
    )
    status, code = expected(rule, caller)
    if code is None:
        assert response.status_code == status, response.text
        return
    expect_error(response, status, code)
    if who is not None:
        await assert_denial_audited(world, request_id, who, code)


def _app_routes(data_dir: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(data_dir=data_dir))  # routes only: no lifespan, nothing opened
    routes: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if route.path is None or route.path in DOCUMENTATION or route.path.startswith(WEBHOOKS):
            continue
        methods = route.methods or {"WEBSOCKET"}
        for method in methods:
            if method != "HEAD" or "GET" not in methods:
                routes.add((method, route.path))
    return routes


def test_every_route_has_a_row(tmp_path: Path) -> None:
    missing = _app_routes(tmp_path) - {rule.key for rule in TABLE}
    assert not missing, f"routes without a row in tests/api/acl.py TABLE: {sorted(missing)}"


def test_every_row_has_a_route(tmp_path: Path) -> None:
    stale = {rule.key for rule in TABLE} - _app_routes(tmp_path)
    assert not stale, f"rows of tests/api/acl.py TABLE whose route is gone: {sorted(stale)}"
    assert len({rule.key for rule in TABLE}) == len(TABLE), "a route has two rows"


async def _created_by(world: World, member: Member) -> str:
    """A workflow whose creator is ``member`` (below admin, so it cannot create one over HTTP)."""
    actor = Actor(member.tenant, member.user_id, member.level)
    async with world.store.unit(actor) as unit:
        return (await unit.workflows.create(workflow_body())).id


async def _denied(world: World, method: str, url: str, who: Member, json: Any = None) -> None:
    request_id = unique("owner")
    response = await world.send(method, url, who=who, json=json, headers={"X-Request-Id": request_id})
    expect_error(response, 403, "PERMISSION_DENIED")
    await assert_denial_audited(world, request_id, who, "PERMISSION_DENIED")


async def test_creator_below_admin_may_change_and_delete_only_their_own(world: World) -> None:
    owner = world.member(world.a, Level.USER)
    workflow_id = await _created_by(world, owner)
    url = world.url(f"/{workflow_id}")
    patch = {"description": "by the owner"}
    for method, suffix, body in (
        ("PATCH", "", patch),
        ("PUT", "", workflow_body(description="replaced")),
        ("POST", "/versions/1/restore", {}),
        ("DELETE", "", None),
    ):
        await _denied(world, method, url + suffix, world.peer, body)
    assert (await world.read(workflow_id))["version"] == 1

    patched = await world.send("PATCH", url, who=owner, json=patch)
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "by the owner"
    replaced = await world.send("PUT", url, who=owner, json=workflow_body(description="replaced"))
    assert replaced.status_code == 200, replaced.text
    restored = await world.send("POST", url + "/versions/1/restore", who=owner, json={})
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 4 and restored.json()["description"] is None
    assert (await world.send("DELETE", url, who=owner)).status_code == 204
    assert (await world.send("GET", url, who=owner)).status_code == 404


async def test_lock_holder_below_admin_may_release_only_their_own_lock(world: World) -> None:
    holder = world.member(world.a, Level.USER)
    created = await world.create()
    url = world.url(f"/{created['id']}/lock")
    taken = await world.send("POST", url, who=holder, json={"timeout": 60})
    assert taken.status_code == 200 and taken.json()["lockedBy"] == holder.user_id, taken.text
    await _denied(world, "DELETE", url, world.peer)
    assert (await world.read(created["id"]))["lockedBy"] == holder.user_id
    assert (await world.send("DELETE", url, who=holder)).status_code == 204
    assert (await world.read(created["id"]))["isLocked"] is False


async def test_a_login_token_is_admitted_as_its_user(world: World) -> None:
    created = await world.send("POST", world.url(), who=world.token, json=workflow_body())
    assert created.status_code == 201, created.text
    elsewhere = await world.send("GET", world.url(tenant=world.b), who=world.token)
    expect_error(elsewhere, 403, "TENANT_MISMATCH", path="path.tenant")


@pytest.mark.parametrize("bearer", ["tfk_not-a-key", "not.a.token", ""])
async def test_unknown_credentials_are_unauthenticated(world: World, bearer: str) -> None:
    response = await world.send("GET", world.url(), who=None, headers={"Authorization": f"Bearer {bearer}"})
    expect_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_denial_is_listed_by_get_audit(world: World) -> None:
    """The refusals the matrix reads through the store are what tenant A's admin reads over HTTP."""
    request_id = unique("listed")
    refused = await world.send(
        "POST", world.url(), who=world.peer, json={}, headers={"X-Request-Id": request_id}
    )
    expect_error(refused, 403, "PERMISSION_DENIED")
    listed = await world.send(
        "GET",
        f"/api/v1/{world.a}/audit",
        who=world.admin,
        params={"outcome": "denied", "userId": world.peer.user_id},
    )
    assert listed.status_code == 200, listed.text
    entries = [entry for entry in listed.json()["entries"] if entry["requestId"] == request_id]
    assert [(e["operation"], e["errorCode"], e["userId"]) for e in entries] == [
        ("workflow.create", "PERMISSION_DENIED", world.peer.user_id)
    ]
