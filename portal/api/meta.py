"""/api/v1/health and /api/v1/flavors: what needs no database."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from govcloud.conventions import REQUESTABLE_FLAVORS
from portal.api import problems
from portal.deps import ApiActor

router = APIRouter(tags=["meta"])


class Health(BaseModel):
    """The process answers."""

    status: str


class FlavorOut(BaseModel):
    """A server flavor departments can request."""

    name: str
    vcpu: int
    ram_gb: int
    disk_gb: int


@router.get("/health", summary="Liveness (no sign-in, no database)")
async def health() -> Health:
    """Always ok while the process serves requests."""
    return Health(status="ok")


@router.get("/flavors", responses=problems(401), summary="The server flavors one can request")
def flavors(actor: ApiActor) -> list[FlavorOut]:
    """Name, vCPUs, RAM and disk of each."""
    return [
        FlavorOut(name=f.name, vcpu=f.vcpu, ram_gb=f.ram_gb, disk_gb=f.disk_gb)
        for f in REQUESTABLE_FLAVORS.values()
    ]
