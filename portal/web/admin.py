"""The administrators' pages: accounts and their sessions (系统管理员, 安全管理员).

What the page does is what the API does (portal.accounts), with the same rights: the system
administrator deactivates and reactivates accounts; both administrators revoke tokens and end
sessions. Every change carries the session's CSRF token and is audited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from govcloud.registry.tables import PortalApiToken, PortalUser
from portal import accounts, lifecycle, second_factor
from portal.deps import Db
from portal.errors import ForbiddenError, InvalidError, PortalError
from portal.web.common import Page, PageUser, csrf_ok, redirect

router = APIRouter(include_in_schema=False)
ACCOUNTS_PATH = "/admin/accounts"
AccountName = Annotated[str, Path(max_length=64)]
Reason = Annotated[str, Form(max_length=2000)]
CsrfField = Annotated[str, Form(max_length=256)]


def _page(
    page: Page, db: Db, *, status_code: int = 200, done: str = "", error: str = ""
) -> HTMLResponse:
    with_token = set(db.execute(select(PortalApiToken.user_id)).scalars())
    users = list(db.execute(select(PortalUser).order_by(PortalUser.name)).scalars())
    sessions = accounts.sessions_of(db)
    open_sessions = Counter(name for _, name in sessions)
    return page.render(
        "admin_accounts.html",
        status_code=status_code,
        users=users,
        with_token=with_token,
        open_sessions=open_sessions,
        sessions=[(accounts.session_handle(row), row, name) for row, name in sessions],
        can_manage=lifecycle.can_manage_users(page.actor),
        can_reset=lifecycle.can_manage_security(page.actor),
        done=done,
        error=error,
    )


@router.get(ACCOUNTS_PATH, response_class=HTMLResponse)
def accounts_page(
    page: PageUser, db: Db, done: Annotated[str, Query(max_length=32)] = ""
) -> HTMLResponse:
    """Every account with its state, token and open sessions; every open session."""
    if not lifecycle.can_see_accounts(page.actor):
        t = page.context()["t"]
        return page.render("error.html", status_code=403, message=t("error.403"), detail="")
    return _page(page, db, done=done if done.isidentifier() else "")


def _change(
    page: Page,
    db: Db,
    *,
    csrf_token: str,
    allowed: Callable[[lifecycle.Actor], bool],
    change: Callable[[], object],
    done: str,
) -> Response:
    t = page.context()["t"]
    if not csrf_ok(page, csrf_token):
        return page.render("error.html", status_code=403, message=t("login.csrf"), detail="")
    try:
        if not allowed(page.actor):
            raise ForbiddenError(t("error.403"))
        change()
    except PortalError as error:
        db.rollback()
        return _page(page, db, status_code=error.status, error=str(error))
    db.commit()
    return redirect(f"{ACCOUNTS_PATH}?done={done}")


@router.post(f"{ACCOUNTS_PATH}/{{name}}/deactivate", response_model=None)
def deactivate(
    page: PageUser, db: Db, name: AccountName, csrf_token: CsrfField = "", reason: Reason = ""
) -> Response:
    """Deactivate the account (the system administrator); a reason is required."""
    return _change(
        page,
        db,
        csrf_token=csrf_token,
        allowed=lifecycle.can_manage_users,
        change=lambda: accounts.deactivate(
            db, by=page.actor.audit_name, user=accounts.find_user(db, name), reason=_reason(reason)
        ),
        done="deactivated",
    )


@router.post(f"{ACCOUNTS_PATH}/{{name}}/reactivate", response_model=None)
def reactivate(
    page: PageUser, db: Db, name: AccountName, csrf_token: CsrfField = "", reason: Reason = ""
) -> Response:
    """Reactivate the account (the system administrator); a reason is required."""
    return _change(
        page,
        db,
        csrf_token=csrf_token,
        allowed=lifecycle.can_manage_users,
        change=lambda: accounts.reactivate(
            db, by=page.actor.audit_name, user=accounts.find_user(db, name), reason=_reason(reason)
        ),
        done="reactivated",
    )


@router.post(f"{ACCOUNTS_PATH}/{{name}}/revoke-token", response_model=None)
def revoke_token(page: PageUser, db: Db, name: AccountName, csrf_token: CsrfField = "") -> Response:
    """Revoke the account's API token."""
    return _change(
        page,
        db,
        csrf_token=csrf_token,
        allowed=lifecycle.can_see_accounts,
        change=lambda: accounts.revoke_token(
            db, by=page.actor.audit_name, user=accounts.find_user(db, name)
        ),
        done="revoked",
    )


@router.post(f"{ACCOUNTS_PATH}/{{name}}/end-sessions", response_model=None)
def end_sessions(page: PageUser, db: Db, name: AccountName, csrf_token: CsrfField = "") -> Response:
    """End every session of the account."""
    return _change(
        page,
        db,
        csrf_token=csrf_token,
        allowed=lifecycle.can_see_accounts,
        change=lambda: accounts.end_sessions(
            db, by=page.actor.audit_name, user=accounts.find_user(db, name)
        ),
        done="ended",
    )


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidError("give a reason: it goes into the audit log")
    return reason.strip()


@router.post(f"{ACCOUNTS_PATH}/{{name}}/reset-second-factor", response_model=None)
def reset_second_factor(
    page: PageUser, db: Db, name: AccountName, csrf_token: CsrfField = ""
) -> Response:
    """Forget the account's authenticator (the security administrator)."""
    return _change(
        page,
        db,
        csrf_token=csrf_token,
        allowed=lifecycle.can_manage_security,
        change=lambda: second_factor.reset(
            db, by=page.actor.audit_name, user=accounts.find_user(db, name)
        ),
        done="reset",
    )
