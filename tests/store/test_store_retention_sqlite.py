"""Pruning gives the space back on SQLite (incremental vacuum), where a file never shrinks by itself.

PostgreSQL's autovacuum reuses pages instead, so this is a SQLite-only test outside the contract suite.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert

from tenantflow.store.audit import Actor
from tenantflow.store.migrate import upgrade
from tenantflow.store.models import Execution
from tenantflow.store.retention import prune
from tenantflow.store.secrets import Keyring
from tests.store.conftest import new_tenant, open_store
from tests.store.contract_retention import NOW, add_children, children, days_ago, set_policy

pytestmark = pytest.mark.anyio


async def test_store_retention_sqlite_file_shrinks_after_pruning(keyring: Keyring, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'prune.db'}"
    fresh = await open_store(url, keyring)
    try:
        await upgrade(fresh.database)
        async with fresh.database.engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA auto_vacuum")).scalar() == 2  # INCREMENTAL
        tenant = await new_tenant(fresh, "r")
        await set_policy(fresh, tenant, days=7)
        actor = Actor(tenant)
        ids = [str(uuid.uuid4()) for _ in range(2000)]
        async with fresh.unit(actor) as unit:
            await unit.session.execute(
                insert(Execution),
                [
                    {
                        "id": i,
                        "tenant_id": tenant,
                        "status": "success",
                        "trigger_kind": "manual",
                        "created_at": days_ago(30),
                    }
                    for i in ids
                ],
            )
        await add_children(fresh, actor, ids, payload="y" * 2048)
        report = await prune(fresh.database, now=NOW)  # every tenant: this file holds only one
        assert report.deleted == 2000 and await children(fresh, ids) == 0
        assert report.vacuum is not None and report.vacuum.pages_freed > 1000
        assert report.vacuum.size_after < report.vacuum.size_before / 2
        assert os.path.getsize(tmp_path / "prune.db") == report.vacuum.size_after
    finally:
        await fresh.close()
