"""Secrets over HTTP, on SQLite and PostgreSQL: a value goes in and never comes back out, not in a response,
the audit log, a log line, nor as plain text in the database. Who may call them is ``tests/api/acl.py``'s."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from tenantflow.store.audit import Actor
from tenantflow.store.identity import Level
from tenantflow.store.tenancy import SYSTEM
from tests.api.conftest import World, expect_error, unique
from tests.api.test_identity_routes import audit_log, url

pytestmark = pytest.mark.anyio


async def put(world: World, name: str, body: dict[str, Any], *, tenant: str | None = None) -> Any:
    who = world.member(tenant or world.a, Level.ADMIN)
    return await world.send("PUT", url(world, f"/secrets/{name}", tenant=tenant), who=who, json=body)


async def listing(world: World, **params: Any) -> dict[str, Any]:
    response = await world.send("GET", url(world, "/secrets"), who=world.admin, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _table_bytes(world: World, table: str) -> bytes:
    """Every column of every row of ``table``, across tenants, as one byte string to search."""
    async with world.store.database.transaction(SYSTEM, read_only=True) as session:
        rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
    return b"\n".join(
        value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row
    )


async def test_a_secret_value_never_comes_back_out(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name, value = unique("smtp.password"), f"s3cr3t-{uuid.uuid4().hex}"
    created = await put(world, name, {"value": value, "description": "relay"})
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"name", "description", "keyId", "createdAt", "updatedAt"}
    replaced = await put(world, name, {"value": value + "-2"})
    listed = await world.send("GET", url(world, "/secrets"), who=world.admin, params={"limit": 100})
    log = await world.send("GET", url(world, "/audit"), who=world.admin, params={"limit": 100})
    for response in (created, replaced, listed, log):
        assert value not in response.text
    entries = await audit_log(world, targetId=name)
    assert [(e["operation"], e["details"]) for e in entries] == [
        ("secret.set", {"created": False}),
        ("secret.set", {"created": True}),
    ]
    for table in ("secrets", "audit_log"):
        assert value.encode() not in await _table_bytes(world, table)
    assert value not in caplog.text
    # Stored sealed, and still what was put.
    async with world.store.unit(Actor(world.a)) as unit:
        assert await unit.secrets.get_value(name) == value + "-2"


async def test_put_creates_then_replaces(world: World) -> None:
    name = unique("token")
    first = (await put(world, name, {"value": "one", "description": "v1"})).json()
    second = (await put(world, name, {"value": "two"})).json()
    assert (first["name"], first["description"], second["description"]) == (name, "v1", None)
    assert first["keyId"] == second["keyId"] == world.store.keyring.primary
    assert second["createdAt"] == first["createdAt"] < second["updatedAt"]
    assert (await listing(world, after=name[:-1], limit=1))["secrets"] == [second]


@pytest.mark.parametrize("name", ["has space", "x" * 256, "naïve", "semi;colon", "%00"])
async def test_a_name_outside_the_store_rule_is_422_at_the_path(world: World, name: str) -> None:
    expect_error(await put(world, name, {"value": "v"}), 422, "INVALID_VALUE", path="path.name")
    deleted = await world.send("DELETE", url(world, f"/secrets/{name}"), who=world.admin)
    expect_error(deleted, 422, "INVALID_VALUE", path="path.name")


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        ({"value": "v", "extra": 1}, "INVALID_REQUEST", "$.extra"),
        ({}, "INVALID_REQUEST", "$.value"),
        ({"value": ""}, "INVALID_REQUEST", "$.value"),
        ({"value": 42}, "INVALID_REQUEST", "$.value"),
        ({"value": "v", "description": "nul\u0000"}, "INVALID_VALUE", "$.description"),
    ],
)
async def test_put_body_is_strict(world: World, body: dict[str, Any], code: str, path: str) -> None:
    name = unique("strict")
    expect_error(await put(world, name, body), 422, code, path=path)
    absent = await world.send("DELETE", url(world, f"/secrets/{name}"), who=world.admin)
    expect_error(absent, 404, "SECRET_NOT_FOUND")


async def test_list_is_bounded_and_pages_by_name(world: World) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{index}" for index in range(5)]
    for name in reversed(names):
        assert (await put(world, name, {"value": name})).status_code == 200
    pages: list[list[str]] = []
    after = prefix
    for _ in range(3):
        body = await listing(world, limit=2, after=after)
        assert body["hasMore"] == (body["nextAfter"] is not None)
        pages.append([secret["name"] for secret in body["secrets"]])
        after = body["nextAfter"] or ""
    assert pages[:2] == [names[:2], names[2:4]] and pages[2][0] == names[4]
    for params, path in (({"limit": 101}, "query.limit"), ({"after": "bad name"}, "query.after")):
        refused = await world.send("GET", url(world, "/secrets"), who=world.admin, params=params)
        expect_error(refused, 400, "INVALID_REQUEST", path=path)


async def test_delete_then_absent(world: World) -> None:
    name = unique("gone")
    await put(world, name, {"value": "v"})
    path = url(world, f"/secrets/{name}")
    assert (await world.send("DELETE", path, who=world.admin)).status_code == 204
    expect_error(await world.send("DELETE", path, who=world.admin), 404, "SECRET_NOT_FOUND")
    assert name not in [secret["name"] for secret in (await listing(world, after=name[:-1]))["secrets"]]
    assert [e["outcome"] for e in await audit_log(world, operation="secret.delete", targetId=name)] == [
        "error",
        "ok",
    ]


async def test_secrets_stay_in_their_tenant(world: World) -> None:
    name = unique("mine")
    await put(world, name, {"value": "tenant a"})
    away = world.member(world.b, Level.ADMIN)
    listed = await world.send(
        "GET", url(world, "/secrets", tenant=world.b), who=away, params={"after": name[:-1]}
    )
    assert name not in [secret["name"] for secret in listed.json()["secrets"]]
    deleted = await world.send("DELETE", url(world, f"/secrets/{name}", tenant=world.b), who=away)
    expect_error(deleted, 404, "SECRET_NOT_FOUND")
    assert [s["name"] for s in (await listing(world, after=name[:-1], limit=1))["secrets"]] == [name]
