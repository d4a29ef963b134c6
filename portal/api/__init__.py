"""The JSON API under /api/v1: every page action is also an API call here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portal.schemas import ProblemOut

API_PREFIX = "/api/v1"


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    text = {
        400: "the body is not JSON",
        401: "not signed in, or the token is not valid",
        403: "the caller's role or department does not allow it",
        404: "not found",
        409: "not possible now (the quota, or the request's state)",
        429: "too many failed sign-ins",
        503: "the live cloud did not answer",
    }
    return {status: {"model": ProblemOut, "description": text[status]} for status in statuses}


def build_router() -> APIRouter:
    """Every API route."""
    from portal.api import (  # noqa: PLC0415
        audit,
        departments,
        meta,
        migration,
        ops,
        requests,
        users,
    )

    router = APIRouter(prefix=API_PREFIX)
    for module in (meta, requests, departments, users, audit, ops, migration):
        router.include_router(module.router)
    router.include_router(departments.grants_router)
    return router
