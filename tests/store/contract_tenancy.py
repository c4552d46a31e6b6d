"""Tenant guarantees: one tenant's ids used by another read as absent or are refused, and are audited.

Every single-item workflow operation is tried with tenant B's id from tenant A. Reads must say "not found"
and leave A's audit log exactly as a read of an id that never existed does (only B's log records them);
writes must say CROSS_TENANT_ACCESS_DENIED and be recorded in both logs; nothing of B's may change. The
guard itself is tested too: a session without a tenant, literal SQL that does not filter, and rows stamped
with another tenant fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import AccessDeniedError, NotFoundError
from tenantflow.store.models import Workflow, WorkflowVersion
from tenantflow.store.tenancy import SYSTEM, TenantScopeError, TenantSession
from tenantflow.store.unit import Store
from tenantflow.store.workflows import WorkflowRepository
from tests.store.factories import audit_log, chain_document

pytestmark = pytest.mark.anyio

Operation = Callable[[WorkflowRepository, str], Awaitable[Any]]

READS: dict[str, Operation] = {
    "get": lambda repo, wid: repo.get(wid),
    "export": lambda repo, wid: repo.export(wid),
    "versions": lambda repo, wid: repo.versions(wid),
    "get_version": lambda repo, wid: repo.get_version(wid, 1),
    "validate": lambda repo, wid: repo.validate(wid),
    "cached_validation": lambda repo, wid: repo.cached_validation(wid),
    "clone": lambda repo, wid: repo.clone(wid),
    "stats": lambda repo, wid: repo.get_execution_stats("24h", workflow_id=wid),
}
WRITES: dict[str, Operation] = {
    "update": lambda repo, wid: repo.update(wid, {"description": "hijacked"}),
    "delete": lambda repo, wid: repo.delete(wid),
    "disable": lambda repo, wid: repo.set_enabled(wid, False),
    "enable": lambda repo, wid: repo.set_enabled(wid, True),
    "restore": lambda repo, wid: repo.restore(wid, 1),
    "acquire_lock": lambda repo, wid: repo.acquire_lock(wid, owner="intruder"),
    "release_lock": lambda repo, wid: repo.release_lock(wid, owner="intruder"),
    "record_execution": lambda repo, wid: repo.record_execution(
        wid, status="success", duration_ms=1.0, finished_at=datetime.now(UTC)
    ),
}


class TenantIsolationContract:
    @pytest.fixture
    async def foreign_workflow(self, store: Store, actor_b: Actor) -> str:
        async with store.unit(actor_b) as unit:
            view = await unit.workflows.create(chain_document("b-private"))
        return view.id

    async def _assert_untouched(self, store: Store, actor_b: Actor, workflow_id: str) -> None:
        async with store.unit(actor_b) as unit:
            row = await unit.session.scalar(select(Workflow).where(Workflow.id == workflow_id))
            assert row is not None
            assert (row.version, row.description, row.execution_count, row.is_locked) == (1, None, 0, False)

    @pytest.mark.parametrize("operation", sorted(READS))
    async def test_tenant_foreign_id_reads_as_absent_and_only_the_owner_logs_it(
        self, store: Store, actor_a: Actor, actor_b: Actor, foreign_workflow: str, operation: str
    ) -> None:
        absent = str(uuid.uuid4())
        answers = []
        for ident in (absent, foreign_workflow):
            with pytest.raises(NotFoundError) as caught:
                async with store.unit(actor_a) as unit:
                    await READS[operation](unit.workflows, ident)
            answers.append((caught.value.code, caught.value.message.replace(ident, "<id>")))
            assert await audit_log(store, actor_a.tenant_id) == []  # absent and foreign look the same
        assert answers[0] == answers[1] and answers[0][0] is ErrorCode.WORKFLOW_NOT_FOUND
        await self._assert_untouched(store, actor_b, foreign_workflow)
        theirs = [e for e in await audit_log(store, actor_b.tenant_id) if e.outcome == "denied"]
        assert [(e.target_id, e.user_id, e.error_code) for e in theirs] == [
            (foreign_workflow, None, "CROSS_TENANT_ACCESS_DENIED")
        ]
        assert actor_a.tenant_id not in str(theirs[0].details)

    @pytest.mark.parametrize("operation", sorted(WRITES))
    async def test_tenant_foreign_id_write_is_refused_and_audited(
        self, store: Store, actor_a: Actor, actor_b: Actor, foreign_workflow: str, operation: str
    ) -> None:
        with pytest.raises(AccessDeniedError) as caught:
            async with store.unit(actor_a) as unit:
                await WRITES[operation](unit.workflows, foreign_workflow)
        assert caught.value.code is ErrorCode.CROSS_TENANT_ACCESS_DENIED
        await self._assert_untouched(store, actor_b, foreign_workflow)
        mine = [e for e in await audit_log(store, actor_a.tenant_id) if e.outcome == "denied"]
        theirs = [e for e in await audit_log(store, actor_b.tenant_id) if e.outcome == "denied"]
        assert len(mine) == 1 and mine[0].error_code == "CROSS_TENANT_ACCESS_DENIED"
        assert mine[0].ip == actor_a.ip and mine[0].request_id == actor_a.request_id
        assert len(theirs) == 1 and theirs[0].target_id == foreign_workflow
        assert theirs[0].error_code == "CROSS_TENANT_ACCESS_DENIED" and theirs[0].user_id is None

    async def test_tenant_unknown_id_is_not_found_not_denied(self, store: Store, actor_a: Actor) -> None:
        with pytest.raises(NotFoundError):
            async with store.unit(actor_a) as unit:
                await unit.workflows.update("no-such-id", {"description": "x"})
        entries = await audit_log(store, actor_a.tenant_id)
        assert [(e.outcome, e.error_code) for e in entries] == [("error", "WORKFLOW_NOT_FOUND")]

    async def test_tenant_bulk_operations_stay_inside_the_tenant(
        self, store: Store, actor_a: Actor, actor_b: Actor, foreign_workflow: str
    ) -> None:
        async with store.unit(actor_a) as unit:
            await unit.workflows.create(chain_document("a-own"))
            assert [v.name for v in (await unit.workflows.list()).items] == ["a-own"]
            assert await unit.workflows.find_by_field("name", "b-private") == []
            assert await unit.workflows.search("private") == []
            assert await unit.workflows.update_many(None, {"description": "mass"}) == 1
            assert await unit.workflows.reclaim_expired_locks() == 0
            assert await unit.workflows.delete_many(None) == 1
            assert (await unit.workflows.get_execution_stats("24h"))["total"] == 0
        await self._assert_untouched(store, actor_b, foreign_workflow)

    async def test_tenant_cache_keys_never_cross(
        self, store: Store, actor_a: Actor, actor_b: Actor, foreign_workflow: str
    ) -> None:
        async with store.unit(actor_b) as unit:
            await unit.workflows.get(foreign_workflow)  # warm B's hot entry
            await unit.workflows.list()
        with pytest.raises(NotFoundError):
            async with store.unit(actor_a) as unit:
                await unit.workflows.get(foreign_workflow)
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.list()).total == 0

    async def test_tenant_session_without_scope_cannot_query(self, store: Store) -> None:
        async with store.database.engine.connect() as connection:
            session = AsyncSession(bind=connection, sync_session_class=TenantSession)
            with pytest.raises(TenantScopeError):
                await session.execute(select(Workflow))

    async def test_tenant_literal_sql_must_filter_by_the_session_tenant(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            with pytest.raises(TenantScopeError):
                await unit.session.execute(text("SELECT count(*) FROM workflows"))
            with pytest.raises(TenantScopeError):
                await unit.session.execute(
                    text("SELECT count(*) FROM workflows WHERE tenant_id = :tenant_id").execution_options(
                        tenant_filtered=True
                    ),
                    {"tenant_id": actor_b.tenant_id},
                )
            counted = await unit.session.scalar(
                text("SELECT count(*) FROM workflows WHERE tenant_id = :tenant_id").execution_options(
                    tenant_filtered=True
                ),
                {"tenant_id": actor_a.tenant_id},
            )
            assert counted == 0
            named = text("SELECT count(*) FROM workflows WHERE tenant_id = :owner").execution_options(
                tenant_filtered=True, tenant_param="owner"
            )
            with pytest.raises(TenantScopeError):  # the named parameter is the one checked
                await unit.session.execute(
                    named, {"owner": actor_b.tenant_id, "tenant_id": actor_a.tenant_id}
                )
            assert await unit.session.scalar(named, {"owner": actor_a.tenant_id}) == 0

    async def test_tenant_orm_update_and_join_are_filtered(
        self, store: Store, actor_a: Actor, actor_b: Actor, foreign_workflow: str
    ) -> None:
        async with store.unit(actor_a) as unit:
            result = await unit.session.execute(
                update(Workflow).values(description="everyone").execution_options(synchronize_session=False)
            )
            assert result.rowcount == 0  # type: ignore[attr-defined]
            joined = await unit.session.execute(
                select(Workflow.id, WorkflowVersion.version).join(
                    WorkflowVersion, WorkflowVersion.workflow_id == Workflow.id
                )
            )
            assert joined.all() == []
        await self._assert_untouched(store, actor_b, foreign_workflow)

    async def test_tenant_bulk_update_by_primary_key_is_refused(
        self, store: Store, actor_a: Actor, actor_b: Actor, foreign_workflow: str
    ) -> None:
        """SQLAlchemy's ORM bulk UPDATE/DELETE by primary key ignores loader criteria: it would reach
        another tenant's row by its id alone, so the guard refuses the form outright."""
        with pytest.raises(TenantScopeError):
            async with store.unit(actor_a) as unit:
                await unit.session.execute(
                    update(Workflow), [{"id": foreign_workflow, "description": "mine"}]
                )
        await self._assert_untouched(store, actor_b, foreign_workflow)

    async def test_tenant_rows_cannot_claim_or_move_to_another_tenant(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        with pytest.raises(TenantScopeError):
            async with store.unit(actor_a) as unit:
                unit.session.add(
                    Workflow(tenant_id=actor_b.tenant_id, name="smuggled", nodes=[], connections={})
                )
                await unit.session.flush()
        async with store.unit(actor_a) as unit:
            view = await unit.workflows.create(chain_document("stays"))
        with pytest.raises(TenantScopeError):
            async with store.unit(actor_a) as unit:
                row = await unit.session.scalar(select(Workflow).where(Workflow.id == view.id))
                assert row is not None
                row.tenant_id = actor_b.tenant_id
                await unit.session.flush()
        async with store.database.transaction(SYSTEM, read_only=True) as session:
            owners = set(
                await session.scalars(
                    select(Workflow.tenant_id).where(
                        Workflow.name.in_(["smuggled", "stays"]),
                        Workflow.tenant_id.in_([actor_a.tenant_id, actor_b.tenant_id]),
                    )
                )
            )
        assert owners == {actor_a.tenant_id}
