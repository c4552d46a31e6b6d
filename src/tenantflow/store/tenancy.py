"""The one place the tenant filter is applied.

Every session the store hands out is a :class:`TenantSession` bound to exactly one tenant (or, for the few
maintenance jobs that span tenants, to :data:`SYSTEM`). Two hooks on that session class make the binding
impossible to forget:

- ``do_orm_execute`` adds ``tenant_id = :tenant`` to every SELECT, UPDATE and DELETE on a
  :class:`~tenantflow.store.models.TenantScoped` model (joins and aliases included), refuses bulk INSERT
  rows stamped with another tenant, and refuses literal SQL unless it declares that it filters by the
  session's tenant itself (``execution_options(tenant_filtered=True)`` plus a ``tenant_id`` parameter, or
  the one ``tenant_param`` names, equal to the session's tenant in every row);
- ``before_flush`` stamps new rows with the session's tenant and refuses rows, new or changed, that claim
  another one.

A session without a scope cannot run any statement at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from tenantflow.store.models import TenantScoped

SCOPE_KEY: Final = "tenantflow.scope"


class _System:
    """Scope of cross-tenant maintenance (retention sweeps, lease reaping, migrations). Never a tenant."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = _System()
Scope = str | _System


class TenantScopeError(RuntimeError):
    """A statement tried to run outside its tenant. A programming error, never a user error."""


class TenantSession(Session):
    """A session that belongs to one tenant; see the module docstring."""


def scope_of(session: Session) -> Scope:
    scope: Scope | None = session.info.get(SCOPE_KEY)
    if scope is None:
        raise TenantScopeError("this session has no tenant scope")
    return scope


def tenant_of(session: Session) -> str:
    """The tenant a session is bound to; maintenance sessions have none and are refused."""
    scope = scope_of(session)
    if isinstance(scope, _System):
        raise TenantScopeError("a system session has no tenant")
    return scope


def bind(session: Session, scope: Scope) -> None:
    if not isinstance(scope, _System) and not (isinstance(scope, str) and scope):
        raise TenantScopeError("a tenant scope must be a non-empty tenant id or SYSTEM")
    if session.info.get(SCOPE_KEY, scope) != scope:
        raise TenantScopeError("a session's tenant cannot change")
    session.info[SCOPE_KEY] = scope


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantScoped) for mapper in state.all_mappers)


def _rows(parameters: Any) -> Iterable[Mapping[str, Any]]:
    if parameters is None:
        return ()
    if isinstance(parameters, Mapping):
        return (parameters,)
    return tuple(parameters)


def check_rows(session: Session, rows: Iterable[Mapping[str, Any]], column: str = "tenant_id") -> None:
    """Refuse rows that do not name the session's tenant in ``column``: what the guard asks of every row
    of a bulk INSERT or of literal SQL, and of writes sent to the driver directly
    (:mod:`tenantflow.store.sqlite_writes`)."""
    scope = scope_of(session)
    if isinstance(scope, _System):
        return
    rows = tuple(rows)
    if not rows or any(row.get(column) != scope for row in rows):
        raise TenantScopeError(f"every row must bind {column} to the session's tenant")


@event.listens_for(TenantSession, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    scope = scope_of(state.session)
    if isinstance(scope, _System):
        return
    if not state.is_orm_statement:
        if not state.execution_options.get("tenant_filtered"):
            raise TenantScopeError("literal SQL must declare tenant_filtered=True and filter by tenant_id")
        # An UPDATE cannot name its WHERE parameter after a column it could SET: it names it itself.
        name = state.execution_options.get("tenant_param", "tenant_id")
        check_rows(state.session, _rows(state.parameters), name)
        return
    if state.is_insert:
        if _touches_tenant_data(state):
            check_rows(state.session, _rows(state.parameters))
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent statement's criteria already propagate to these loads
    if (state.is_update or state.is_delete) and isinstance(state.parameters, list | tuple):
        # ORM "bulk by primary key" ignores loader criteria: it would reach any tenant's row by id.
        raise TenantScopeError("bulk UPDATE/DELETE by primary key skips the tenant filter; use a WHERE")
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == scope, include_aliases=True)
    )


@event.listens_for(TenantSession, "before_flush")
def _stamp_tenant(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    scope = scope_of(session)
    if isinstance(scope, _System):
        return
    for obj in session.new:
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = scope
            elif obj.tenant_id != scope:
                raise TenantScopeError("a new row claims another tenant")
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, TenantScoped):
            history = inspect(obj).attrs.tenant_id.history
            if obj.tenant_id != scope or history.deleted:
                raise TenantScopeError("a row cannot change or leave its tenant")
