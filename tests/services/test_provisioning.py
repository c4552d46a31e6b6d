"""Provisioning use cases on SQLite and PostgreSQL: what operators, first start and bootstrap rely on."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.services import provisioning
from tenantflow.services.provisioning import Bootstrapped
from tenantflow.store.audit import Actor
from tenantflow.store.errors import AccessDeniedError, ConflictError, InvalidRequestError, NotFoundError
from tenantflow.store.identity import Level, api_key_pepper, authenticate_api_key
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.store.conftest import open_store
from tests.store.factories import audit_log

pytestmark = pytest.mark.anyio


async def authenticates(store: Store, key: str) -> Level | None:
    principal = await authenticate_api_key(store.database, api_key_pepper(store.keyring), key)
    return None if principal is None else principal.level


async def new_tenant(store: Store) -> str:
    tenant = await provisioning.create_tenant(store, f"p-{uuid.uuid4().hex[:12]}", "Provisioned")
    return tenant.id


async def test_create_and_list_tenants(store: Store) -> None:
    first = await provisioning.create_tenant(store, f"p-{uuid.uuid4().hex[:12]}")
    second = await provisioning.create_tenant(store, f"{first.id}-b", "Second")
    assert (first.name, second.name) == (first.id, "Second")
    listed = [t.id for t in await provisioning.list_tenants(store, 1000)]
    assert {first.id, second.id} <= set(listed) and listed == sorted(listed)
    assert [t.id for t in await provisioning.list_tenants(store, 1, after=first.id)] == [second.id]
    with pytest.raises(ConflictError):
        await provisioning.create_tenant(store, first.id)
    with pytest.raises(InvalidRequestError):
        await provisioning.create_tenant(store, "Not A Tenant")


async def test_create_user_as_the_operator(store: Store) -> None:
    tenant_id = await new_tenant(store)
    user = await provisioning.create_user(store, tenant_id, " Ops@Example.com", 4, display_name="Ops")
    assert (user.email, user.level, user.display_name) == ("ops@example.com", Level.GOD, "Ops")
    entries = await audit_log(store, tenant_id)
    created = [e for e in entries if e.operation == "user.create"]
    assert [(e.user_id, e.target_id, e.outcome) for e in created] == [(None, user.id, "ok")]


async def test_create_user_refusals(store: Store) -> None:
    tenant_id = await new_tenant(store)
    with pytest.raises(NotFoundError) as missing:
        await provisioning.create_user(store, f"absent-{uuid.uuid4().hex[:8]}", "a@example.com", 1)
    assert missing.value.code is ErrorCode.TENANT_NOT_FOUND
    await provisioning.create_user(store, tenant_id, "a@example.com", 1)
    with pytest.raises(ConflictError) as duplicate:
        await provisioning.create_user(store, tenant_id, "A@example.com", 2)
    assert duplicate.value.code is ErrorCode.DUPLICATE_USER
    for level in (-1, 6):
        with pytest.raises(InvalidRequestError):
            await provisioning.create_user(store, tenant_id, f"l{level}@example.com", level)


async def test_api_key_authenticates_until_revoked(store: Store) -> None:
    tenant_id = await new_tenant(store)
    user = await provisioning.create_user(store, tenant_id, "dev@example.com", 2)
    view, key = await provisioning.create_api_key(store, tenant_id, "DEV@example.com", "deploys")
    assert (view.user_id, view.name, view.level_cap, view.revoked_at) == (user.id, "deploys", 2, None)
    assert key.startswith(view.prefix) and await authenticates(store, key) == Level.MODERATOR
    capped, capped_key = await provisioning.create_api_key(store, tenant_id, user.email, "ro", level_cap=1)
    assert capped.level_cap == Level.USER and await authenticates(store, capped_key) == Level.USER

    revoked = await provisioning.revoke_api_key(store, tenant_id, view.id)
    assert revoked.revoked_at is not None
    assert await authenticates(store, key) is None
    assert await provisioning.revoke_api_key(store, tenant_id, view.id) == revoked  # idempotent
    assert await authenticates(store, capped_key) == Level.USER


async def test_api_key_refusals(store: Store) -> None:
    tenant_id = await new_tenant(store)
    await provisioning.create_user(store, tenant_id, "dev@example.com", 1)
    with pytest.raises(NotFoundError) as unknown_user:
        await provisioning.create_api_key(store, tenant_id, "nobody@example.com", "k")
    assert unknown_user.value.code is ErrorCode.USER_NOT_FOUND
    with pytest.raises(InvalidRequestError):
        await provisioning.create_api_key(store, tenant_id, "dev@example.com", "k", level_cap=3)
    with pytest.raises(NotFoundError) as unknown_tenant:
        await provisioning.create_api_key(store, f"absent-{uuid.uuid4().hex[:8]}", "dev@example.com", "k")
    assert unknown_tenant.value.code is ErrorCode.TENANT_NOT_FOUND
    with pytest.raises(NotFoundError):
        await provisioning.revoke_api_key(store, tenant_id, str(uuid.uuid4()))


async def test_another_tenants_key_cannot_be_revoked(store: Store) -> None:
    """The store refuses a write to another tenant's row as CROSS_TENANT_ACCESS_DENIED (reads: not found)."""
    tenant_a, tenant_b = await new_tenant(store), await new_tenant(store)
    await provisioning.create_user(store, tenant_a, "a@example.com", 1)
    view, key = await provisioning.create_api_key(store, tenant_a, "a@example.com", "k")
    with pytest.raises(AccessDeniedError) as refused:
        await provisioning.revoke_api_key(store, tenant_b, view.id)
    assert refused.value.code is ErrorCode.CROSS_TENANT_ACCESS_DENIED
    assert await authenticates(store, key) == Level.USER
    async with store.unit(Actor(tenant_a)) as unit:
        assert (await unit.api_keys.list())[0].revoked_at is None


async def test_bootstrap_once_on_an_empty_database(empty_store: Store) -> None:
    made = await provisioning.bootstrap(empty_store, password="first start")
    assert isinstance(made, Bootstrapped)
    assert (made.tenant_id, made.email, made.password) == ("demo", "admin@example.com", "first start")
    assert await authenticates(empty_store, made.api_key) == Level.ADMIN
    async with empty_store.unit(Actor("demo")) as unit:
        admin = await unit.users.verify_password(made.email, made.password)
    assert admin is not None and (admin.id, admin.level) == (made.user_id, Level.ADMIN)
    assert [t.name for t in await provisioning.list_tenants(empty_store)] == ["Demo"]
    assert await provisioning.bootstrap(empty_store) is None
    assert await provisioning.bootstrap(empty_store, tenant_id="other") is None
    assert [t.id for t in await provisioning.list_tenants(empty_store)] == ["demo"]


async def test_bootstrap_generates_a_password_and_checks_input_first(empty_store: Store) -> None:
    with pytest.raises(InvalidRequestError):
        await provisioning.bootstrap(empty_store, email="not an email")
    assert await provisioning.list_tenants(empty_store) == []  # nothing half made
    made = await provisioning.bootstrap(empty_store, tenant_id="acme", email="Root@Acme.test")
    assert made is not None and made.email == "root@acme.test" and len(made.password) >= 24
    async with empty_store.unit(Actor("acme")) as unit:
        assert await unit.users.verify_password("root@acme.test", made.password) is not None


async def test_concurrent_bootstraps_make_one_tenant(empty_url: str, keyring: Keyring) -> None:
    """Two processes starting together (two stores, two engines): one bootstraps, the other gets None."""
    stores = [await open_store(empty_url, keyring) for _ in range(2)]
    try:
        results = await asyncio.gather(*(provisioning.bootstrap(s) for s in stores))
        assert sorted(result is None for result in results) == [False, True]
        assert [t.id for t in await provisioning.list_tenants(stores[0])] == ["demo"]
    finally:
        for opened in stores:
            await opened.close()
