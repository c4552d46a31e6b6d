"""The store's entry point: a :class:`Store` opens units of work, each bound to one actor's tenant.

A unit owns its transaction. Repositories receive the unit, run their statements in its session and never
commit; the session opens on first use, and the unit commits when the ``async with`` block ends (or rolls
back if it raised), then writes the
queued denial/failure audit rows in a transaction of their own and runs the after-commit hooks (cache
invalidation), so no other process can re-cache a row between the invalidation and the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.store.audit import Actor, AuditLogRepository, AuditTrail, write_queued
from tenantflow.store.cache import WorkflowCache
from tenantflow.store.database import Database
from tenantflow.store.errors import AccessDeniedError, StoreError, not_found
from tenantflow.store.keyset import CursorSigner
from tenantflow.store.models import AuditEntry, TenantScoped
from tenantflow.store.tenancy import SYSTEM

if TYPE_CHECKING:  # the repositories import Unit, so they are loaded on first use
    from tenantflow.store.executions import ExecutionRepository
    from tenantflow.store.identity import ApiKeyRepository, UserRepository
    from tenantflow.store.schedules import ScheduleRepository
    from tenantflow.store.secrets import Keyring, SecretRepository
    from tenantflow.store.workflows import WorkflowRepository

AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class Store:
    """Everything a unit of work needs: the database, the caches, the secret keyring, the node registry."""

    database: Database
    cache: WorkflowCache
    keyring: Keyring
    registry: NodeRegistry

    @classmethod
    async def open(
        cls, database_url: str, *, keyring: Keyring, registry: NodeRegistry, redis_url: str | None = None
    ) -> Store:
        """Connect to the database and, when given, Redis (the warm tier and cross-process invalidation)."""
        return cls(Database(database_url), await WorkflowCache.connect(redis_url), keyring, registry)

    @asynccontextmanager
    async def unit(self, actor: Actor, *, read_only: bool = False) -> AsyncIterator[Unit]:
        unit = Unit(self, actor, read_only)
        committed = False
        try:
            async with self.database.writing(read_only=read_only):
                try:
                    yield unit
                    if unit.opened:
                        await write_queued(unit.session)
                        if unit.session.in_transaction():  # else nothing began: no commit to pay for
                            await unit.session.commit()
                    committed = True
                finally:
                    if unit.opened:
                        await unit.session.close()  # rolls back what did not commit
        finally:
            try:
                await unit.finish(committed=committed)
            finally:
                unit.release()

    @cached_property
    def cursors(self) -> CursorSigner:
        """Signs every keyset cursor the store's lists hand out (a key of the keyring's own)."""
        return CursorSigner(self.keyring)

    async def owner_of(self, model: type[TenantScoped], ident: str) -> str | None:
        """Which tenant owns ``ident``, looked up across tenants: only to tell "absent" from "foreign"."""
        async with self.database.transaction(SYSTEM, read_only=True) as session:
            column = model.__table__.c  # type: ignore[attr-defined]
            owner: str | None = await session.scalar(select(column.tenant_id).where(column.id == ident))
            return owner

    async def close(self) -> None:
        await self.cache.close()
        await self.database.dispose()


@dataclass
class Unit:
    """One transaction for one actor. Repositories hang off it; see the module docstring."""

    store: Store
    actor: Actor
    read_only: bool = False
    _session: AsyncSession | None = None
    _after_commit: list[AfterCommit] = field(default_factory=list)
    _counted: set[str] = field(default_factory=set)  # workflows ("*": none) whose executions changed
    _handed_over: list[AfterCommit] | None = None  # where the hooks go instead of running: defer_after_commit

    @property
    def session(self) -> AsyncSession:
        """The unit's session, opened (and its transaction begun) on first use: a unit that the caches
        answer never opens one."""
        if self._session is None:
            self._session = self.store.database.session(self.actor.tenant_id, read_only=self.read_only)
        return self._session

    @property
    def opened(self) -> bool:
        return self._session is not None

    @property
    def tenant_id(self) -> str:
        return self.actor.tenant_id

    @property
    def cache(self) -> WorkflowCache:
        return self.store.cache

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.session, self.actor)

    @cached_property
    def audit_log(self) -> AuditLogRepository:
        """Reads the tenant's audit log (:attr:`audit` writes it)."""
        return AuditLogRepository(self)

    @cached_property
    def workflows(self) -> WorkflowRepository:
        from tenantflow.store.workflows import WorkflowRepository

        return WorkflowRepository(self)

    @cached_property
    def executions(self) -> ExecutionRepository:
        from tenantflow.store.executions import ExecutionRepository

        return ExecutionRepository(self)

    @cached_property
    def schedules(self) -> ScheduleRepository:
        """The tenant's schedule ticks: the claims that make each tick of a schedule fire once."""
        from tenantflow.store.schedules import ScheduleRepository

        return ScheduleRepository(self)

    @cached_property
    def secrets(self) -> SecretRepository:
        from tenantflow.store.secrets import SecretRepository

        return SecretRepository(self)

    @cached_property
    def users(self) -> UserRepository:
        from tenantflow.store.identity import UserRepository

        return UserRepository(self)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        from tenantflow.store.identity import ApiKeyRepository

        return ApiKeyRepository(self)

    async def refuse_missing(
        self,
        model: type[TenantScoped],
        ident: str,
        *,
        kind: str,
        code: ErrorCode,
        operation: str,
        write: bool,
        target_type: str | None = None,
    ) -> NoReturn:
        """Raise for an id this tenant does not have, after finding out whether another tenant does.

        A read answers not found either way and leaves the reader's audit log as it would for an absent
        id (only the owner's log records that another tenant reached for its row), so the reader's log
        cannot be used to probe ids. A write to another tenant's id is CROSS_TENANT_ACCESS_DENIED, recorded
        in both logs; a write to an absent id is left to the enclosing :meth:`audited` block, as any failure.
        """
        target = target_type or kind
        owner = await self.store.owner_of(model, ident)
        error: StoreError = not_found(code, kind, ident)
        if owner is not None and owner != self.tenant_id:
            self.audit.reached_for(owner, operation, target, ident)
            if write:
                error = AccessDeniedError(
                    ErrorCode.CROSS_TENANT_ACCESS_DENIED,
                    f"the {kind} belongs to another tenant",
                    details={"id": ident},
                )
                self.audit.failed(operation, target, ident, error)
                error.audited = True
        raise error

    @contextmanager
    def audited(self, operation: str, target_type: str, target_id: str | None) -> Iterator[None]:
        """Audit a failed write once, at the innermost operation that saw it fail."""
        try:
            yield
        except StoreError as error:
            if not error.audited:
                self.audit.failed(operation, target_type, target_id, error)
                error.audited = True
            raise

    def executions_changed(self, workflow_id: str | None) -> None:
        """Executions of ``workflow_id`` (None: of no workflow) were written: once committed, their cached
        stats and the tenant's lists go, for every workflow the unit touched in one warm-tier round trip."""
        if not self._counted:

            async def bump() -> None:
                await self.cache.executions_changed(self.tenant_id, *sorted(self._counted))

            self.after_commit(bump)
        self._counted.add(workflow_id or "*")

    def release(self) -> None:
        """Let go of the repositories and hooks the unit kept. Each refers back to the unit, and such a
        cycle is freed only by the garbage collector, with everything the unit reached: a request's worth
        of objects, each request, which made the collector's passes most of a millisecond each."""
        for name in _KEPT:
            self.__dict__.pop(name, None)
        self._after_commit.clear()
        self._handed_over = None

    def after_commit(self, hook: AfterCommit) -> None:
        """Run ``hook`` once the transaction has committed; dropped if it rolls back."""
        self._after_commit.append(hook)

    def defer_after_commit(self) -> AfterCommit:
        """Hand the unit's after-commit hooks (those added so far and later) to the caller: the unit no
        longer awaits them as it ends, and the function returned runs them, once the unit has committed
        (a caller that saw the unit fail must not call it). The caller decides what may go on before they
        have run (a worker's runs after their claim; a queued execution nobody is answered about yet), and
        holds back whatever answers someone who expects to read their own write until they have."""
        handed: list[AfterCommit] = []
        self._handed_over = handed

        async def run() -> None:
            while handed:
                await handed.pop(0)()

        return run

    async def finish(self, *, committed: bool) -> None:
        """Write queued denial/failure audits whatever happened, then the hooks if the work committed (or
        hand them over: :meth:`defer_after_commit`)."""
        pending = self.audit.pending if "audit" in self.__dict__ else []
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for item in pending:
            by_tenant.setdefault(item.tenant_id, []).append(item.entry)
        for tenant_id, entries in by_tenant.items():
            async with self.store.database.transaction(tenant_id) as session:
                session.add_all(AuditEntry(**entry) for entry in entries)
        if committed and self._handed_over is not None:
            self._handed_over.extend(self._after_commit)
        elif committed:
            for hook in self._after_commit:
                await hook()


# What a unit keeps of its repositories (its cached properties), for :meth:`Unit.release`.
_KEPT = tuple(name for name, member in vars(Unit).items() if isinstance(member, cached_property))
