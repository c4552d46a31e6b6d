"""The store's tables: one declarative model per table, portable between SQLite and PostgreSQL.

JSON columns are JSONB on PostgreSQL and JSON1 text on SQLite; timestamps are UTC on both (SQLite keeps no
zone, so :class:`UTCDateTime` puts it back). Every table that holds tenant data derives from
:class:`TenantScoped`, which is what :mod:`tenantflow.store.tenancy` filters on: a model without that base
cannot hold tenant data, and a query on one with it cannot run without a tenant.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

JSONValue = JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only aliases the rowid for INTEGER PRIMARY KEY; BIGINT would get no autoincrement there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TenantScoped:
    """Rows owned by one tenant. The tenancy guard filters and stamps ``tenant_id`` on every statement."""

    @declared_attr
    def tenant_id(cls) -> Mapped[str]:
        return mapped_column(String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    retention_days: Mapped[int] = mapped_column(Integer, default=14)
    retention_max_per_workflow: Mapped[int] = mapped_column(Integer, default=10_000)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)


class User(TenantScoped, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        CheckConstraint("level BETWEEN 0 AND 5", name="level_range"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(255))
    level: Mapped[int] = mapped_column(Integer, default=1)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ApiKey(TenantScoped, Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        Index(None, "tenant_id", "user_id"),
        CheckConstraint("level_cap BETWEEN 0 AND 5", name="level_cap_range"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    level_cap: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Workflow(TenantScoped, Base):
    """The seed's Workflow entity, every field, with nodes and connections as JSON rather than strings."""

    __tablename__ = "workflows"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index(None, "tenant_id", "updated_at", "id"),
        Index(None, "tenant_id", "created_at", "id"),
        Index(None, "tenant_id", "category"),
        Index(None, "tenant_id", "enabled"),
        Index(None, "tenant_id", "validation_status"),
        Index(None, "lock_expires_at"),
        CheckConstraint(
            "validation_status IN ('valid', 'invalid', 'stale', 'pending')", name="validation_status"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue)
    connections: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    execution_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_execution_status: Mapped[str | None] = mapped_column(String(16))
    average_execution_time: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_by: Mapped[str | None] = mapped_column(String(36))
    updated_by: Mapped[str | None] = mapped_column(String(36))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    category: Mapped[str | None] = mapped_column(String(64))
    validation_status: Mapped[str] = mapped_column(String(16), default="pending")
    validation_errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONValue, default=list)
    validated_registry: Mapped[str | None] = mapped_column(String(64))
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(255))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Every ORM flush that changes the row checks and bumps ``version`` (compare-and-set), so two concurrent
    # edits of one version cannot both win. Bookkeeping (counters, locks, validation) uses plain UPDATEs,
    # which leave the version alone.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it as a class mapping)


class WorkflowVersion(TenantScoped, Base):
    """An immutable snapshot written on every create and update; restore writes a new one."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version"), Index(None, "tenant_id", "workflow_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    author: Mapped[str | None] = mapped_column(String(36))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class WorkflowStaticData(TenantScoped, Base):
    """n8n's workflow static data (``$getWorkflowStaticData``): what a workflow's executions keep from one
    run to the next. A row of its own, so a run that changes it does not make a new workflow version or
    drop the workflow from the caches; ``version`` makes concurrent saves optimistic."""

    __tablename__ = "workflow_static_data"

    workflow_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Execution(TenantScoped, Base):
    """One run of a workflow. Node outputs live in :class:`ExecutionNode` rows, not on this one."""

    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index(None, "tenant_id", "created_at", "id"),
        Index(None, "tenant_id", "workflow_id", "created_at", "id"),
        Index(None, "tenant_id", "status", "created_at", "id"),
        # PostgreSQL: queued and running rows only (migration 0009); SQLite's planner needs all of them.
        Index(None, "status", "lease_expires_at", postgresql_where=text("status IN ('queued', 'running')")),
        Index(
            "ix_executions_queued_by_tenant",
            "tenant_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workflow_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("workflows.id", ondelete="CASCADE")
    )
    workflow_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger_kind: Mapped[str] = mapped_column(String(32), default="manual")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    abort_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)  # the workflow's, when it was queued
    input: Mapped[Any] = mapped_column(JSONValue, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class ExecutionNode(TenantScoped, Base):
    """One run of one node: what the executor's ``node.finished`` event carries, checkpointed."""

    __tablename__ = "execution_nodes"
    __table_args__ = (
        UniqueConstraint("execution_id", "node_name", "run_index"),  # also the index by execution
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(36), ForeignKey("executions.id", ondelete="CASCADE"))
    node_name: Mapped[str] = mapped_column(String(255))
    run_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    output: Mapped[list[list[dict[str, Any]]]] = mapped_column(JSONValue, default=list)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class ExecutionLog(TenantScoped, Base):
    __tablename__ = "execution_logs"
    __table_args__ = (Index(None, "tenant_id", "execution_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(36), ForeignKey("executions.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(8), default="info")
    node_name: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ExecutionBinary(TenantScoped, Base):
    """A file an execution's node outputs carry, stored once per execution: the outputs keep its metadata
    and ``id`` (``tfbin:`` + ``binary_id``), so reads, lists and events do not carry the bytes."""

    __tablename__ = "execution_binaries"
    # Execution first: deleting an execution (ON DELETE CASCADE) and reading its files find the rows by
    # it; the tenant in the key keeps another tenant's row from ever meeting this one's.
    __table_args__ = (PrimaryKeyConstraint("execution_id", "binary_id", "tenant_id"),)

    execution_id: Mapped[str] = mapped_column(String(36), ForeignKey("executions.id", ondelete="CASCADE"))
    binary_id: Mapped[str] = mapped_column(String(64))  # sha256 of the bytes, hex
    mime_type: Mapped[str | None] = mapped_column(String(255))
    file_name: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Secret(TenantScoped, Base):
    """AES-256-GCM ciphertext; the plaintext exists only in memory (see :mod:`tenantflow.store.secrets`)."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AuditEntry(TenantScoped, Base):
    """Who did what to which target, and whether it was allowed. Written for every write and denial."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "tenant_id", "created_at", "id"),
        CheckConstraint("outcome IN ('ok', 'denied', 'error')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(36))
    operation: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(8))
    error_code: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ScheduleTick(TenantScoped, Base):
    """One firing of one rule of a workflow's schedule trigger. The key is the claim: the scheduler process
    whose INSERT makes the row starts the execution, every other one finds it there, so a tick runs once
    however many schedulers watch it. ``state`` goes ``claimed`` → ``started`` (with the execution) or
    ``refused`` (the workflow could not run); a claim left ``claimed`` by a crashed process is taken over."""

    __tablename__ = "schedule_ticks"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "workflow_id", "node_id", "rule", "tick"),
        Index(None, "tenant_id", "tick"),
        Index(None, "state", "claimed_at"),
        CheckConstraint("state IN ('claimed', 'started', 'refused')", name="state"),
    )

    workflow_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflows.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(255))
    rule: Mapped[int] = mapped_column(Integer)  # the index of the interval in the node's rule.interval
    tick: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="claimed")
    claimed_by: Mapped[str] = mapped_column(String(255))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    execution_id: Mapped[str | None] = mapped_column(String(36))


class WebhookRoute(TenantScoped, Base):
    """One (method, path) a Webhook node of an enabled workflow answers under its tenant's ``/webhook/``.

    The key is the claim: a second enabled workflow cannot take a method and path the tenant already
    routes. ``path`` is the node's path with each ``:name`` segment as ``:`` (``param_names`` keeps the
    names), so ``users/:id`` and ``users/:name`` are one route; ``segments`` lets a lookup that missed the
    exact paths try the dynamic ones of that length only. The rows follow the workflow's writes (see
    :mod:`tenantflow.store.webhooks`)."""

    __tablename__ = "webhook_routes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "method", "path"),
        Index(None, "tenant_id", "workflow_id"),
    )

    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    workflow_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflows.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(255))
    segments: Mapped[int] = mapped_column(Integer)
    param_names: Mapped[list[str] | None] = mapped_column(JSONValue, nullable=True)


class WebhookTest(TenantScoped, Base):
    """A workflow listening for one test call (n8n's editor "listening for a test event"): until
    ``expires_at`` the first call to one of ``routes`` under ``/webhook-test/`` runs version ``version`` of
    it, enabled or not, and deletes the row. One per workflow; opening it again replaces it."""

    __tablename__ = "webhook_tests"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "workflow_id"),)

    workflow_id: Mapped[str] = mapped_column(String(36), ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    routes: Mapped[list[Any]] = mapped_column(JSONValue)  # [[method, path, node id, param names|None]]
    opened_by: Mapped[str | None] = mapped_column(String(36))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


TENANT_TABLES = tuple(
    mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantScoped)
)


class WorkerProcess(Base):
    """One ``tenantflow worker`` process as it last reported itself, every few seconds: how ``tenantflow
    status`` and ``/metrics`` tell live workers from gone ones. Not tenant data (a worker serves every
    tenant), so it is read and written in :data:`~tenantflow.store.tenancy.SYSTEM` sessions
    (:mod:`tenantflow.store.workers`). ``owner`` is the worker's lease owner, as its executions carry it."""

    __tablename__ = "workers"
    __table_args__ = (Index(None, "last_seen_at"),)

    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(255))
    concurrency: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
