"""/api/v1/audit and /api/v1/export: the auditor's view (auditors and admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from govcloud.registry.requests import RequestKind, RequestState
from portal import lifecycle, reports, service
from portal.api import problems
from portal.deps import ApiActor, Db
from portal.errors import ForbiddenError
from portal.lifecycle import Actor
from portal.schemas import AuditOut

router = APIRouter(tags=["audit"])
CSV_TYPE = "text/csv; charset=utf-8"


def _auditor(actor: Actor) -> None:
    if not lifecycle.can_read_audit(actor):
        raise ForbiddenError("the audit view is for the audit administrator (auditor)")


@router.get("/audit", responses=problems(401, 403), summary="Audit-log entries, newest first")
def list_audit(
    *,
    actor: ApiActor,
    db: Db,
    action: Annotated[
        str | None, Query(max_length=128, description="or a prefix: request.")
    ] = None,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=128)] = None,
    object_name: Annotated[
        str | None, Query(alias="object", max_length=256, description="or a prefix: request/")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[AuditOut]:
    """Every change the portal (and the rest of govcloud) made, with its SM3 chain hash."""
    _auditor(actor)
    entries = reports.audit_entries(
        db,
        reports.AuditFilters(action=action, actor=actor_name, object=object_name),
        limit=limit,
        offset=offset,
    )
    return [AuditOut.model_validate(e) for e in entries]


@router.get(
    "/export/requests.csv",
    responses={**problems(401, 403), 200: {"content": {"text/csv": {}}}},
    response_class=Response,
    summary="Requests as CSV, filtered like the auditor view",
)
def export_requests(
    *,
    actor: ApiActor,
    db: Db,
    department: Annotated[str | None, Query(max_length=32)] = None,
    state: RequestState | None = None,
    kind: RequestKind | None = None,
    requester: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Response:
    """UTF-8 with a byte-order mark, so spreadsheets show Chinese text."""
    _auditor(actor)
    rows = service.listing(
        db,
        actor,
        service.Filters(
            department=department,
            state=state,
            kind=kind,
            requester=requester,
            since=_day(since),
            until=_day(until, next_day=True),
        ),
        limit=100_000,
    )
    return Response(
        reports.requests_csv(rows),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="requests.csv"'},
    )


@router.get(
    "/export/audit.csv",
    responses={**problems(401, 403), 200: {"content": {"text/csv": {}}}},
    response_class=Response,
    summary="Audit-log entries as CSV",
)
def export_audit(
    *,
    actor: ApiActor,
    db: Db,
    action: Annotated[str | None, Query(max_length=128)] = None,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=128)] = None,
    object_name: Annotated[str | None, Query(alias="object", max_length=256)] = None,
) -> Response:
    """Entries newest first, `before` and `after` as JSON text."""
    _auditor(actor)
    entries = reports.audit_entries(
        db,
        reports.AuditFilters(action=action, actor=actor_name, object=object_name),
        limit=100_000,
    )
    return Response(
        reports.audit_csv(entries),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _day(day: dt.date | None, *, next_day: bool = False) -> dt.datetime | None:
    """The start of a day in UTC (of the next day, for an inclusive end)."""
    if day is None:
        return None
    if next_day:
        if day >= dt.date.max:
            return None
        day = day + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
