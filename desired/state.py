"""The desired state one stack deploys: the county model plus the registry (pure data).

Everything from the registry is read in one session: the IPAM allocations, the networks granted
through the portal and the portal's other grants (`desired.grants.read_grants`).

Subnets come from the network plan: the registry's IPAM allocations when the registry has
them (`govcloud net plan` and network approvals record them), with `plan_network` filling in
whatever is missing exactly as `govcloud net plan` would, so the stacks and the extranet never
disagree. Granted networks are planned with their department's legacy networks; each
department with a system a DR policy protects also gets its network at the DR site
(`dr_networks`), which the DR stack builds instead of copying the primary's prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from desired import network_plan
from desired.grants import Grants, read_grants
from desired.network_plan import PlannedNetwork
from desired.stack_settings import StackSettings
from govcloud.conventions import DR_NETWORK
from govcloud.loader import load_county
from govcloud.model import County, Site
from govcloud.registry import db
from network.plan import Allocation, AllocationKind, RequestedNetwork, plan_network


@dataclass(frozen=True)
class DesiredState:
    """Everything a stack program builds from, read once before any resource is declared."""

    county: County
    settings: StackSettings
    site: Site
    networks: dict[str, tuple[PlannedNetwork, ...]]
    grants: Grants
    # Per department with a system a DR policy protects, its network at the DR site.
    dr_networks: dict[str, PlannedNetwork]
    warnings: tuple[str, ...]

    @property
    def name_prefix(self) -> str:
        """Every physical name starts with the county code, so counties can share a cloud."""
        return self.county.code


def planned_networks(
    county: County,
    allocations: Sequence[Allocation],
    requested: Sequence[RequestedNetwork] = (),
) -> dict[str, tuple[PlannedNetwork, ...]]:
    """Per department, each legacy network's extranet IPv4 prefix and IPv6 /64, then each
    network granted through the portal (renumbered: an extranet prefix), oldest first."""
    by_key = {a.key: a for a in allocations}
    granted: dict[str, list[RequestedNetwork]] = {}
    for network in requested:
        granted.setdefault(network.department, []).append(network)
    result: dict[str, tuple[PlannedNetwork, ...]] = {}
    for department in sorted(county.departments, key=lambda d: d.code):
        code = department.code
        names = [
            (n.name, AllocationKind.EXTRANET if n.renumber else AllocationKind.NAT)
            for n in department.legacy_networks
        ]
        names += [(n.network, AllocationKind.EXTRANET) for n in granted.get(code, ())]
        result[code] = tuple(_planned(by_key, code, name, kind) for name, kind in names)
    return result


def _planned(
    by_key: dict[tuple[str, str, int, AllocationKind], Allocation],
    department: str,
    name: str,
    ipv4_kind: AllocationKind,
) -> PlannedNetwork:
    return PlannedNetwork(
        department,
        name,
        by_key[(department, name, 4, ipv4_kind)].prefix,
        by_key[(department, name, 6, AllocationKind.SUBNET)].prefix,
    )


def planned_dr_networks(
    allocations: Sequence[Allocation], departments: Iterable[str]
) -> dict[str, PlannedNetwork]:
    """Each department's network at the DR site, where the plan has one (it has none for a
    county without a DR site)."""
    by_key = {a.key: a for a in allocations}
    return {
        code: _planned(by_key, code, DR_NETWORK, AllocationKind.EXTRANET)
        for code in sorted(departments)
        if (code, DR_NETWORK, 6, AllocationKind.SUBNET) in by_key
    }


@dataclass(frozen=True)
class RegistryRead:
    """What the stacks read from the registry: nothing but the county's grants without one."""

    grants: Grants
    allocations: list[Allocation] = field(default_factory=list)
    requested: list[RequestedNetwork] = field(default_factory=list)
    note: str | None = None  # why there is nothing from the registry


def read_registry(url: str | None, county: County) -> RegistryRead:
    """Allocations, granted networks and grants, in one session of a migrated registry."""
    if url is None:
        why = "no registry given"
    elif make_url(url).get_backend_name() == "sqlite" and not _sqlite_file_exists(url):
        why = f"no registry at {db.redact(url)}"
    else:
        engine = db.make_engine(url)
        try:
            if db.current_revision(engine) is None:
                why = f"the registry at {db.redact(url)} has no schema"
            else:
                db.require_current(engine)
                with db.session_factory(engine)() as session:
                    return RegistryRead(
                        grants=read_grants(county, session),
                        allocations=network_plan.load(session),
                        requested=network_plan.load_requested(session),
                    )
        finally:
            engine.dispose()
    return RegistryRead(
        grants=read_grants(county), note=f"{why}: the desired state is the county's alone"
    )


def _sqlite_file_exists(url: str) -> bool:
    database = make_url(url).database
    return bool(database) and Path(str(database)).exists()


def build_desired(
    settings: StackSettings,
    *,
    county: County | None = None,
    registry_url: str | None = None,
    registry: RegistryRead | None = None,
) -> DesiredState:
    """Load the county (unless given), read the registry (unless read already), plan, and
    collect the grants."""
    county = county if county is not None else load_county(settings.county_dir)
    registry = registry if registry is not None else read_registry(registry_url, county)
    existing = registry.allocations
    protected = network_plan.dr_departments(county, registry.grants.systems)
    plan = plan_network(county, existing, requested=registry.requested, dr_departments=protected)
    warnings = [registry.note] if registry.note else []
    if existing and plan.added:
        warnings.append(
            f"{len(plan.added)} allocations are planned but not in the registry yet; "
            "run `govcloud net plan` to record them"
        )
    warnings += registry.grants.warnings
    return DesiredState(
        county=county,
        settings=settings,
        site=county.site(settings.site_role),
        networks=planned_networks(county, plan.allocations, registry.requested),
        grants=registry.grants,
        dr_networks=planned_dr_networks(plan.allocations, protected),
        warnings=tuple(warnings),
    )
