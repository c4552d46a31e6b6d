"""Use cases run on the store suite's backends (its fixtures, imported) and on empty ones for bootstrap."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tenantflow.store.database import run_on_server
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.store import conftest as store_suite
from tests.store.conftest import _migrate, open_store

# The store suite's backend fixtures, registered here as well so both suites share one definition of them.
keyring = store_suite.keyring
postgres_url = store_suite.postgres_url
redis_url = store_suite.redis_url
sqlite_url = store_suite.sqlite_url
store = store_suite.store


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def empty_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database on the same backend with no tenants at all, which bootstrap needs."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        fresh = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        await _migrate(fresh)
        yield fresh
        return
    name = f"tenantflow_empty_{uuid.uuid4().hex[:12]}"
    await run_on_server(database_url, f'CREATE DATABASE "{name}"')
    try:
        fresh = url.set(database=name).render_as_string(hide_password=False)
        await _migrate(fresh)
        yield fresh
    finally:
        await run_on_server(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_store(empty_url: str, keyring: Keyring) -> AsyncIterator[Store]:
    opened = await open_store(empty_url, keyring)
    try:
        yield opened
    finally:
        await opened.close()
