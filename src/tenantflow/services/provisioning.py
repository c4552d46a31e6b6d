"""Provisioning: tenants, users and API keys made by an operator rather than by a tenant's own admin.

The operator commands, ``tenantflow serve``'s first start and ``POST /api/v1/bootstrap`` share these use
cases, so whichever door an operator comes through, the input is checked and audited the same way. Each
use case opens its own unit of work on the store it is given, acting as the operator: no user, level 5,
inside the target tenant (whose audit log records it).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tenantflow.store.audit import Actor
from tenantflow.store.errors import ConflictError
from tenantflow.store.identity import ApiKeyView, Level, UserView, normalise_email
from tenantflow.store.tenants import TenantInfo, Tenants
from tenantflow.store.unit import Store, Unit

BOOTSTRAP_KEY_NAME = "bootstrap"
GENERATED_PASSWORD_BYTES = 18


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """What the first start created. ``password`` and ``api_key`` exist only here: show them once."""

    tenant_id: str
    user_id: str
    email: str
    password: str
    api_key: str


async def create_tenant(store: Store, tenant_id: str, name: str | None = None) -> TenantInfo:
    return await Tenants(store.database).create(tenant_id, name)


async def list_tenants(store: Store, limit: int = 100, after: str | None = None) -> list[TenantInfo]:
    """Tenants by id, at most ``limit`` (1-1000) after the id ``after``: keyset pages for any count."""
    return await Tenants(store.database).list(limit=limit, after=after)


@asynccontextmanager
async def _as_operator(store: Store, tenant_id: str) -> AsyncIterator[Unit]:
    """A unit acting as the operator inside ``tenant_id``; TENANT_NOT_FOUND unless the tenant exists.

    Checked first because the store would otherwise surface a missing tenant as a foreign-key failure.
    """
    await Tenants(store.database).get(tenant_id)
    async with store.unit(Actor(tenant_id, user_id=None, level=Level.SUPERGOD)) as unit:
        yield unit


async def create_user(
    store: Store,
    tenant_id: str,
    email: str,
    level: int,
    password: str | None = None,
    display_name: str | None = None,
) -> UserView:
    """A user of ``tenant_id``; without a password it can only authenticate with API keys."""
    async with _as_operator(store, tenant_id) as unit:
        return await unit.users.create(email, level=level, password=password, display_name=display_name)


async def create_api_key(
    store: Store, tenant_id: str, email: str, name: str, level_cap: int | None = None
) -> tuple[ApiKeyView, str]:
    """A key for the user with ``email``, capped at ``level_cap`` (default: the user's level).

    The plaintext key is the second element and is stored nowhere: show it once.
    """
    async with _as_operator(store, tenant_id) as unit:
        user = await unit.users.get_by_email(email)
        cap = user.level if level_cap is None else level_cap
        return await unit.api_keys.create(user.id, name, level_cap=cap)


async def revoke_api_key(store: Store, tenant_id: str, key_id: str) -> ApiKeyView:
    """Revoke one of ``tenant_id``'s keys (idempotent). Another tenant's key is refused, never revoked."""
    async with _as_operator(store, tenant_id) as unit:
        return await unit.api_keys.revoke(key_id)


async def bootstrap(
    store: Store,
    *,
    tenant_id: str = "demo",
    tenant_name: str = "Demo",
    email: str = "admin@example.com",
    password: str | None = None,
) -> Bootstrapped | None:
    """On a database with no tenants at all: a tenant, its admin (level 3) and an API key; else None.

    Creating the tenant decides the race between processes starting together: the one whose insert loses
    returns None like any later start. The inputs are checked before anything is written, since a tenant
    left without its admin would make every later bootstrap a no-op.
    """
    tenants = Tenants(store.database)
    if await tenants.list(limit=1):
        return None
    email = normalise_email(email)
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES) if password is None else password
    try:
        await tenants.create(tenant_id, tenant_name)
    except ConflictError:
        return None
    async with _as_operator(store, tenant_id) as unit:
        user = await unit.users.create(email, level=Level.ADMIN, password=password)
        _, api_key = await unit.api_keys.create(user.id, BOOTSTRAP_KEY_NAME, level_cap=user.level)
    return Bootstrapped(tenant_id, user.id, email, password, api_key)
