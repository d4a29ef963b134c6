"""Registry tables. Schema changes go through Alembic migrations in govcloud/registry/migrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HASH_LENGTH = 64  # SM3 digests are 256 bits, 64 hex digits
PREFIX_TEXT_LENGTH = 43  # the longest IPv6 prefix in text: 39 characters + "/128"


class Cidr(TypeDecorator[str]):
    """A CIDR prefix: PostgreSQL's `cidr` (indexable, checked by the server), text elsewhere."""

    impl = String(PREFIX_TEXT_LENGTH)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.CIDR())
        return dialect.type_descriptor(String(PREFIX_TEXT_LENGTH))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        # psycopg returns ipaddress networks for cidr; their str() is the canonical form.
        return None if value is None else str(value)


class Base(DeclarativeBase):
    """Declarative base for every registry table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditEntry(Base):
    """One append-only audit-log entry, chained to the previous one by its SM3 hash."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(128), index=True)
    object: Mapped[str] = mapped_column(Text, index=True)
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)


class AuditHead(Base):
    """The chain's tip: one row, locked by every append so that appends are serialised."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class IpamAllocation(Base):
    """One prefix handed out by the network plan; never moved once written."""

    __tablename__ = "ipam_allocation"
    __table_args__ = (
        UniqueConstraint("department", "network", "family", "kind", name="uq_ipam_purpose"),
        UniqueConstraint("prefix", name="uq_ipam_prefix"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(32), index=True)
    network: Mapped[str] = mapped_column(String(64))
    family: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(Cidr())
    parent: Mapped[str] = mapped_column(Cidr(), index=True)
    inside: Mapped[str | None] = mapped_column(Cidr(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


# -- the resource-request portal (portal/) -------------------------------------------------------
TOKEN_HASH_LENGTH = 64  # SHA-256 of a random token (or session id), hex


class PortalUser(Base):
    """A local portal account: a role, a department for department roles, a password hash."""

    __tablename__ = "portal_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Where the account comes from: "local" (a password here) or "ldap" (the directory's).
    source: Mapped[str] = mapped_column(String(8), default="local")
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # TOTP (RFC 6238): the shared secret (base32), when it was confirmed, the last time step
    # used (a code is accepted once).
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_confirmed_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PortalPasswordHistory(Base):
    """An account's earlier password hashes, so that none of the last few is reused."""

    __tablename__ = "portal_password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PortalRecoveryCode(Base):
    """A one-time recovery code for an account's second factor, stored as its SHA-256."""

    __tablename__ = "portal_recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PortalApiToken(Base):
    """An account's API token for scripts, stored as its SHA-256 (one per account)."""

    __tablename__ = "portal_api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Who issued it (the audit log's name: portal:<account> or cli:<user>); four eyes refuse
    # its issuer an approval of what it submitted.
    issued_by: Mapped[str] = mapped_column(String(128), default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PortalSession(Base):
    """A signed-in browser: the SHA-256 of its cookie, its CSRF token and when it expires."""

    __tablename__ = "portal_session"

    id: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    # True until the second factor is given: such a session opens nothing but that form.
    pending_factor: Mapped[bool] = mapped_column(Boolean, default=False)


class PortalLoginFailure(Base):
    """A failed sign-in, counted per account name and per client address for rate limiting."""

    __tablename__ = "portal_login_failure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class PortalLedger(Base):
    """A department's quota ledger: the row every quota check locks, and its running totals.

    `extra_*` is what approved quota changes add to the county model's quota; `used_*` is what
    approved requests hold; `pending_*` what submitted requests reserve.
    """

    __tablename__ = "portal_ledger"

    department: Mapped[str] = mapped_column(String(32), primary_key=True)
    extra_vcpu: Mapped[int] = mapped_column(Integer, default=0)
    extra_ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    extra_storage_gb: Mapped[int] = mapped_column(Integer, default=0)
    extra_floating_ips: Mapped[int] = mapped_column(Integer, default=0)
    extra_networks: Mapped[int] = mapped_column(Integer, default=0)
    used_vcpu: Mapped[int] = mapped_column(Integer, default=0)
    used_ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    used_storage_gb: Mapped[int] = mapped_column(Integer, default=0)
    used_floating_ips: Mapped[int] = mapped_column(Integer, default=0)
    used_networks: Mapped[int] = mapped_column(Integer, default=0)
    pending_vcpu: Mapped[int] = mapped_column(Integer, default=0)
    pending_ram_gb: Mapped[int] = mapped_column(Integer, default=0)
    pending_storage_gb: Mapped[int] = mapped_column(Integer, default=0)
    pending_floating_ips: Mapped[int] = mapped_column(Integer, default=0)
    pending_networks: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PortalRequest(Base):
    """A department's request for resources, and where it is in its lifecycle.

    The five resource columns are what the request holds against the quota (a quota change's
    signed delta for kind quota_change); `spec` keeps the kind's own fields as submitted, and
    `allocation` what the network planner handed out at ops approval.
    """

    __tablename__ = "portal_request"
    __table_args__ = (Index("ix_portal_request_department_state", "department", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24), index=True)
    title: Mapped[str] = mapped_column(String(200))
    justification: Mapped[str] = mapped_column(Text)
    spec: Mapped[Any] = mapped_column(JSON)
    vcpu: Mapped[int] = mapped_column(Integer)
    ram_gb: Mapped[int] = mapped_column(Integer)
    storage_gb: Mapped[int] = mapped_column(Integer)
    floating_ips: Mapped[int] = mapped_column(Integer)
    networks: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id"), index=True)
    # Separation of duties: who issued the token it was submitted with (when not the
    # requester), and who gave the department's approval (audit names: the approver and
    # whoever issued the approver's token); none of them may approve it next.
    submitted_via: Mapped[str | None] = mapped_column(String(128), nullable=True)
    dept_approved_by: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    allocation: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


# -- migration onto the cloud (migration/) -------------------------------------------------------
SYSTEM_REF_LENGTH = 49  # "dept/system": 16 + 1 + 32, the longest the model's patterns allow


class MigrationSystem(Base):
    """A system's migration onto the cloud: its wave and where it is in the lifecycle.

    The county YAML's `location` is where a system started; this row is its progress. `run_id`
    is set while a run holds the system, so two runs never move the same system at once.
    """

    __tablename__ = "migration_system"

    system: Mapped[str] = mapped_column(String(SYSTEM_REF_LENGTH), primary_key=True)
    department: Mapped[str] = mapped_column(String(32), index=True)
    wave: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    why: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class MigrationStep(Base):
    """The journal of a migration run: one row per step begun, finished when it is done.

    A killed run leaves its last step `started`; the next run reads the journal and resumes.
    """

    __tablename__ = "migration_step"
    __table_args__ = (Index("ix_migration_step_system_id", "system", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system: Mapped[str] = mapped_column(String(SYSTEM_REF_LENGTH))
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CloudRateSample(Base):
    """The on-cloud rate (上云率) of a department at one moment, kept to show it over time."""

    __tablename__ = "cloud_rate_sample"
    __table_args__ = (Index("ix_cloud_rate_sample_department_at", "department", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    department: Mapped[str] = mapped_column(String(32))
    on_cloud: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)


class AuditSuppression(Base):
    """An accepted drift finding (接受的偏差): hidden from drift runs until it expires.

    Granting and revoking one are entries in the audit log; the row is what drift runs read.
    """

    __tablename__ = "audit_suppression"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DrDrill(Base):
    """One DR drill (灾备演练), a recorded job: what, on which systems, by whom, and its outcome.

    `outcome` stays empty while the drill runs; the report's SM3 digests are set once it is
    written (`dr.report` in the audit log holds them too).
    """

    __tablename__ = "dr_drill"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    scope: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    gate: Mapped[Any] = mapped_column(JSON, nullable=True)
    report_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    report_sm3: Mapped[str | None] = mapped_column(String(HASH_LENGTH), nullable=True)
    report_json_sm3: Mapped[str | None] = mapped_column(String(HASH_LENGTH), nullable=True)


class DrDrillSystem(Base):
    """One system's result in a drill: its targets, what was measured, the level it met."""

    __tablename__ = "dr_drill_system"
    __table_args__ = (UniqueConstraint("drill_id", "system"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("dr_drill.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(SYSTEM_REF_LENGTH), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    replication: Mapped[str] = mapped_column(String(24))
    standby: Mapped[str] = mapped_column(String(8))
    target_rpo_s: Mapped[float] = mapped_column(Float)
    target_rto_s: Mapped[float] = mapped_column(Float)
    rpo_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    rto_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    lost_writes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level_claimed: Mapped[int] = mapped_column(SmallInteger)
    level_met: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Where the drill left it: serving at the DR site, back at the primary, stopped, ...
    state: Mapped[str] = mapped_column(String(24))
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)


class DrDrillEvent(Base):
    """A step of a drill's timeline (fault, detected, promoted, ..., returned), when it came."""

    __tablename__ = "dr_drill_event"
    __table_args__ = (Index("ix_dr_drill_event_drill_id_at", "drill_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("dr_drill.id", ondelete="CASCADE"))
    system: Mapped[str | None] = mapped_column(String(SYSTEM_REF_LENGTH), nullable=True)
    step: Mapped[str] = mapped_column(String(24))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)


class DrLock(Base):
    """The one drill at a time: a single row, held by a drill with its process's identity.

    A holder is known dead when it ran on this machine and its process is gone (the PID, the
    process's start time and the machine's boot id, so a reused PID or a reboot is not taken
    for the holder); a holder on another machine is never assumed dead.
    """

    __tablename__ = "dr_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    drill_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    boot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    process_start: Mapped[str | None] = mapped_column(String(32), nullable=True)
    since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
