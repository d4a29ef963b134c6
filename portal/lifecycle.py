"""Roles, the request lifecycle and who may do what: pure rules, no database.

    draft → submitted → dept_approved → ops_approved → deployed → in_use
          → decommission_requested → decommissioned
    submitted | dept_approved → rejected (with a reason)
    draft | submitted | dept_approved → withdrawn (with a reason)

`approve` moves a request one approval step: the department head (科室负责人) approves a
submitted request, cloud ops approves it next, and cloud ops also approves a decommission.

Separation of duties (GB/T 22239-2019 §8.1.4.2), enforced here rather than only logged: nobody
approves a request they submitted, or that was submitted with an API token they issued, or
with a token issued by whoever issued theirs; the two approval levels are two different people;
administrators manage accounts and do not request or approve. A county may name one
break-glass role (GOVCLOUD_PORTAL_BREAK_GLASS_ROLE) that may also approve and reject, within
the same four-eyes rules, every use of it marked in the audit log.

The three administrators of MLPS level 3 are three roles, none able to do another's work:
`admin` (系统管理员, system administrator: accounts, tokens, sessions), `security_admin`
(安全管理员, security administrator: second factors, sign-in waits, ending sessions) and
`auditor` (审计管理员, audit administrator: the audit log and its exports).

Each transition names its effect on the department's quota ledger (`Effect`): submitting
reserves, ops approval turns the reservation into usage, rejecting or withdrawing releases it,
and a completed decommission gives the usage back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from govcloud.registry.requests import RequestKind, RequestState


class Role(StrEnum):
    """What an account is for."""

    REQUESTER = "requester"  # department staff
    DEPT_APPROVER = "dept_approver"  # the department's head (科室负责人)
    OPS_APPROVER = "ops_approver"  # cloud ops (云平台运维)
    AUDITOR = "auditor"  # the audit administrator (审计管理员): reads everything
    ADMIN = "admin"  # the system administrator (系统管理员): accounts
    SECURITY_ADMIN = "security_admin"  # the security administrator (安全管理员)


# Roles that belong to one department and act only within it.
DEPARTMENT_ROLES = frozenset({Role.REQUESTER, Role.DEPT_APPROVER})
# Roles that see every department.
COUNTY_ROLES = frozenset({Role.OPS_APPROVER, Role.AUDITOR, Role.ADMIN})
# The administrators MLPS level 3 asks for; each needs a second factor to sign in.
ADMIN_ROLES = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR})
# Roles that must sign in with a second factor (GB/T 22239-2019 §8.1.4.1 d).
PRIVILEGED_ROLES = ADMIN_ROLES | {Role.OPS_APPROVER}


class Action(StrEnum):
    """What a user does to a request (each is a POST /api/v1/requests/{id}/<action>)."""

    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    DEPLOY = "deploy"  # ops: the resources are seen live in the cloud
    ACCEPT = "accept"  # the department confirms it is in use (验收)
    DECOMMISSION = "decommission"  # the department asks to decommission (停用)


class Effect(StrEnum):
    """What a transition does to the department's quota ledger."""

    NONE = "none"
    RESERVE = "reserve"  # pending += request (checked against the quota)
    RELEASE = "release"  # pending -= request
    COMMIT = "commit"  # pending -= request, used += request (quota changes: quota += delta)
    FREE = "free"  # used -= request


# Actions that must give a reason.
NEEDS_REASON = frozenset({Action.REJECT, Action.WITHDRAW})


@dataclass(frozen=True, slots=True)
class Step:
    """One edge of the lifecycle: from a state, by an action, to a state, by some roles."""

    source: RequestState
    action: Action
    target: RequestState
    roles: frozenset[Role]
    effect: Effect


_DEPT = frozenset({Role.REQUESTER, Role.DEPT_APPROVER})
_HEAD = frozenset({Role.DEPT_APPROVER})
_OPS = frozenset({Role.OPS_APPROVER})
# The actions a break-glass role may take besides its own (never submit or deploy).
BREAK_GLASS_ACTIONS = frozenset({Action.APPROVE, Action.REJECT})

STEPS: tuple[Step, ...] = (
    Step(RequestState.DRAFT, Action.SUBMIT, RequestState.SUBMITTED, _DEPT, Effect.RESERVE),
    Step(RequestState.DRAFT, Action.WITHDRAW, RequestState.WITHDRAWN, _DEPT, Effect.NONE),
    Step(RequestState.SUBMITTED, Action.APPROVE, RequestState.DEPT_APPROVED, _HEAD, Effect.NONE),
    Step(RequestState.SUBMITTED, Action.REJECT, RequestState.REJECTED, _HEAD, Effect.RELEASE),
    Step(RequestState.SUBMITTED, Action.WITHDRAW, RequestState.WITHDRAWN, _DEPT, Effect.RELEASE),
    Step(
        RequestState.DEPT_APPROVED, Action.APPROVE, RequestState.OPS_APPROVED, _OPS, Effect.COMMIT
    ),
    Step(RequestState.DEPT_APPROVED, Action.REJECT, RequestState.REJECTED, _OPS, Effect.RELEASE),
    Step(
        RequestState.DEPT_APPROVED, Action.WITHDRAW, RequestState.WITHDRAWN, _DEPT, Effect.RELEASE
    ),
    Step(RequestState.OPS_APPROVED, Action.DEPLOY, RequestState.DEPLOYED, _OPS, Effect.NONE),
    Step(RequestState.DEPLOYED, Action.ACCEPT, RequestState.IN_USE, _DEPT, Effect.NONE),
    Step(
        RequestState.DEPLOYED,
        Action.DECOMMISSION,
        RequestState.DECOMMISSION_REQUESTED,
        _DEPT,
        Effect.NONE,
    ),
    Step(
        RequestState.IN_USE,
        Action.DECOMMISSION,
        RequestState.DECOMMISSION_REQUESTED,
        _DEPT,
        Effect.NONE,
    ),
    Step(
        RequestState.DECOMMISSION_REQUESTED,
        Action.APPROVE,
        RequestState.DECOMMISSIONED,
        _OPS,
        Effect.FREE,
    ),
)
_BY_EDGE = {(step.source, step.action): step for step in STEPS}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an account's id, role and (for department roles) department."""

    user_id: int
    name: str
    role: Role
    department: str | None
    # Who issued the API token this actor uses, when someone else did (audit name).
    via: str | None = None
    # True when the county's break-glass role is this actor's (GOVCLOUD_PORTAL_BREAK_GLASS_ROLE).
    break_glass: bool = False

    @property
    def audit_name(self) -> str:
        """How the audit log names this actor."""
        return f"portal:{self.name}"

    @property
    def people(self) -> frozenset[str]:
        """Everyone behind this actor's action: the account, and whoever issued its token."""
        return frozenset({self.audit_name} | ({self.via} if self.via else set()))


@dataclass(frozen=True, slots=True)
class Duties:
    """Who else has had a hand in a request: the people four eyes keep from approving it."""

    submitted_via: str | None = None  # who issued the token it was submitted with
    dept_approvers: frozenset[str] = frozenset()  # who gave the department's approval


class DenyReason(StrEnum):
    """Why an action is refused: maps to HTTP 403 (FORBIDDEN) or 409 (the others)."""

    FORBIDDEN = "forbidden"  # this role or department may not do it
    OWN_REQUEST = "own_request"  # four eyes: nobody approves their own request
    SAME_APPROVER = "same_approver"  # the two approval levels are two people
    WRONG_STATE = "wrong_state"  # not possible from the request's state
    NOT_FOR_KIND = "not_for_kind"  # e.g. decommissioning a quota change


class DeniedError(Exception):
    """An action that the rules refuse, with the reason and a message naming the fix."""

    def __init__(self, reason: DenyReason, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def can_see(actor: Actor, department: str) -> bool:
    """True when the actor may read this department's requests, quota and history."""
    if actor.role in COUNTY_ROLES:
        return True
    return actor.department == department


def can_create(actor: Actor, department: str) -> bool:
    """True when the actor may create (and submit) requests for this department."""
    return actor.role in DEPARTMENT_ROLES and actor.department == department


def can_read_audit(actor: Actor) -> bool:
    """The audit administrator's view (all requests, the audit log, CSV export)."""
    return actor.role is Role.AUDITOR


def can_manage_users(actor: Actor) -> bool:
    """Creating, deactivating and reactivating accounts; issuing and revoking their tokens."""
    return actor.role is Role.ADMIN


def can_see_accounts(actor: Actor) -> bool:
    """Listing accounts and their sessions."""
    return actor.role in {Role.ADMIN, Role.SECURITY_ADMIN}


def can_manage_security(actor: Actor) -> bool:
    """Resetting second factors, lifting sign-in waits, ending anyone's sessions."""
    return actor.role is Role.SECURITY_ADMIN


def step_for(state: RequestState, action: Action) -> Step | None:
    """The lifecycle edge for this action from this state (None if there is none)."""
    return _BY_EDGE.get((state, action))


def decide(
    actor: Actor,
    action: Action,
    *,
    department: str,
    state: RequestState,
    kind: RequestKind,
    owner_id: int,
    duties: Duties | None = None,
) -> Step:
    """The step the actor takes, or raise DeniedError saying why not.

    Checked in this order: may the actor act in this department at all (403), is the action
    possible from this state (409), may this role take this step (403), is the request the
    actor's own (403 for approvals), does the action apply to this kind (409).
    """
    if not can_see(actor, department) or actor.role is Role.AUDITOR:
        raise DeniedError(
            DenyReason.FORBIDDEN,
            f"{actor.role.value} {actor.name} may not act on requests of {department}",
        )
    step = step_for(state, action)
    if step is None:
        possible = sorted(s.action.value for s in STEPS if s.source is state)
        hint = f"possible now: {', '.join(possible)}" if possible else "it is final"
        raise DeniedError(
            DenyReason.WRONG_STATE,
            f"cannot {action.value} a request that is {state.value} ({hint})",
        )
    if actor.role not in step.roles and not (actor.break_glass and action in BREAK_GLASS_ACTIONS):
        allowed = ", ".join(sorted(r.value for r in step.roles))
        raise DeniedError(
            DenyReason.FORBIDDEN,
            f"{action.value} of a {state.value} request needs the role {allowed}",
        )
    if actor.role in DEPARTMENT_ROLES and actor.department != department:
        raise DeniedError(
            DenyReason.FORBIDDEN,
            f"{actor.role.value} {actor.name} may not act on requests of {department}",
        )
    if action is Action.APPROVE:
        _four_eyes(actor, state, owner_id, duties)
    if action is Action.DECOMMISSION and kind is RequestKind.QUOTA_CHANGE:
        raise DeniedError(
            DenyReason.NOT_FOR_KIND,
            "a quota change is not decommissioned: request another quota change to undo it",
        )
    return step


def _four_eyes(actor: Actor, state: RequestState, owner_id: int, duties: Duties | None) -> None:
    """Refuse an approval by anyone who already had a hand in the request."""
    if owner_id == actor.user_id:
        raise DeniedError(
            DenyReason.OWN_REQUEST, "nobody approves their own request: ask another approver"
        )
    if duties is None:
        return
    if duties.submitted_via in actor.people:
        raise DeniedError(
            DenyReason.OWN_REQUEST,
            "nobody approves a request submitted with an API token they issued, or with one "
            "issued by whoever issued theirs: ask another approver",
        )
    if state is RequestState.DEPT_APPROVED and actor.people & duties.dept_approvers:
        raise DeniedError(
            DenyReason.SAME_APPROVER,
            "the two approval levels are two different people: ask another approver",
        )


def available_actions(
    actor: Actor,
    *,
    department: str,
    state: RequestState,
    kind: RequestKind,
    owner_id: int,
    duties: Duties | None = None,
) -> list[Action]:
    """The actions this actor may take on this request now (for buttons on the pages)."""
    result = []
    for step in STEPS:
        if step.source is not state:
            continue
        try:
            decide(
                actor,
                step.action,
                department=department,
                state=state,
                kind=kind,
                owner_id=owner_id,
                duties=duties,
            )
        except DeniedError:
            continue
        result.append(step.action)
    return result
