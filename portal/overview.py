"""The ops overview: every department's quota, approved, pending and live usage, the county's
totals, the cloud's capacity against the quotas handed out, and what waits for approval.

    overview(context, session, now) -> OverviewOut

The ledger comes from the registry in one query; the live usage and the quotas handed out from
the cached snapshot (`cloud.usage`, found by the stacks' tags); the capacity from the cached
Placement reading (`cloud.capacity`). The quotas handed out in a region are the Keystone limits
the cloud holds for the county's tenants there (what the stacks set from each department's
quota), so both sites are measured the same way. A cloud that does not answer leaves those
parts empty and says why; the registry's parts are shown all the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cloud import usage as observed
from govcloud.conventions import (
    CAPACITY_CLASSES,
    COMPUTE_SERVICE_TYPE,
    department_from_tags,
    limit_name,
)
from govcloud.errors import UnreachableError
from govcloud.model import County
from govcloud.quota import QUOTA_RESOURCES, ZERO
from portal import service
from portal.api.departments import resource_rows
from portal.context import PortalContext
from portal.quota import Ledger
from portal.schemas import (
    AwaitingOut,
    CapacityOut,
    DepartmentOverview,
    OverviewOut,
    ResourceOverview,
)

if TYPE_CHECKING:
    from cloud.capacity import Capacity
    from cloud.inventory import Snapshot


def resources(standing: Ledger, seen: observed.ObservedUsage | None) -> list[ResourceOverview]:
    """Per resource: the ledger's figures and the cloud's, with the comparison's status."""
    differences = {d.resource: d for d in observed.compare(standing.used, seen)}
    return [
        ResourceOverview(
            **row.model_dump(exclude={"observed"}),
            observed=differences[row.resource].observed,
            status=differences[row.resource].status,
        )
        for row in resource_rows(standing)
    ]


def county_usage(usages: Iterable[observed.ObservedUsage]) -> observed.ObservedUsage:
    """The departments' live usage summed; a resource no department's cloud can tell is None."""
    found = list(usages)
    totals: dict[str, float | None] = {}
    for name in QUOTA_RESOURCES:
        values = [u.get(name) for u in found]
        totals[name] = None if any(v is None for v in values) else sum(v or 0 for v in values)
    return observed.ObservedUsage(**totals)


def handed_out(snapshot: Snapshot, county_code: str) -> dict[tuple[str, str], int]:
    """(region, resource class) -> the Keystone limits of the county's tenants summed."""
    ours = {
        p.id for p in snapshot.projects if department_from_tags(p.tags, county_code) is not None
    }
    names = {limit_name(rc): rc for rc in CAPACITY_CLASSES}
    result: dict[tuple[str, str], int] = {}
    for item in snapshot.limits:
        resource_class = names.get(item.resource_name)
        if (
            item.project_id in ours
            and item.service == COMPUTE_SERVICE_TYPE
            and item.region is not None
            and resource_class is not None
            and item.resource_limit >= 0  # -1: unlimited, nothing handed out to count
        ):
            key = (item.region, resource_class)
            result[key] = result.get(key, 0) + item.resource_limit
    return result


def capacity_rows(
    county: County, capacity: Capacity, quotas: Mapping[tuple[str, str], int] | None
) -> list[CapacityOut]:
    """Per region of the county and capacity class: Placement's figures and the quotas."""
    from cloud.capacity import by_region  # noqa: PLC0415  (openstacksdk: slow to import)

    sites = {site.region: site.role.value for site in county.sites}
    return [
        CapacityOut(
            region=row.region,
            site=sites.get(row.region),
            resource_class=row.resource_class,
            providers=row.providers,
            total=row.total,
            reserved=row.reserved,
            allocation_ratio=row.allocation_ratio,
            allocatable=row.allocatable,
            used=row.used,
            quota=None if quotas is None else quotas.get((row.region, row.resource_class), 0),
        )
        for row in by_region(capacity.inventories, capacity.regions, CAPACITY_CLASSES)
    ]


def overview(context: PortalContext, session: Session, now: dt.datetime) -> OverviewOut:
    """The overview as the API and the page show it (the cloud is read first, before the
    registry's transaction)."""
    county = context.county
    live = context.live()
    snapshot, error = live.snapshot, live.error
    capacity = None
    if context.cloud is not None and snapshot is not None:
        try:
            capacity = context.cloud.capacity()
        except UnreachableError as unreachable:
            error = str(unreachable)
    codes = [d.code for d in county.departments]
    usage = (
        observed.observed_usage(snapshot, county.code, codes, [context.primary_region])
        if snapshot is not None
        else None
    )
    standings = service.ledgers(session, county)
    departments = []
    for department in county.departments:
        rows = resources(standings[department.code], usage[department.code] if usage else None)
        departments.append(
            DepartmentOverview(
                department=department.code,
                name=department.name,
                kind=department.kind.value,
                resources=rows,
                flagged=any(r.status in {"over", "under"} for r in rows),
            )
        )
    total = Ledger(ZERO, ZERO, ZERO)
    for standing in standings.values():
        total = Ledger(
            total.quota + standing.quota,
            total.used + standing.used,
            total.pending + standing.pending,
        )
    awaiting = service.awaiting_approval(session)
    return OverviewOut(
        county=county.code,
        cloud=context.cloud.name if context.cloud is not None else None,
        cloud_error=error,
        observed_at=snapshot.taken_at if snapshot is not None else None,
        capacity_at=capacity.taken_at if capacity is not None else None,
        departments=departments,
        totals=resources(total, county_usage(usage.values()) if usage else None),
        flagged=[d.department for d in departments if d.flagged],
        capacity=(
            capacity_rows(county, capacity, handed_out(snapshot, county.code) if snapshot else None)
            if capacity is not None
            else []
        ),
        awaiting=[
            AwaitingOut(
                id=a.row.id,
                department=a.row.department,
                kind=a.row.kind,
                title=a.row.title,
                state=a.row.state,
                requester=a.requester,
                approver=a.approver,
                since=a.since,
                age_seconds=max(int((now - a.since).total_seconds()), 0),
            )
            for a in awaiting
        ],
    )
