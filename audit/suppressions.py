"""Accepted drift (接受的偏差): a suppression hides one finding, by id, until it expires.

Each suppression names an owner, a reason and an expiry; granting and revoking one are entries
in the audit log, written in the same transaction as the row. A drift run hides a finding only
while its suppression is in force: once expired, the finding is reported again, saying which
suppression lapsed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.findings import DriftReport, Finding
from govcloud.errors import BadInputError
from govcloud.registry import audit_log
from govcloud.registry.db import as_utc
from govcloud.registry.tables import AuditSuppression

# No acceptance lasts for ever: a year at most, then someone looks again.
MAX_DAYS: Final = 366
ACTION_ACCEPT: Final = "audit.suppress"
ACTION_REVOKE: Final = "audit.unsuppress"


def as_dict(row: AuditSuppression, now: dt.datetime | None = None) -> dict[str, Any]:
    """A suppression for JSON, with whether it is in force now."""
    now = now or dt.datetime.now(dt.UTC)
    return {
        "id": row.id,
        "finding_id": row.finding_id,
        "owner": row.owner,
        "reason": row.reason,
        "expires_at": as_utc(row.expires_at).isoformat(),
        "created_at": as_utc(row.created_at).isoformat(),
        "created_by": row.created_by,
        "revoked_at": as_utc(row.revoked_at).isoformat() if row.revoked_at else None,
        "in_force": row.revoked_at is None and as_utc(row.expires_at) > now,
    }


def accept(
    session: Session,
    *,
    finding_id: str,
    owner: str,
    reason: str,
    expires_at: dt.datetime,
    actor: str,
    now: dt.datetime | None = None,
) -> AuditSuppression:
    """Record a suppression and its audit entry in the caller's transaction."""
    now = now or dt.datetime.now(dt.UTC)
    expires_at = as_utc(expires_at)
    problems = []
    if not finding_id.strip():
        problems.append("the finding id is empty: copy it from `govcloud audit drift`")
    if not owner.strip():
        problems.append("--owner is empty: name who answers for the accepted drift")
    if not reason.strip():
        problems.append("--reason is empty: say why the drift is accepted")
    if expires_at <= now:
        problems.append(f"--expires {expires_at.isoformat()} is not in the future")
    elif expires_at > now + dt.timedelta(days=MAX_DAYS):
        problems.append(f"--expires is more than {MAX_DAYS} days away: accept for less")
    if problems:
        raise BadInputError("; ".join(problems) + "; nothing was recorded")
    row = AuditSuppression(
        finding_id=finding_id.strip(),
        owner=owner.strip(),
        reason=reason.strip(),
        expires_at=expires_at,
        created_at=now,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit_log.record(
        session,
        actor=actor,
        action=ACTION_ACCEPT,
        object=f"finding/{row.finding_id}",
        after=as_dict(row, now),
    )
    return row


def revoke(session: Session, *, suppression_id: int, actor: str) -> AuditSuppression:
    """End a suppression now (its finding reports again), recorded in the audit log."""
    row = session.get(AuditSuppression, suppression_id)
    if row is None or row.revoked_at is not None:
        raise BadInputError(
            f"no suppression {suppression_id} in force: `govcloud audit suppressions` lists them"
        )
    before = as_dict(row)
    row.revoked_at = dt.datetime.now(dt.UTC)
    audit_log.record(
        session,
        actor=actor,
        action=ACTION_REVOKE,
        object=f"finding/{row.finding_id}",
        before=before,
        after=as_dict(row),
    )
    return row


def listing(session: Session, *, all_rows: bool = False) -> list[AuditSuppression]:
    """Suppressions not revoked (or every one), newest first."""
    query = select(AuditSuppression).order_by(AuditSuppression.id.desc())
    if not all_rows:
        query = query.where(AuditSuppression.revoked_at.is_(None))
    return list(session.execute(query).scalars())


def apply(
    report: DriftReport, rows: Iterable[AuditSuppression], now: dt.datetime | None = None
) -> None:
    """Move findings with a suppression in force to `report.suppressed`; mark the ones whose
    suppression lapsed."""
    now = now or dt.datetime.now(dt.UTC)
    in_force: dict[str, AuditSuppression] = {}
    lapsed: dict[str, AuditSuppression] = {}
    for row in rows:
        if row.revoked_at is not None:
            continue
        target = in_force if as_utc(row.expires_at) > now else lapsed
        target.setdefault(row.finding_id, row)
    kept: list[Finding] = []
    for finding in report.findings:
        if finding.id in in_force:
            report.suppressed.append(
                {"finding": finding.as_dict(), "suppression": as_dict(in_force[finding.id], now)}
            )
        elif finding.id in lapsed:
            evidence = finding.evidence | {"suppression_expired": as_dict(lapsed[finding.id], now)}
            kept.append(dataclasses.replace(finding, evidence=evidence))
        else:
            kept.append(finding)
    report.findings = kept
