"""The administrators' pages: accounts and their sessions (系统管理员, 安全管理员).

What the page does is what the API does (portal.accounts), with the same rights: the system
administrator deactivates and reactivates accounts; both administrators revoke tokens and end
sessions. Every change carries the session's CSRF token and is audited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class AccountAction:
    """A button of the accounts page: who may press it, what it does, what the page says."""

    allowed: Callable[[lifecycle.Actor], bool]
    run: Callable[[Session, str, PortalUser, str], object]  # session, by, account, reason
    done: str


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidError("give a reason: it goes into the audit log")
    return reason.strip()


# The same services, with the same rights, as the API's account routes.
ACTIONS = {
    "deactivate": AccountAction(
        lifecycle.can_manage_users,
        lambda db, by, user, reason: accounts.deactivate(
            db, by=by, user=user, reason=_reason(reason)
        ),
        "deactivated",
    ),
    "reactivate": AccountAction(
        lifecycle.can_manage_users,
        lambda db, by, user, reason: accounts.reactivate(
            db, by=by, user=user, reason=_reason(reason)
        ),
        "reactivated",
    ),
    "revoke-token": AccountAction(
        lifecycle.can_see_accounts,
        lambda db, by, user, _: accounts.revoke_token(db, by=by, user=user),
        "revoked",
    ),
    "end-sessions": AccountAction(
        lifecycle.can_see_accounts,
        lambda db, by, user, _: accounts.end_sessions(db, by=by, user=user),
        "ended",
    ),
    "reset-second-factor": AccountAction(
        lifecycle.can_manage_security,
        lambda db, by, user, _: second_factor.reset(db, by=by, user=user),
        "reset",
    ),
}


@router.post(f"{ACCOUNTS_PATH}/{{name}}/{{action}}", response_model=None)
def account_action(
    page: PageUser,
    db: Db,
    *,
    name: AccountName,
    action: Annotated[str, Path(max_length=32)],
    csrf_token: CsrfField = "",
    reason: Reason = "",
) -> Response:
    """One of ACTIONS on the account; the page comes back saying what was done or why not."""
    t = page.context()["t"]
    chosen = ACTIONS.get(action)
    if chosen is None:
        return page.render("error.html", status_code=404, message=t("error.404"), detail="")
    if not csrf_ok(page, csrf_token):
        return page.render("error.html", status_code=403, message=t("login.csrf"), detail="")
    try:
        if not chosen.allowed(page.actor):
            raise ForbiddenError(t("error.403"))
        chosen.run(db, page.actor.audit_name, accounts.find_user(db, name), reason)
    except PortalError as error:
        db.rollback()
        return _page(page, db, status_code=error.status, error=str(error))
    db.commit()
    return redirect(f"{ACCOUNTS_PATH}?done={chosen.done}")
