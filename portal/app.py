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
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from govcloud.loader import load_county
from govcloud.registry import db
from govcloud.settings import get_settings
from portal import accounts
from portal.api import API_PREFIX, build_router
from portal.context import LiveCloud, PortalContext
from portal.errors import PortalError, RateLimitedError, UnauthenticatedError
from portal.hardening import HardeningMiddleware
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

    # No interactive docs: Swagger UI loads its code from a public CDN, which a county network
    # may not reach and which the CSP would refuse anyway. /openapi.json stays.
    app = FastAPI(title=TITLE, description=DESCRIPTION, version="1", docs_url=None, redoc_url=None)
    app.state.portal = context
    app.add_middleware(
        HardeningMiddleware, max_body_bytes=context.max_body_bytes, tls=context.secure_cookies
    )
    app.include_router(build_router())
    app.include_router(build_pages())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequiredError)
    async def _login_required(request: Request, error: LoginRequiredError) -> Response:
        return login_redirect(error.next_path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # Where and what, never the input itself: an echo returns a 10 MB title in full, a
        # mistyped password in clear, and fails on input JSON cannot carry (a 500).
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, error: PortalError) -> JSONResponse:
        headers = {}
        if isinstance(error, UnauthenticatedError):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, RateLimitedError):
            headers["Retry-After"] = str(error.retry_after)
        return JSONResponse({"detail": error.detail()}, status_code=error.status, headers=headers)

    return app


def live_cloud(name: str, regions: list[str], ttl: float) -> LiveCloud:
    """The cloud `name` (a clouds.yaml entry; $OS_CLIENT_CONFIG_FILE says which file) as the
    portal reads it: resources in `regions[0]` (the primary site's region, the only one whose
    usage counts against quotas), Placement in every region given."""
    from cloud import capacity, inventory  # noqa: PLC0415  (openstacksdk: slow to import)

    return LiveCloud(
        name,
        snapshot=lambda: inventory.read(name, regions=regions[:1]),
        capacity=lambda: capacity.read(name, regions=regions),
        ttl=ttl,
    )


def from_environment() -> FastAPI:
    """The application for `govcloud portal serve` (uvicorn calls this in every worker)."""
    settings = get_settings()
    portal_settings = PortalSettings()
    county = load_county(settings.county_dir())
    engine = db.make_engine(settings.registry_url(), pool_size=portal_settings.pool_size)
    db.require_current(engine)
    context = PortalContext(
        county=county,
        engine=engine,
        sessions=db.session_factory(engine),
        limits=portal_settings.limits(),
        secure_cookies=portal_settings.secure_cookies,
        max_body_bytes=portal_settings.max_body_bytes,
        break_glass_role=portal_settings.break_glass_role,
        token_days=portal_settings.token_days,
        directory=portal_settings.directory(),
        oidc=portal_settings.oidc(),
        signing_key=accounts.load_signing_key(
            portal_settings.signing_key_file or settings.state_dir / accounts.SIGNING_KEY_FILE
        ),
    )
    if portal_settings.cloud:
        context.cloud = live_cloud(
            portal_settings.cloud, context.regions, portal_settings.cloud_ttl_seconds
        )

    app = create_app(context)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app.router.lifespan_context = lifespan
    return app


__all__ = ["API_PREFIX", "create_app", "from_environment", "live_cloud"]
