"""The resource-request portal: accounts, tokens, sessions, requests and the quota ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOURCES = ("vcpu", "ram_gb", "storage_gb", "floating_ips", "networks")


def _when(name: str, *, nullable: bool = False) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "portal_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_user")),
        sa.UniqueConstraint("name", name=op.f("uq_portal_user_name")),
    )
    op.create_index(op.f("ix_portal_user_department"), "portal_user", ["department"])
    op.create_table(
        "portal_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["portal_user.id"], name=op.f("fk_portal_api_token_user_id_portal_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_api_token_token_hash")),
        sa.UniqueConstraint("user_id", name=op.f("uq_portal_api_token_user_id")),
    )
    op.create_table(
        "portal_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        _when("created_at"),
        _when("last_seen_at"),
        _when("expires_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["portal_user.id"], name=op.f("fk_portal_session_user_id_portal_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_session")),
    )
    op.create_index(op.f("ix_portal_session_expires_at"), "portal_session", ["expires_at"])
    op.create_index(op.f("ix_portal_session_user_id"), "portal_session", ["user_id"])
    op.create_table(
        "portal_login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        _when("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_login_failure")),
    )
    for column in ("name", "address", "at"):
        op.create_index(op.f(f"ix_portal_login_failure_{column}"), "portal_login_failure", [column])
    op.create_table(
        "portal_ledger",
        sa.Column("department", sa.String(length=32), nullable=False),
        *(
            sa.Column(f"{part}_{resource}", sa.Integer(), nullable=False)
            for part in ("extra", "used", "pending")
            for resource in RESOURCES
        ),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("department", name=op.f("pk_portal_ledger")),
    )
    op.create_table(
        "portal_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        *(sa.Column(resource, sa.Integer(), nullable=False) for resource in RESOURCES),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("allocation", sa.JSON(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["portal_user.id"],
            name=op.f("fk_portal_request_requester_id_portal_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_request")),
    )
    op.create_index("ix_portal_request_department_state", "portal_request", ["department", "state"])
    op.create_index(op.f("ix_portal_request_requester_id"), "portal_request", ["requester_id"])
    op.create_index(op.f("ix_portal_request_state"), "portal_request", ["state"])


def downgrade() -> None:
    op.drop_table("portal_request")
    op.drop_table("portal_ledger")
    op.drop_table("portal_login_failure")
    op.drop_table("portal_session")
    op.drop_table("portal_api_token")
    op.drop_table("portal_user")
