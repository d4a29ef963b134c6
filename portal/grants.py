"""Approved grants: what the portal adds to the desired state the stacks provision.

The portal never calls the cloud to create anything. Once cloud ops approves a request, it is a
grant; the Pulumi stacks read the grants here (through `govcloud.grants.read_grants`) and make
the cloud match:

    from portal.grants import approved_grants, desired_quota
    with session_factory(engine)() as session:
        grants = approved_grants(session)             # {department code: DepartmentGrants}
    quota = desired_quota(county, grants, "jyj")      # the project quota to set

A grant counts from ops approval until its decommission completes (states ops_approved,
deployed, in_use, decommission_requested). Quota changes count from ops approval on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.model import County
from govcloud.registry.tables import PortalRequest
from portal.lifecycle import GRANTED_STATES, Kind
from portal.quota import RESOURCES, ZERO, Amounts


@dataclass(frozen=True)
class NetworkGrant:
    """A granted network: the plan's name for it and the prefixes the planner gave it."""

    request_id: int
    name: str
    network: str
    ipv6: str | None
    ipv4: str | None


@dataclass(frozen=True)
class ServerBatch:
    """The servers one approved compute request grants: `count` servers of one flavor."""

    request_id: int
    flavor: str
    count: int


@dataclass(frozen=True)
class VolumeBatch:
    """The volumes one approved storage request grants, sizes in GB."""

    request_id: int
    sizes: tuple[int, ...]


@dataclass
class DepartmentGrants:
    """Everything one department has been granted, summed over its approved requests."""

    department: str
    quota_extra: Amounts = ZERO  # approved quota changes, added to the county model's quota
    granted: Amounts = ZERO  # resources held by approved requests (servers, volumes, ...)
    compute: list[ServerBatch] = field(default_factory=list)  # per request, by request id
    storage: list[VolumeBatch] = field(default_factory=list)  # per request, by request id
    floating_ips: int = 0
    networks: list[NetworkGrant] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)

    @property
    def servers(self) -> Counter[str]:
        """Granted servers, flavor -> count."""
        counts: Counter[str] = Counter()
        for batch in self.compute:
            counts[batch.flavor] += batch.count
        return counts

    @property
    def volumes(self) -> list[int]:
        """Granted volume sizes in GB, request by request."""
        return [size for batch in self.storage for size in batch.sizes]


def _volume_sizes(total_gb: int, volumes: int) -> list[int]:
    """`volumes` sizes summing to `total_gb`, as equal as whole GB allow."""
    base, extra = divmod(total_gb, volumes)
    return [base + 1 if i < extra else base for i in range(volumes)]


def approved_grants(session: Session) -> dict[str, DepartmentGrants]:
    """Per department, the totals of every approved (not yet decommissioned) request."""
    rows = session.execute(
        select(PortalRequest)
        .where(PortalRequest.state.in_([s.value for s in GRANTED_STATES]))
        .order_by(PortalRequest.id)
    ).scalars()
    result: dict[str, DepartmentGrants] = {}
    for row in rows:
        grants = result.setdefault(row.department, DepartmentGrants(row.department))
        amounts = Amounts.of({name: getattr(row, name) for name in RESOURCES})
        grants.request_ids.append(row.id)
        kind = Kind(row.kind)
        if kind is Kind.QUOTA_CHANGE:
            grants.quota_extra = grants.quota_extra + amounts
            continue
        grants.granted = grants.granted + amounts
        if kind is Kind.COMPUTE:
            grants.compute.append(ServerBatch(row.id, row.spec["flavor"], int(row.spec["count"])))
        elif kind is Kind.STORAGE:
            sizes = _volume_sizes(row.storage_gb, int(row.spec.get("volumes", 1)))
            grants.storage.append(VolumeBatch(row.id, tuple(sizes)))
        elif kind is Kind.FLOATING_IP:
            grants.floating_ips += row.floating_ips
        elif kind is Kind.NETWORK:
            allocation = row.allocation or {}
            grants.networks.append(
                NetworkGrant(
                    request_id=row.id,
                    name=row.spec["name"],
                    network=allocation.get("network", ""),
                    ipv6=allocation.get("ipv6"),
                    ipv4=allocation.get("ipv4"),
                )
            )
    return result


def desired_quota(county: County, grants: dict[str, DepartmentGrants], code: str) -> Amounts:
    """The quota the department's project should have: the county model's plus approved changes.

    Raises KeyError for a department the county does not have.
    """
    base = Amounts.from_quota(county.department(code).quota)
    found = grants.get(code)
    return base + found.quota_extra if found is not None else base
