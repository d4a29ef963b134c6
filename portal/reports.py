"""The auditor's reports: filtered audit-log entries, and CSV exports of requests and entries."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud import constants
from govcloud.quota import QUOTA_RESOURCES
from govcloud.registry.audit_log import ACTION_REPORT, AUDIT_RUN_ACTIONS
from govcloud.registry.dr_state import ACTION_REPORT as ACTION_DRILL_REPORT
from govcloud.registry.dr_state import drill_object, drills_with_results
from govcloud.registry.tables import AuditEntry, PortalRequest
from portal.errors import ConflictError, NotFoundError

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


REPORT_FILE = "report.html"
# The entries that record a written report (its directory and the SM3 of each file): the
# audit's own and the DR drills' (`govcloud dr drill` writes one per drill).
REPORT_ACTIONS = frozenset({ACTION_REPORT, ACTION_DRILL_REPORT})


def audit_runs(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """Drift and compliance runs and written reports, newest first, each with its summary."""
    entries = session.execute(
        select(AuditEntry)
        .where(AuditEntry.action.in_(AUDIT_RUN_ACTIONS))
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    ).scalars()
    runs = []
    for entry in entries:
        after = entry.after if isinstance(entry.after, dict) else {}
        runs.append(
            {
                "seq": entry.seq,
                "at": entry.at,
                "actor": entry.actor,
                "kind": entry.action.removeprefix("audit."),
                "object": entry.object,
                "findings": len(after.get("findings") or after.get("failed") or []),
                "totals": after.get("totals") or {},
                "exit": after.get("exit"),
                "sm3": after.get("report_sm3")
                or (after.get("files_sm3") or {}).get(REPORT_FILE, ""),
                "report": entry.action == ACTION_REPORT,
            }
        )
    return runs


def dr_drills(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """DR drills, newest first: what ran, its outcome, each system's verdict, and the audit-log
    entry of its newest written report (opened like an audit report)."""
    listed = drills_with_results(session, limit=limit)
    objects = [drill_object(d.id) for d, _ in listed]
    found = session.execute(
        select(AuditEntry.object, AuditEntry.seq)
        .where(AuditEntry.action == ACTION_DRILL_REPORT, AuditEntry.object.in_(objects))
        .order_by(AuditEntry.seq)
    )
    report_seq = dict(found.all())  # the newest entry per drill wins
    return [
        {
            "drill": d.id,
            "kind": d.kind,
            "scope": d.scope,
            "actor": d.actor,
            "started_at": d.started_at,
            "outcome": d.outcome,
            "systems": [
                {"system": r.system, "met": r.met, "rpo_s": r.rpo_s, "rto_s": r.rto_s}
                for r in systems
            ],
            "report_seq": report_seq.get(drill_object(d.id)),
            "sm3": d.report_sm3 or "",
        }
        for d, systems in listed
    ]


def audit_report(session: Session, seq: int) -> str:
    """The HTML report an `audit.report` or `dr.report` entry recorded, only if it still has
    the SM3 digest the audit log holds for it (a report changed afterwards is refused)."""
    entry = session.get(AuditEntry, seq)
    after = entry.after if entry is not None and isinstance(entry.after, dict) else {}
    if entry is None or entry.action not in REPORT_ACTIONS or "directory" not in after:
        raise NotFoundError(f"no audit report {seq}")
    recorded = (after.get("files_sm3") or {}).get(REPORT_FILE)
    path = Path(after["directory"]) / REPORT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise NotFoundError(f"audit report {seq} is no longer at {path}") from None
    digest = hashlib.new(constants.AUDIT_HASH_ALGORITHM, text.encode("utf-8")).hexdigest()
    if digest != recorded:
        raise ConflictError(
            f"audit report {seq} at {path} was changed after it was written: its SM3 is "
            f"{digest[:16]}…, the audit log recorded {str(recorded)[:16]}…"
        )
    return text


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
