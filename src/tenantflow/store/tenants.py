"""Tenants themselves, and their settings: the only table that is not tenant-scoped.

Operators (not tenants) call these, so they run in a :data:`~tenantflow.store.tenancy.SYSTEM` session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.database import Database
from tenantflow.store.errors import ConflictError, InvalidRequestError, not_found
from tenantflow.store.models import AuditEntry, Tenant
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.text import checked_text

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_RETENTION_DAYS = 14
DEFAULT_RETENTION_MAX_PER_WORKFLOW = 10_000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep executions for ``days`` and at most ``max_per_workflow`` per workflow (n8n's defaults)."""

    days: int = DEFAULT_RETENTION_DAYS
    max_per_workflow: int = DEFAULT_RETENTION_MAX_PER_WORKFLOW

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 36_500:
            raise InvalidRequestError(
                ErrorCode.INVALID_RETENTION_POLICY, "days must be between 1 and 36500", path="$.days"
            )
        if not 1 <= self.max_per_workflow <= 10_000_000:
            raise InvalidRequestError(
                ErrorCode.INVALID_RETENTION_POLICY,
                "maxPerWorkflow must be between 1 and 10000000",
                path="$.maxPerWorkflow",
            )


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: str
    name: str
    retention: RetentionPolicy
    settings: dict[str, Any]


def _info(row: Tenant) -> TenantInfo:
    return TenantInfo(
        row.id, row.name, RetentionPolicy(row.retention_days, row.retention_max_per_workflow), row.settings
    )


def _audit(
    tenant_id: str, operation: str, actor: str | None, details: dict[str, Any] | None = None
) -> AuditEntry:
    """Operator actions land in the tenant's own audit log; ``actor`` names the operator if known."""
    return AuditEntry(
        tenant_id=tenant_id,
        user_id=None,
        operation=operation,
        target_type="tenant",
        target_id=tenant_id,
        outcome="ok",
        details={"operator": actor, **(details or {})},
    )


class Tenants:
    """Operator-side tenant management; every change is audited in the tenant's own log."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(
        self, tenant_id: str, name: str | None = None, *, actor: str | None = None
    ) -> TenantInfo:
        if not TENANT_ID.match(tenant_id):
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE,
                "tenant ids are 1-64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
                path="$.id",
            )
        row = Tenant(
            id=tenant_id,
            name=tenant_id if name is None else checked_text(name, 255, "$.name"),
            retention_days=DEFAULT_RETENTION_DAYS,
            retention_max_per_workflow=DEFAULT_RETENTION_MAX_PER_WORKFLOW,
            settings={},
        )
        try:
            async with self._database.transaction(SYSTEM) as session:
                session.add(row)
                await session.flush()
                session.add(_audit(tenant_id, "tenant.create", actor))
        except IntegrityError as exc:
            raise ConflictError(ErrorCode.INVALID_VALUE, f"tenant {tenant_id!r} exists", path="$.id") from exc
        return _info(row)

    async def get(self, tenant_id: str) -> TenantInfo:
        async with self._database.transaction(SYSTEM, read_only=True) as session:
            row = await session.get(Tenant, tenant_id)
        if row is None:
            raise not_found(ErrorCode.TENANT_NOT_FOUND, "tenant", tenant_id)
        return _info(row)

    async def list(self, *, limit: int = 100, after: str | None = None) -> list[TenantInfo]:
        query = select(Tenant).order_by(Tenant.id).limit(min(max(limit, 1), 1000))
        if after is not None:
            query = query.where(Tenant.id > after)
        async with self._database.transaction(SYSTEM, read_only=True) as session:
            return [_info(row) for row in await session.scalars(query)]

    async def set_retention(
        self, tenant_id: str, policy: RetentionPolicy, *, actor: str | None = None
    ) -> TenantInfo:
        async with self._database.transaction(SYSTEM) as session:
            row = await session.get(Tenant, tenant_id)
            if row is None:
                raise not_found(ErrorCode.TENANT_NOT_FOUND, "tenant", tenant_id)
            row.retention_days = policy.days
            row.retention_max_per_workflow = policy.max_per_workflow
            session.add(
                _audit(
                    tenant_id,
                    "tenant.retention",
                    actor,
                    {"days": policy.days, "maxPerWorkflow": policy.max_per_workflow},
                )
            )
        return _info(row)
