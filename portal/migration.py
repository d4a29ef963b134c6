"""Migration onto the cloud as the portal shows it: the county's on-cloud rate (上云率) now and
over time against the year's target, each department's, the waves and the systems' states.

County roles (ops, auditors, admins) see every department; a department's users see the
county's rate and their own department's systems. The figures are `govcloud.progress`', the
same as `govcloud migrate progress` prints.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from govcloud import progress
from govcloud.registry import migration_state
from portal import lifecycle
from portal.context import PortalContext
from portal.errors import ForbiddenError
from portal.lifecycle import Actor
from portal.schemas import DepartmentRateOut, MigrationOut, MigrationSystemOut


def visible_department(actor: Actor) -> str | None:
    """None for the county roles (everything); a department's code for its users; 403 else."""
    if actor.role in lifecycle.COUNTY_ROLES:
        return None
    if actor.role in lifecycle.DEPARTMENT_ROLES and actor.department:
        return actor.department
    raise ForbiddenError("migration progress is for cloud ops, auditors, admins and departments")


def migration_view(
    context: PortalContext, db: Session, actor: Actor, now: dt.datetime | None = None
) -> tuple[MigrationOut, progress.Progress]:
    """What `actor` may see of the migration, and the progress it comes from (for charts)."""
    only = visible_department(actor)
    found = progress.progress(db, context.county, now)
    status, plain = found.status, progress.as_json(found)
    departments = [
        DepartmentRateOut(
            department=row.code,
            name=row.name,
            on_cloud=row.on_cloud,
            eligible=row.eligible,
            rate=row.cloud_rate,
            meets_target=row.meets_target,
            history=plain["departments"].get(row.code, []),
        )
        for row in status.departments
        if only is None or row.code == only
    ]
    systems = [
        MigrationSystemOut(
            system=row.system,
            department=row.department,
            wave=row.wave,
            state=row.state,
            mode=row.mode,
            downtime_s=(row.result or {}).get("downtime_s"),
            updated_at=row.updated_at,
        )
        for row in migration_state.systems(db, only)
    ]
    out = MigrationOut.model_validate(
        {
            **plain,
            "departments": departments,
            "waves": plain["waves"] if only is None else [],
            "systems": systems,
        }
    )
    return out, found
