"""FastAPI dependencies: the shared context, a database session, who is calling.

Scripts authenticate with `Authorization: Bearer TOKEN`. A browser's session cookie works for
the API too, and then every POST must carry the session's CSRF token in `X-CSRF-Token`.

Each API call runs in one database transaction, begun by the first query (here, finding the
caller) and committed by the handler that changes something. A GET, HEAD or OPTIONS call only
reads: on SQLite its transactions take no write lock (`db.reading_session`), so reads never
queue behind writers; what such a call must write begins with `db.begin_write`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from govcloud.model import County
from govcloud.registry import db as registry
from portal import accounts
from portal.context import PortalContext
from portal.errors import ForbiddenError, UnauthenticatedError
from portal.lifecycle import Actor

SESSION_COOKIE = "govcloud_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that do no I/O are `async def`: FastAPI runs plain `def` dependencies in its
# thread pool, and every hop there and back costs more than the dependency itself.


async def get_context(request: Request) -> PortalContext:
    """The process's shared context."""
    context: PortalContext = request.app.state.portal
    return context


Ctx = Annotated[PortalContext, Depends(get_context)]


async def get_county(context: Ctx) -> County:
    """The county model."""
    return context.county


CountyDep = Annotated[County, Depends(get_county)]


async def get_db(request: Request, context: Ctx) -> AsyncIterator[Session]:
    """A registry session for one call (reading only for safe methods); whatever the handler
    did not commit is rolled back.

    Making the session does no I/O. Closing it rolls back what a handler left open (a read, or
    an error) right here on the event loop, one short round trip, and never through the thread
    pool: a transaction that failed while holding a department's ledger lock must not wait for
    a free thread, because every thread may be waiting for that very lock.
    """
    reads = request.method in SAFE_METHODS
    session = registry.reading_session(context.sessions) if reads else context.sessions()
    try:
        yield session
    finally:
        session.close()


Db = Annotated[Session, Depends(get_db)]

_bearer = HTTPBearer(
    auto_error=False,
    description="an API token from `govcloud portal token --name N`",
)


def api_actor(
    request: Request,
    db: Db,
    context: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller, from a bearer token or a session cookie (401 when neither is valid)."""
    try:
        return _caller(request, db, context, credentials)
    finally:
        # Give the connection back before the handler's own thread-pool hop: a request that
        # held one while waiting for a thread could starve the threads that wait for one.
        db.commit()


def _caller(
    request: Request,
    db: Session,
    context: PortalContext,
    credentials: HTTPAuthorizationCredentials | None,
) -> Actor:
    if credentials is not None:
        holder = accounts.user_for_token(db, credentials.credentials)
        if holder is None:
            raise UnauthenticatedError(
                "the API token is not valid (unknown, expired, revoked, or its account is "
                "deactivated): get a new one"
            )
        return accounts.actor_of(
            holder.user, issued_by=holder.issued_by, break_glass_role=context.break_glass_role
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = accounts.session_user(db, cookie, context.limits)
        if found is not None:
            user, browser = found
            if request.method not in SAFE_METHODS and not accounts.csrf_matches(
                browser.csrf_token, request.headers.get(CSRF_HEADER)
            ):
                raise ForbiddenError(f"a session-authenticated POST needs the {CSRF_HEADER}")
            return accounts.actor_of(user, break_glass_role=context.break_glass_role)
    raise UnauthenticatedError("sign in, or send Authorization: Bearer TOKEN")


ApiActor = Annotated[Actor, Depends(api_actor)]
