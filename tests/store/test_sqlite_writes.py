"""The SQLite writes that skip SQLAlchemy's per-statement machinery keep the tenant guard's promise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tenantflow.engine.record import utc_now
from tenantflow.store import sqlite_writes
from tenantflow.store.audit import Actor
from tenantflow.store.models import AuditEntry, Workflow
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenancy import TenantScopeError
from tenantflow.store.unit import Store
from tenantflow.store.workflows import CountedRun, count_parameters
from tests.conftest import _migrate
from tests.store.conftest import new_tenant, open_store
from tests.store.factories import insert_workflow_row

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tenantflow.db'}"
    await _migrate(url)
    opened = await open_store(url, Keyring.generate())
    try:
        yield opened
    finally:
        await opened.close()


def _audit_row(tenant_id: str) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "user_id": None,
        "operation": "execution.create",
        "target_type": "execution",
        "target_id": "x",
        "outcome": "ok",
        "error_code": None,
        "request_id": None,
        "ip": None,
        "details": None,
        "created_at": None,
    }


async def test_sqlite_driver_writes_refuse_rows_of_another_tenant(sqlite_store: Store) -> None:
    """A row naming another tenant, or counts bound to another tenant, are refused before anything is
    sent; the unit rolls back, so the other tenant's workflow keeps its count."""
    mine, theirs = await new_tenant(sqlite_store, "a"), await new_tenant(sqlite_store, "b")
    async with sqlite_store.unit(Actor(theirs)) as unit:
        foreign = await insert_workflow_row(unit)
    dialect = sqlite_store.database.engine.dialect
    run = CountedRun(foreign, "success", 1.0, utc_now())
    attempts = [
        (count_parameters([run], theirs), {}),  # counting another tenant's workflow
        ([], {"audit": [_audit_row(theirs)]}),  # an audit row stamped with another tenant
    ]
    for counts, tables in attempts:
        with pytest.raises(TenantScopeError):
            async with sqlite_store.unit(Actor(mine)) as unit:
                await sqlite_writes.write_ended(unit.session, dialect, counts, tables)
    async with sqlite_store.unit(Actor(theirs), read_only=True) as unit:
        workflow = await unit.session.get(Workflow, foreign)
        written = await unit.session.scalar(select(func.count()).select_from(AuditEntry))
    assert workflow is not None and workflow.execution_count == 0
    assert written == 1  # their own tenant.create row only


async def test_sqlite_driver_count_of_a_foreign_workflow_finds_nothing(sqlite_store: Store) -> None:
    """Counts bound to the session's tenant for another tenant's workflow id match no row: missing."""
    mine, theirs = await new_tenant(sqlite_store, "a"), await new_tenant(sqlite_store, "b")
    async with sqlite_store.unit(Actor(theirs)) as unit:
        foreign = await insert_workflow_row(unit)
    counts = count_parameters([CountedRun(foreign, "success", 1.0, utc_now())], mine)
    async with sqlite_store.unit(Actor(mine)) as unit:
        dialect = sqlite_store.database.engine.dialect
        counted, missing = await sqlite_writes.write_ended(unit.session, dialect, counts, {})
    assert (counted, missing) == ({}, {foreign})
