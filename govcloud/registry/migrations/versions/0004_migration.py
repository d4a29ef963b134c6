"""Migration onto the cloud: per-system progress, the run journal, on-cloud rate samples.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_REF_LENGTH = 49


def upgrade() -> None:
    op.create_table(
        "migration_system",
        sa.Column("system", sa.String(length=SYSTEM_REF_LENGTH), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=True),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", name=op.f("pk_migration_system")),
    )
    op.create_index(op.f("ix_migration_system_department"), "migration_system", ["department"])
    op.create_index(op.f("ix_migration_system_wave"), "migration_system", ["wave"])
    op.create_index(op.f("ix_migration_system_state"), "migration_system", ["state"])
    op.create_table(
        "migration_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=SYSTEM_REF_LENGTH), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_step")),
    )
    op.create_index("ix_migration_step_system_id", "migration_step", ["system", "id"])
    op.create_index(op.f("ix_migration_step_run_id"), "migration_step", ["run_id"])
    op.create_table(
        "cloud_rate_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("on_cloud", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cloud_rate_sample")),
    )
    op.create_index("ix_cloud_rate_sample_department_at", "cloud_rate_sample", ["department", "at"])


def downgrade() -> None:
    op.drop_table("cloud_rate_sample")
    op.drop_table("migration_step")
    op.drop_table("migration_system")
