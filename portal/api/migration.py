"""/api/v1/migration: migration onto the cloud (迁移上云) and the on-cloud rate (上云率)."""

from __future__ import annotations

from fastapi import APIRouter

from portal.api import problems
from portal.deps import ApiActor, Ctx, Db
from portal.migration import migration_view
from portal.schemas import MigrationOut

router = APIRouter(prefix="/migration", tags=["migration"])


@router.get(
    "",
    responses=problems(401, 403),
    summary="The on-cloud rate against the year's target and over time; waves; systems",
)
def get_migration(actor: ApiActor, db: Db, context: Ctx) -> MigrationOut:
    """The county's on-cloud rate (`rate`, `on_cloud` of `eligible`) against the `target` in
    force this year (`target_year`, every year's in `targets`) and its `history`; per
    department the same; each wave's progress; each system's migration `state`. A department's
    users see their own department and its systems, and no waves."""
    found, _ = migration_view(context, db, actor)
    return found
