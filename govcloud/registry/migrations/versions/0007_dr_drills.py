"""DR drills: each drill, its systems' targets and measurements, its timeline, the drill lock.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_REF_LENGTH = 49
HASH_LENGTH = 64
LOCK_ROW_ID = 1


def upgrade() -> None:
    op.create_table(
        "dr_drill",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("report_sm3", sa.String(length=HASH_LENGTH), nullable=True),
        sa.Column("report_json_sm3", sa.String(length=HASH_LENGTH), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_drill")),
    )
    op.create_index(op.f("ix_dr_drill_kind"), "dr_drill", ["kind"])
    op.create_index(op.f("ix_dr_drill_outcome"), "dr_drill", ["outcome"])
    op.create_table(
        "dr_drill_system",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=SYSTEM_REF_LENGTH), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("replication", sa.String(length=24), nullable=False),
        sa.Column("standby", sa.String(length=8), nullable=False),
        sa.Column("target_rpo_s", sa.Float(), nullable=False),
        sa.Column("target_rto_s", sa.Float(), nullable=False),
        sa.Column("rpo_s", sa.Float(), nullable=True),
        sa.Column("rto_s", sa.Float(), nullable=True),
        sa.Column("lost_writes", sa.Integer(), nullable=True),
        sa.Column("level_claimed", sa.SmallInteger(), nullable=False),
        sa.Column("level_met", sa.SmallInteger(), nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["drill_id"],
            ["dr_drill.id"],
            name=op.f("fk_dr_drill_system_drill_id_dr_drill"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_drill_system")),
        sa.UniqueConstraint("drill_id", "system", name=op.f("uq_dr_drill_system_drill_id")),
    )
    op.create_index(op.f("ix_dr_drill_system_system"), "dr_drill_system", ["system"])
    op.create_table(
        "dr_drill_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=SYSTEM_REF_LENGTH), nullable=True),
        sa.Column("step", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["drill_id"],
            ["dr_drill.id"],
            name=op.f("fk_dr_drill_event_drill_id_dr_drill"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_drill_event")),
    )
    op.create_index("ix_dr_drill_event_drill_id_at", "dr_drill_event", ["drill_id", "at"])
    lock = op.create_table(
        "dr_lock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("boot_id", sa.String(length=64), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_start", sa.String(length=32), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_lock")),
    )
    # The one row every drill locks (like audit_head): present from the start, never deleted.
    op.bulk_insert(lock, [{"id": LOCK_ROW_ID}])


def downgrade() -> None:
    op.drop_table("dr_lock")
    op.drop_index("ix_dr_drill_event_drill_id_at", table_name="dr_drill_event")
    op.drop_table("dr_drill_event")
    op.drop_index(op.f("ix_dr_drill_system_system"), table_name="dr_drill_system")
    op.drop_table("dr_drill_system")
    op.drop_index(op.f("ix_dr_drill_outcome"), table_name="dr_drill")
    op.drop_index(op.f("ix_dr_drill_kind"), table_name="dr_drill")
    op.drop_table("dr_drill")
