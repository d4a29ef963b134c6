"""Accepted drift on both registry backends: a suppression needs an owner, a reason and an
expiry within a year; it is in the audit log; it hides its finding while in force, and the
finding is back, saying which suppression lapsed, once it expires or is revoked."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from audit import suppressions
from audit.findings import DriftReport, Finding, FindingKind, Severity, finding_id
from govcloud.errors import BadInputError
from govcloud.registry import audit_log, db
from govcloud.registry.tables import AuditSuppression

NOW = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)


def _finding(resource: str) -> Finding:
    return Finding(
        id=finding_id("drift", "server", resource, ""),
        severity=Severity.HIGH,
        kind=FindingKind.UNMANAGED,
        resource=f"server {resource}",
        attribute=None,
        desired=None,
        live={"name": resource},
        evidence={"source": "test"},
    )


def test_finding_ids_are_stable_and_distinct() -> None:
    assert finding_id("drift", "server", "a", "") == finding_id("drift", "server", "a", "")
    assert finding_id("drift", "server", "a", "") != finding_id("drift", "server", "b", "")
    assert finding_id("drift", "ab", "c", "") != finding_id("drift", "a", "bc", "")


@pytest.mark.postgres
def test_suppression_hides_until_expiry_and_is_logged(registry: Engine) -> None:
    stray, other = _finding("RegionOne/p/stray"), _finding("RegionOne/p/other")
    with db.session_factory(registry)() as session:
        row = suppressions.accept(
            session,
            finding_id=stray.id,
            owner="张三",
            reason="maintenance",
            expires_at=NOW + dt.timedelta(hours=1),
            actor="test:auditor",
            now=NOW,
        )
        session.commit()
        rows = suppressions.listing(session)
        entry = audit_log.latest(session, limit=1)[0]
        assert entry.action == "audit.suppress" and entry.object == f"finding/{stray.id}"
        assert entry.after["owner"] == "张三" and entry.after["in_force"] is True

    report = DriftReport(findings=[stray, other])
    suppressions.apply(report, rows, now=NOW + dt.timedelta(minutes=59))
    assert [f.id for f in report.findings] == [other.id]
    assert report.suppressed[0]["suppression"]["id"] == row.id

    later = DriftReport(findings=[stray, other])
    suppressions.apply(later, rows, now=NOW + dt.timedelta(hours=1, seconds=1))
    assert [f.id for f in later.findings] == [stray.id, other.id] and not later.suppressed
    assert later.findings[0].evidence["suppression_expired"]["owner"] == "张三"

    with db.session_factory(registry)() as session:
        suppressions.revoke(session, suppression_id=row.id, actor="test:auditor")
        session.commit()
        assert suppressions.listing(session) == []
        assert audit_log.latest(session, limit=1)[0].action == "audit.unsuppress"
        assert audit_log.verify(session).ok
    revoked = DriftReport(findings=[stray])
    suppressions.apply(revoked, suppressions_all(registry), now=NOW)
    assert [f.id for f in revoked.findings] == [stray.id] and not revoked.suppressed


def suppressions_all(registry: Engine) -> list[AuditSuppression]:
    with db.session_factory(registry)() as session:
        return suppressions.listing(session, all_rows=True)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("owner", "reason", "expires", "message"),
    [
        ("", "why", dt.timedelta(days=1), "--owner is empty"),
        ("me", " ", dt.timedelta(days=1), "--reason is empty"),
        ("me", "why", dt.timedelta(seconds=-1), "is not in the future"),
        ("me", "why", dt.timedelta(days=400), "more than 366 days"),
    ],
)
def test_bad_suppressions_are_refused_and_nothing_is_written(
    registry: Engine, owner: str, reason: str, expires: dt.timedelta, message: str
) -> None:
    with db.session_factory(registry)() as session:
        before = audit_log.count(session)
        with pytest.raises(BadInputError, match=message):
            suppressions.accept(
                session,
                finding_id="drift-0123456789ab",
                owner=owner,
                reason=reason,
                expires_at=NOW + expires,
                actor="test",
                now=NOW,
            )
        session.rollback()
        assert audit_log.count(session) == before
        assert session.execute(select(AuditSuppression)).first() is None
    with db.session_factory(registry)() as session, pytest.raises(BadInputError):
        suppressions.revoke(session, suppression_id=99, actor="test")
