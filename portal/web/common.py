"""What every page shares: templates, the signed-in user, the language, CSRF checks.

Pages authenticate with the session cookie only (never a bearer token). Every form that
changes something carries the session's CSRF token in a hidden `csrf_token` field; the sign-in
form, which has no session yet, uses a double-submit cookie instead. Cookies are HttpOnly and
SameSite=Lax, and Secure when GOVCLOUD_PORTAL_SECURE_COOKIES is set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from govcloud.quota import QUOTA_RESOURCES
from portal import accounts, i18n, lifecycle
from portal.deps import SESSION_COOKIE, Ctx, Db
from portal.errors import PortalError
from portal.lifecycle import Actor, Role
from portal.quota import percent

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["RESOURCES"] = QUOTA_RESOURCES
templates.env.globals["percent"] = percent
templates.env.globals["LANGUAGES"] = i18n.LANGUAGES


def _local_time(at: dt.datetime | None) -> str:
    """A timestamp for people: UTC, to the second."""
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["when"] = _local_time
templates.env.filters["unix_when"] = lambda at: _local_time(dt.datetime.fromtimestamp(at, dt.UTC))


class LoginRequiredError(Exception):
    """No valid session: the page redirects to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(next_path)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site: //host or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def language(request: Request) -> str:
    """The page language for this request."""
    return i18n.choose(
        request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language")
    )


@dataclass
class Page:
    """The signed-in user of a page request, and what the templates need about them."""

    request: Request
    actor: Actor
    display_name: str
    csrf_token: str
    lang: str

    def context(self, **values: Any) -> dict[str, Any]:
        """Template variables: these, plus the user, the language and the navigation."""
        t = i18n.translator(self.lang)
        actor = self.actor
        return {
            "request": self.request,
            "t": t,
            "lang": self.lang,
            "user": actor,
            "display_name": self.display_name,
            "csrf_token": self.csrf_token,
            "county": self.request.app.state.portal.county,
            "here": self.request.url.path
            + (f"?{self.request.url.query}" if self.request.url.query else ""),
            "is_approver": actor.role in {Role.DEPT_APPROVER, Role.OPS_APPROVER}
            or actor.break_glass,
            "is_auditor": lifecycle.can_read_audit(actor),
            "is_county": actor.role in lifecycle.COUNTY_ROLES,
            "can_request": actor.role in lifecycle.DEPARTMENT_ROLES,
            "can_manage_accounts": lifecycle.can_see_accounts(actor),
            "sees_requests": actor.role in lifecycle.COUNTY_ROLES | lifecycle.DEPARTMENT_ROLES,
            **values,
        }

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        """A page from its template."""
        return templates.TemplateResponse(
            self.request, template, self.context(**values), status_code=status_code
        )


def error_page(page: Page, error: PortalError) -> HTMLResponse:
    """The error page for a refusal, with its status."""
    t = page.context()["t"]
    message = t(f"error.{error.status}") if error.status in {403, 404} else ""
    return page.render("error.html", status_code=error.status, message=message, detail=str(error))


def page_user(request: Request, db: Db, context: Ctx) -> Page:
    """The signed-in user (redirect to the sign-in form when there is none)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    found = accounts.session_user(db, cookie, context.limits) if cookie else None
    if found is None:
        db.commit()  # an expired session was deleted
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequiredError(target)
    user, browser = found
    page = Page(
        request=request,
        actor=accounts.actor_of(user, break_glass_role=context.break_glass_role),
        display_name=user.display_name,
        csrf_token=browser.csrf_token,
        lang=language(request),
    )
    # Give the connection back before the page's own thread-pool hop (see deps.api_actor).
    db.commit()
    return page


PageUser = Annotated[Page, Depends(page_user)]


def csrf_ok(page: Page, given: str | None) -> bool:
    """True when a form's CSRF token is the session's."""
    return accounts.csrf_matches(page.csrf_token, given)


def redirect(path: str) -> RedirectResponse:
    """See Other: after a form, the browser GETs the result."""
    return RedirectResponse(path, status_code=303)


def login_redirect(next_path: str) -> RedirectResponse:
    """To the sign-in form, coming back here afterwards."""
    return redirect(f"/login?next={quote(safe_next(next_path), safe='/')}")


def form_text(form: Any, name: str) -> str:
    """A form field as stripped text ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def visible_departments(page: Page) -> list[Any]:
    """The departments the user may see, in county order."""
    county = page.request.app.state.portal.county
    return [d for d in county.departments if lifecycle.can_see(page.actor, d.code)]
