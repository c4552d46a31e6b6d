"""Backends for the store's contract suite: a migrated SQLite file and a fresh PostgreSQL database.

The PostgreSQL server comes from ``TENANTFLOW_TEST_DATABASE_URL`` (``make test`` sets it to the machine's
server); when it is unset the PostgreSQL tests fail rather than skip, so CI cannot go green without them.
Each run creates its own database and drops it afterwards; each test creates its own tenants, which is
all the isolation tests need (that is the product's promise).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tenantflow.nodes import default_registry
from tenantflow.store.audit import Actor
from tenantflow.store.database import Database, async_url
from tenantflow.store.migrate import upgrade
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store

DATABASE_VAR = "TENANTFLOW_TEST_DATABASE_URL"
REDIS_VAR = "TENANTFLOW_TEST_REDIS_URL"


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; `make test` sets it to the local server", pytrace=False)
    return value


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg  # the admin connection runs outside a transaction, which CREATE DATABASE needs

    url = make_url(server_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    server = async_url(required_env(DATABASE_VAR))
    name = f"tenantflow_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("store") / "tenantflow.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_migrate(url))
    return url


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
