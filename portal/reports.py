"""The auditor's reports: filtered audit-log entries, and CSV exports of requests and entries."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.quota import QUOTA_RESOURCES
from govcloud.registry.tables import AuditEntry, PortalRequest

# Excel opens UTF-8 CSV with Chinese text correctly only with a byte-order mark.
CSV_BOM = "\ufeff"
# A cell starting with these is a formula to spreadsheets (CSV injection): prefix a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilters:
    """What the audit-log listing is narrowed to (all optional)."""

    action: str | None = None  # an action, or a prefix ending in "." (e.g. "request.")
    actor: str | None = None
    object: str | None = None  # an object, or a prefix ending in "/" (e.g. "request/")


def audit_entries(
    session: Session, filters: AuditFilters, *, limit: int = 200, offset: int = 0
) -> list[AuditEntry]:
    """Audit-log entries, newest first."""
    query = select(AuditEntry)
    for column, value, separator in (
        (AuditEntry.action, filters.action, "."),
        (AuditEntry.object, filters.object, "/"),
    ):
        if value:
            if value.endswith(separator):
                query = query.where(column.startswith(value, autoescape=True))
            else:
                query = query.where(column == value)
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    query = query.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    return list(session.execute(query).scalars())


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(header: list[str], rows: Iterable[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return CSV_BOM + buffer.getvalue()


REQUEST_COLUMNS = [
    "id",
    "department",
    "kind",
    "state",
    "title",
    *QUOTA_RESOURCES,
    "requester",
    "reason",
    "created_at",
    "updated_at",
]


def requests_csv(rows: Iterable[tuple[PortalRequest, str]]) -> str:
    """Requests (with their requester's name) as CSV."""
    return _csv(
        REQUEST_COLUMNS,
        (
            [
                r.id,
                r.department,
                r.kind,
                r.state,
                r.title,
                *(getattr(r, name) for name in QUOTA_RESOURCES),
                requester,
                r.reason,
                r.created_at.isoformat(),
                r.updated_at.isoformat(),
            ]
            for r, requester in rows
        ),
    )


AUDIT_COLUMNS = ["seq", "at", "actor", "action", "object", "before", "after", "hash"]


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """Audit-log entries as CSV (before and after as JSON text)."""
    return _csv(
        AUDIT_COLUMNS,
        (
            [
                e.seq,
                e.at.isoformat(),
                e.actor,
                e.action,
                e.object,
                json.dumps(e.before, ensure_ascii=False, sort_keys=True),
                json.dumps(e.after, ensure_ascii=False, sort_keys=True),
                e.hash,
            ]
            for e in entries
        ),
    )
