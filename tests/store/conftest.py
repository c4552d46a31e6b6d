"""Backends for the store's contract suite: a migrated SQLite file and a fresh PostgreSQL database, made by
the fixtures of tests/conftest.py (which the API suite shares).

The PostgreSQL server comes from ``TENANTFLOW_TEST_DATABASE_URL`` (``make test`` sets it to the machine's
server); when it is unset the PostgreSQL tests fail rather than skip, so CI cannot go green without them.
Each run creates its own database and drops it afterwards; each test creates its own tenants, which is
all the isolation tests need (that is the product's promise).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tenantflow.nodes import default_registry
from tenantflow.store.audit import Actor
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store
from tests.conftest import (  # noqa: F401 - moved to tests/conftest.py; re-exported for importers
    DATABASE_VAR,
    REDIS_VAR,
    _migrate,
    postgres_url,
    required_env,
    sqlite_url,
)


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return Keyring.generate()


async def open_store(url: str, keyring: Keyring, *, redis_url: str | None = None) -> Store:
    return await Store.open(
        url, keyring=keyring, registry=default_registry(plugins=False), redis_url=redis_url
    )


@pytest.fixture
def redis_url() -> str | None:
    """No Redis by default (in-process warm tier); the Redis-backed contract class overrides this."""
    return None


@pytest.fixture
async def store(database_url: str, keyring: Keyring, redis_url: str | None) -> AsyncIterator[Store]:
    opened = await open_store(database_url, keyring, redis_url=redis_url)
    try:
        yield opened
    finally:
        await opened.close()


async def new_tenant(store: Store, label: str = "t") -> str:
    tenant_id = f"{label}-{uuid.uuid4().hex[:12]}"
    await Tenants(store.database).create(tenant_id)
    return tenant_id


@pytest.fixture
async def tenant_a(store: Store) -> str:
    return await new_tenant(store, "a")


@pytest.fixture
async def tenant_b(store: Store) -> str:
    return await new_tenant(store, "b")


@pytest.fixture
def actor_a(tenant_a: str) -> Actor:
    return Actor(tenant_a, user_id="user-a", level=3, request_id="req-a", ip="10.0.0.1")


@pytest.fixture
def actor_b(tenant_b: str) -> Actor:
    return Actor(tenant_b, user_id="user-b", level=3, request_id="req-b", ip="10.0.0.2")
