"""Errors of the portal's services; the app turns each into its HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from portal.lifecycle import DeniedError, DenyReason
from portal.quota import Shortfall

if TYPE_CHECKING:
    from cloud.holdings import Missing


class PortalError(Exception):
    """A refused operation: `status` is the HTTP status, the message says what to do."""

    status = 400
    # True when the service wrote an audit entry of the refusal that the caller must commit.
    audited = False

    def detail(self) -> Any:
        """The JSON `detail` of the error response."""
        return str(self)


class InvalidError(PortalError):
    """The input is wrong in a way the schema cannot say (422)."""

    status = 422

    def detail(self) -> Any:
        # The shape of FastAPI's own validation errors, so clients read both the same way.
        return [{"loc": ["body"], "msg": str(self), "type": "value_error"}]


class UnauthenticatedError(PortalError):
    """No valid credentials (401)."""

    status = 401


class ForbiddenError(PortalError):
    """The caller's role or department does not allow it (403)."""

    status = 403


class PasswordExpiredError(PortalError):
    """The password is right but older than the county allows (403)."""

    status = 403


class NotFoundError(PortalError):
    """No such request, department or account (404)."""

    status = 404


class ConflictError(PortalError):
    """Not possible in the current state (409)."""

    status = 409


class QuotaExceededError(ConflictError):
    """The request would take the department past its quota (409)."""

    def __init__(self, department: str, shortfalls: list[Shortfall]) -> None:
        self.department = department
        self.shortfalls = shortfalls
        super().__init__(
            f"the request exceeds the quota of {department}: "
            + "; ".join(s.message() for s in shortfalls)
        )

    def detail(self) -> Any:
        return {
            "message": str(self),
            "department": self.department,
            "shortfalls": [
                {"resource": s.resource, "requested": s.requested, "available": s.available}
                for s in self.shortfalls
            ],
        }


class NotDeployedError(ConflictError):
    """The live cloud does not hold what the request granted: it is not deployed (409).

    The refused attempt is in the audit log: the caller commits it (`audited`)."""

    audited = True

    def __init__(self, request_id: int, cloud: str, missing: Sequence[Missing]) -> None:
        self.request_id = request_id
        self.cloud = cloud
        self.missing = list(missing)
        super().__init__(
            f"request {request_id} is not deployed: cloud {cloud} does not hold "
            + "; ".join(m.message() for m in self.missing)
            + ". Deploy the stacks (`govcloud apply`, or `govcloud localcloud deploy` on the "
            "local cloud), then mark it deployed"
        )

    def detail(self) -> Any:
        return {
            "message": str(self),
            "request": self.request_id,
            "cloud": self.cloud,
            "missing": [
                {"kind": m.kind, "name": m.name, "expected": m.expected, "found": m.found}
                for m in self.missing
            ],
        }


class NoCloudError(ConflictError):
    """The portal reads no cloud, so nothing can be seen deployed (409)."""


class CloudUnavailableError(PortalError):
    """The live cloud did not answer (503)."""

    status = 503


class UnreachableDirectoryError(PortalError):
    """The county's directory (LDAP) did not answer, or not over TLS (503)."""

    status = 503


class RateLimitedError(PortalError):
    """Too many failed sign-ins (429); `retry_after` seconds until the next try counts."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


def from_denied(denied: DeniedError) -> PortalError:
    """The portal error for a lifecycle refusal."""
    if denied.reason in {DenyReason.FORBIDDEN, DenyReason.OWN_REQUEST, DenyReason.SAME_APPROVER}:
        return ForbiddenError(str(denied))
    return ConflictError(str(denied))
