"""/api/v1/departments: the departments, their quotas, live usage and grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cloud import usage as observed
from desired import grants
from govcloud.model import County
from govcloud.quota import QUOTA_RESOURCES, Amounts
from portal import lifecycle, service
from portal.api import problems
from portal.context import LiveReading, PortalContext
from portal.deps import ApiActor, CountyDep, Ctx, Db
from portal.errors import ForbiddenError
from portal.quota import Ledger
from portal.schemas import (
    DepartmentOut,
    Difference,
    GrantsOut,
    NetworkGrantOut,
    QuotaOut,
    ResourceAmounts,
    ResourceQuota,
    UsageOut,
)

router = APIRouter(prefix="/departments", tags=["departments"])
Code = Annotated[str, Path(max_length=32, description="the department's code, e.g. jyj")]


def _amounts(value: Amounts) -> ResourceAmounts:
    return ResourceAmounts(**value.as_dict())


def resource_rows(standing: Ledger) -> list[ResourceQuota]:
    """A ledger per resource: quota, used (approved), pending, available."""
    available = standing.available
    return [
        ResourceQuota(
            resource=name,
            quota=getattr(standing.quota, name),
            used=getattr(standing.used, name),
            pending=getattr(standing.pending, name),
            available=getattr(available, name),
        )
        for name in QUOTA_RESOURCES
    ]


def quota_out(county: County, code: str, standing: Ledger) -> QuotaOut:
    """A department's ledger as the API shows it."""
    return QuotaOut(
        department=code,
        name=county.department(code).name,
        quota=_amounts(standing.quota),
        used=_amounts(standing.used),
        pending=_amounts(standing.pending),
        available=_amounts(standing.available),
        resources=resource_rows(standing),
    )


@router.get("", responses=problems(401), summary="The departments the caller may see")
def list_departments(actor: ApiActor, county: CountyDep) -> list[DepartmentOut]:
    """Every department for county roles; one's own for department roles."""
    return [
        DepartmentOut(code=d.code, name=d.name, kind=d.kind.value)
        for d in county.departments
        if lifecycle.can_see(actor, d.code)
    ]


@router.get(
    "/{code}/quota", responses=problems(401, 403, 404), summary="A department's quota standing"
)
def get_quota(code: Code, actor: ApiActor, db: Db, county: CountyDep) -> QuotaOut:
    """`quota`, `used` (approved), `pending` (submitted) and `available` per resource."""
    service.check_department(county, actor, code)
    return quota_out(county, code, service.ledger(db, county, code))


def usage_out(context: PortalContext, code: str, standing: Ledger, live: LiveReading) -> UsageOut:
    """The ledger's usage next to the live cloud's (`live`, from `context.live()`)."""
    seen = None
    if live.snapshot is not None:
        seen = observed.observed_usage(
            live.snapshot, context.county.code, [code], [context.primary_region]
        )[code]
    differences = observed.compare(standing.used, seen)
    return UsageOut(
        department=code,
        observed_at=live.snapshot.taken_at if live.snapshot is not None else None,
        resources=[
            Difference(resource=d.resource, ledger=d.ledger, observed=d.observed, status=d.status)
            for d in differences
        ],
        flagged=observed.flagged(differences),
        cloud=live.cloud,
        cloud_error=live.error,
    )


@router.get(
    "/{code}/usage",
    responses=problems(401, 403, 404),
    summary="Usage from the ledger and as observed in the live cloud",
)
def get_usage(code: Code, actor: ApiActor, db: Db, context: Ctx) -> UsageOut:
    """Per resource: the ledger's usage, the cloud's, and `over`/`under` where they differ."""
    service.check_department(context.county, actor, code)
    live = context.live()  # before the registry's transaction: a reading can take seconds
    standing = service.ledger(db, context.county, code)
    return usage_out(context, code, standing, live)


def grants_out(found: grants.DepartmentGrants) -> GrantsOut:
    """One department's grants as the API shows them."""
    return GrantsOut(
        department=found.department,
        quota=_amounts(Amounts.from_quota(found.quota)),
        quota_extra=_amounts(found.quota_extra),
        granted=_amounts(found.granted),
        servers=dict(found.servers_by_flavor),
        volumes=[volume.size_gb for volume in found.volumes],
        floating_ips=found.floating_ips,
        networks=[
            NetworkGrantOut(
                request_id=n.request_id, name=n.name, network=n.network, ipv6=n.ipv6, ipv4=n.ipv4
            )
            for n in found.networks
        ],
    )


@router.get(
    "/{code}/grants",
    responses=problems(401, 403, 404),
    summary="What the department has been granted (what the stacks provision)",
)
def get_grants(code: Code, actor: ApiActor, db: Db, county: CountyDep) -> GrantsOut:
    """Approved, not decommissioned requests summed up; the quota includes quota changes."""
    service.check_department(county, actor, code)
    return grants_out(grants.read_grants(county, db).departments[code])


grants_router = APIRouter(prefix="/grants", tags=["departments"])


@grants_router.get(
    "", responses=problems(401, 403), summary="Every department's grants (county roles)"
)
def list_grants(actor: ApiActor, db: Db, county: CountyDep) -> list[GrantsOut]:
    """The desired state the stacks read, for every department with a grant."""
    if actor.role not in lifecycle.COUNTY_ROLES:
        raise ForbiddenError("every department's grants are for cloud ops, auditors and admins")
    found = grants.read_grants(county, db).departments
    # A department the county no longer has cannot be provisioned: its grants are left out.
    return [grants_out(found[code]) for code in sorted(found) if found[code].request_ids]
