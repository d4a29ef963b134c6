"""/api/v1/requests: create, read, list, and one POST per lifecycle action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status
from sqlalchemy.orm import Session

from govcloud.quota import QUOTA_RESOURCES
from govcloud.registry.requests import RequestKind, RequestState
from govcloud.registry.tables import PortalRequest
from portal import service
from portal.api import problems
from portal.context import PortalContext
from portal.deps import ApiActor, CountyDep, Ctx, Db
from portal.errors import PortalError
from portal.lifecycle import NEEDS_REASON, Action, Actor
from portal.schemas import EventOut, NewRequest, Reason, RequestOut, ResourceAmounts

router = APIRouter(prefix="/requests", tags=["requests"])
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the request's id")]


def request_out(row: PortalRequest, requester: str, actor: Actor) -> RequestOut:
    """A request as the API shows it to this actor."""
    return RequestOut(
        id=row.id,
        department=row.department,
        kind=RequestKind(row.kind),
        state=RequestState(row.state),
        title=row.title,
        justification=row.justification,
        spec=row.spec,
        amounts=ResourceAmounts(**{name: getattr(row, name) for name in QUOTA_RESOURCES}),
        requester=requester,
        reason=row.reason,
        allocation=row.allocation,
        created_at=row.created_at,
        updated_at=row.updated_at,
        actions=service.actions_for(actor, row),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 409),
    summary="Create a request (submitted at once unless submit is false)",
)
def create_request(
    body: Annotated[NewRequest, Body()], actor: ApiActor, db: Db, county: CountyDep
) -> RequestOut:
    """201 with the request's `id` and `state`, or 409 when it would exceed the quota."""
    row = service.create(db, county, actor, body)
    db.commit()
    return request_out(row, actor.name, actor)


@router.get("", responses=problems(401, 403), summary="List the requests the caller may see")
def list_requests(
    *,
    actor: ApiActor,
    db: Db,
    department: Annotated[str | None, Query(max_length=32)] = None,
    state: RequestState | None = None,
    kind: RequestKind | None = None,
    requester: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[RequestOut]:
    """Newest first; department roles see only their own department."""
    rows = service.listing(
        db,
        actor,
        service.Filters(department=department, state=state, kind=kind, requester=requester),
        limit=limit,
        offset=offset,
    )
    return [request_out(row, name, actor) for row, name in rows]


@router.get("/{request_id}", responses=problems(401, 403, 404), summary="One request")
def get_request(request_id: RequestId, actor: ApiActor, db: Db) -> RequestOut:
    """The request, if the caller may see it."""
    row = service.get(db, actor, request_id)
    return request_out(row, service.requester_name(db, row), actor)


@router.get(
    "/{request_id}/history", responses=problems(401, 403, 404), summary="A request's history"
)
def get_history(request_id: RequestId, actor: ApiActor, db: Db) -> list[EventOut]:
    """Every transition, oldest first, each with its audit-log entry's number."""
    row = service.get(db, actor, request_id)
    return [EventOut.model_validate(event) for event in service.history(db, row)]


def act(
    db: Session,
    context: PortalContext,
    actor: Actor,
    request_id: int,
    *,
    action: Action,
    reason: str = "",
) -> PortalRequest:
    """Take one lifecycle step and commit it; `deploy` first reads the live cloud afresh.

    A refusal rolls everything back, except a refusal the service audited (a deploy the cloud
    does not bear out): its audit entry is committed, and the error raised all the same.
    """
    reading = None
    if action is Action.DEPLOY:
        reading = service.read_for_deploy(db, actor, request_id, context.cloud)
    try:
        row = service.transition(
            db, context.county, actor, request_id, action=action, reason=reason, reading=reading
        )
    except PortalError as error:
        if error.audited:
            db.commit()
        raise
    db.commit()
    return row


_SUMMARIES = {
    Action.SUBMIT: "Submit a draft (checked against the quota: 409 when it does not fit)",
    Action.APPROVE: "Approve one step: department head, then cloud ops; ops also approve "
    "a decommission",
    Action.REJECT: "Reject a submitted or department-approved request (a reason is needed)",
    Action.WITHDRAW: "Withdraw a request before ops approval (a reason is needed)",
    Action.DEPLOY: "Cloud ops: mark deployed, once a fresh reading of the live cloud holds "
    "everything the request granted (409 naming what is missing; 409 without a cloud)",
    Action.ACCEPT: "The department confirms the resources are in use",
    Action.DECOMMISSION: "The department asks to decommission the resources",
}


def _action_route(action: Action) -> Callable[..., RequestOut]:
    def handler(
        request_id: RequestId,
        actor: ApiActor,
        db: Db,
        context: Ctx,
        body: Annotated[Reason | None, Body()] = None,
    ) -> RequestOut:
        row = act(db, context, actor, request_id, action=action, reason=body.reason if body else "")
        return request_out(row, service.requester_name(db, row), actor)

    handler.__name__ = f"{action.value}_request"
    handler.__doc__ = (
        f"{_SUMMARIES[action]}. 403 when the caller's role or department may not, "
        "409 when the request's state does not allow it"
        + (", 422 without a reason." if action in NEEDS_REASON else ".")
    )
    return handler


for _action in Action:
    router.add_api_route(
        f"/{{request_id}}/{_action.value}",
        _action_route(_action),
        methods=["POST"],
        responses=problems(400, 401, 403, 404, 409, *([503] if _action is Action.DEPLOY else [])),
        summary=_SUMMARIES[_action],
        name=f"{_action.value}_request",
    )
