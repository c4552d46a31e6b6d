"""Shared test configuration: async tests run on asyncio (the engine's event loop), and the two database
backends every suite that needs one uses (the store's contract suite, the services, the HTTP API).

The PostgreSQL server comes from ``TENANTFLOW_TEST_DATABASE_URL`` (``make test`` sets it to the machine's
server); when it is unset the PostgreSQL tests fail rather than skip, so CI cannot go green without them.
Each run creates its own database and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tenantflow.store.database import Database, async_url, run_on_server
from tenantflow.store.migrate import upgrade


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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


def migrated_postgres(prefix: str = "tenantflow_test") -> Iterator[str]:
    """A database of its own on the test server, migrated, dropped afterwards (a generator for fixtures)."""
    server = async_url(required_env(DATABASE_VAR))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(run_on_server(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(run_on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from migrated_postgres()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("store") / "tenantflow.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_migrate(url))
    return url
