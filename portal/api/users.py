"""/api/v1/me, /api/v1/users and /api/v1/sessions: the caller's account, and the accounts'
lifecycle for the administrators (create, deactivate, reactivate, tokens, sessions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.registry.tables import PortalApiToken, PortalSession, PortalUser
from portal import accounts, lifecycle, second_factor
from portal.api import problems
from portal.deps import ApiActor, Ctx, Db
from portal.errors import ForbiddenError
from portal.lifecycle import Actor, Role
from portal.schemas import (
    AccountChange,
    Ended,
    NewUser,
    PasswordChange,
    SessionOut,
    TokenOut,
    UserOut,
)

router = APIRouter(tags=["accounts"])
UserName = Annotated[str, Path(max_length=64, description="the account's name")]
Handle = Annotated[
    str,
    Path(
        min_length=accounts.SESSION_HANDLE_LENGTH,
        max_length=accounts.SESSION_HANDLE_LENGTH,
        pattern="^[0-9a-f]+$",
        description="a session's handle, as GET .../sessions shows it",
    ),
]


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
        source=user.source,
        second_factor=user.totp_confirmed_at is not None,
        deactivated_at=user.deactivated_at,
    )


def session_out(row: PortalSession, name: str) -> SessionOut:
    """A session as the API shows it."""
    return SessionOut(
        handle=accounts.session_handle(row),
        user=name,
        address=row.address,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )


def _require(allowed: Callable[[Actor], bool], actor: Actor, what: str) -> None:
    if not allowed(actor):
        raise ForbiddenError(f"only {what}")


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
def issue_my_token(actor: ApiActor, db: Db, context: Ctx) -> TokenOut:
    """The token is shown once; the registry keeps only its hash."""
    user = _me(db, actor)
    token = accounts.issue_token(db, by=actor.audit_name, user=user, days=context.token_days)
    db.commit()
    return _token_out(db, user, token)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(400, 401, 403),
    summary="Change the caller's password (local accounts; the policy and history apply)",
)
def change_my_password(
    body: Annotated[PasswordChange, Body()], actor: ApiActor, db: Db
) -> Response:
    """The current password is checked; every session of the account ends."""
    user = _me(db, actor)
    if user.source != accounts.LOCAL_SOURCE:
        raise ForbiddenError("a directory account changes its password in the directory")
    if not accounts.verify_password(user.password_hash, body.current_password):
        raise ForbiddenError("the current password is not correct")
    accounts.set_password(db, by=actor.audit_name, user=user, password=body.new_password)
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/me/token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401),
    summary="Revoke the caller's API token",
)
def revoke_my_token(actor: ApiActor, db: Db) -> Response:
    """Scripts using it get 401 from now on."""
    accounts.revoke_token(db, by=actor.audit_name, user=_me(db, actor))
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _token_out(db: Session, user: PortalUser, token: str) -> TokenOut:
    expires = db.execute(
        select(PortalApiToken.expires_at).where(PortalApiToken.user_id == user.id)
    ).scalar_one()
    return TokenOut(name=user.name, token=token, expires_at=expires)


@router.get("/users", responses=problems(401, 403), summary="Every account (administrators)")
def list_users(actor: ApiActor, db: Db) -> list[UserOut]:
    """Accounts by name, without secrets."""
    _require(lifecycle.can_see_accounts, actor, "the system and security administrators")
    with_token = set(db.execute(select(PortalApiToken.user_id)).scalars())
    users = db.execute(select(PortalUser).order_by(PortalUser.name)).scalars()
    return [user_out(u, u.id in with_token) for u in users]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 409),
    summary="Create an account (system administrator)",
)
def create_user(body: Annotated[NewUser, Body()], actor: ApiActor, db: Db, context: Ctx) -> UserOut:
    """Department roles need a department; 409 when the name is taken."""
    _require(lifecycle.can_manage_users, actor, "the system administrator manages accounts")
    user = accounts.create_user(
        db,
        context.county,
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
    responses=problems(401, 403, 404, 409),
    summary="Issue a new API token for an account (system administrator); ends its sessions",
)
def issue_token(name: UserName, actor: ApiActor, db: Db, context: Ctx) -> TokenOut:
    """The token is shown once; the registry keeps only its hash."""
    _require(lifecycle.can_manage_users, actor, "the system administrator issues tokens")
    user = accounts.find_user(db, name)
    token = accounts.issue_token(db, by=actor.audit_name, user=user, days=context.token_days)
    db.commit()
    return _token_out(db, user, token)


@router.delete(
    "/users/{name}/token",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404),
    summary="Revoke an account's API token (system or security administrator)",
)
def revoke_token(name: UserName, actor: ApiActor, db: Db) -> Response:
    """Scripts using it get 401 from now on."""
    _require(lifecycle.can_see_accounts, actor, "the system and security administrators")
    accounts.revoke_token(db, by=actor.audit_name, user=accounts.find_user(db, name))
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{name}/deactivate",
    responses=problems(400, 401, 403, 404, 409),
    summary="Deactivate an account: its sessions end, its token is revoked (system admin)",
)
def deactivate(
    name: UserName, body: Annotated[AccountChange, Body()], actor: ApiActor, db: Db
) -> UserOut:
    """It can sign in again only once reactivated."""
    return _change_account(db, actor, name, body.reason, accounts.deactivate)


@router.post(
    "/users/{name}/reactivate",
    responses=problems(400, 401, 403, 404, 409),
    summary="Reactivate an account (system administrator)",
)
def reactivate(
    name: UserName, body: Annotated[AccountChange, Body()], actor: ApiActor, db: Db
) -> UserOut:
    """It signs in again; it needs a new API token."""
    return _change_account(db, actor, name, body.reason, accounts.reactivate)


def _change_account(
    db: Session, actor: Actor, name: str, reason: str, change: Callable[..., None]
) -> UserOut:
    _require(lifecycle.can_manage_users, actor, "the system administrator changes accounts")
    user = accounts.find_user(db, name)
    change(db, by=actor.audit_name, user=user, reason=reason)
    db.commit()
    return user_out(user, has_token=False)


@router.get(
    "/sessions", responses=problems(401, 403), summary="Every open session (administrators)"
)
def list_sessions(actor: ApiActor, db: Db) -> list[SessionOut]:
    """Newest first."""
    _require(lifecycle.can_see_accounts, actor, "the system and security administrators")
    return [session_out(row, name) for row, name in accounts.sessions_of(db)]


@router.get(
    "/users/{name}/sessions",
    responses=problems(401, 403, 404),
    summary="An account's open sessions (administrators)",
)
def user_sessions(name: UserName, actor: ApiActor, db: Db) -> list[SessionOut]:
    """Newest first."""
    _require(lifecycle.can_see_accounts, actor, "the system and security administrators")
    user = accounts.find_user(db, name)
    return [session_out(row, who) for row, who in accounts.sessions_of(db, user)]


@router.delete(
    "/users/{name}/sessions",
    responses=problems(401, 403, 404),
    summary="End every session of an account (administrators)",
)
def end_user_sessions(name: UserName, actor: ApiActor, db: Db) -> Ended:
    """The browsers are signed out at their next request."""
    return _end_sessions(db, actor, name, None)


@router.delete(
    "/users/{name}/sessions/{handle}",
    responses=problems(401, 403, 404),
    summary="End one session of an account (administrators)",
)
def end_user_session(name: UserName, handle: Handle, actor: ApiActor, db: Db) -> Ended:
    """The browser is signed out at its next request."""
    return _end_sessions(db, actor, name, handle)


def _end_sessions(db: Session, actor: Actor, name: str, handle: str | None) -> Ended:
    _require(lifecycle.can_see_accounts, actor, "the system and security administrators")
    user = accounts.find_user(db, name)
    ended = accounts.end_sessions(db, by=actor.audit_name, user=user, handle=handle)
    db.commit()
    return Ended(sessions_ended=ended)


@router.post(
    "/users/{name}/second-factor/reset",
    responses=problems(401, 403, 404),
    summary="Forget an account's authenticator; it sets up a new one (security admin)",
)
def reset_second_factor(name: UserName, actor: ApiActor, db: Db) -> UserOut:
    """Its recovery codes go too and its sessions end."""
    _require(lifecycle.can_manage_security, actor, "the security administrator resets it")
    user = accounts.find_user(db, name)
    second_factor.reset(db, by=actor.audit_name, user=user)
    db.commit()
    return user_out(user, accounts.has_token(db, user))
