"""What each department has been granted on the cloud: the interface the stacks read.

    read_grants(county: County, session: Session | None = None) -> Grants

Two sources make up the grants:

- The county model: the migrated systems. Every non-classified system on the cloud
  (`location: cloud`) is granted one server and one data volume, sized by its tier and its
  data, on its department's first legacy network (`grants_from_model`).
- The portal, when `session` is an open registry session: every request cloud ops approved
  that is not decommissioned yet (`portal.grants.approved_grants`). A compute request for n
  servers grants servers `req<id>-1` … `req<id>-n` of its flavor (tier general, no data
  volume) on the department's first network; a storage request grants standalone volumes
  `req<id>-1` … of the sizes it was split into; approved quota changes are added to the county
  model's quota. Names come from the request id, so they never move when other requests come
  and go.

Granted networks are not here: the network planner places them and the stacks read them with
the rest of the network plan (stacks/desired.py). Without a session, or when the portal's
tables hold no approved request, the grants are the county model's alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from govcloud.errors import BadInputError
from govcloud.model import County, Department, Location, Quota, Tier
from govcloud.registry.ipam import requested_network_name
from portal.grants import DepartmentGrants, approved_grants, desired_quota

# Flavors by tier (the classic m1 flavors every OpenStack and the local cloud have).
FLAVOR_BY_TIER: Final = {
    Tier.CORE: "m1.large",
    Tier.IMPORTANT: "m1.medium",
    Tier.GENERAL: "m1.small",
}
# The platform image (lab/localcloud/bootstrap.py IMAGE_NAME); production sets its own.
DEFAULT_IMAGE: Final = "govcloud-tiny"
# Cinder sizes are whole GiB; a system with no data still gets a minimal volume.
MIN_VOLUME_GB: Final = 1
# A compute request names no tier: its servers are general (a daily off-site backup, nothing
# at the DR site) until a request form asks for more.
REQUEST_SERVER_TIER: Final = Tier.GENERAL


@dataclass(frozen=True)
class ServerGrant:
    """One system's granted server and data volume in its department's tenant."""

    department: str
    system: str
    tier: Tier
    flavor: str
    image: str
    volume_gb: int
    network: str | None  # the planned network it joins (the department's first), if any


@dataclass(frozen=True)
class RequestServer:
    """One server of an approved compute request, in its department's tenant."""

    department: str
    name: str  # req<id>-<n>
    request_id: int
    flavor: str
    image: str
    network: str | None  # the planned network it joins (the department's first), if any
    tier: Tier = REQUEST_SERVER_TIER


@dataclass(frozen=True)
class RequestVolume:
    """One standalone volume of an approved storage request, in its department's tenant."""

    department: str
    name: str  # req<id>-<n>
    request_id: int
    size_gb: int


@dataclass(frozen=True)
class TenantGrants:
    """One department's grants: its quota, its systems, its requested servers and volumes."""

    department: str
    quota: Quota  # the county model's plus the approved quota changes
    systems: tuple[ServerGrant, ...] = ()
    servers: tuple[RequestServer, ...] = ()
    volumes: tuple[RequestVolume, ...] = ()

    @property
    def has_workload(self) -> bool:
        """Whether servers or volumes are created in the tenant."""
        return bool(self.systems or self.servers or self.volumes)


@dataclass(frozen=True)
class Grants:
    """Every department's grants by code (each department of the county has an entry)."""

    tenants: Mapping[str, TenantGrants]
    warnings: tuple[str, ...] = ()

    @property
    def systems(self) -> tuple[ServerGrant, ...]:
        """Every system grant, sorted by (department, system)."""
        return tuple(g for code in sorted(self.tenants) for g in self.tenants[code].systems)


def request_resource_name(request_id: int, index: int) -> str:
    """The name of a request's `index`-th server or volume (from 1): `req<id>-<index>`."""
    return f"req{request_id}-{index}"


def grants_from_model(county: County) -> tuple[ServerGrant, ...]:
    """One grant per non-classified system on the cloud, from the county model."""
    grants: list[ServerGrant] = []
    for department in sorted(county.departments, key=lambda d: d.code):
        network = department.legacy_networks[0].name if department.legacy_networks else None
        for system in sorted(department.systems, key=lambda s: s.code):
            if system.location is not Location.CLOUD or system.classified:
                continue
            grants.append(
                ServerGrant(
                    department=department.code,
                    system=system.code,
                    tier=system.tier,
                    flavor=FLAVOR_BY_TIER[system.tier],
                    image=DEFAULT_IMAGE,
                    volume_gb=max(MIN_VOLUME_GB, math.ceil(system.data_gb)),
                    network=network,
                )
            )
    return tuple(grants)


def _first_network(department: Department, found: DepartmentGrants | None) -> str | None:
    """The department's first planned network: its first legacy one, else its oldest grant."""
    if department.legacy_networks:
        return department.legacy_networks[0].name
    if found is not None and found.networks:
        oldest = found.networks[0]
        return requested_network_name(oldest.request_id, oldest.name)
    return None


def _quota(county: County, approved: dict[str, DepartmentGrants], code: str) -> Quota:
    amounts = desired_quota(county, approved, code)
    if not amounts.is_non_negative():
        negative = ", ".join(f"{k} {v}" for k, v in amounts.as_dict().items() if v < 0)
        raise BadInputError(
            f"{code}: the quota in departments/{code}.yaml plus the approved quota changes is "
            f"negative ({negative}): raise the quota in the county file or request a quota "
            "change that undoes the cut"
        )
    return Quota(**amounts.as_dict())


def _tenant(
    county: County,
    department: Department,
    systems: tuple[ServerGrant, ...],
    approved: dict[str, DepartmentGrants],
) -> TenantGrants:
    code = department.code
    found = approved.get(code)
    servers: list[RequestServer] = []
    volumes: list[RequestVolume] = []
    if found is not None:
        network = _first_network(department, found)
        for compute in found.compute:
            servers += [
                RequestServer(
                    department=code,
                    name=request_resource_name(compute.request_id, index),
                    request_id=compute.request_id,
                    flavor=compute.flavor,
                    image=DEFAULT_IMAGE,
                    network=network,
                )
                for index in range(1, compute.count + 1)
            ]
        for storage in found.storage:
            volumes += [
                RequestVolume(
                    department=code,
                    name=request_resource_name(storage.request_id, index),
                    request_id=storage.request_id,
                    size_gb=size,
                )
                for index, size in enumerate(storage.sizes, start=1)
            ]
    taken = {g.system for g in systems} & ({s.name for s in servers} | {v.name for v in volumes})
    if taken:
        raise BadInputError(
            f"{code}: the systems {', '.join(sorted(taken))} in departments/{code}.yaml have "
            "the names of servers or volumes granted through the portal (req<id>-<n>): "
            "rename the systems"
        )
    return TenantGrants(
        code, _quota(county, approved, code), systems, tuple(servers), tuple(volumes)
    )


def read_grants(county: County, session: Session | None = None) -> Grants:
    """The grants the stacks deploy (see the module docstring for the contract)."""
    approved = approved_grants(session) if session is not None else {}
    by_department: dict[str, list[ServerGrant]] = {}
    for grant in grants_from_model(county):
        by_department.setdefault(grant.department, []).append(grant)
    tenants = {
        department.code: _tenant(
            county, department, tuple(by_department.get(department.code, ())), approved
        )
        for department in sorted(county.departments, key=lambda d: d.code)
    }
    gone = sorted(set(approved) - set(tenants))
    warnings = tuple(
        f"the portal granted {code} resources, but the county no longer has {code}: "
        "they are not deployed (decommission its requests)"
        for code in gone
    )
    return Grants(tenants, warnings)
