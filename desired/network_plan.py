"""The network plan in the registry: read allocations, apply a plan, all through the audit log.

Planners serialise on a database lock taken before they read (PostgreSQL: a transaction-level
advisory lock; SQLite: the BEGIN IMMEDIATE write lock), so a second planner sees the first one's
allocations and adds nothing twice. The table's constraints back this up: one row per purpose,
one row per prefix, and on PostgreSQL no two siblings that overlap (a GiST exclusion constraint).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from desired.grants import ServerGrant, grants_from_model, migrating
from govcloud.conventions import (
    MIGRATION_NETWORK,
    MIGRATION_NETWORK_HOSTS,
    requested_network_name,
)
from govcloud.errors import BadInputError
from govcloud.model import County
from govcloud.registry import audit_log
from govcloud.registry.requests import GRANTED_STATES, RequestKind
from govcloud.registry.tables import IpamAllocation, MigrationSystem, PortalRequest
from network.plan import (
    Allocation,
    AllocationKind,
    NetworkPlan,
    PlanError,
    RequestedNetwork,
    plan_network,
)

# Any constant works: it names "the IPAM planner" among this database's advisory locks.
IPAM_ADVISORY_LOCK = 0x6F76_4950  # "govIP"
# Networks granted through the portal are named "req-<request id>-<name>" in the plan.


@dataclass(frozen=True)
class PlannedNetwork:
    """One department network on the cloud: its IPv4 and IPv6 subnets from the network plan."""

    department: str
    name: str
    ipv4: str
    ipv6: str


def lock(session: Session) -> None:
    """Take the planner lock for the rest of the transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IPAM_ADVISORY_LOCK})


def load(session: Session) -> list[Allocation]:
    """Every allocation in the registry."""
    rows = session.execute(select(IpamAllocation)).scalars()
    return [
        Allocation(
            r.department, r.network, r.family, AllocationKind(r.kind), r.prefix, r.parent, r.inside
        )
        for r in rows
    ]


def _describe(allocation: Allocation) -> dict[str, Any]:
    described = asdict(allocation)
    described["kind"] = allocation.kind.value
    return described


def _object(county_code: str, department: str) -> str:
    return f"department/{department}" if department else f"county/{county_code}"


def apply(
    session: Session, plan: NetworkPlan, *, county_code: str, actor: str, prune: bool = False
) -> None:
    """Write the plan's new allocations (and with `prune`, release orphans), audited per owner."""
    now = dt.datetime.now(dt.UTC)
    added: dict[str, list[Allocation]] = defaultdict(list)
    for allocation in plan.added:
        added[allocation.department].append(allocation)
        session.add(
            IpamAllocation(
                department=allocation.department,
                network=allocation.network,
                family=allocation.family,
                kind=allocation.kind.value,
                prefix=allocation.prefix,
                parent=allocation.parent,
                inside=allocation.inside,
                created_at=now,
            )
        )
    session.flush()  # constraint violations surface here, before anything is audited
    for department, allocations in sorted(added.items()):
        audit_log.record(
            session,
            actor=actor,
            action="ipam.allocate",
            object=_object(county_code, department),
            before=None,
            after=[_describe(a) for a in allocations],
        )
    if not prune:
        return
    released: dict[str, list[Allocation]] = defaultdict(list)
    for allocation in plan.orphaned:
        released[allocation.department].append(allocation)
        session.execute(delete(IpamAllocation).where(IpamAllocation.prefix == allocation.prefix))
    for department, allocations in sorted(released.items()):
        audit_log.record(
            session,
            actor=actor,
            action="ipam.release",
            object=_object(county_code, department),
            before=[_describe(a) for a in allocations],
            after=None,
        )


def load_requested(session: Session) -> list[RequestedNetwork]:
    """The networks granted through the portal that still hold their prefixes, oldest first;
    then each department's migration network, once it has a system in the migration registry."""
    migrating = session.execute(select(MigrationSystem.department).distinct()).scalars()
    migration = [
        RequestedNetwork(department, MIGRATION_NETWORK, MIGRATION_NETWORK_HOSTS)
        for department in sorted(migrating)
    ]
    rows = session.execute(
        select(PortalRequest.id, PortalRequest.department, PortalRequest.spec)
        .where(
            PortalRequest.kind == RequestKind.NETWORK.value,
            PortalRequest.state.in_([s.value for s in GRANTED_STATES]),
        )
        .order_by(PortalRequest.id)
    )
    return [
        RequestedNetwork(department, requested_network_name(rid, spec["name"]), spec["hosts"])
        for rid, department, spec in rows
    ] + migration


def dr_departments(county: County, systems: Iterable[ServerGrant]) -> frozenset[str]:
    """The departments with a system its tier's DR policy protects: each gets a network at the
    DR site (`DR_NETWORK`), planned with the rest."""
    return frozenset(g.department for g in systems if county.dr.protects(g.tier))


def registry_dr_departments(session: Session, county: County) -> frozenset[str]:
    """`dr_departments` of the systems on the cloud and those the registry migrates."""
    return dr_departments(county, grants_from_model(county, migrating(session)))


def county_plan(county: County) -> NetworkPlan:
    """The plan of the county alone, without a registry: what the stacks plan without one
    (`desired.state.build_desired`), so a lab built from it has the stacks' addresses."""
    return plan_network(county, dr_departments=dr_departments(county, grants_from_model(county)))


def plan_and_apply(
    session: Session,
    county: County,
    *,
    actor: str,
    dry_run: bool = False,
    prune: bool = False,
    requested: list[RequestedNetwork] | None = None,
) -> NetworkPlan:
    """Lock, read what exists, plan, and (unless dry_run) write, in the caller's transaction.

    The plan includes the networks granted through the portal (`requested`, read from the
    registry when not given) and the DR networks (`registry_dr_departments`). Raises
    network.plan.PlanError before anything is written when the plan cannot be made.
    """
    lock(session)
    if requested is None:
        requested = load_requested(session)
    plan = plan_network(
        county,
        load(session),
        requested=requested,
        dr_departments=registry_dr_departments(session, county),
    )
    if not dry_run:
        apply(session, plan, county_code=county.code, actor=actor, prune=prune)
    return plan


def stored_plan(session: Session, county: County) -> NetworkPlan:
    """The plan as the registry holds it, completed for the county as it is now, without
    writing; refuses an empty registry (exit 2, naming the command that fills it)."""
    existing = load(session)
    if not existing:
        raise BadInputError("the registry holds no network plan yet; run `govcloud net plan`")
    try:
        return plan_network(
            county,
            existing,
            requested=load_requested(session),
            dr_departments=registry_dr_departments(session, county),
        )
    except PlanError as error:
        raise BadInputError("; ".join(error.problems)) from None
