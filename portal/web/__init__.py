"""The server-rendered pages: Jinja2 templates, zh-CN first with English, no JS framework."""

from __future__ import annotations

from fastapi import APIRouter


def build_router() -> APIRouter:
    """Every page route."""
    from portal.web import admin, auth, migration, pages  # noqa: PLC0415

    router = APIRouter(include_in_schema=False)
    router.include_router(auth.router)
    router.include_router(pages.router)
    router.include_router(admin.router)
    router.include_router(migration.router)
    return router
