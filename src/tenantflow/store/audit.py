"""The audit trail: who did what to which target, and whether it was allowed; and reading it back.

Successful writes are audited inside their own transaction, so the row exists exactly when the change does.
Denials and failures are audited in a transaction of their own after the work ends, so a rollback cannot
erase the record of an attempt. A cross-tenant attempt is written to both tenants' logs: the actor's, and
the owner's (who should learn that someone reached for their data), without naming one to the other. A
read that reached for another tenant's id is written to the owner's log alone: in the reader's, it must look
like a read of an absent id.

:class:`AuditLogRepository` reads a tenant's log newest first, with signed keyset cursors. It filters by
tenant only through the session every query passes through (:mod:`tenantflow.store.tenancy`).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import iso, utc_now
from tenantflow.store.errors import AccessDeniedError, InvalidRequestError, StoreError
from tenantflow.store.keyset import Keyset, KeysetPage
from tenantflow.store.models import AuditEntry
from tenantflow.store.queries import checked_limit, filter_moment, filter_text

if TYPE_CHECKING:
    from tenantflow.store.unit import Unit

Outcome = Literal["ok", "denied", "error"]
_QUEUED: Final = "tenantflow.audit.queued"
OUTCOMES: Final = frozenset(get_args(Outcome))
DEFAULT_AUDIT_LIMIT: Final = 50
MAX_AUDIT_LIMIT: Final = 100
_QUEUED_INSERT: Final = insert(AuditEntry.__table__).execution_options(tenant_filtered=True)  # type: ignore[arg-type]
# Filters that match one column exactly, by their camelCase name.
_EXACT: Final[dict[str, InstrumentedAttribute[Any]]] = {
    "userId": AuditEntry.user_id,
    "operation": AuditEntry.operation,
    "targetType": AuditEntry.target_type,
    "targetId": AuditEntry.target_id,
    "outcome": AuditEntry.outcome,
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: the tenant every statement is scoped to, plus what the audit log records."""

    tenant_id: str
    user_id: str | None = None
    level: int = 5
    request_id: str | None = None
    ip: str | None = None


@dataclass(slots=True)
class PendingAudit:
    tenant_id: str
    entry: dict[str, Any]


@dataclass(slots=True)
class AuditTrail:
    """Audit rows for one unit of work: ``ok`` rows join its transaction; failures and sensitive reads wait
    until it ends and are written whatever its outcome."""

    session: AsyncSession
    actor: Actor
    pending: list[PendingAudit] = field(default_factory=list)

    def ok(
        self, operation: str, target_type: str, target_id: str | None, details: dict[str, Any] | None = None
    ) -> None:
        """Queue a successful write's row; :func:`write_queued` inserts the unit's rows in one statement
        just before it commits (an ORM insert per row costs a round trip each: the ORM wants their ids)."""
        entry = self._entry(operation, target_type, target_id, "ok", None, details)
        entry["tenant_id"] = self.actor.tenant_id
        entry["created_at"] = utc_now()
        self.session.info.setdefault(_QUEUED, []).append(entry)

    def read(self, operation: str, target_type: str, target_id: str | None) -> None:
        """Queue a sensitive read (a secret's value): it happened even if the unit later rolls back, and a
        read-only unit should not have to write."""
        entry = self._entry(operation, target_type, target_id, "ok", None, None)
        self.pending.append(PendingAudit(self.actor.tenant_id, entry))

    def failed(
        self,
        operation: str,
        target_type: str,
        target_id: str | None,
        error: StoreError,
        *,
        owner_tenant: str | None = None,
    ) -> None:
        """Queue a denial or error; ``owner_tenant`` is the tenant a cross-tenant attempt reached for, whose
        log records it too (:meth:`reached_for`)."""
        outcome: Outcome = "denied" if owner_tenant is not None or _is_denial(error) else "error"
        details = {"message": error.message}
        self.pending.append(
            PendingAudit(
                self.actor.tenant_id,
                self._entry(operation, target_type, target_id, outcome, error.code.value, details),
            )
        )
        if owner_tenant is not None:
            self.reached_for(owner_tenant, operation, target_type, target_id, error.code)

    def reached_for(
        self,
        owner_tenant: str,
        operation: str,
        target_type: str,
        target_id: str | None,
        code: ErrorCode = ErrorCode.CROSS_TENANT_ACCESS_DENIED,
    ) -> None:
        """Queue, for ``owner_tenant`` alone, that another tenant reached for its ``target_id`` and was
        denied: the owner learns that someone tried, not who (no user id, no tenant)."""
        if owner_tenant == self.actor.tenant_id:
            return
        entry = self._entry(
            operation,
            target_type,
            target_id,
            "denied",
            code.value,
            {"message": "access attempted from another tenant"},
        )
        entry["user_id"] = None
        self.pending.append(PendingAudit(owner_tenant, entry))

    def _entry(
        self,
        operation: str,
        target_type: str,
        target_id: str | None,
        outcome: Outcome,
        error_code: str | None,
        details: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "user_id": self.actor.user_id,
            "operation": operation,
            "target_type": target_type,
            "target_id": target_id,
            "outcome": outcome,
            "error_code": error_code,
            "request_id": self.actor.request_id,
            "ip": self.actor.ip,
            "details": details,
        }


def take_queued(session: AsyncSession) -> list[dict[str, Any]]:
    """The ``ok`` rows queued on ``session``, for a caller that writes them itself (in its own statement)."""
    rows: list[dict[str, Any]] = session.info.pop(_QUEUED, [])
    return rows


async def write_queued(session: AsyncSession) -> None:
    """Insert the ``ok`` rows queued on ``session``, inside its transaction (a table INSERT: the guard
    checks each row's tenant_id, and the ORM's bulk path would cost more than the SQL)."""
    rows = take_queued(session)
    if rows:
        await session.execute(_QUEUED_INSERT, rows)


def _is_denial(error: StoreError) -> bool:
    return isinstance(error, AccessDeniedError)


class AuditLogRepository:
    """The unit's tenant's audit log, newest first. Read-only units may use it."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def list(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        limit: int = DEFAULT_AUDIT_LIMIT,
        cursor: str | None = None,
    ) -> KeysetPage[dict[str, Any]]:
        """One page of entries matching ``filter`` (userId, operation, targetType, targetId, outcome: exact;
        since: at or after; until: before), as camelCase dicts; ``next_cursor`` serves only this tenant and
        this filter."""
        limit = checked_limit(limit, MAX_AUDIT_LIMIT)
        conditions, scope = _audit_filter(filter)
        keyset = Keyset(
            self.unit.store.cursors, self.unit.tenant_id, scope, AuditEntry.created_at, AuditEntry.id
        )
        rows = await self.unit.session.scalars(
            select(AuditEntry)
            .where(*conditions, *keyset.after(cursor))
            .order_by(*keyset.order())
            .limit(limit + 1)
        )
        return keyset.page(rows.all(), limit, lambda row: (row.created_at, row.id), _entry_dict)


def _audit_filter(
    filter_: Mapping[str, Any] | None,
) -> tuple[builtins.list[ColumnElement[bool]], dict[str, Any]]:
    """The conditions of an allow-listed filter, and the canonical form its cursors are bound to."""
    scope: dict[str, Any] = {"list": "audit"}
    if filter_ is None:
        return [], scope
    if not isinstance(filter_, Mapping):
        raise InvalidRequestError(ErrorCode.INVALID_FILTER, "filter must be an object", path="$.filter")
    conditions: builtins.list[ColumnElement[bool]] = []
    for key, value in filter_.items():
        path = f"$.filter.{key}"
        column = _EXACT.get(key)
        if column is not None:
            text = filter_text(value, path)
            if key == "outcome" and text not in OUTCOMES:
                raise InvalidRequestError(
                    ErrorCode.INVALID_FILTER, f"outcome is one of {', '.join(sorted(OUTCOMES))}", path=path
                )
            conditions.append(column == text)
            scope[key] = text
        elif key in ("since", "until"):
            moment = filter_moment(value, path)
            conditions.append(
                AuditEntry.created_at >= moment if key == "since" else AuditEntry.created_at < moment
            )
            scope[key] = moment.astimezone(UTC).isoformat()
        else:
            raise InvalidRequestError(ErrorCode.INVALID_FILTER, f"cannot filter by {key!r}", path=path)
    return conditions, scope


def _entry_dict(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.created_at),
        "userId": row.user_id,
        "requestId": row.request_id,
        "ip": row.ip,
        "operation": row.operation,
        "targetType": row.target_type,
        "targetId": row.target_id,
        "outcome": row.outcome,
        "errorCode": row.error_code,
        "details": row.details,
    }
