"""Schedule ticks: one row per firing of a schedule trigger's rule, the claim that makes it fire once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_ticks",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.Integer(), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "state IN ('claimed', 'started', 'refused')", name=op.f("ck_schedule_ticks_state")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_schedule_ticks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_schedule_ticks_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "workflow_id", "node_id", "rule", "tick", name=op.f("pk_schedule_ticks")
        ),
    )
    op.create_index(
        op.f("ix_schedule_ticks_tenant_id_tick"), "schedule_ticks", ["tenant_id", "tick"], unique=False
    )
    op.create_index(
        op.f("ix_schedule_ticks_state_claimed_at"), "schedule_ticks", ["state", "claimed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_ticks_state_claimed_at"), table_name="schedule_ticks")
    op.drop_index(op.f("ix_schedule_ticks_tenant_id_tick"), table_name="schedule_ticks")
    op.drop_table("schedule_ticks")
