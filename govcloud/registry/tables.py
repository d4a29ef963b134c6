"""Registry tables. Schema changes go through Alembic migrations in govcloud/migrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
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
