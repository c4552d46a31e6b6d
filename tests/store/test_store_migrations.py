"""Migrations: from empty to head on both backends, idempotent, reversible, and equal to the models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url

from tenantflow.store.database import Database, async_url, run_on_server
from tenantflow.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tenantflow.store.models import Base
from tests.store.conftest import DATABASE_VAR, required_env

pytestmark = pytest.mark.anyio

TABLES = {
    "tenants",
    "users",
    "api_keys",
    "workflows",
    "workflow_versions",
    "executions",
    "execution_nodes",
    "execution_logs",
    "secrets",
    "audit_log",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield database
        await database.dispose()
        return
    server = async_url(required_env(DATABASE_VAR))
    name = f"tenantflow_migrate_{uuid.uuid4().hex[:10]}"
    await run_on_server(server, f'CREATE DATABASE "{name}"')
    database = Database(make_url(server).set(database=name).render_as_string(hide_password=False))
    try:
        yield database
    finally:
        await database.dispose()
        await run_on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _differences(connection: Connection) -> list[Any]:
    def include(obj: Any, name: str | None, kind: str, reflected: bool, _other: Any) -> bool:
        # Search structures live outside the models on purpose (per-backend): FTS5 tables, the tsvector.
        return not (name or "").startswith(("workflows_fts", "alembic_version")) and name not in (
            "search_vector",
            "ix_workflows_search_vector",
        )

    context = MigrationContext.configure(connection, opts={"include_object": include, "compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def test_store_migrations_upgrade_from_empty_and_match_the_models(empty_database: Database) -> None:
    assert await current_revision(empty_database) is None
    await upgrade(empty_database)
    assert await current_revision(empty_database) == head_revision()
    await upgrade(empty_database)  # a second run changes nothing
    async with empty_database.engine.connect() as connection:
        assert await connection.run_sync(_tables) >= TABLES
        assert await connection.run_sync(_differences) == []


async def test_store_migrations_downgrade_to_empty_and_back(empty_database: Database) -> None:
    await upgrade(empty_database)

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with empty_database.engine.begin() as connection:
        await connection.run_sync(downgrade)
    async with empty_database.engine.connect() as connection:
        assert not (TABLES & await connection.run_sync(_tables))
    await upgrade(empty_database)
    assert await current_revision(empty_database) == head_revision()
