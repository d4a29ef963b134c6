"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from govcloud.registry import db as registry
from govcloud.registry.tables import PortalUser
from portal import accounts, directory, i18n, oidc, second_factor
from portal.context import PortalContext
from portal.deps import SESSION_COOKIE, Ctx, Db
from portal.errors import (
    InvalidError,
    PasswordExpiredError,
    RateLimitedError,
    UnreachableDirectoryError,
)
from portal.web.common import LoginRequiredError, language, redirect, safe_next, templates

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "govcloud_login_csrf"
LANGUAGE_COOKIE_DAYS = 365
OIDC_FLOW_COOKIE = "govcloud_oidc_flow"
# Over TLS the flow's cookie is a __Host- cookie: no sibling host can plant one of its own
# (a genuine one it was given, with its own state) to sign the browser in as someone else.
OIDC_FLOW_COOKIE_TLS = "__Host-" + OIDC_FLOW_COOKIE
OIDC_PATH = "/login/oidc"
log = logging.getLogger(__name__)


def _login_form(
    request: Request,
    *,
    next_path: str,
    error: str = "",
    status_code: int = 200,
    name: str = "",
) -> HTMLResponse:
    lang = language(request)
    key = request.app.state.portal.signing_key
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not accounts.signed_nonce_valid(key, token, token):
        token = accounts.signed_nonce(key)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "t": i18n.translator(lang),
            "lang": lang,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "next": next_path,
            "error": error,
            "name": name,
            "login_csrf": token,
            "oidc": request.app.state.portal.oidc is not None,
            "user": None,
        },
        status_code=status_code,
    )
    secure = request.app.state.portal.secure_cookies
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login"
    )
    return response


@router.get("/login")
def login_page(
    request: Request, next_path: Annotated[str, Query(alias="next")] = "/"
) -> HTMLResponse:
    """The sign-in form."""
    return _login_form(request, next_path=safe_next(next_path))


@router.post("/login", response_model=None)
def login(
    request: Request,
    *,
    db: Db,
    context: Ctx,
    name: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Check the password, open a session, go where the user was going."""
    t = i18n.translator(language(request))
    next_path = safe_next(next_path)
    name = name.strip()[:64]
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not accounts.signed_nonce_valid(context.signing_key, expected, csrf_token):
        return _login_form(
            request, next_path=next_path, error=t("login.csrf"), status_code=403, name=name
        )
    address = request.client.host if request.client else "unknown"
    try:
        if context.directory is not None and not accounts.is_local(db, name):
            signed = directory.sign_in(
                db,
                context.county,
                context.directory,
                name=name,
                password=password,
                address=address,
                limits=context.limits,
            )
        else:
            signed = accounts.sign_in(
                db, name=name, password=password, address=address, limits=context.limits
            )
    except (UnreachableDirectoryError, InvalidError) as problem:
        # InvalidError: a name the directory has, held here by another source (OIDC).
        db.rollback()
        down = isinstance(problem, UnreachableDirectoryError)
        return _login_form(
            request,
            next_path=next_path,
            error=t("login.directory" if down else "login.failed"),
            status_code=503 if down else 401,
            name=name,
        )
    except PasswordExpiredError:
        db.rollback()
        return _login_form(
            request, next_path=next_path, error=t("login.password_expired"), status_code=403
        )
    except RateLimitedError as error:
        db.rollback()
        response = _login_form(
            request,
            next_path=next_path,
            error=t("login.limited", seconds=error.retry_after),
            status_code=429,
            name=name,
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    db.commit()  # a failure is counted even though sign-in fails
    if signed is None:
        return _login_form(
            request, next_path=next_path, error=t("login.failed"), status_code=401, name=name
        )
    return _signed_in(signed, next_path, context)


def _signed_in(signed: accounts.SignedIn, next_path: str, context: PortalContext) -> Response:
    """The session's cookie, and on to the second factor or where the user was going."""
    target = next_path
    if signed.pending_factor:
        target = f"{SECOND_FACTOR_PATH}?next={quote(next_path, safe='/')}"
    signed_in = redirect(target)
    signed_in.set_cookie(
        SESSION_COOKIE,
        signed.cookie,
        max_age=int(context.limits.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=context.secure_cookies,
    )
    signed_in.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    _drop_flow(signed_in, context)
    return signed_in


def _flow_cookie(context: PortalContext) -> str:
    return OIDC_FLOW_COOKIE_TLS if context.secure_cookies else OIDC_FLOW_COOKIE


def _drop_flow(response: Response, context: PortalContext) -> None:
    response.delete_cookie(
        _flow_cookie(context), path="/", secure=context.secure_cookies, httponly=True
    )


def _callback_url(request: Request, provider: oidc.Provider) -> str:
    return provider.redirect_url or str(request.url_for("oidc_callback"))


@router.get(OIDC_PATH, response_model=None)
def oidc_begin(
    request: Request,
    context: Ctx,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> Response:
    """Off to the county's identity provider, the flow kept in a signed cookie."""
    next_path = safe_next(next_path)
    provider = context.oidc
    if provider is None:
        return redirect("/login")
    try:
        url, flow = provider.begin(_callback_url(request, provider), next_path)
    except UnreachableDirectoryError as error:
        log.warning("OIDC sign-in not begun: %s", error)
        t = i18n.translator(language(request))
        return _login_form(
            request, next_path=next_path, error=t("login.oidc_unreachable"), status_code=503
        )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        _flow_cookie(context),
        flow.seal(context.signing_key),
        max_age=oidc.FLOW_SECONDS,
        httponly=True,
        samesite="lax",  # the provider sends the browser back with a top-level GET
        secure=context.secure_cookies,
        path="/",  # as __Host- asks
    )
    return response


@router.get(OIDC_PATH + "/callback", name="oidc_callback", response_model=None)
def oidc_callback(
    request: Request,
    *,
    db: Db,
    context: Ctx,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=512)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """Back from the provider: check everything, then the account and its session."""
    provider = context.oidc
    if provider is None:
        return redirect("/login")
    flow = oidc.Flow.unseal(context.signing_key, request.cookies.get(_flow_cookie(context)))
    next_path = safe_next(flow.next_path if flow else "/")
    outcome: accounts.SignedIn | tuple[str, int]
    if flow is None:
        log.warning("OIDC callback without this browser's flow (expired, or not begun here)")
        outcome = ("login.oidc_failed", 400)
    elif error:
        log.warning("OIDC sign-in refused by the provider")
        outcome = ("login.oidc_failed", 401)
    else:
        outcome = _oidc_outcome(
            request, db, context, provider=provider, flow=flow, code=code, state=state
        )
    if isinstance(outcome, accounts.SignedIn):
        return _signed_in(outcome, next_path, context)
    key, status_code = outcome
    t = i18n.translator(language(request))
    page = _login_form(request, next_path=next_path, error=t(key), status_code=status_code)
    _drop_flow(page, context)
    return page


def _oidc_outcome(
    request: Request,
    db: Session,
    context: PortalContext,
    *,
    provider: oidc.Provider,
    flow: oidc.Flow,
    code: str,
    state: str,
) -> accounts.SignedIn | tuple[str, int]:
    """The session, or why not (the page's message and status); the reason is logged, never
    shown: the page says only what to do."""
    try:
        claims = provider.finish(_callback_url(request, provider), flow, code=code, state=state)
    except oidc.SignInRefusedError as refusal:
        log.warning("OIDC sign-in refused: %s", refusal)
        return "login.oidc_failed", 400
    except UnreachableDirectoryError as unreachable:
        log.warning("OIDC sign-in: %s", unreachable)
        return "login.oidc_unreachable", 503
    address = request.client.host if request.client else "unknown"
    registry.begin_write(db)  # a GET, but the provider's word is written: account, session
    try:
        signed = oidc.sign_in(
            db, context.county, provider, claims, address=address, limits=context.limits
        )
    except (InvalidError, KeyError) as problem:
        db.rollback()
        log.warning("OIDC sign-in of %r: %s", claims.name, problem)
        return "login.oidc_account", 403
    db.commit()  # a refusal (and a deactivation) is recorded even though sign-in fails
    if signed is None:
        return "login.oidc_no_role", 403
    return signed


SECOND_FACTOR_PATH = "/login/second-factor"


def _factor_page(
    request: Request,
    user: PortalUser,
    csrf: str,
    *,
    next_path: str,
    error: str = "",
    recovery_codes: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = language(request)
    setting_up = not second_factor.enrolled(user)
    return templates.TemplateResponse(
        request,
        "second_factor.html",
        {
            "t": i18n.translator(lang),
            "lang": lang,
            "here": request.url.path,
            "next": next_path,
            "error": error,
            "factor_csrf": csrf,
            "secret": user.totp_secret if setting_up and not recovery_codes else "",
            "uri": second_factor.provisioning_uri(user) if setting_up and user.totp_secret else "",
            "recovery_codes": recovery_codes or [],
            "user": None,
        },
        status_code=status_code,
    )


def _pending(request: Request, db: Session, context: PortalContext) -> tuple[PortalUser, str]:
    cookie = request.cookies.get(SESSION_COOKIE)
    found = accounts.session_user(db, cookie, context.limits, pending=True) if cookie else None
    if found is None:
        raise LoginRequiredError(request.query_params.get("next") or "/")
    user, browser = found
    return user, browser.csrf_token


@router.get(SECOND_FACTOR_PATH, response_model=None)
def second_factor_page(
    request: Request,
    db: Db,
    context: Ctx,
    next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> Response:
    """Ask for the code; at the first sign-in of a privileged account, set the factor up."""
    user, csrf = _pending(request, db, context)
    if not second_factor.enrolled(user) and user.totp_secret is None:
        second_factor.new_secret(user)
    db.commit()
    return _factor_page(request, user, csrf, next_path=safe_next(next_path))


@router.post(SECOND_FACTOR_PATH, response_model=None)
def second_factor_check(
    request: Request,
    *,
    db: Db,
    context: Ctx,
    code: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Check the code (or a recovery code); complete the session, or count the failure."""
    t = i18n.translator(language(request))
    next_path = safe_next(next_path)
    user, csrf = _pending(request, db, context)
    if not accounts.csrf_matches(csrf, csrf_token):
        return _factor_page(
            request, user, csrf, next_path=next_path, error=t("login.csrf"), status_code=403
        )
    address = request.client.host if request.client else "unknown"
    try:
        accounts.check_rate(db, user.name, address, context.limits)
    except RateLimitedError as error:
        db.rollback()
        response = _factor_page(
            request,
            user,
            csrf,
            next_path=next_path,
            error=t("login.limited", seconds=error.retry_after),
            status_code=429,
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    recovery_codes: list[str] | None = None
    if second_factor.enrolled(user):
        ok = second_factor.check_code(user, code) or second_factor.use_recovery_code(db, user, code)
    else:
        recovery_codes = second_factor.confirm(db, user, code)
        ok = recovery_codes is not None
    if not ok:
        accounts.record_failure(
            db, name=user.name, address=address, action="portal.second_factor.failed"
        )
        db.commit()
        return _factor_page(
            request, user, csrf, next_path=next_path, error=t("factor.failed"), status_code=401
        )
    accounts.complete_session(db, request.cookies[SESSION_COOKIE])
    db.commit()
    if recovery_codes:
        return _factor_page(request, user, csrf, next_path=next_path, recovery_codes=recovery_codes)
    return redirect(next_path)


@router.post("/logout")
def logout(request: Request, db: Db, csrf_token: Annotated[str, Form()] = "") -> RedirectResponse:
    """End the session (the form carries its CSRF token)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = accounts.session_user(db, cookie, request.app.state.portal.limits)
        if found is not None and accounts.csrf_matches(found[1].csrf_token, csrf_token):
            accounts.sign_out(db, cookie)
            db.commit()
        elif found is not None:
            return redirect("/")
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
def switch_language(
    request: Request, code: str, next_path: Annotated[str, Query(alias="next")] = "/"
) -> RedirectResponse:
    """Remember the chosen language and go back to the page."""
    response = redirect(safe_next(next_path))
    if code in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_DAYS * 86400,
            samesite="lax",
            secure=request.app.state.portal.secure_cookies,
        )
    return response
