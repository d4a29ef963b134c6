"""IPAM allocations of the network plan.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from govcloud.registry.tables import Cidr

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ipam_allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("prefix", Cidr(), nullable=False),
        sa.Column("parent", Cidr(), nullable=False),
        sa.Column("inside", Cidr(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipam_allocation")),
        sa.UniqueConstraint("department", "network", "family", "kind", name="uq_ipam_purpose"),
        sa.UniqueConstraint("prefix", name="uq_ipam_prefix"),
    )
    op.create_index(op.f("ix_ipam_allocation_department"), "ipam_allocation", ["department"])
    op.create_index(op.f("ix_ipam_allocation_parent"), "ipam_allocation", ["parent"])
    if op.get_bind().dialect.name == "postgresql":
        # Siblings (same parent) may never overlap, whoever writes them: the server checks it.
        op.execute(
            "ALTER TABLE ipam_allocation ADD CONSTRAINT ex_ipam_sibling_overlap "
            "EXCLUDE USING gist (parent inet_ops WITH =, prefix inet_ops WITH &&)"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_ipam_allocation_parent"), table_name="ipam_allocation")
    op.drop_index(op.f("ix_ipam_allocation_department"), table_name="ipam_allocation")
    op.drop_table("ipam_allocation")
