"""The fair queue: each execution carries its workflow's concurrency limit, and queued rows have an index of
their own by tenant, which the workers' fair claim walks one tenant at a time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.add_column("executions", sa.Column("concurrency_limit", sa.Integer(), nullable=True))
    op.create_index(
        "ix_executions_queued_by_tenant",
        "executions",
        ["tenant_id", "created_at", "id"],
        postgresql_where=_QUEUED,
        sqlite_where=_QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_executions_queued_by_tenant", table_name="executions")
    op.drop_column("executions", "concurrency_limit")
