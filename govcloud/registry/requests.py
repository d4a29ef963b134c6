"""The portal's request vocabulary, as the registry stores it: what a request asks for and
where it is in its lifecycle.

The portal's rules (portal/lifecycle.py) move requests between these states; the desired state
(desired/) reads the granted ones. Both import them from here, below both.
"""

from __future__ import annotations

from enum import StrEnum


class RequestKind(StrEnum):
    """What a request asks for."""

    COMPUTE = "compute"
    STORAGE = "storage"
    FLOATING_IP = "floating_ip"
    NETWORK = "network"
    QUOTA_CHANGE = "quota_change"


class RequestState(StrEnum):
    """Where a request is in its lifecycle."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    DEPT_APPROVED = "dept_approved"
    OPS_APPROVED = "ops_approved"
    DEPLOYED = "deployed"
    IN_USE = "in_use"
    DECOMMISSION_REQUESTED = "decommission_requested"
    DECOMMISSIONED = "decommissioned"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


# Reserved amounts (pending) and granted amounts (used) by state.
PENDING_STATES = frozenset({RequestState.SUBMITTED, RequestState.DEPT_APPROVED})
GRANTED_STATES = frozenset(
    {
        RequestState.OPS_APPROVED,
        RequestState.DEPLOYED,
        RequestState.IN_USE,
        RequestState.DECOMMISSION_REQUESTED,
    }
)
FINAL_STATES = frozenset(
    {RequestState.DECOMMISSIONED, RequestState.REJECTED, RequestState.WITHDRAWN}
)
