"""The audit trail: who did what to which target, and whether it was allowed.

Successful writes are audited inside their own transaction, so the row exists exactly when the change does.
Denials and failures are audited in a transaction of their own after the work ends, so a rollback cannot
erase the record of an attempt. A cross-tenant attempt is written to both tenants' logs: the actor's, and
the owner's (who should learn that someone reached for their data), without naming one to the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from tenantflow.store.errors import AccessDeniedError, StoreError
from tenantflow.store.models import AuditEntry

Outcome = Literal["ok", "denied", "error"]


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
        self.session.add(AuditEntry(**self._entry(operation, target_type, target_id, "ok", None, details)))

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
        """Queue a denial or error; ``owner_tenant`` is the tenant a cross-tenant attempt reached for."""
        outcome: Outcome = "denied" if owner_tenant is not None or _is_denial(error) else "error"
        details = {"message": error.message}
        self.pending.append(
            PendingAudit(
                self.actor.tenant_id,
                self._entry(operation, target_type, target_id, outcome, error.code.value, details),
            )
        )
        if owner_tenant is not None and owner_tenant != self.actor.tenant_id:
            entry = self._entry(operation, target_type, target_id, "denied", error.code.value, None)
            entry["user_id"] = None
            entry["details"] = {"message": "access attempted from another tenant"}
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


def _is_denial(error: StoreError) -> bool:
    return isinstance(error, AccessDeniedError)
