"""The migration page: the on-cloud rate (上云率) against the year's target and over time, each
department's, the waves as a Gantt chart, and the systems' lifecycle states. The figures are
the same as `GET /api/v1/migration` answers; each chart has a table of its figures beside it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from govcloud import progress
from portal.deps import Ctx, Db
from portal.errors import PortalError
from portal.migration import migration_view
from portal.web.common import PageUser, error_page

router = APIRouter(include_in_schema=False)
MIGRATION_PATH = "/migration"


@router.get(MIGRATION_PATH, response_class=HTMLResponse)
def migration_page(page: PageUser, db: Db, context: Ctx) -> HTMLResponse:
    """The county's (or the user's department's) migration onto the cloud."""
    try:
        found, source = migration_view(context, db, page.actor)
    except PortalError as error:
        return error_page(page, error)
    mine = tuple(d.department for d in found.departments) if len(found.departments) == 1 else ()
    return page.render(
        "migration.html",
        m=found,
        targets_text=", ".join(f"{year}: {percent}%" for year, percent in found.targets.items()),
        # matplotlib's own SVG of figures from the registry: no user text goes into it.
        rate_chart=Markup(progress.rate_svg(source, mine)),  # noqa: S704
        waves_chart=Markup(progress.waves_svg(source)) if found.waves else "",  # noqa: S704
    )
