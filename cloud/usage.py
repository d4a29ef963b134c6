"""Usage as the live cloud shows it (cloud.inventory's Snapshot), next to the portal's ledger:
the portal shows it, the audit reports the differences as ledger drift.

A department's project is found by the tags the stacks write on it (the county's and the
department's, `govcloud.conventions.project_tags`), so another county's tenants on the same
cloud and projects nobody tagged are never counted. Only the primary site's region counts
against the quota: the DR site holds replicas that cloud ops manages. Servers count by their
flavor (vCPU and RAM), volumes by size, networks by number (external networks excluded). The
snapshot has no floating IPs, so that resource shows as unknown.

Differences are flagged per resource: `over` when the cloud holds more than the ledger granted
(built outside the portal, or a decommission not carried out), `under` when it holds less
(granted but not yet built, or removed without a decommission request).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from govcloud.conventions import FLAVORS, MIB_PER_GB, department_from_tags
from govcloud.quota import QUOTA_RESOURCES, Amounts

if TYPE_CHECKING:  # the live-state reader imports openstacksdk, slow to import
    from cloud.inventory import Project, Snapshot

Status = Literal["ok", "over", "under", "unknown"]


@dataclass(frozen=True)
class ObservedUsage:
    """What one department's project holds in the cloud; None where the cloud cannot tell."""

    vcpu: float | None = 0
    ram_gb: float | None = 0
    storage_gb: float | None = 0
    floating_ips: float | None = None
    networks: float | None = 0

    def get(self, resource: str) -> float | None:
        """One resource by name."""
        value: float | None = getattr(self, resource)
        return value


@dataclass(frozen=True)
class Difference:
    """The ledger's and the cloud's figure for one resource, and whether they agree."""

    resource: str
    ledger: float
    observed: float | None
    status: Status


def department_of(project: Project, county_code: str) -> str | None:
    """The department whose tenant `project` is, from the stacks' tags; None if not ours."""
    return department_from_tags(project.tags, county_code)


def observed_usage(
    snapshot: Snapshot, county_code: str, departments: Iterable[str], regions: Iterable[str]
) -> dict[str, ObservedUsage]:
    """Usage per department in the given regions (every listed department, zero if absent)."""
    wanted = set(departments)
    counted_regions = set(regions)
    owner: dict[str, str] = {}
    for project in snapshot.projects:
        code = department_of(project, county_code)
        if code in wanted:
            owner[project.id] = code
    vcpu = dict.fromkeys(wanted, 0.0)
    ram_mib = dict.fromkeys(wanted, 0.0)
    storage = dict.fromkeys(wanted, 0.0)
    networks = dict.fromkeys(wanted, 0.0)
    unknown_flavor: set[str] = set()
    for server in snapshot.servers:
        code = owner.get(server.project_id)
        if code is None or server.region not in counted_regions or server.status == "DELETED":
            continue
        flavor = FLAVORS.get(server.flavor or "")
        if flavor is None:
            unknown_flavor.add(code)
            continue
        vcpu[code] += flavor.vcpu
        ram_mib[code] += flavor.ram_mib
    for volume in snapshot.volumes:
        code = owner.get(volume.project_id)
        if code is not None and volume.region in counted_regions:
            storage[code] += volume.size_gb
    for network in snapshot.networks:
        code = owner.get(network.project_id)
        if code is not None and network.region in counted_regions and not network.external:
            networks[code] += 1
    return {
        code: ObservedUsage(
            vcpu=None if code in unknown_flavor else vcpu[code],
            ram_gb=None if code in unknown_flavor else ram_mib[code] / MIB_PER_GB,
            storage_gb=storage[code],
            floating_ips=None,
            networks=networks[code],
        )
        for code in sorted(wanted)
    }


def compare(used: Amounts, observed: ObservedUsage | None) -> list[Difference]:
    """Per resource, the ledger's usage against the cloud's, with a status."""
    result = []
    for name in QUOTA_RESOURCES:
        granted = getattr(used, name)
        seen = None if observed is None else observed.get(name)
        status: Status
        if seen is None:
            status = "unknown"
        elif math.isclose(seen, granted):
            status = "ok"
        else:
            status = "over" if seen > granted else "under"
        result.append(Difference(name, granted, seen, status))
    return result


def flagged(differences: Iterable[Difference]) -> bool:
    """True when any resource differs."""
    return any(d.status in {"over", "under"} for d in differences)
