"""Requests and quotas in the registry: every change is one transaction with its audit entry.

The functions here work in the caller's transaction (the API opens one per call) and never
commit. The quota check and the reservation are one transaction that first locks the
department's ledger row: `SELECT ... FOR UPDATE` on PostgreSQL, and on SQLite the write lock
that `BEGIN IMMEDIATE` takes (govcloud.registry.db). Two submissions for one department are
therefore checked one after the other, each against the other's reservation; submissions for
different departments only meet at the audit log's head row, which every audited change locks.

Locks are always taken in this order, so no two transactions wait on each other in a cycle:
the request row, the department's ledger row, the network planner's lock, the audit head.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud import holdings
from desired import network_plan
from desired.grants import read_grants
from govcloud.conventions import requested_network_name
from govcloud.errors import UnreachableError
from govcloud.model import County, Department, SiteRole
from govcloud.quota import QUOTA_RESOURCES, ZERO, Amounts
from govcloud.registry import audit_log
from govcloud.registry.ledger import ledger_part
from govcloud.registry.requests import GRANTED_STATES, PENDING_STATES, RequestKind, RequestState
from govcloud.registry.tables import (
    AuditEntry,
    PortalLedger,
    PortalRequest,
    PortalUser,
)
from network.plan import AllocationKind, PlanError, gateway
from portal import lifecycle
from portal.errors import (
    CloudUnavailableError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NoCloudError,
    NotDeployedError,
    NotFoundError,
    QuotaExceededError,
    from_denied,
)
from portal.lifecycle import NEEDS_REASON, Action, Actor, Effect
from portal.quota import Ledger
from portal.schemas import NewRequest, QuotaChangeRequest

if TYPE_CHECKING:
    from cloud.inventory import Snapshot
    from portal.context import LiveCloud

AUDIT_PREFIX = "request"
# The audit action of a deploy the live cloud did not bear out (the request stays as it was).
DEPLOY_REFUSED = "deploy_refused"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def department_of(county: County, code: str) -> Department:
    """The county department with this code, or NotFoundError."""
    try:
        return county.department(code)
    except KeyError:
        raise NotFoundError(f"no department {code!r} in county {county.code}") from None


# -- the ledger --------------------------------------------------------------------------------


def _set_part(row: PortalLedger, part: str, amounts: Amounts) -> None:
    for name, value in amounts.as_dict().items():
        setattr(row, f"{part}_{name}", value)


def _empty_ledger_values(department: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        f"{part}_{name}": 0 for part in ("extra", "used", "pending") for name in QUOTA_RESOURCES
    }
    return {"department": department, "updated_at": _now(), **values}


def lock_ledger(session: Session, department: str) -> PortalLedger:
    """The department's ledger row, locked for the rest of the transaction (made if missing)."""
    query = (
        select(PortalLedger)
        .where(PortalLedger.department == department)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        # Two first requests of a department may race to create the row: one inserts, the
        # other's insert does nothing, and both then lock the one row.
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(PortalLedger)
            .values(**_empty_ledger_values(department))
            .on_conflict_do_nothing(index_elements=["department"])
        )
        row = session.execute(query).scalar_one()
    return row


def _ledger_of(row: PortalLedger | None, department: Department) -> Ledger:
    base = Amounts.from_quota(department.quota)
    if row is None:
        return Ledger(base, ZERO, ZERO)
    return Ledger(
        base + ledger_part(row, "extra"), ledger_part(row, "used"), ledger_part(row, "pending")
    )


def _store(row: PortalLedger, ledger: Ledger, department: Department) -> None:
    _set_part(row, "extra", ledger.quota - Amounts.from_quota(department.quota))
    _set_part(row, "used", ledger.used)
    _set_part(row, "pending", ledger.pending)
    row.updated_at = _now()


def ledger(session: Session, county: County, code: str) -> Ledger:
    """A department's quota, usage and reservations as last committed (no lock)."""
    department = department_of(county, code)
    row = session.get(PortalLedger, code)
    return _ledger_of(row, department)


def ledgers(session: Session, county: County) -> dict[str, Ledger]:
    """Every department's ledger as last committed (one query, no lock), in county order."""
    rows = {row.department: row for row in session.execute(select(PortalLedger)).scalars()}
    return {d.code: _ledger_of(rows.get(d.code), d) for d in county.departments}


@dataclass(frozen=True)
class Recomputed:
    """A department's totals summed from its requests (the ledger row must agree)."""

    extra: Amounts
    used: Amounts
    pending: Amounts


def recompute(session: Session, department: str) -> Recomputed:
    """Sum the department's requests by state: what the ledger row must hold."""
    columns = [func.coalesce(func.sum(getattr(PortalRequest, n)), 0) for n in QUOTA_RESOURCES]
    rows = session.execute(
        select(PortalRequest.kind, PortalRequest.state, *columns)
        .where(PortalRequest.department == department)
        .group_by(PortalRequest.kind, PortalRequest.state)
    ).all()
    extra = used = pending = ZERO
    for kind, state, *values in rows:
        amounts = Amounts(*(int(v) for v in values))
        if kind == RequestKind.QUOTA_CHANGE:
            if state in GRANTED_STATES:
                extra = extra + amounts
        elif state in GRANTED_STATES:
            used = used + amounts
        elif state in PENDING_STATES:
            pending = pending + amounts
    return Recomputed(extra, used, pending)


# -- requests ----------------------------------------------------------------------------------


def amounts_of(row: PortalRequest) -> Amounts:
    """What a request holds against the quota (a quota change: its delta)."""
    return Amounts.of({name: getattr(row, name) for name in QUOTA_RESOURCES})


def describe(row: PortalRequest) -> dict[str, Any]:
    """A request as the audit log records it."""
    return {
        "id": row.id,
        "department": row.department,
        "kind": row.kind,
        "state": row.state,
        "title": row.title,
        "spec": row.spec,
        "amounts": amounts_of(row).as_dict(),
        "requester_id": row.requester_id,
        "submitted_via": row.submitted_via,
        "dept_approved_by": row.dept_approved_by,
        "reason": row.reason,
        "allocation": row.allocation,
    }


def _audit(
    session: Session,
    actor: Actor,
    row: PortalRequest,
    *,
    action: str,
    before: dict[str, Any] | None,
    break_glass: bool = False,
) -> None:
    # Write everything else first: the audit head is the one lock every writer shares, so the
    # transaction should hold it for as few statements as possible.
    session.flush()
    audit_log.record(
        session,
        actor=actor.audit_name,
        action=f"{AUDIT_PREFIX}.{action}",
        object=f"{AUDIT_PREFIX}/{row.id}",
        before=before,
        # A break-glass step is marked, so that an auditor finds every one of them.
        after={**describe(row), "break_glass": True} if break_glass else describe(row),
    )


def _check_reserve(
    ledger_now: Ledger, kind: RequestKind, amounts: Amounts, department: str
) -> None:
    if kind is RequestKind.QUOTA_CHANGE:
        shortfalls = ledger_now.quota_change_shortfalls(amounts)
    else:
        shortfalls = ledger_now.shortfalls(amounts)
    if shortfalls:
        raise QuotaExceededError(department, shortfalls)


def create(session: Session, county: County, actor: Actor, new: NewRequest) -> PortalRequest:
    """Create a request, and submit it unless it is a draft (the quota is checked then)."""
    try:
        department = county.department(new.department)
    except KeyError:
        raise InvalidError(f"no department {new.department!r} in county {county.code}") from None
    if not lifecycle.can_create(actor, department.code):
        raise ForbiddenError(
            f"{actor.role.value} {actor.name} may not request resources for {department.code}"
        )
    kind = RequestKind(new.kind)
    amounts = new.amounts()
    now = _now()
    row = PortalRequest(
        department=department.code,
        kind=kind.value,
        state=RequestState.DRAFT.value,
        title=new.title or _default_title(new),
        justification=new.justification,
        spec=new.spec(),
        requester_id=actor.user_id,
        submitted_via=actor.via,
        reason=None,
        allocation=None,
        created_at=now,
        updated_at=now,
        **amounts.as_dict(),
    )
    if new.submit:
        ledger_row = lock_ledger(session, department.code)
        standing = _ledger_of(ledger_row, department)
        _check_reserve(standing, kind, amounts, department.code)
        if kind is not RequestKind.QUOTA_CHANGE:
            _store(ledger_row, standing.reserve(amounts), department)
        row.state = RequestState.SUBMITTED.value
    session.add(row)
    session.flush()
    action = Action.SUBMIT.value if new.submit else "create"
    _audit(session, actor, row, action=action, before=None)
    return row


def _default_title(new: NewRequest) -> str:
    if isinstance(new, QuotaChangeRequest):
        changes = ", ".join(f"{k} {v:+d}" for k, v in new.delta().as_dict().items() if v)
        return f"quota change: {changes}"
    spec = ", ".join(f"{k} {v}" for k, v in new.spec().items())
    return f"{new.kind}: {spec}"


def _locked(session: Session, request_id: int) -> PortalRequest:
    row = session.execute(
        select(PortalRequest)
        .where(PortalRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no request {request_id}")
    return row


def _decide(actor: Actor, action: Action, row: PortalRequest) -> lifecycle.Step:
    try:
        return lifecycle.decide(
            actor,
            action,
            department=row.department,
            state=RequestState(row.state),
            kind=RequestKind(row.kind),
            owner_id=row.requester_id,
            duties=duties_of(row),
        )
    except lifecycle.DeniedError as denied:
        raise from_denied(denied) from None


@dataclass(frozen=True)
class CloudReading:
    """A reading of the live cloud taken for one deploy check."""

    cloud: str
    snapshot: Snapshot


def read_for_deploy(
    session: Session, actor: Actor, request_id: int, cloud: LiveCloud | None
) -> CloudReading:
    """A fresh reading of the cloud to check request `request_id` against before it is marked
    deployed (`transition(..., reading=...)`).

    The actor's right to deploy it is checked first, so a refusal costs no cloud read (404,
    403, 409). The session must hold no changes: its transaction is ended before the cloud is
    read, so that no row lock, no connection and on SQLite no write lock is held for the
    seconds a reading takes. Without a cloud: 409; a cloud that does not answer: 503.
    """
    row = session.get(PortalRequest, request_id, populate_existing=True)
    if row is None:
        raise NotFoundError(f"no request {request_id}")
    _decide(actor, Action.DEPLOY, row)
    if cloud is None:
        raise NoCloudError(
            "no cloud to check against: a request is deployed only once the live cloud is "
            "seen to hold it; start the portal with a cloud (GOVCLOUD_PORTAL_CLOUD, OS_CLOUD, "
            "or the local cloud's clouds.yaml: docs/portal.md)"
        )
    session.rollback()
    try:
        return CloudReading(cloud.name, cloud.snapshot.fresh())
    except UnreachableError as error:
        raise CloudUnavailableError(f"{error}: try again when the cloud answers") from None


def _check_deployed(
    session: Session, county: County, actor: Actor, row: PortalRequest, reading: CloudReading
) -> None:
    """Refuse (409, with an audit entry of the attempt) unless the cloud holds the grant."""
    session.flush()
    found = read_grants(county, session).departments.get(row.department)
    if found is None:
        raise NotFoundError(f"no department {row.department!r} in county {county.code}")
    missing = holdings.missing(
        reading.snapshot,
        county.code,
        county.site(SiteRole.PRIMARY).region,
        found,
        request_id=row.id,
        kind=RequestKind(row.kind),
    )
    if not missing:
        return
    audit_log.record(
        session,
        actor=actor.audit_name,
        action=f"{AUDIT_PREFIX}.{DEPLOY_REFUSED}",
        object=f"{AUDIT_PREFIX}/{row.id}",
        before=describe(row),
        after={
            **describe(row),
            "cloud": reading.cloud,
            "observed_at": reading.snapshot.taken_at,
            "missing": [m.message() for m in missing],
        },
    )
    raise NotDeployedError(row.id, reading.cloud, missing)


def transition(
    session: Session,
    county: County,
    actor: Actor,
    request_id: int,
    *,
    action: Action,
    reason: str = "",
    reading: CloudReading | None = None,
) -> PortalRequest:
    """Take one lifecycle step, with its effect on the ledger and its audit entry.

    `deploy` needs `reading` (from `read_for_deploy`): the request becomes deployed only when
    that reading of the cloud holds everything it granted (`cloud.holdings`); otherwise
    NotDeployedError names what is missing, and only the refused attempt's audit entry is
    written (the caller commits it: the error is `audited`).
    """
    row = _locked(session, request_id)
    step = _decide(actor, action, row)
    reason = reason.strip()
    if action in NEEDS_REASON and not reason:
        raise InvalidError(f"{action.value} needs a reason")
    if action is Action.DEPLOY:
        if reading is None:
            raise NoCloudError("no cloud to check against: read it first (read_for_deploy)")
        _check_deployed(session, county, actor, row, reading)
    before = describe(row)
    kind = RequestKind(row.kind)
    amounts = amounts_of(row)
    if step.effect is not Effect.NONE:
        department = department_of(county, row.department)
        ledger_row = lock_ledger(session, row.department)
        _store(ledger_row, _apply(step.effect, kind, amounts, ledger_row, department), department)
    row.state = step.target.value
    if step.target is RequestState.SUBMITTED:
        row.submitted_via = actor.via
    if step.target is RequestState.DEPT_APPROVED:
        row.dept_approved_by = sorted(actor.people)
    if reason:
        row.reason = reason
    row.updated_at = _now()
    if step.target is RequestState.OPS_APPROVED and kind is RequestKind.NETWORK:
        row.allocation = _allocate_network(session, county, actor, row)
    broke_glass = actor.role not in step.roles
    _audit(session, actor, row, action=action.value, before=before, break_glass=broke_glass)
    return row


def _apply(
    effect: Effect, kind: RequestKind, amounts: Amounts, row: PortalLedger, department: Department
) -> Ledger:
    standing = _ledger_of(row, department)
    if effect is Effect.RESERVE or (effect is Effect.COMMIT and kind is RequestKind.QUOTA_CHANGE):
        # Quota changes are checked again at ops approval: usage may have grown meanwhile.
        _check_reserve(standing, kind, amounts, department.code)
    if kind is RequestKind.QUOTA_CHANGE:
        # A quota change reserves nothing; it changes the quota once ops approve it.
        return standing.change_quota(amounts) if effect is Effect.COMMIT else standing
    moves = {
        Effect.RESERVE: standing.reserve,
        Effect.RELEASE: standing.release,
        Effect.COMMIT: standing.commit,
        Effect.FREE: standing.free,
    }
    return moves[effect](amounts) if effect in moves else standing


def _allocate_network(
    session: Session, county: County, actor: Actor, row: PortalRequest
) -> dict[str, Any]:
    """Run the network planner with this request granted; return its prefixes."""
    session.flush()  # the planner reads granted requests: this one is granted now
    name = requested_network_name(row.id, row.spec["name"])
    try:
        plan = network_plan.plan_and_apply(session, county, actor=actor.audit_name)
    except PlanError as error:
        raise ConflictError(
            "the network planner has no room for this network: " + "; ".join(error.problems)
        ) from None
    found = {
        a.family: a.prefix
        for a in plan.allocations
        if a.department == row.department
        and a.network == name
        and a.kind in {AllocationKind.SUBNET, AllocationKind.EXTRANET}
    }
    return {
        "network": name,
        "ipv6": found.get(6),
        "ipv6_gateway": gateway(found[6]) if 6 in found else None,
        "ipv4": found.get(4),
        "ipv4_gateway": gateway(found[4]) if 4 in found else None,
    }


# -- reading -----------------------------------------------------------------------------------


def get(session: Session, actor: Actor, request_id: int) -> PortalRequest:
    """A request the actor may see (404 when there is none, 403 when it is not theirs)."""
    row = session.get(PortalRequest, request_id)
    if row is None:
        raise NotFoundError(f"no request {request_id}")
    if not lifecycle.can_see(actor, row.department):
        raise ForbiddenError(
            f"{actor.role.value} {actor.name} may not see requests of {row.department}"
        )
    return row


def check_department(county: County, actor: Actor, code: str) -> Department:
    """The department, if it exists (404) and the actor may see it (403)."""
    department = department_of(county, code)
    if not lifecycle.can_see(actor, code):
        raise ForbiddenError(f"{actor.role.value} {actor.name} may not see {code}")
    return department


@dataclass(frozen=True)
class Filters:
    """What a request listing is narrowed to."""

    department: str | None = None
    state: RequestState | None = None
    kind: RequestKind | None = None
    requester: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def listing(
    session: Session,
    actor: Actor,
    filters: Filters,
    *,
    limit: int = 100,
    offset: int = 0,
    states: frozenset[RequestState] | None = None,
) -> list[tuple[PortalRequest, str]]:
    """Requests the actor may see, newest first, with their requester's name."""
    query = select(PortalRequest, PortalUser.name).join(
        PortalUser, PortalUser.id == PortalRequest.requester_id
    )
    department = filters.department
    if actor.role not in lifecycle.COUNTY_ROLES | lifecycle.DEPARTMENT_ROLES:
        raise ForbiddenError(f"{actor.role.value} {actor.name} sees no requests")
    if actor.role in lifecycle.DEPARTMENT_ROLES:
        if department is not None and department != actor.department:
            raise ForbiddenError(f"{actor.role.value} {actor.name} may not see {department}")
        department = actor.department
    if department is not None:
        query = query.where(PortalRequest.department == department)
    if filters.state is not None:
        query = query.where(PortalRequest.state == filters.state.value)
    if states is not None:
        query = query.where(PortalRequest.state.in_([s.value for s in states]))
    if filters.kind is not None:
        query = query.where(PortalRequest.kind == filters.kind.value)
    if filters.requester:
        query = query.where(PortalUser.name == filters.requester)
    if filters.since is not None:
        query = query.where(PortalRequest.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(PortalRequest.created_at < filters.until)
    query = query.order_by(PortalRequest.id.desc()).limit(limit).offset(offset)
    return [(r, name) for r, name in session.execute(query).all()]


def requester_name(session: Session, row: PortalRequest) -> str:
    """The name of the account that created the request."""
    return session.execute(
        select(PortalUser.name).where(PortalUser.id == row.requester_id)
    ).scalar_one()


@dataclass(frozen=True)
class Event:
    """One transition of a request, as its audit-log entry records it."""

    at: dt.datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    reason: str | None
    audit_seq: int


def history(session: Session, row: PortalRequest) -> list[Event]:
    """The request's transitions, oldest first, read from the audit log (the one record)."""
    entries = session.execute(
        select(AuditEntry)
        .where(AuditEntry.object == f"{AUDIT_PREFIX}/{row.id}")
        .order_by(AuditEntry.seq)
    ).scalars()
    events = []
    for entry in entries:
        before = entry.before or {}
        after = entry.after or {}
        reason = after.get("reason")
        if "missing" in after:  # a refused deploy: why it was refused
            reason = "missing in the cloud: " + "; ".join(after["missing"])
        events.append(
            Event(
                at=entry.at,
                actor=entry.actor.removeprefix("portal:"),
                action=entry.action.removeprefix(f"{AUDIT_PREFIX}."),
                from_state=before.get("state"),
                to_state=after.get("state", ""),
                # The request keeps its last reason: a transition gave one if it changed.
                reason=reason if reason != before.get("reason") else None,
                audit_seq=entry.seq,
            )
        )
    return events


def counts_by_state(session: Session, department: str | None) -> dict[str, int]:
    """How many requests are in each state (one department, or all)."""
    query = select(PortalRequest.state, func.count()).group_by(PortalRequest.state)
    if department is not None:
        query = query.where(PortalRequest.department == department)
    found = {str(state): int(count) for state, count in session.execute(query).all()}
    return {state.value: found.get(state.value, 0) for state in RequestState}


def queue(session: Session, actor: Actor) -> list[tuple[PortalRequest, str]]:
    """The requests waiting for this actor's approval, oldest first."""
    waiting: set[RequestState] = set()
    for step in lifecycle.STEPS:
        if step.action is Action.APPROVE and actor.role in step.roles:
            waiting.add(step.source)
    if not waiting:
        return []
    rows = listing(session, actor, Filters(), limit=500, states=frozenset(waiting))
    return sorted(
        ((row, name) for row, name in rows if Action.APPROVE in actions_for(actor, row)),
        key=lambda pair: pair[0].id,
    )


@dataclass(frozen=True)
class Awaiting:
    """A request waiting for an approval: whose, and since when (its last transition)."""

    row: PortalRequest
    requester: str
    approver: lifecycle.Role
    since: dt.datetime


def awaiting_approval(session: Session, *, limit: int = 500) -> list[Awaiting]:
    """Every request of the county that waits for an approval, longest waiting first."""
    approvers = {
        step.source: next(iter(sorted(step.roles)))
        for step in lifecycle.STEPS
        if step.action is Action.APPROVE
    }
    rows = session.execute(
        select(PortalRequest, PortalUser.name)
        .join(PortalUser, PortalUser.id == PortalRequest.requester_id)
        .where(PortalRequest.state.in_([state.value for state in approvers]))
        .order_by(PortalRequest.updated_at, PortalRequest.id)
        .limit(limit)
    ).all()
    return [
        Awaiting(row, name, approvers[RequestState(row.state)], _aware(row.updated_at))
        for row, name in rows
    ]


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; the registry writes UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def actions_for(actor: Actor, row: PortalRequest) -> list[Action]:
    """What the actor may do to the request now."""
    return lifecycle.available_actions(
        actor,
        department=row.department,
        state=RequestState(row.state),
        kind=RequestKind(row.kind),
        owner_id=row.requester_id,
        duties=duties_of(row),
    )


def duties_of(row: PortalRequest) -> lifecycle.Duties:
    """Who besides the requester has had a hand in the request (for four eyes)."""
    return lifecycle.Duties(
        submitted_via=row.submitted_via, dept_approvers=frozenset(row.dept_approved_by or ())
    )
