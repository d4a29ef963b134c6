"""Whether the live cloud holds what one portal request granted (the check before `deployed`).

    missing(snapshot, county_code, region, grants, request_id=..., kind=...) -> list[Missing]

The stacks turn a department's grants (`desired.grants.DepartmentGrants`) into resources named
by `govcloud.conventions`, in the department's project, which they tag with the county's and
the department's codes. This module looks for exactly those in a live snapshot of the primary
site's region:

| request | what must be there |
|---|---|
| compute | each server `<dept>-req<id>-<n>`, of the granted flavor, not failed |
| storage | each volume `<dept>-req<id>-<n>`, of its granted size, not failed |
| network | the network `<dept>-req-<id>-<name>` |
| floating_ip | Neutron's floating IP quota of the project holds every granted floating IP |
| quota_change | every Keystone limit and Neutron and Cinder quota the stacks derive from it |

and, for every kind, the department's project itself (found by its tags, never by its name;
without it every part of the grant is missing too, and named).
An empty list means the cloud holds the request. Pure: no cloud calls, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Final

from desired.grants import DepartmentGrants
from govcloud.conventions import (
    COMPUTE_SERVICE_TYPE,
    department_from_tags,
    project_name,
    tenant_resource_name,
)
from govcloud.registry.requests import RequestKind
from modules.quotas import tenant_quotas

if TYPE_CHECKING:  # the reader imports openstacksdk, slow to import
    from cloud.inventory import Project, Snapshot

# Server and volume states that hold nothing (Nova's and Cinder's own status names).
FAILED_STATES: Final = frozenset({"ERROR", "DELETED", "SOFT_DELETED", "error", "error_deleting"})
NETWORK_SERVICE: Final = "network"
VOLUME_SERVICE: Final = "volume"


@dataclass(frozen=True)
class Missing:
    """One thing the request granted that the cloud does not hold (or holds differently)."""

    kind: str  # project, server, volume, network, limit, quota
    name: str
    expected: str
    found: str | None = None

    def message(self) -> str:
        """For operators: what is missing or different, and what the grant asks for."""
        if self.found is None:
            return f"{self.kind} {self.name} ({self.expected}) is not in the cloud"
        return f"{self.kind} {self.name} is {self.found}, granted {self.expected}"


def department_project(
    projects: Iterable[Project], county_code: str, department: str
) -> Project | None:
    """The department's project, found by the tags the stacks write on it."""
    for project in projects:
        if department_from_tags(project.tags, county_code) == department:
            return project
    return None


def missing(
    snapshot: Snapshot,
    county_code: str,
    region: str,
    grants: DepartmentGrants,
    *,
    request_id: int,
    kind: RequestKind,
) -> list[Missing]:
    """What request `request_id` of `grants.department` granted and `region` does not hold."""
    code = grants.department
    project = department_project(snapshot.projects, county_code, code)
    result = []
    if project is None:
        # Nothing of the grant can be there without the project: each part is named as well.
        expected = f"a project tagged county:{county_code} and department:{code}"
        result.append(Missing("project", project_name(county_code, code), expected))
    project_id = project.id if project is not None else None
    if kind is RequestKind.COMPUTE:
        return result + _servers(snapshot, region, project_id, grants, request_id)
    if kind is RequestKind.STORAGE:
        return result + _volumes(snapshot, region, project_id, grants, request_id)
    if kind is RequestKind.NETWORK:
        return result + _networks(snapshot, region, project_id, grants, request_id)
    if kind is RequestKind.FLOATING_IP:
        return result + _floating_ips(snapshot, region, project_id, grants)
    return result + _quotas(snapshot, region, project_id, grants)


def _compare(
    kind: str, wanted: Iterable[tuple[str, str]], live: Mapping[str, str]
) -> list[Missing]:
    """Each wanted (name, description) against the live description of that name."""
    result = []
    for name, expected in wanted:
        found = live.get(name)
        if found != expected:
            result.append(Missing(kind, name, expected, found))
    return result


def _servers(
    snapshot: Snapshot,
    region: str,
    project_id: str | None,
    grants: DepartmentGrants,
    request_id: int,
) -> list[Missing]:
    live = {
        s.name: s.flavor or "no flavor"
        for s in snapshot.servers
        if s.project_id == project_id and s.region == region and s.status not in FAILED_STATES
    }
    wanted = [
        (tenant_resource_name(grants.department, s.name), s.flavor)
        for s in grants.servers
        if s.request_id == request_id
    ]
    return _compare("server", wanted, live)


def _volumes(
    snapshot: Snapshot,
    region: str,
    project_id: str | None,
    grants: DepartmentGrants,
    request_id: int,
) -> list[Missing]:
    live = {
        v.name: f"{v.size_gb} GB"
        for v in snapshot.volumes
        if v.project_id == project_id and v.region == region and v.status not in FAILED_STATES
    }
    wanted = [
        (tenant_resource_name(grants.department, v.name), f"{v.size_gb} GB")
        for v in grants.volumes
        if v.request_id == request_id
    ]
    return _compare("volume", wanted, live)


def _networks(
    snapshot: Snapshot,
    region: str,
    project_id: str | None,
    grants: DepartmentGrants,
    request_id: int,
) -> list[Missing]:
    names = {
        n.name
        for n in snapshot.networks
        if n.project_id == project_id and n.region == region and not n.external
    }
    return [
        Missing("network", name, f"IPv4 {granted.ipv4}, IPv6 {granted.ipv6}")
        for granted in grants.networks
        if granted.request_id == request_id
        and (name := tenant_resource_name(grants.department, granted.network)) not in names
    ]


def _quota_values(
    snapshot: Snapshot, region: str, project_id: str | None, service: str
) -> dict[str, int]:
    for quota in snapshot.quotas:
        if quota.project_id == project_id and quota.region == region and quota.service == service:
            return dict(quota.values)
    return {}


def _floating_ips(
    snapshot: Snapshot, region: str, project_id: str | None, grants: DepartmentGrants
) -> list[Missing]:
    # A floating IP grant creates nothing: the department allocates its addresses itself, so
    # the cloud holds the grant when the project's quota has room for every granted address.
    values = _quota_values(snapshot, region, project_id, NETWORK_SERVICE)
    have = values.get("floating_ips")
    if have is not None and (have < 0 or have >= grants.floating_ips):
        return []
    found = None if have is None else str(have)
    return [Missing("quota", "network floating_ips", f"at least {grants.floating_ips}", found)]


def _quotas(
    snapshot: Snapshot, region: str, project_id: str | None, grants: DepartmentGrants
) -> list[Missing]:
    wanted = tenant_quotas(grants.quota)
    result = []
    limits = {
        item.resource_name: item.resource_limit
        for item in snapshot.limits
        if item.project_id == project_id
        and item.region == region
        and item.service == COMPUTE_SERVICE_TYPE
    }
    for resource, value in wanted.compute.as_limits().items():
        have = limits.get(resource)
        if have != value:
            found = None if have is None else str(have)
            result.append(Missing("limit", f"compute {resource}", str(value), found))
    for service, fields in (
        (NETWORK_SERVICE, asdict(wanted.network)),
        (VOLUME_SERVICE, asdict(wanted.volume)),
    ):
        values = _quota_values(snapshot, region, project_id, service)
        # Only the fields the reader takes: the rest cannot be seen, so they are not judged.
        for field, value in fields.items():
            if field in values and values[field] != value:
                found = str(values[field])
                result.append(Missing("quota", f"{service} {field}", str(value), found))
    return result
