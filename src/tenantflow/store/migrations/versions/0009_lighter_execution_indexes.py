"""Fewer index entries per stored execution, on the write path every run takes.

- ``execution_nodes (tenant_id, execution_id)`` goes: the unique ``(execution_id, node_name, run_index)``
  already leads with the execution, and every read of an execution's nodes names it (the tenant filter
  then checks the row).
- On PostgreSQL, ``executions (status, lease_expires_at)`` holds only queued and running rows, the only
  ones its readers (the reaper, the claim's running counts, the queue's figures) ask for; a finished run,
  nearly every row, costs it nothing. SQLite keeps the whole index: its planner would not use a partial
  one for ``status = 'running'``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEASED = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.drop_index("ix_execution_nodes_tenant_id_execution_id", table_name="execution_nodes")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_executions_status_lease_expires_at", table_name="executions")
        op.create_index(
            "ix_executions_status_lease_expires_at",
            "executions",
            ["status", "lease_expires_at"],
            postgresql_where=_LEASED,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_executions_status_lease_expires_at", table_name="executions")
        op.create_index("ix_executions_status_lease_expires_at", "executions", ["status", "lease_expires_at"])
    op.create_index(
        "ix_execution_nodes_tenant_id_execution_id", "execution_nodes", ["tenant_id", "execution_id"]
    )
