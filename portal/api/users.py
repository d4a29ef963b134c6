"""/api/v1/me and /api/v1/users: the caller's account, and accounts for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.registry.tables import PortalApiToken, PortalUser
from portal import accounts, lifecycle
from portal.api import problems
from portal.deps import ApiActor, CountyDep, Db
from portal.errors import ForbiddenError
from portal.lifecycle import Actor, Role
from portal.schemas import NewUser, TokenOut, UserOut

router = APIRouter(tags=["accounts"])
UserName = Annotated[str, Path(max_length=64, description="the account's name")]


def user_out(user: PortalUser, has_token: bool) -> UserOut:
    """An account as the API shows it."""
    return UserOut(
        id=user.id,
        name=user.name,
        display_name=user.display_name,
        role=Role(user.role),
        department=user.department,
        active=user.active,
        has_token=has_token,
    )


def _admin(actor: Actor) -> None:
    if not lifecycle.can_manage_users(actor):
        raise ForbiddenError("only admins manage accounts")


def _me(db: Session, actor: Actor) -> PortalUser:
    user = db.get(PortalUser, actor.user_id)
    if user is None:  # deleted between authentication and now
        raise ForbiddenError("the account no longer exists")
    return user


@router.get("/me", responses=problems(401), summary="The caller's account")
def get_me(actor: ApiActor, db: Db) -> UserOut:
    """Name, role and department of whoever the token or session belongs to."""
    user = _me(db, actor)
    return user_out(user, accounts.has_token(db, user))


@router.post(
    "/me/token",
    status_code=status.HTTP_201_CREATED,
    responses=problems(401, 403),
    summary="Issue a new API token for the caller (replaces the old one)",
)
def issue_my_token(actor: ApiActor, db: Db) -> TokenOut:
    """The token is shown once; the registry keeps only its hash."""
    user = _me(db, actor)
    token = accounts.issue_token(db, by=actor.audit_name, user=user)
    db.commit()
    return TokenOut(name=user.name, token=token)


@router.get("/users", responses=problems(401, 403), summary="Every account (admins)")
def list_users(actor: ApiActor, db: Db) -> list[UserOut]:
    """Accounts by name, without secrets."""
    _admin(actor)
    with_token = set(db.execute(select(PortalApiToken.user_id)).scalars())
    users = db.execute(select(PortalUser).order_by(PortalUser.name)).scalars()
    return [user_out(u, u.id in with_token) for u in users]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 409),
    summary="Create an account (admins)",
)
def create_user(
    body: Annotated[NewUser, Body()], actor: ApiActor, db: Db, county: CountyDep
) -> UserOut:
    """Department roles need a department; 409 when the name is taken."""
    _admin(actor)
    user = accounts.create_user(
        db,
        county,
        by=actor.audit_name,
        name=body.name,
        role=body.role,
        department=body.department,
        password=body.password,
        display_name=body.display_name,
    )
    db.commit()
    return user_out(user, has_token=False)


@router.post(
    "/users/{name}/token",
    status_code=status.HTTP_201_CREATED,
    responses=problems(401, 403, 404),
    summary="Issue a new API token for an account (admins)",
)
def issue_token(name: UserName, actor: ApiActor, db: Db) -> TokenOut:
    """The token is shown once; the registry keeps only its hash."""
    _admin(actor)
    user = accounts.find_user(db, name)
    token = accounts.issue_token(db, by=actor.audit_name, user=user)
    db.commit()
    return TokenOut(name=user.name, token=token)
