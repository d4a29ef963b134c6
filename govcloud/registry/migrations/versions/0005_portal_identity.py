"""Portal identity: account lifecycle, password history, second factor, separation of duties.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_HASH_LENGTH = 64


def upgrade() -> None:
    with op.batch_alter_table("portal_user") as user:
        user.add_column(
            sa.Column("source", sa.String(length=8), nullable=False, server_default="local")
        )
        user.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True)))
        user.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True)))
        user.add_column(sa.Column("totp_secret", sa.String(length=64)))
        user.add_column(sa.Column("totp_confirmed_at", sa.DateTime(timezone=True)))
        user.add_column(sa.Column("totp_last_step", sa.Integer()))
    with op.batch_alter_table("portal_api_token") as token:
        token.add_column(
            sa.Column("issued_by", sa.String(length=128), nullable=False, server_default="")
        )
        token.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("portal_session") as session:
        session.add_column(
            sa.Column("address", sa.String(length=64), nullable=False, server_default="")
        )
        session.add_column(
            sa.Column("pending_factor", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("portal_request") as request:
        request.add_column(sa.Column("submitted_via", sa.String(length=128)))
        request.add_column(sa.Column("dept_approved_by", sa.JSON()))
    op.create_table(
        "portal_password_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["portal_user.id"],
            name=op.f("fk_portal_password_history_user_id_portal_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_password_history")),
    )
    op.create_index(
        op.f("ix_portal_password_history_user_id"), "portal_password_history", ["user_id"]
    )
    op.create_table(
        "portal_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=TOKEN_HASH_LENGTH), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["portal_user.id"],
            name=op.f("fk_portal_recovery_code_user_id_portal_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_recovery_code")),
    )
    op.create_index(op.f("ix_portal_recovery_code_user_id"), "portal_recovery_code", ["user_id"])


def downgrade() -> None:
    op.drop_table("portal_recovery_code")
    op.drop_table("portal_password_history")
    with op.batch_alter_table("portal_request") as request:
        request.drop_column("dept_approved_by")
        request.drop_column("submitted_via")
    with op.batch_alter_table("portal_session") as session:
        session.drop_column("pending_factor")
        session.drop_column("address")
    with op.batch_alter_table("portal_api_token") as token:
        token.drop_column("expires_at")
        token.drop_column("issued_by")
    with op.batch_alter_table("portal_user") as user:
        for column in (
            "totp_last_step",
            "totp_confirmed_at",
            "totp_secret",
            "deactivated_at",
            "password_changed_at",
            "source",
        ):
            user.drop_column(column)
