"""Roles, the request lifecycle and who may do what: pure rules, no database.

    draft → submitted → dept_approved → ops_approved → deployed → in_use
          → decommission_requested → decommissioned
    submitted | dept_approved → rejected (with a reason)
    draft | submitted | dept_approved → withdrawn (with a reason)

`approve` moves a request one approval step: the department head (科室负责人) approves a
submitted request, cloud ops approves it next, and cloud ops also approves a decommission.
Nobody approves a request they created themselves (four eyes), admins included.

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
    AUDITOR = "auditor"  # read-only, everything
    ADMIN = "admin"


# Roles that belong to one department and act only within it.
DEPARTMENT_ROLES = frozenset({Role.REQUESTER, Role.DEPT_APPROVER})
# Roles that see every department.
COUNTY_ROLES = frozenset({Role.OPS_APPROVER, Role.AUDITOR, Role.ADMIN})


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


_DEPT = frozenset({Role.REQUESTER, Role.DEPT_APPROVER, Role.ADMIN})
_HEAD = frozenset({Role.DEPT_APPROVER, Role.ADMIN})
_OPS = frozenset({Role.OPS_APPROVER, Role.ADMIN})

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

    @property
    def audit_name(self) -> str:
        """How the audit log names this actor."""
        return f"portal:{self.name}"


class DenyReason(StrEnum):
    """Why an action is refused: maps to HTTP 403 (FORBIDDEN) or 409 (the others)."""

    FORBIDDEN = "forbidden"  # this role or department may not do it
    OWN_REQUEST = "own_request"  # four eyes: nobody approves their own request
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
    if actor.role is Role.ADMIN:
        return True
    return actor.role in DEPARTMENT_ROLES and actor.department == department


def can_read_audit(actor: Actor) -> bool:
    """The auditor view (all requests, the audit log, CSV export)."""
    return actor.role in {Role.AUDITOR, Role.ADMIN}


def can_manage_users(actor: Actor) -> bool:
    """Creating accounts and issuing tokens for others."""
    return actor.role is Role.ADMIN


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
    if actor.role not in step.roles:
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
    if action is Action.APPROVE and owner_id == actor.user_id:
        raise DeniedError(
            DenyReason.OWN_REQUEST, "nobody approves their own request: ask another approver"
        )
    if action is Action.DECOMMISSION and kind is RequestKind.QUOTA_CHANGE:
        raise DeniedError(
            DenyReason.NOT_FOR_KIND,
            "a quota change is not decommissioned: request another quota change to undo it",
        )
    return step


def available_actions(
    actor: Actor, *, department: str, state: RequestState, kind: RequestKind, owner_id: int
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
            )
        except DeniedError:
            continue
        result.append(step.action)
    return result
