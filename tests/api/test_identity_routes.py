"""Users, API keys and the audit log over HTTP, on SQLite and PostgreSQL (``tests/api/conftest.py``'s world).

The level × tenant matrix of these routes and the secrets routes is in ``tests/api/acl.py``'s TABLE; here,
what the routes do, their rate-limit presets, and that denials can be read back through GET /audit. The
world is shared by the module, so each test makes its own users, keys and secrets and never counts rows
it did not make.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tenantflow.api.app import create_app
from tenantflow.api.deps import Access
from tenantflow.services import provisioning
from tenantflow.settings import Settings
from tenantflow.store.identity import Level
from tests.api.conftest import Member, World, expect_error, unique

pytestmark = pytest.mark.anyio

T = "/api/v1/{tenant}"
# Every route of routes/secrets.py and routes/identity.py, with the operation its denials are audited as.
OPERATIONS: dict[tuple[str, str], str] = {
    ("PUT", T + "/secrets/{name}"): "secret.set",
    ("GET", T + "/secrets"): "secret.list",
    ("DELETE", T + "/secrets/{name}"): "secret.delete",
    ("POST", T + "/users"): "user.create",
    ("GET", T + "/users"): "user.list",
    ("GET", T + "/users/{user_id}"): "user.get",
    ("PATCH", T + "/users/{user_id}"): "user.update",
    ("POST", T + "/api-keys"): "api_key.create",
    ("GET", T + "/api-keys"): "api_key.list",
    ("DELETE", T + "/api-keys/{key_id}"): "api_key.revoke",
    ("GET", T + "/audit"): "audit.list",
}


def url(world: World, suffix: str, *, tenant: str | None = None) -> str:
    return f"/api/v1/{tenant or world.a}{suffix}"


def admin_of(world: World, tenant: str | None) -> Member:
    return world.member(tenant or world.a, Level.ADMIN)


async def audit_log(world: World, tenant: str | None = None, **filters: Any) -> list[dict[str, Any]]:
    """Every entry of the tenant's log (default A) matching ``filters``, read through GET /audit by its admin,
    page after page."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {**filters, "limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await world.send(
            "GET", url(world, "/audit", tenant=tenant), who=admin_of(world, tenant), params=params
        )
        assert response.status_code == 200, response.text
        body = response.json()
        entries += body["entries"]
        cursor = body["nextCursor"]
        if cursor is None:
            return entries


async def new_user(world: World, level: int = Level.USER, *, who: Member | None = None) -> dict[str, Any]:
    body = {"email": f"{unique('user')}@example.com", "level": level}
    response = await world.send("POST", url(world, "/users"), who=who or world.admin, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def new_key(world: World, **body: Any) -> dict[str, Any]:
    response = await world.send("POST", url(world, "/api-keys"), who=world.admin, json={"name": "k", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# Presets, and denials read back ----------------------------------------------------------------------------


def test_routes_are_admin_only_with_the_seed_presets(tmp_path: Path) -> None:
    """Seed 003: admin+; seed 000's presets: "list" for reads, "mutation" for writes."""
    app = create_app(Settings(data_dir=tmp_path, _env_file=None))  # routes only: no lifespan
    found: dict[tuple[str, str], tuple[Level, str, str]] = {}
    for context in iter_route_contexts(app.routes):
        for method in context.methods or ():
            if (method, context.path) in OPERATIONS:
                dependencies = context.route.dependant.dependencies
                [access] = [d.call for d in dependencies if isinstance(d.call, Access)]
                found[(method, context.path)] = (access.level, access.preset, access.operation)
    assert found == {
        (method, path): (Level.ADMIN, "list" if method == "GET" else "mutation", operation)
        for (method, path), operation in OPERATIONS.items()
    }


async def test_denials_are_read_back_through_get_audit(world: World) -> None:
    """A moderator of A and a supergod of B, refused on every route: A's admin reads both refusals in A's
    log (B's unnamed), B's admin reads B's supergod's in B's."""
    moderator, intruder = world.member(world.a, Level.MODERATOR), world.member(world.b, Level.SUPERGOD)
    sent: dict[str, tuple[str, str]] = {}
    for (method, path), operation in OPERATIONS.items():
        target = path.format(tenant=world.a, name="n", user_id=uuid.uuid4(), key_id=uuid.uuid4())
        for who in (moderator, intruder):
            request_id = unique("denied")
            response = await world.send(method, target, who=who, headers={"X-Request-Id": request_id})
            assert response.status_code == 403, response.text
            sent[request_id] = (operation, who.tenant)
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    home = {e["requestId"]: e for e in await audit_log(world, outcome="denied", since=since)}
    away = {e["requestId"]: e for e in await audit_log(world, world.b, outcome="denied", since=since)}
    for request_id, (operation, tenant) in sent.items():
        entry = home[request_id]
        code = "PERMISSION_DENIED" if tenant == world.a else "TENANT_MISMATCH"
        assert (entry["operation"], entry["errorCode"]) == (operation, code)
        assert entry["userId"] == (moderator.user_id if tenant == world.a else None)
        if tenant == world.b:
            assert (away[request_id]["userId"], away[request_id]["errorCode"]) == (intruder.user_id, code)


# Users ----------------------------------------------------------------------------------------------------


async def test_create_user_answers_201_without_the_password(world: World) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    email = f"{unique('New')}@Example.com"
    body = {"email": email, "level": 2, "password": password, "displayName": "New"}
    response = await world.send("POST", url(world, "/users"), who=world.admin, json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {"id", "email", "displayName", "level", "disabled", "createdAt"}
    assert (user["email"], user["level"], user["displayName"], user["disabled"]) == (
        email.lower(),
        2,
        "New",
        False,
    )
    assert response.headers["Location"] == url(world, f"/users/{user['id']}")
    assert password not in response.text
    assert password not in str(await audit_log(world, targetId=user["id"]))
    fetched = await world.send("GET", url(world, f"/users/{user['id']}"), who=world.admin)
    assert fetched.json() == user
    again = await world.send("POST", url(world, "/users"), who=world.admin, json=body)
    expect_error(again, 409, "DUPLICATE_USER", path="$.email")


async def test_no_one_creates_a_user_above_their_own_level(world: World) -> None:
    request_id = unique("above")
    body = {"email": f"{unique('boss')}@example.com", "level": Level.GOD}
    response = await world.send(
        "POST", url(world, "/users"), who=world.admin, json=body, headers={"X-Request-Id": request_id}
    )
    expect_error(response, 403, "PERMISSION_DENIED")
    [denied] = [e for e in await audit_log(world, operation="user.create") if e["requestId"] == request_id]
    assert (denied["outcome"], denied["userId"]) == ("denied", world.admin.user_id)
    assert (await new_user(world, Level.GOD, who=world.member(world.a, Level.GOD)))["level"] == Level.GOD


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"email": "a@b.io", "level": 1, "nickname": "x"}, "$.nickname"),
        ({"email": "a@b.io", "level": 6}, "$.level"),
        ({"email": "a@b.io"}, "$.level"),
        ({"email": "a@b.io", "level": 1, "password": "short"}, "$.password"),
        ({"email": "not-an-email", "level": 1}, "$.email"),
    ],
)
async def test_create_user_body_is_strict(world: World, body: dict[str, Any], path: str) -> None:
    response = await world.send("POST", url(world, "/users"), who=world.admin, json=body)
    expect_error(response, 422, "INVALID_VALUE" if path == "$.email" else "INVALID_REQUEST", path=path)


async def test_list_users_pages_newest_first_with_signed_cursors(world: World) -> None:
    users: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await world.send("GET", url(world, "/users"), who=world.admin, params=params)
        body = response.json()
        assert len(body["users"]) <= 2 and body["hasMore"] == (body["nextCursor"] is not None)
        users += body["users"]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    ids = [user["id"] for user in users]
    assert len(ids) == len(set(ids))
    assert {m.user_id for m in world.members.values() if m.tenant == world.a} <= set(ids)
    assert world.member(world.b, Level.ADMIN).user_id not in ids
    assert [u["createdAt"] for u in users] == sorted((u["createdAt"] for u in users), reverse=True)
    too_many = await world.send("GET", url(world, "/users"), who=world.admin, params={"limit": 101})
    expect_error(too_many, 400, "INVALID_REQUEST", path="query.limit")
    first = await world.send("GET", url(world, "/users"), who=world.admin, params={"limit": 1})
    elsewhere = await world.send(
        "GET",
        url(world, "/users", tenant=world.b),
        who=world.member(world.b, Level.ADMIN),
        params={"cursor": first.json()["nextCursor"]},
    )
    expect_error(elsewhere, 400, "INVALID_CURSOR")


async def test_a_user_of_another_tenant_reads_as_absent(world: World) -> None:
    foreign_id = world.member(world.b, Level.USER).user_id
    foreign = await world.send("GET", url(world, f"/users/{foreign_id}"), who=world.admin)
    expect_error(foreign, 404, "USER_NOT_FOUND")
    expect_error(
        await world.send("GET", url(world, f"/users/{uuid.uuid4()}"), who=world.admin), 404, "USER_NOT_FOUND"
    )
    malformed = await world.send("GET", url(world, "/users/not%20an%20id"), who=world.admin)
    expect_error(malformed, 400, "INVALID_REQUEST", path="path.user_id")


async def test_patch_user_changes_level_and_disabled(world: World) -> None:
    user = await new_user(world)
    path = url(world, f"/users/{user['id']}")
    changed = await world.send("PATCH", path, who=world.admin, json={"level": 2, "disabled": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["level"], changed.json()["disabled"]) == (2, True)
    enabled = await world.send("PATCH", path, who=world.admin, json={"disabled": False})
    assert (enabled.json()["level"], enabled.json()["disabled"]) == (2, False)
    unchanged = await world.send("PATCH", path, who=world.admin, json={})
    assert unchanged.json() == enabled.json()
    log = await audit_log(world, targetId=user["id"], outcome="ok")
    assert [entry["operation"] for entry in log] == [
        "user.enable",
        "user.disable",
        "user.set_level",
        "user.create",
    ]


async def test_patch_user_refuses_what_the_caller_cannot_grant(world: World) -> None:
    user = await new_user(world)
    path = url(world, f"/users/{user['id']}")
    expect_error(
        await world.send("PATCH", path, who=world.admin, json={"level": 4}), 403, "PERMISSION_DENIED"
    )
    god = await new_user(world, Level.GOD, who=world.member(world.a, Level.GOD))
    disable_god = await world.send(
        "PATCH", url(world, f"/users/{god['id']}"), who=world.admin, json={"disabled": True}
    )
    expect_error(disable_god, 403, "PERMISSION_DENIED")
    unknown = await world.send("PATCH", path, who=world.admin, json={"email": "x@y.io"})
    expect_error(unknown, 422, "INVALID_REQUEST", path="$.email")
    foreign_id = world.member(world.b, Level.USER).user_id
    foreign = await world.send(
        "PATCH", url(world, f"/users/{foreign_id}"), who=world.admin, json={"level": 1}
    )
    expect_error(foreign, 403, "CROSS_TENANT_ACCESS_DENIED")
    assert [e["operation"] for e in await audit_log(world, targetId=user["id"], outcome="denied")] == [
        "user.set_level"
    ]
    assert [e["operation"] for e in await audit_log(world, targetId=god["id"], outcome="denied")] == [
        "user.disable"
    ]
    # B's log learns that someone reached for its user, not who.
    reached = await audit_log(world, world.b, operation="user.set_level", targetId=foreign_id)
    assert [(e["outcome"], e["userId"]) for e in reached] == [("denied", None)]
    assert (await world.send("GET", path, who=world.admin)).json() == user


# API keys -------------------------------------------------------------------------------------------------


async def test_an_api_key_is_shown_once_and_listed_as_metadata(world: World) -> None:
    user = await new_user(world, Level.ADMIN, who=world.member(world.a, Level.GOD))
    created = await new_key(world, userId=user["id"])
    key = created["key"]
    assert key.startswith(created["prefix"] + "_")
    assert (created["userId"], created["levelCap"], created["revokedAt"]) == (user["id"], Level.ADMIN, None)
    assert (await world.send("GET", url(world, "/users"), who=key)).status_code == 200
    listed = await world.send("GET", url(world, "/api-keys"), who=world.admin, params={"userId": user["id"]})
    assert key not in listed.text
    [shown] = listed.json()["apiKeys"]
    assert set(shown) == set(created) - {"key"}
    assert {k: v for k, v in shown.items() if k != "lastUsedAt"} == {
        k: v for k, v in created.items() if k not in ("key", "lastUsedAt")
    }
    assert key not in str(await audit_log(world, targetId=created["id"]))


async def test_api_keys_page_newest_first_and_cursors_keep_their_filter(world: World) -> None:
    user = await new_user(world)
    made = [(await new_key(world, userId=user["id"], name=f"k{index}"))["id"] for index in range(3)]
    params = {"userId": user["id"], "limit": 2}
    first = (await world.send("GET", url(world, "/api-keys"), who=world.admin, params=params)).json()
    assert ([k["id"] for k in first["apiKeys"]], first["hasMore"]) == (made[:0:-1], True)
    params["cursor"] = first["nextCursor"]
    rest = (await world.send("GET", url(world, "/api-keys"), who=world.admin, params=params)).json()
    assert ([k["id"] for k in rest["apiKeys"]], rest["hasMore"], rest["nextCursor"]) == (
        [made[0]],
        False,
        None,
    )
    other = await world.send(
        "GET", url(world, "/api-keys"), who=world.admin, params={"cursor": params["cursor"]}
    )
    expect_error(other, 400, "INVALID_CURSOR")


async def test_no_one_mints_a_key_above_their_level(world: World) -> None:
    user = await new_user(world)
    keys = url(world, "/api-keys")
    for above in ({"levelCap": Level.GOD}, {"userId": world.member(world.a, Level.GOD).user_id}):
        refused = await world.send("POST", keys, who=world.admin, json={"name": "x", **above})
        expect_error(refused, 403, "PERMISSION_DENIED")
    above_user = await world.send(
        "POST", keys, who=world.admin, json={"name": "x", "userId": user["id"], "levelCap": 2}
    )
    expect_error(above_user, 422, "INVALID_VALUE", path="$.levelCap")
    assert (await new_key(world, userId=user["id"]))["levelCap"] == Level.USER


async def test_a_capped_key_mints_keys_no_higher_than_its_cap(world: World) -> None:
    god = world.member(world.a, Level.GOD)
    _, capped = await provisioning.create_api_key(
        world.store, world.a, god.email, unique("capped"), Level.ADMIN
    )
    minted = await world.send("POST", url(world, "/api-keys"), who=capped, json={"name": "child"})
    assert (minted.status_code, minted.json()["userId"], minted.json()["levelCap"]) == (201, god.user_id, 3)
    higher = await world.send("POST", url(world, "/api-keys"), who=capped, json={"name": "x", "levelCap": 4})
    expect_error(higher, 403, "PERMISSION_DENIED")


async def test_a_revoked_key_is_refused_on_its_next_request(world: World) -> None:
    created = await new_key(world)
    assert (
        await world.send("GET", url(world, "/audit"), who=created["key"])
    ).status_code == 200  # now cached
    revoke = url(world, f"/api-keys/{created['id']}")
    assert (await world.send("DELETE", revoke, who=world.admin)).status_code == 204
    expect_error(await world.send("GET", url(world, "/audit"), who=created["key"]), 401, "UNAUTHENTICATED")
    assert (await world.send("DELETE", revoke, who=world.admin)).status_code == 204
    listed = await world.send(
        "GET", url(world, "/api-keys"), who=world.admin, params={"userId": world.admin.user_id}
    )
    [revoked] = [key for key in listed.json()["apiKeys"] if key["id"] == created["id"]]
    assert revoked["revokedAt"] is not None
    log = await audit_log(world, operation="api_key.revoke", targetId=created["id"])
    assert [entry["outcome"] for entry in log] == ["ok"]


async def test_revoking_an_unknown_or_foreign_key(world: World) -> None:
    absent = await world.send("DELETE", url(world, f"/api-keys/{uuid.uuid4()}"), who=world.admin)
    assert absent.status_code == 404
    away_admin = world.member(world.b, Level.ADMIN)
    away_keys = await world.send("GET", url(world, "/api-keys", tenant=world.b), who=away_admin)
    foreign_id = away_keys.json()["apiKeys"][0]["id"]
    foreign = await world.send("DELETE", url(world, f"/api-keys/{foreign_id}"), who=world.admin)
    expect_error(foreign, 403, "CROSS_TENANT_ACCESS_DENIED")
    reached = await audit_log(
        world, world.b, operation="api_key.revoke", targetId=foreign_id, outcome="denied"
    )
    assert [entry["userId"] for entry in reached] == [None]
    again = await world.send("GET", url(world, "/api-keys", tenant=world.b), who=away_admin)
    assert again.json()["apiKeys"][0]["revokedAt"] is None


# Audit ----------------------------------------------------------------------------------------------------


async def test_audit_filters_and_pages_newest_first(world: World) -> None:
    user = await new_user(world)
    since = datetime.now(UTC).isoformat()
    made = {(await new_key(world, userId=user["id"], name=f"k{index}"))["id"] for index in range(5)}
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"operation": "api_key.create", "outcome": "ok", "since": since, "limit": 2}
    while True:
        body = (await world.send("GET", url(world, "/audit"), who=world.admin, params=params)).json()
        assert len(body["entries"]) <= 2
        seen += body["entries"]
        if body["nextCursor"] is None:
            break
        params["cursor"] = body["nextCursor"]
    assert {entry["targetId"] for entry in seen} == made
    assert {(e["operation"], e["outcome"], e["userId"]) for e in seen} == {
        ("api_key.create", "ok", world.admin.user_id)
    }
    ids = [entry["id"] for entry in seen]
    assert ids == sorted(ids, reverse=True)
    before = await audit_log(world, until=since, operation="api_key.create")
    assert made.isdisjoint(entry["targetId"] for entry in before)
    assert await audit_log(world, since=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == []


@pytest.mark.parametrize(
    ("params", "code", "path"),
    [
        ({"cursor": "WyJ4Il0.forged"}, "INVALID_CURSOR", "query.cursor"),
        ({"cursor": "x" * 600}, "INVALID_REQUEST", "query.cursor"),
        ({"outcome": "maybe"}, "INVALID_REQUEST", "query.outcome"),
        ({"since": "2024-01-01T00:00:00"}, "INVALID_REQUEST", "query.since"),
        ({"limit": 101}, "INVALID_REQUEST", "query.limit"),
        ({"operation": "x" * 256}, "INVALID_REQUEST", "query.operation"),
    ],
)
async def test_audit_refuses_bad_queries(world: World, params: dict[str, Any], code: str, path: str) -> None:
    response = await world.send("GET", url(world, "/audit"), who=world.admin, params=params)
    expect_error(response, 400, code, path=path)


async def test_an_audit_cursor_serves_only_its_filter_and_tenant(world: World) -> None:
    page = await world.send(
        "GET", url(world, "/audit"), who=world.admin, params={"limit": 1, "outcome": "ok"}
    )
    cursor = page.json()["nextCursor"]
    assert cursor is not None
    for params, tenant in (
        ({"limit": 1, "cursor": cursor}, world.a),
        (
            {"limit": 1, "outcome": "ok", "cursor": cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")},
            world.a,
        ),
        ({"limit": 1, "outcome": "ok", "cursor": cursor}, world.b),
    ):
        response = await world.send(
            "GET", url(world, "/audit", tenant=tenant), who=admin_of(world, tenant), params=params
        )
        expect_error(response, 400, "INVALID_CURSOR")


async def test_a_disabled_or_demoted_user_is_refused_on_their_next_request(world: World) -> None:
    """The principal cache must not outlive the change here: disabling a user refuses their key at once,
    lowering their level lowers it at once, and enabling them again lets them back in."""
    member = world.member(world.a, Level.ADMIN)
    reader = url(world, "/users")
    assert (await world.send("GET", reader, who=member)).status_code == 200  # now cached
    user = url(world, f"/users/{member.user_id}")
    supergod = world.member(world.a, Level.SUPERGOD)
    assert (await world.send("PATCH", user, who=supergod, json={"disabled": True})).status_code == 200
    expect_error(await world.send("GET", reader, who=member), 401, "UNAUTHENTICATED")
    assert (await world.send("PATCH", user, who=supergod, json={"disabled": False})).status_code == 200
    assert (await world.send("GET", reader, who=member)).status_code == 200
    assert (await world.send("PATCH", user, who=supergod, json={"level": 1})).status_code == 200
    expect_error(await world.send("GET", reader, who=member), 403, "PERMISSION_DENIED")
    assert (await world.send("PATCH", user, who=supergod, json={"level": 3})).status_code == 200
    assert (await world.send("GET", reader, who=member)).status_code == 200
