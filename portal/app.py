"""The portal's FastAPI application: the JSON API under /api/v1 and the pages.

`create_app(context)` builds it around a given county and registry (tests, benchmarks);
`from_environment()` is what `govcloud portal serve` runs in each worker: it reads the county
from GOVCLOUD_COUNTY and the registry from GOVCLOUD_DATABASE_URL like every govcloud command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from govcloud.loader import load_county
from govcloud.registry import db
from govcloud.settings import get_settings
from portal.api import API_PREFIX, build_router
from portal.context import CachedSnapshot, PortalContext
from portal.errors import PortalError, RateLimitedError, UnauthenticatedError
from portal.settings import PortalSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"
TITLE = "govcloud portal"
DESCRIPTION = (
    "The resource-request portal of the county government cloud (政务云资源申请门户): "
    "departments request compute, storage, floating IPs, networks and quota changes; "
    "department heads and cloud ops approve; quotas hold. Scripts authenticate with "
    "`Authorization: Bearer TOKEN` (`govcloud portal token --name N`)."
)


def create_app(context: PortalContext) -> FastAPI:
    """The application around this context (the caller owns the engine)."""
    from portal.web import build_router as build_pages  # noqa: PLC0415
    from portal.web.common import LoginRequiredError, login_redirect  # noqa: PLC0415

    app = FastAPI(title=TITLE, description=DESCRIPTION, version="1", docs_url="/api/docs")
    app.state.portal = context
    app.include_router(build_router())
    app.include_router(build_pages())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequiredError)
    async def _login_required(request: Request, error: LoginRequiredError) -> Response:
        return login_redirect(error.next_path)

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, error: PortalError) -> JSONResponse:
        headers = {}
        if isinstance(error, UnauthenticatedError):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, RateLimitedError):
            headers["Retry-After"] = str(error.retry_after)
        return JSONResponse({"detail": error.detail()}, status_code=error.status, headers=headers)

    return app


def from_environment() -> FastAPI:
    """The application for `govcloud portal serve` (uvicorn calls this in every worker)."""
    settings = get_settings()
    portal_settings = PortalSettings()
    county = load_county(settings.county_dir())
    engine = db.make_engine(settings.registry_url(), pool_size=portal_settings.pool_size)
    db.require_current(engine)
    snapshot = None
    if portal_settings.cloud:
        from cloud import inventory  # noqa: PLC0415

        cloud = portal_settings.cloud
        snapshot = CachedSnapshot(
            lambda: inventory.read(cloud), ttl=portal_settings.cloud_ttl_seconds
        )
    context = PortalContext(
        county=county,
        engine=engine,
        sessions=db.session_factory(engine),
        limits=portal_settings.limits(),
        secure_cookies=portal_settings.secure_cookies,
    )
    if snapshot is not None:
        context.snapshot = snapshot

    app = create_app(context)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app.router.lifespan_context = lifespan
    return app


__all__ = ["API_PREFIX", "create_app", "from_environment"]
