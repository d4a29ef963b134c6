"""What each department has been granted on the cloud, in one vocabulary: what the stacks
deploy and what the portal shows.

    read_grants(county: County, session: Session | None = None) -> Grants

Two sources make up a department's grants (`DepartmentGrants`):

- The county model: the migrated systems. Every non-classified system on the cloud
  (`location: cloud`) is granted one server and one data volume, sized by its tier and its
  data, on its department's first legacy network (`grants_from_model`). So is every system
  the registry holds a migration for (`migration_system`, from `govcloud migrate plan` on):
  its target server is declared once it is planned, so the stacks provision it before its
  wave, and it stays after the cutover; it joins the department's migration network
  (`MIGRATION_NETWORK`, planned once the department has a system to migrate).
- The portal, when `session` is an open registry session: every request cloud ops approved
  that is not decommissioned yet (states in `GRANTED_STATES`). A compute request for n servers
  grants servers `req<id>-1` … `req<id>-n` of its flavor (tier general, no data volume) on the
  department's first network; a storage request grants standalone volumes `req<id>-1` … of the
  sizes it was split into; approved quota changes are added to the county model's quota;
  network requests grant the networks the planner placed (the stacks read them with the rest of
  the network plan, desired/network_plan.py); floating IPs count against the quota.

Without a session, or when the portal's tables hold no approved request, the grants are the
county model's alone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from govcloud.conventions import (
    DEFAULT_IMAGE,
    FLAVOR_BY_TIER,
    MIGRATION_NETWORK,
    MIN_VOLUME_GB,
    REQUEST_SERVER_TIER,
    request_resource_name,
    requested_network_name,
)
from govcloud.errors import BadInputError
from govcloud.model import County, Department, Location, Quota, System, Tier
from govcloud.quota import QUOTA_RESOURCES, ZERO, Amounts
from govcloud.registry.requests import GRANTED_STATES, RequestKind
from govcloud.registry.tables import MigrationSystem, PortalRequest


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
class NetworkGrant:
    """A granted network: the plan's name for it and the prefixes the planner gave it."""

    request_id: int
    name: str
    network: str
    ipv6: str | None
    ipv4: str | None


@dataclass(frozen=True)
class DepartmentGrants:
    """One department's grants: its quota, its systems, what its approved requests granted."""

    department: str
    quota: Quota  # the county model's plus the approved quota changes
    systems: tuple[ServerGrant, ...] = ()
    servers: tuple[RequestServer, ...] = ()
    volumes: tuple[RequestVolume, ...] = ()
    networks: tuple[NetworkGrant, ...] = ()
    floating_ips: int = 0
    quota_extra: Amounts = ZERO  # the approved quota changes
    granted: Amounts = ZERO  # what the approved requests hold against the quota
    request_ids: tuple[int, ...] = ()  # the approved requests, oldest first

    @property
    def has_workload(self) -> bool:
        """Whether servers or volumes are created in the tenant."""
        return bool(self.systems or self.servers or self.volumes)

    @property
    def servers_by_flavor(self) -> Counter[str]:
        """Requested servers, flavor -> count."""
        return Counter(server.flavor for server in self.servers)


@dataclass(frozen=True)
class Grants:
    """Every department's grants by code (each department of the county has an entry)."""

    departments: Mapping[str, DepartmentGrants]
    warnings: tuple[str, ...] = ()

    @property
    def systems(self) -> tuple[ServerGrant, ...]:
        """Every system grant, sorted by (department, system)."""
        return tuple(g for code in sorted(self.departments) for g in self.departments[code].systems)


@dataclass
class _Approved:
    """One department's approved requests, as read from the registry (before the county)."""

    quota_extra: Amounts = ZERO
    granted: Amounts = ZERO
    compute: list[tuple[int, str, int]] = field(default_factory=list)  # id, flavor, count
    storage: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # id, sizes
    floating_ips: int = 0
    networks: list[NetworkGrant] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)


def volume_sizes(total_gb: int, volumes: int) -> tuple[int, ...]:
    """`volumes` sizes summing to `total_gb`, as equal as whole GB allow."""
    base, extra = divmod(total_gb, volumes)
    return tuple(base + 1 if i < extra else base for i in range(volumes))


def _approved(session: Session) -> dict[str, _Approved]:
    """Per department, every approved (not yet decommissioned) request, oldest first."""
    rows = session.execute(
        select(PortalRequest)
        .where(PortalRequest.state.in_([s.value for s in GRANTED_STATES]))
        .order_by(PortalRequest.id)
    ).scalars()
    result: dict[str, _Approved] = {}
    for row in rows:
        found = result.setdefault(row.department, _Approved())
        amounts = Amounts.of({name: getattr(row, name) for name in QUOTA_RESOURCES})
        found.request_ids.append(row.id)
        kind = RequestKind(row.kind)
        if kind is RequestKind.QUOTA_CHANGE:
            found.quota_extra = found.quota_extra + amounts
            continue
        found.granted = found.granted + amounts
        if kind is RequestKind.COMPUTE:
            found.compute.append((row.id, row.spec["flavor"], int(row.spec["count"])))
        elif kind is RequestKind.STORAGE:
            sizes = volume_sizes(row.storage_gb, int(row.spec.get("volumes", 1)))
            found.storage.append((row.id, sizes))
        elif kind is RequestKind.FLOATING_IP:
            found.floating_ips += row.floating_ips
        elif kind is RequestKind.NETWORK:
            allocation = row.allocation or {}
            found.networks.append(
                NetworkGrant(
                    request_id=row.id,
                    name=row.spec["name"],
                    network=allocation.get("network", ""),
                    ipv6=allocation.get("ipv6"),
                    ipv4=allocation.get("ipv4"),
                )
            )
    return result


def migrating(session: Session) -> frozenset[str]:
    """Systems (`dept/system`) the registry holds a migration for, whatever its state."""
    return frozenset(session.execute(select(MigrationSystem.system)).scalars())


def system_grant(department: Department, system: System) -> ServerGrant:
    """The server and data volume a system gets on the cloud: its tier's flavor, its data; a
    system on the cloud already sits on its department's first network, one that migrates on
    the department's migration network."""
    on_cloud = system.location is Location.CLOUD
    first = department.legacy_networks[0].name if department.legacy_networks else None
    return ServerGrant(
        department=department.code,
        system=system.code,
        tier=system.tier,
        flavor=FLAVOR_BY_TIER[system.tier],
        image=DEFAULT_IMAGE,
        volume_gb=max(MIN_VOLUME_GB, math.ceil(system.data_gb)),
        network=first if on_cloud else MIGRATION_NETWORK,
    )


def grants_from_model(
    county: County, migrating: frozenset[str] = frozenset()
) -> tuple[ServerGrant, ...]:
    """One grant per non-classified system on the cloud or on its way there."""
    return tuple(
        system_grant(department, system)
        for department in sorted(county.departments, key=lambda d: d.code)
        for system in sorted(department.systems, key=lambda s: s.code)
        if not system.classified
        and (system.location is Location.CLOUD or f"{department.code}/{system.code}" in migrating)
    )


def _first_network(department: Department, found: _Approved) -> str | None:
    """The department's first planned network: its first legacy one, else its oldest grant."""
    if department.legacy_networks:
        return department.legacy_networks[0].name
    if found.networks:
        oldest = found.networks[0]
        return requested_network_name(oldest.request_id, oldest.name)
    return None


def _quota(department: Department, found: _Approved) -> Quota:
    amounts = Amounts.from_quota(department.quota) + found.quota_extra
    if not amounts.is_non_negative():
        code = department.code
        negative = ", ".join(f"{k} {v}" for k, v in amounts.as_dict().items() if v < 0)
        raise BadInputError(
            f"{code}: the quota in departments/{code}.yaml plus the approved quota changes is "
            f"negative ({negative}): raise the quota in the county file or request a quota "
            "change that undoes the cut"
        )
    return Quota(**amounts.as_dict())


def _department(
    department: Department, systems: tuple[ServerGrant, ...], found: _Approved
) -> DepartmentGrants:
    code = department.code
    network = _first_network(department, found)
    servers = tuple(
        RequestServer(
            department=code,
            name=request_resource_name(request_id, index),
            request_id=request_id,
            flavor=flavor,
            image=DEFAULT_IMAGE,
            network=network,
        )
        for request_id, flavor, count in found.compute
        for index in range(1, count + 1)
    )
    volumes = tuple(
        RequestVolume(
            department=code,
            name=request_resource_name(request_id, index),
            request_id=request_id,
            size_gb=size,
        )
        for request_id, sizes in found.storage
        for index, size in enumerate(sizes, start=1)
    )
    taken = {g.system for g in systems} & ({s.name for s in servers} | {v.name for v in volumes})
    if taken:
        raise BadInputError(
            f"{code}: the systems {', '.join(sorted(taken))} in departments/{code}.yaml have "
            "the names of servers or volumes granted through the portal (req<id>-<n>): "
            "rename the systems"
        )
    quota = _quota(department, found)
    if any(g.network == MIGRATION_NETWORK for g in systems):
        # The migration network is the county's doing, not the department's request: it comes
        # on top of the networks the department may ask for.
        quota = quota.model_copy(update={"networks": quota.networks + 1})
    return DepartmentGrants(
        department=code,
        quota=quota,
        systems=systems,
        servers=servers,
        volumes=volumes,
        networks=tuple(found.networks),
        floating_ips=found.floating_ips,
        quota_extra=found.quota_extra,
        granted=found.granted,
        request_ids=tuple(found.request_ids),
    )


def read_grants(county: County, session: Session | None = None) -> Grants:
    """The grants the stacks deploy (see the module docstring for the contract)."""
    approved = _approved(session) if session is not None else {}
    moving = migrating(session) if session is not None else frozenset()
    by_department: dict[str, list[ServerGrant]] = {}
    for grant in grants_from_model(county, moving):
        by_department.setdefault(grant.department, []).append(grant)
    departments = {
        department.code: _department(
            department,
            tuple(by_department.get(department.code, ())),
            approved.get(department.code, _Approved()),
        )
        for department in sorted(county.departments, key=lambda d: d.code)
    }
    gone = sorted(set(approved) - set(departments))
    warnings = tuple(
        f"the portal granted {code} resources, but the county no longer has {code}: "
        "they are not deployed (decommission its requests)"
        for code in gone
    )
    return Grants(departments, warnings)
