"""The pages: dashboard, request form, requests and their history, approval queue, audit view,
account. Each action a page offers is the same service call as its /api/v1 route."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import TypeAdapter, ValidationError

from govcloud.conventions import CAPACITY_CLASSES, REQUESTABLE_FLAVORS
from govcloud.quota import QUOTA_RESOURCES, Amounts
from govcloud.registry import audit_log
from govcloud.registry.requests import RequestKind, RequestState
from govcloud.registry.tables import PortalUser
from portal import accounts, charts, lifecycle, reports, service
from portal.api.departments import usage_out
from portal.api.ops import check_overview
from portal.api.requests import act
from portal.deps import Ctx, Db
from portal.errors import (
    CloudUnavailableError,
    ForbiddenError,
    NoCloudError,
    NotDeployedError,
    NotFoundError,
    PortalError,
    QuotaExceededError,
)
from portal.i18n import Translate
from portal.lifecycle import NEEDS_REASON, Action, Role
from portal.overview import overview
from portal.passwords import MAX_PASSWORD_LENGTH
from portal.schemas import NewRequest, OverviewOut
from portal.web.admin import ACCOUNTS_PATH
from portal.web.common import (
    Page,
    PageUser,
    csrf_ok,
    error_page,
    redirect,
    safe_next,
    visible_departments,
)

router = APIRouter(include_in_schema=False)
_new_request = TypeAdapter[Any](NewRequest)

# The form fields of each kind, in order (names as the API takes them).
KIND_FIELDS: dict[RequestKind, tuple[str, ...]] = {
    RequestKind.COMPUTE: ("flavor", "count"),
    RequestKind.STORAGE: ("storage_gb", "volumes"),
    RequestKind.FLOATING_IP: ("floating_ips",),
    RequestKind.NETWORK: ("name", "hosts"),
    RequestKind.QUOTA_CHANGE: QUOTA_RESOURCES,
}
TEXT_FIELDS = frozenset({"flavor", "name"})
OPS_PATH = "/ops"
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
PAGE_SIZE = 100
E = TypeVar("E", bound=StrEnum)


def _member(enum: type[E], text: str | None) -> E | None:
    """The enum member named by a query parameter; None for empty or unknown text."""
    try:
        return enum(text) if text else None
    except ValueError:
        return None


def _department_choice(page: Page, wanted: str | None) -> str:
    departments = visible_departments(page)
    codes = [d.code for d in departments]
    if page.actor.department and page.actor.role in lifecycle.DEPARTMENT_ROLES:
        return page.actor.department
    if not codes:
        raise NotFoundError("the county has no departments")
    return wanted if wanted is not None and wanted in codes else codes[0]


# -- dashboard ---------------------------------------------------------------------------------


@router.get("/", response_model=None)
def dashboard(
    page: PageUser,
    db: Db,
    context: Ctx,
    department: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Quota bars, requests by state, and the ledger next to the live cloud. Cloud ops start
    on the ops overview, which shows every department."""
    if department is None and page.actor.role is Role.OPS_APPROVER:
        return redirect(OPS_PATH)
    if page.actor.role is Role.SECURITY_ADMIN:  # sees no requests: starts on the accounts
        return redirect(ACCOUNTS_PATH)
    code = _department_choice(page, department)
    live = context.live()  # before the registry's transaction: a reading can take seconds
    standing = service.ledger(db, context.county, code)
    return page.render(
        "dashboard.html",
        department=context.county.department(code),
        departments=visible_departments(page),
        quota=standing.quota.as_dict(),
        used=standing.used.as_dict(),
        pending=standing.pending.as_dict(),
        counts=service.counts_by_state(db, code),
        usage=usage_out(context, code, standing, live),
    )


# -- the ops overview --------------------------------------------------------------------------


def _age(t: Translate, seconds: int) -> str:
    """How long something has waited, to the minute: 2 天 3 小时 / 2 d 3 h."""
    days, rest = divmod(seconds, SECONDS_PER_DAY)
    hours, rest = divmod(rest, SECONDS_PER_HOUR)
    minutes = rest // SECONDS_PER_MINUTE
    if days:
        return t("age.days", days=days, hours=hours)
    if hours:
        return t("age.hours", hours=hours, minutes=minutes)
    return t("age.minutes", minutes=minutes)


def _region_label(t: Translate, region: str, site: str | None) -> str:
    return f"{region} {t('site.' + site)}" if site else region


def _capacity_chart(t: Translate, found: OverviewOut) -> str:
    panels = []
    for resource_class in CAPACITY_CLASSES:
        rows = [row for row in found.capacity if row.resource_class == resource_class]
        panels.append(
            charts.Panel(
                title=t(f"capacity.class.{resource_class}"),
                bars=tuple(
                    charts.Bar(
                        region=_region_label(t, row.region, row.site),
                        allocatable=charts.display_value(resource_class, row.allocatable),
                        quota=None
                        if row.quota is None
                        else charts.display_value(resource_class, row.quota),
                        used=charts.display_value(resource_class, row.used),
                    )
                    for row in rows
                ),
            )
        )
    labels = charts.Labels(
        allocatable=t("capacity.allocatable"),
        quota=t("capacity.quota"),
        used=t("capacity.used"),
        description=t("capacity.chart"),
    )
    return charts.capacity_svg(tuple(panels), labels)


@router.get(OPS_PATH, response_class=HTMLResponse)
def ops_page(page: PageUser, db: Db, context: Ctx) -> HTMLResponse:
    """Every department's quota, approved, pending and live usage; the county's totals; the
    cloud's capacity against the quotas handed out; what waits for approval, with its age."""
    try:
        check_overview(page.actor)
    except PortalError as error:
        return error_page(page, error)
    found = overview(context, db, dt.datetime.now(dt.UTC))
    t = page.context()["t"]
    return page.render(
        "ops.html",
        o=found,
        chart=Markup(_capacity_chart(t, found)) if found.capacity else "",  # noqa: S704
        ages={a.id: _age(t, a.age_seconds) for a in found.awaiting},
        regions={row.region: _region_label(t, row.region, row.site) for row in found.capacity},
    )


# -- the request form --------------------------------------------------------------------------


def _form_values(kind: RequestKind, fields: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": kind.value}
    for name in KIND_FIELDS[kind]:
        raw = fields.get(name, "").strip()
        if raw != "":
            values[name] = raw
    return values


@dataclass(frozen=True)
class FormState:
    """What the request form shows: the kind, the department and the values typed."""

    kind: RequestKind
    department: str
    values: dict[str, str]


def _render_form(
    page: Page,
    db: Db,
    context: Ctx,
    form: FormState,
    *,
    errors: dict[str, str] | None = None,
    message: str = "",
    feedback: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    departments = [d for d in visible_departments(page) if lifecycle.can_create(page.actor, d.code)]
    standing = service.ledger(db, context.county, form.department)
    return page.render(
        "request_form.html",
        status_code=status_code,
        kinds=list(RequestKind),
        kind=form.kind,
        fields=KIND_FIELDS[form.kind],
        flavors=REQUESTABLE_FLAVORS,
        departments=departments,
        department=form.department,
        values=form.values,
        errors=errors or {},
        message=message,
        feedback=feedback,
        ledger=standing,
    )


@router.get("/requests/new", response_class=HTMLResponse)
def request_form(
    page: PageUser,
    db: Db,
    context: Ctx,
    kind: RequestKind = RequestKind.COMPUTE,
    department: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """The request form for one kind, with the department's quota beside it."""
    code = _department_choice(page, department)
    if not lifecycle.can_create(page.actor, code):
        return error_page(page, ForbiddenError("your role does not request resources"))
    return _render_form(page, db, context, FormState(kind, code, {}))


@router.post("/requests/new", response_class=HTMLResponse)
def request_submit(
    page: PageUser,
    db: Db,
    context: Ctx,
    *,
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    intent: Annotated[str, Form(max_length=16)] = "submit",
    kind: Annotated[RequestKind, Form()] = RequestKind.COMPUTE,
    department: Annotated[str, Form(max_length=32)] = "",
    title: Annotated[str, Form(max_length=1000)] = "",
    justification: Annotated[str, Form(max_length=10000)] = "",
    flavor: Annotated[str, Form(max_length=64)] = "",
    count: Annotated[str, Form(max_length=32)] = "",
    storage_gb: Annotated[str, Form(max_length=32)] = "",
    volumes: Annotated[str, Form(max_length=32)] = "",
    floating_ips: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    hosts: Annotated[str, Form(max_length=32)] = "",
    vcpu: Annotated[str, Form(max_length=32)] = "",
    ram_gb: Annotated[str, Form(max_length=32)] = "",
    networks: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Check the quota, save a draft or submit; the form comes back with what went wrong."""
    t = page.context()["t"]
    if not csrf_ok(page, csrf_token):
        return page.render("error.html", status_code=403, message=t("login.csrf"), detail="")
    # A department the county does not have is an error, as in the API: never filed under
    # the first one (issue 17, finding 8). One the user may not request for is the service's
    # 403 below.
    known = {d.code for d in context.county.departments}
    unknown = bool(department) and department not in known
    code = department if department in known else _department_choice(page, None)
    fields = {
        "flavor": flavor,
        "count": count,
        "storage_gb": storage_gb,
        "volumes": volumes,
        "floating_ips": floating_ips,
        "name": name,
        "hosts": hosts,
        "vcpu": vcpu,
        "ram_gb": ram_gb,
        "networks": networks,
    }
    shown = {"title": title, "justification": justification, **fields}
    values = _form_values(kind, fields)
    body = {
        **values,
        "department": code,
        "title": title,
        "justification": justification,
        "submit": intent != "draft",
    }
    form = FormState(kind, code, shown)
    errors = {"department": t("form.no_department")} if unknown else {}
    try:
        new = _new_request.validate_python(body)
    except ValidationError as invalid:
        errors |= {str(e["loc"][-1]) if e["loc"] else "kind": e["msg"] for e in invalid.errors()}
    if errors:
        return _render_form(
            page, db, context, form, errors=errors, message=t("form.invalid"), status_code=422
        )
    if intent == "check":
        standing = service.ledger(db, context.county, code)
        return _render_form(page, db, context, form, feedback=_feedback(new, standing))
    try:
        row = service.create(db, context.county, page.actor, new)
    except QuotaExceededError as exceeded:
        db.rollback()
        details = "; ".join(
            t(
                "form.after",
                resource=t(f"resource.{s.resource}"),
                requested=s.requested,
                available=max(s.available, 0),
            )
            for s in exceeded.shortfalls
        )
        return _render_form(
            page, db, context, form, message=t("form.exceeds", details=details), status_code=409
        )
    except PortalError as error:
        db.rollback()
        return _render_form(page, db, context, form, message=str(error), status_code=error.status)
    db.commit()
    return redirect(f"/requests/{row.id}?done=created")


def _feedback(new: Any, standing: Any) -> list[dict[str, Any]]:
    amounts: Amounts = new.amounts()
    quota_change = new.kind == RequestKind.QUOTA_CHANGE
    shortfalls = (
        standing.quota_change_shortfalls(amounts) if quota_change else standing.shortfalls(amounts)
    )
    short = {s.resource for s in shortfalls}
    return [
        {
            "resource": r,
            "requested": getattr(amounts, r),
            "available": getattr(standing.available, r),
            "fits": r not in short,
        }
        for r in QUOTA_RESOURCES
        if getattr(amounts, r)
    ]


# -- requests ----------------------------------------------------------------------------------


@router.get("/requests", response_class=HTMLResponse)
def requests_page(
    page: PageUser,
    db: Db,
    context: Ctx,
    *,
    department: Annotated[str | None, Query(max_length=32)] = None,
    state: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """Every request the user may see, newest first, filtered."""
    filters = service.Filters(
        department=department or None,
        state=_member(RequestState, state),
        kind=_member(RequestKind, kind),
    )
    try:
        rows = service.listing(db, page.actor, filters, limit=PAGE_SIZE)
    except PortalError as error:
        return error_page(page, error)
    return page.render(
        "requests.html",
        rows=rows,
        filters=filters,
        departments=visible_departments(page),
        states=list(RequestState),
        kinds=list(RequestKind),
    )


def _detail(
    page: Page,
    db: Db,
    request_id: int,
    *,
    error: str = "",
    missing: list[str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    try:
        row = service.get(db, page.actor, request_id)
    except PortalError as problem:
        return error_page(page, problem)
    return page.render(
        "request_detail.html",
        status_code=status_code,
        row=row,
        requester=service.requester_name(db, row),
        events=service.history(db, row),
        actions=service.actions_for(page.actor, row),
        needs_reason=NEEDS_REASON,
        error=error,
        missing=missing or [],
        done=done,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    page: PageUser,
    db: Db,
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    done: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """One request: what it asks for, its network allocation, history and actions."""
    return _detail(page, db, request_id, done=done)


@router.post("/requests/{request_id}/{action}", response_model=None)
def request_action(
    page: PageUser,
    db: Db,
    context: Ctx,
    request_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    action: Action,
    *,
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "",
) -> Response:
    """Take one lifecycle step (the same as POST /api/v1/requests/{id}/{action})."""
    t = page.context()["t"]
    if not csrf_ok(page, csrf_token):
        return _detail(page, db, request_id, error=t("login.csrf"), status_code=403)
    try:
        act(db, context, page.actor, request_id, action=action, reason=reason)
    except PortalError as error:
        db.rollback()
        if error.status == 404:
            return error_page(page, error)
        message, missing = _refusal(t, error)
        return _detail(
            page, db, request_id, error=message, missing=missing, status_code=error.status
        )
    default = f"/requests/{request_id}?done={action.value}"
    return redirect(safe_next(next_path, default) if next_path else default)


def _refusal(t: Translate, error: PortalError) -> tuple[str, list[str]]:
    """A refused action in the page's language, and for a deploy what the cloud lacks."""
    if isinstance(error, NotDeployedError):
        missing = [
            t(
                "deploy.missing" if m.found is None else "deploy.different",
                kind=t(f"holding.{m.kind}"),
                name=m.name,
                expected=m.expected,
                found=m.found,
            )
            for m in error.missing
        ]
        return t("deploy.not_held", cloud=error.cloud), missing
    if isinstance(error, NoCloudError):
        return t("deploy.no_cloud"), []
    if isinstance(error, CloudUnavailableError):
        return t("deploy.unreachable", detail=str(error)), []
    return str(error), []


@router.get("/queue", response_class=HTMLResponse)
def queue_page(page: PageUser, db: Db) -> HTMLResponse:
    """What waits for this user's approval, oldest first."""
    rows = service.queue(db, page.actor)
    decisions = {Action.APPROVE, Action.REJECT}
    return page.render(
        "queue.html",
        rows=rows,
        queue_actions={
            row.id: [a for a in service.actions_for(page.actor, row) if a in decisions]
            for row, _ in rows
        },
        needs_reason=NEEDS_REASON,
    )


# -- audit -------------------------------------------------------------------------------------


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    page: PageUser,
    db: Db,
    *,
    department: Annotated[str | None, Query(max_length=32)] = None,
    state: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    requester: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    action: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    object_name: Annotated[str | None, Query(alias="object", max_length=256)] = None,
) -> HTMLResponse:
    """Auditors: every request and audit entry, filtered, with CSV exports of both."""
    if not lifecycle.can_read_audit(page.actor):
        return error_page(
            page, ForbiddenError("the audit view is for the audit administrator (auditor)")
        )
    since_day, until_day = _date(since), _date(until)
    filters = service.Filters(
        department=department or None,
        state=_member(RequestState, state),
        kind=_member(RequestKind, kind),
        requester=requester or None,
        since=dt.datetime.combine(since_day, dt.time(), dt.UTC) if since_day else None,
        until=(
            dt.datetime.combine(until_day + dt.timedelta(days=1), dt.time(), dt.UTC)
            if until_day and until_day < dt.date.max
            else None
        ),
    )
    log_filters = reports.AuditFilters(
        action=action or None, actor=actor or None, object=object_name or None
    )
    request_query = {
        k: v
        for k, v in {
            "department": department,
            "state": state,
            "kind": kind,
            "requester": requester,
            "since": since_day.isoformat() if since_day else None,
            "until": until_day.isoformat() if until_day else None,
        }.items()
        if v
    }
    log_query = {
        k: v for k, v in {"action": action, "actor": actor, "object": object_name}.items() if v
    }
    return page.render(
        "audit.html",
        rows=service.listing(db, page.actor, filters, limit=PAGE_SIZE),
        entries=reports.audit_entries(db, log_filters, limit=PAGE_SIZE),
        runs=reports.audit_runs(db, limit=PAGE_SIZE),
        drills=reports.dr_drills(db, limit=PAGE_SIZE),
        chain=audit_log.verify(db),
        departments=visible_departments(page),
        states=list(RequestState),
        kinds=list(RequestKind),
        q={
            "department": department or "",
            "state": state or "",
            "kind": kind or "",
            "requester": requester or "",
            "since": since or "",
            "until": until or "",
            "action": action or "",
            "actor": actor or "",
            "object": object_name or "",
        },
        requests_csv="/api/v1/export/requests.csv?" + urlencode(request_query),
        audit_csv="/api/v1/export/audit.csv?" + urlencode(log_query),
    )


@router.get("/audit/reports/{seq}", response_class=HTMLResponse)
def audit_report_page(page: PageUser, db: Db, seq: Annotated[int, Path(ge=1)]) -> HTMLResponse:
    """Auditors: a report `govcloud audit report` or a DR drill wrote, if its SM3 still matches
    the log's."""
    if not lifecycle.can_read_audit(page.actor):
        return error_page(
            page, ForbiddenError("the audit view is for the audit administrator (auditor)")
        )
    try:
        return HTMLResponse(reports.audit_report(db, seq))
    except PortalError as error:
        return error_page(page, error)


# -- account -----------------------------------------------------------------------------------


def _account(
    page: Page,
    db: Db,
    token: str = "",
    *,
    password_message: str = "",
    password_error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    user = db.get(PortalUser, page.actor.user_id)
    return page.render(
        "account.html",
        status_code=status_code,
        has_token=user is not None and accounts.has_token(db, user),
        local=user is not None and user.source == accounts.LOCAL_SOURCE,
        password_message=password_message,
        password_error=password_error,
        token=token,
        role_is_department=page.actor.role in lifecycle.DEPARTMENT_ROLES,
        roles=Role,
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(page: PageUser, db: Db) -> HTMLResponse:
    """The user's account and API token."""
    return _account(page, db)


@router.post("/account/token", response_class=HTMLResponse)
def account_token(
    page: PageUser, db: Db, context: Ctx, csrf_token: Annotated[str, Form(max_length=256)] = ""
) -> HTMLResponse:
    """Issue a new API token (the same as POST /api/v1/me/token) and show it once."""
    if not csrf_ok(page, csrf_token):
        t = page.context()["t"]
        return page.render("error.html", status_code=403, message=t("login.csrf"), detail="")
    user = db.get(PortalUser, page.actor.user_id)
    if user is None:
        return error_page(page, ForbiddenError("the account no longer exists"))
    token = accounts.issue_token(db, by=page.actor.audit_name, user=user, days=context.token_days)
    db.commit()
    return _account(page, db, token=token)


@router.post("/account/password", response_model=None)
def account_password(
    page: PageUser,
    db: Db,
    *,
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    current_password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
    new_password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
) -> Response:
    """Change one's own password (the same as POST /api/v1/me/password); sessions end."""
    t = page.context()["t"]
    if not csrf_ok(page, csrf_token):
        return page.render("error.html", status_code=403, message=t("login.csrf"), detail="")
    user = db.get(PortalUser, page.actor.user_id)
    if user is None or user.source != accounts.LOCAL_SOURCE:
        return error_page(page, ForbiddenError("a directory account changes its password there"))
    if not accounts.verify_password(user.password_hash, current_password):
        return _account(page, db, password_error=t("account.wrong_password"), status_code=403)
    try:
        accounts.set_password(db, by=page.actor.audit_name, user=user, password=new_password)
    except PortalError as error:
        db.rollback()
        return _account(page, db, password_error=str(error), status_code=error.status)
    db.commit()
    return redirect("/login?next=/account")
