"""DrReplica: a department's counterpart at the DR site, and the replication each tier needs.

Keystone is shared by both regions, so the counterpart tenant is the same project (read from
the primary stack) with its own quotas in the DR region. For core and important systems the
replica builds the networks and security baseline at the DR site; core systems run active-
active (a standby server and its volume), important systems get an asynchronous replica
volume, general systems an off-site backup (a setting only: no DR resources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_openstack as openstack

from desired.grants import ServerGrant
from desired.network_plan import PlannedNetwork
from govcloud.conventions import (
    DR_SITE_TIERS,
    META_REPLICATION,
    META_ROLE,
    META_SYSTEM,
    META_TIER,
    REPLICATION,
    TOKEN_PREFIX,
    WORKLOAD_DR_REPLICA,
    WORKLOAD_DR_STANDBY,
    Replication,
)
from govcloud.model import County, Tier
from modules.quotas import TenantQuotas
from modules.security import SecurityBaseline, SecurityBaselineArgs
from modules.tenant import declare_quotas
from modules.tenant_network import TenantNetwork, TenantNetworkArgs
from modules.workload import Workload, WorkloadArgs, system_ref


@dataclass(frozen=True)
class ReplicationSetting:
    """How one system is protected at the DR site (exported for the DR drills)."""

    system: str
    department: str
    tier: Tier
    replication: Replication
    rpo_minutes: int
    rto_minutes: int
    primary_region: str
    dr_region: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a stack output."""
        return {
            "system": self.system,
            "department": self.department,
            "tier": self.tier.value,
            "replication": self.replication.value,
            "rpo_minutes": self.rpo_minutes,
            "rto_minutes": self.rto_minutes,
            "primary_region": self.primary_region,
            "dr_region": self.dr_region,
        }


def replication_settings(
    county: County, grants: tuple[ServerGrant, ...], primary_region: str, dr_region: str
) -> list[ReplicationSetting]:
    """Every granted system's replication: mode and RPO by tier, RTO from its allowed downtime."""
    downtime = {
        f"{d.code}/{s.code}": s.max_downtime_min for d in county.departments for s in d.systems
    }
    settings: list[ReplicationSetting] = []
    for grant in grants:
        mode, rpo = REPLICATION[grant.tier]
        settings.append(
            ReplicationSetting(
                system=system_ref(grant),
                department=grant.department,
                tier=grant.tier,
                replication=mode,
                rpo_minutes=rpo,
                rto_minutes=downtime[system_ref(grant)],
                primary_region=primary_region,
                dr_region=dr_region,
            )
        )
    return settings


def needs_dr_site(grants: tuple[ServerGrant, ...]) -> bool:
    """Whether a department has systems whose tier needs resources at the DR site."""
    return any(grant.tier in DR_SITE_TIERS for grant in grants)


@dataclass(frozen=True)
class DrReplicaArgs:
    """Inputs of one department's counterpart at the DR site."""

    county_code: str
    department: str
    region: str
    project_id: pulumi.Input[str]
    quotas: TenantQuotas
    compute_service_id: pulumi.Input[str]
    networks: tuple[PlannedNetwork, ...]
    management_prefixes: tuple[str, ...]
    external_network_id: pulumi.Input[str]
    ipv4_pool_id: pulumi.Input[str]
    ipv6_pool_id: pulumi.Input[str]
    grants: tuple[ServerGrant, ...]
    provider: pulumi.ProviderResource


class DrReplica(pulumi.ComponentResource):
    """The DR-site tenant quotas, networks, security baseline and replicas of one department."""

    replicated: list[str]

    def __init__(
        self, name: str, args: DrReplicaArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TOKEN_PREFIX}:dr:DrReplica", name, None, opts)
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        declare_quotas(
            name,
            project_id=args.project_id,
            region=args.region,
            quotas=args.quotas,
            compute_service_id=args.compute_service_id,
            opts=child,
        )
        network = TenantNetwork(
            f"{name}-net",
            TenantNetworkArgs(
                county_code=args.county_code,
                department=args.department,
                region=args.region,
                project_id=args.project_id,
                networks=args.networks,
                external_network_id=args.external_network_id,
                ipv4_pool_id=args.ipv4_pool_id,
                ipv6_pool_id=args.ipv6_pool_id,
            ),
            opts=child,
        )
        security = SecurityBaseline(
            f"{name}-sec",
            SecurityBaselineArgs(
                county_code=args.county_code,
                department=args.department,
                region=args.region,
                project_id=args.project_id,
                management_prefixes=args.management_prefixes,
            ),
            opts=child,
        )
        core = tuple(g for g in args.grants if g.tier is Tier.CORE)
        if core:
            Workload(
                f"{name}-standby",
                WorkloadArgs(
                    department=args.department,
                    region=args.region,
                    grants=core,
                    network_ids=network.network_ids,
                    security_groups=tuple(security.group_names),
                    provider=args.provider,
                    role=WORKLOAD_DR_STANDBY,
                    replication=Replication.ACTIVE_ACTIVE.value,
                ),
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[security])
                ),
            )
        replica_opts = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(provider=args.provider)
        )
        for grant in args.grants:
            if grant.tier is not Tier.IMPORTANT:
                continue
            openstack.blockstorage.Volume(
                f"{name}-{grant.system}-replica",
                name=f"{grant.department}-{grant.system}-replica",
                size=grant.volume_gb,
                metadata={
                    META_SYSTEM: system_ref(grant),
                    META_TIER: grant.tier.value,
                    META_ROLE: WORKLOAD_DR_REPLICA,
                    META_REPLICATION: Replication.ASYNCHRONOUS.value,
                },
                region=args.region,
                opts=replica_opts,
            )
        self.replicated = [system_ref(g) for g in args.grants if g.tier in DR_SITE_TIERS]
        self.register_outputs({"replicated": self.replicated})
