"""/api/v1/ops: the county at a glance, for cloud ops and auditors."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter

from portal import lifecycle
from portal.api import problems
from portal.deps import ApiActor, Ctx, Db
from portal.errors import ForbiddenError
from portal.lifecycle import Actor
from portal.overview import overview
from portal.schemas import OverviewOut

router = APIRouter(prefix="/ops", tags=["ops"])


def check_overview(actor: Actor) -> None:
    """The overview is for the county roles: cloud ops, auditors and admins (403 otherwise)."""
    if actor.role not in lifecycle.COUNTY_ROLES:
        raise ForbiddenError("the ops overview is for cloud ops, auditors and admins")


@router.get(
    "/overview",
    responses=problems(401, 403),
    summary="Every department's quota, approved, pending and live usage; capacity; approvals",
)
def get_overview(actor: ApiActor, db: Db, context: Ctx) -> OverviewOut:
    """Per department and for the county: `quota`, `used` (approved), `pending`, `available`,
    `observed` (live) and `status`; per region and Placement class the capacity (`total`,
    `reserved`, `allocation_ratio`, `allocatable`, `used`) against the `quota` handed out;
    the requests awaiting approval with their age. Without a cloud the live parts are null."""
    check_overview(actor)
    return overview(context, db, dt.datetime.now(dt.UTC))
