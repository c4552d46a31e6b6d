"""Initial schema: tenants, users, API keys, workflows and versions, executions, secrets, audit log.

Full-text search differs by backend: an FTS5 external-content table kept in step by triggers on SQLite,
a generated ``tsvector`` column with a GIN index on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES_IN_DEPENDENCY_ORDER = (
    "tenants",
    "audit_log",
    "secrets",
    "users",
    "workflows",
    "api_keys",
    "executions",
    "workflow_versions",
    "execution_logs",
    "execution_nodes",
)

PG_SEARCH_COLUMN = """
ALTER TABLE workflows ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', coalesce(name, '')), 'A')
    || setweight(to_tsvector('simple', coalesce(description, '')), 'B')
    || setweight(to_tsvector('simple', coalesce(tags::text, '')), 'C')
) STORED
"""

# Its own content (not external-content): the workflows table has no integer key, and a VACUUM may renumber
# an un-aliased rowid.
SQLITE_SEARCH = (
    """CREATE VIRTUAL TABLE workflows_fts USING fts5(
        workflow_id UNINDEXED, tenant_id UNINDEXED, name, description, tags, tokenize = 'unicode61'
    )""",
    """CREATE TRIGGER workflows_fts_insert AFTER INSERT ON workflows BEGIN
        INSERT INTO workflows_fts (workflow_id, tenant_id, name, description, tags)
        VALUES (new.id, new.tenant_id, new.name, coalesce(new.description, ''), new.tags);
    END""",
    """CREATE TRIGGER workflows_fts_delete AFTER DELETE ON workflows BEGIN
        DELETE FROM workflows_fts WHERE workflow_id = old.id;
    END""",
    """CREATE TRIGGER workflows_fts_update AFTER UPDATE OF name, description, tags ON workflows BEGIN
        UPDATE workflows_fts SET name = new.name, description = coalesce(new.description, ''), tags = new.tags
        WHERE workflow_id = new.id;
    END""",
)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("retention_max_per_workflow", sa.Integer(), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint("outcome IN ('ok', 'denied', 'error')", name=op.f("ck_audit_log_outcome")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_log_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_tenant_id_created_at_id"),
        "audit_log",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )

    op.create_table(
        "secrets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_secrets_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_secrets_tenant_id_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint("level BETWEEN 0 AND 5", name=op.f("ck_users_level_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_users_tenant_id_email")),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("nodes", JSON, nullable=False),
        sa.Column("connections", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("execution_count", sa.BigInteger(), nullable=False),
        sa.Column("last_executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_execution_status", sa.String(length=16), nullable=True),
        sa.Column("average_execution_time", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("validation_status", sa.String(length=16), nullable=False),
        sa.Column("validation_errors", JSON, nullable=False),
        sa.Column("validated_registry", sa.String(length=64), nullable=True),
        sa.Column("is_locked", sa.Boolean(), nullable=False),
        sa.Column("locked_by", sa.String(length=255), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "validation_status IN ('valid', 'invalid', 'stale', 'pending')",
            name=op.f("ck_workflows_validation_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workflows_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_workflows_tenant_id_name")),
    )
    op.create_index(op.f("ix_workflows_lock_expires_at"), "workflows", ["lock_expires_at"], unique=False)
    op.create_index(
        op.f("ix_workflows_tenant_id_category"), "workflows", ["tenant_id", "category"], unique=False
    )
    op.create_index(
        op.f("ix_workflows_tenant_id_created_at_id"),
        "workflows",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_workflows_tenant_id_enabled"), "workflows", ["tenant_id", "enabled"], unique=False
    )
    op.create_index(
        op.f("ix_workflows_tenant_id_updated_at_id"),
        "workflows",
        ["tenant_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_workflows_tenant_id_validation_status"),
        "workflows",
        ["tenant_id", "validation_status"],
        unique=False,
    )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("level_cap", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint("level_cap BETWEEN 0 AND 5", name=op.f("ck_api_keys_level_cap_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id_user_id"), "api_keys", ["tenant_id", "user_id"], unique=False)

    op.create_table(
        "executions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=True),
        sa.Column("workflow_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_kind", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("abort_requested", sa.Boolean(), nullable=False),
        sa.Column("input", JSON, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_executions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_executions_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_executions_tenant_id_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_executions_status_lease_expires_at"),
        "executions",
        ["status", "lease_expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_executions_tenant_id_created_at_id"),
        "executions",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_executions_tenant_id_status_created_at_id"),
        "executions",
        ["tenant_id", "status", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_executions_tenant_id_workflow_id_created_at_id"),
        "executions",
        ["tenant_id", "workflow_id", "created_at", "id"],
        unique=False,
    )

    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("author", sa.String(length=36), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_workflow_versions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_versions_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint("workflow_id", "version", name=op.f("uq_workflow_versions_workflow_id_version")),
    )
    op.create_index(
        op.f("ix_workflow_versions_tenant_id_workflow_id"),
        "workflow_versions",
        ["tenant_id", "workflow_id"],
        unique=False,
    )

    op.create_table(
        "execution_logs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_logs_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_execution_logs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_logs")),
    )
    op.create_index(
        op.f("ix_execution_logs_tenant_id_execution_id_id"),
        "execution_logs",
        ["tenant_id", "execution_id", "id"],
        unique=False,
    )

    op.create_table(
        "execution_nodes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=False),
        sa.Column("run_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("output", JSON, nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("error", JSON, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_nodes_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_execution_nodes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_nodes")),
        sa.UniqueConstraint(
            "execution_id",
            "node_name",
            "run_index",
            name=op.f("uq_execution_nodes_execution_id_node_name_run_index"),
        ),
    )
    op.create_index(
        op.f("ix_execution_nodes_tenant_id_execution_id"),
        "execution_nodes",
        ["tenant_id", "execution_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_SEARCH_COLUMN)
        op.execute("CREATE INDEX ix_workflows_search_vector ON workflows USING gin (search_vector)")
    else:
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS workflows_fts")
    for table in TABLES_IN_DEPENDENCY_ORDER[::-1]:
        op.drop_table(table)
