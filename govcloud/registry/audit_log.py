"""The audit log (全程留痕): append-only entries chained by SM3 hashes.

Each entry's hash covers its content and the previous entry's hash, so altering, removing or
reordering any entry breaks the chain from that point on. `audit_head` holds the chain's tip:
every append locks it (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite), so
concurrent writers cannot fork the chain, and a truncated tail shows as a head that points past
the last entry.

`record()` joins the caller's transaction: the state change and its audit entry commit or roll
back together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govcloud import constants
from govcloud.registry.tables import AuditEntry, AuditHead

HEAD_ROW_ID = 1
# What `govcloud audit` records of its own runs (docs/audit.md); the portal lists the runs.
ACTION_DRIFT = "audit.drift"
ACTION_CHECK = "audit.check"
ACTION_REPORT = "audit.report"
ACTION_HEAD_EXPORT = "audit.head-export"
AUDIT_RUN_ACTIONS = (ACTION_DRIFT, ACTION_CHECK, ACTION_REPORT)
_VERIFY_BATCH = 1000


def _sm3(data: bytes) -> str:
    try:
        digest = hashlib.new(constants.AUDIT_HASH_ALGORITHM, data)
    except ValueError:
        raise RuntimeError(
            "this Python's OpenSSL has no SM3; govcloud needs OpenSSL 1.1.1 or newer with SM3"
        ) from None
    return digest.hexdigest()


def sm3_hex(text: str) -> str:
    """SM3 (GB/T 32905-2016) of UTF-8 text, in hex: the digest every report's record keeps."""
    return _sm3(text.encode("utf-8"))


def _timestamp(at: dt.datetime) -> str:
    # SQLite hands back naive datetimes: everything we write is UTC, so naive means UTC.
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    prev_hash: str,
    at: dt.datetime,
    actor: str,
    action: str,
    object: str,
    before: Any,
    after: Any,
) -> str:
    """SM3 over the canonical JSON of an entry's content and its predecessor's hash."""
    document = {
        "prev_hash": prev_hash,
        "at": _timestamp(at),
        "actor": actor,
        "action": action,
        "object": object,
        "before": before,
        "after": after,
    }
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return _sm3(canonical.encode("utf-8"))


def content_hash(entry: AuditEntry) -> str:
    """The hash an entry must carry, computed from its stored content."""
    return entry_hash(
        prev_hash=entry.prev_hash,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        object=entry.object,
        before=entry.before,
        after=entry.after,
    )


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object: str,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction and return it.

    `before` and `after` are stored as JSON: pydantic models, enums and datetimes are converted
    first, so what is hashed is exactly what is stored.
    """
    head = session.execute(
        select(AuditHead).where(AuditHead.id == HEAD_ROW_ID).with_for_update()
    ).scalar_one()
    entry = AuditEntry(
        seq=head.seq + 1,
        at=dt.datetime.now(dt.UTC),
        actor=actor,
        action=action,
        object=object,
        before=to_jsonable_python(before),
        after=to_jsonable_python(after),
        prev_hash=head.hash,
    )
    entry.hash = content_hash(entry)
    session.add(entry)
    head.seq = entry.seq
    head.hash = entry.hash
    return entry


class Break(StrEnum):
    """How the chain was found broken."""

    ALTERED = "altered"
    REMOVED = "removed"
    REORDERED = "reordered"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class ChainReport:
    """The result of verifying the chain: how many entries held, and the first break if any."""

    entries: int
    head_seq: int
    broken_at: int | None = None
    kind: Break | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when every entry and the head agree."""
        return self.broken_at is None


def _ordered(session: Session) -> Iterator[AuditEntry]:
    result = session.execute(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=_VERIFY_BATCH)
    )
    yield from result.scalars()


def verify(session: Session) -> ChainReport:
    """Walk the chain in order and name the first entry that was altered, removed or reordered."""
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ROW_ID)).scalar_one()
    expected_prev = constants.AUDIT_GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in _ordered(session):
        if content_hash(entry) != entry.hash:
            return ChainReport(
                checked,
                head.seq,
                entry.seq,
                Break.ALTERED,
                f"entry {entry.seq} was altered: its content no longer matches its hash",
            )
        if entry.prev_hash != expected_prev:
            return _broken_link(session, entry, expected_seq, checked, head.seq)
        if entry.seq != expected_seq:
            # The links hold but numbers skip: entries were renumbered, nothing was lost.
            return ChainReport(
                checked,
                head.seq,
                entry.seq,
                Break.ALTERED,
                f"entry {entry.seq} should be numbered {expected_seq}: the "
                "sequence numbers were rewritten",
            )
        expected_prev = entry.hash
        expected_seq += 1
        checked += 1
    if head.hash != expected_prev or head.seq != checked:
        if head.seq > checked:
            return ChainReport(
                checked,
                head.seq,
                checked + 1,
                Break.TRUNCATED,
                f"entries {checked + 1} to {head.seq} were removed from the end of the log",
            )
        return ChainReport(
            checked,
            head.seq,
            head.seq,
            Break.ALTERED,
            "the chain's head does not match the last entry: it was altered",
        )
    return ChainReport(checked, head.seq)


def _broken_link(
    session: Session, entry: AuditEntry, expected_seq: int, checked: int, head_seq: int
) -> ChainReport:
    """Explain why an intact entry does not follow its predecessor."""
    follows = session.execute(
        select(AuditEntry.seq).where(AuditEntry.hash == entry.prev_hash)
    ).scalar_one_or_none()
    if follows is not None:
        return ChainReport(
            checked,
            head_seq,
            entry.seq,
            Break.REORDERED,
            f"entry {entry.seq} is out of order: it was written after entry "
            f"{follows}, not after entry {expected_seq - 1}",
        )
    if entry.seq > expected_seq:
        missing = (
            f"entry {expected_seq} was"
            if entry.seq == expected_seq + 1
            else f"entries {expected_seq} to {entry.seq - 1} were"
        )
        return ChainReport(
            checked,
            head_seq,
            expected_seq,
            Break.REMOVED,
            f"{missing} removed: entry {entry.seq} follows a hash no entry has",
        )
    previous = expected_seq - 1
    return ChainReport(
        checked,
        head_seq,
        previous,
        Break.ALTERED,
        f"entry {entry.seq} does not follow entry {previous}: entry {previous} was "
        "altered and rehashed, or entries after it were removed and the rest "
        "renumbered",
    )


def count(session: Session) -> int:
    """Number of entries in the log."""
    return session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def latest(
    session: Session,
    *,
    limit: int,
    action: str | None = None,
    actor: str | None = None,
    object_prefix: str | None = None,
    since: dt.datetime | None = None,
) -> list[AuditEntry]:
    """The newest entries, newest first; `action` is one action, or every action under a
    prefix when it ends with "." (`ansible.` → `ansible.playbook`, ...)."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if action:
        if action.endswith("."):
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if object_prefix:
        query = query.where(AuditEntry.object.startswith(object_prefix, autoescape=True))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.execute(query).scalars())
