"""DrReplica: a department's counterpart at the DR site, as its systems' DR policies ask.

Keystone is shared by both regions, so the counterpart tenant is the same project (read from
the primary stack) with its own quotas in the DR region. Each tier's policy (county.yaml
`dr.policies`, `govcloud.model.DrPolicy`) decides what waits there for a system:

- `standby: hot` (every streaming policy): a running server and its data volume, which the
  primary streams into;
- `replication: backup`: a volume the scheduled backups land on;
- `standby: cold`: nothing running, but quota headroom for the server (and the data volume the
  backup is restored onto) that a failover creates.

The DR site's servers join the department's DR network (`DR_NETWORK`), whose prefixes the
network plan gives it apart from the primary's: streaming between the copies is routed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_openstack as openstack

from desired.grants import ServerGrant
from desired.network_plan import PlannedNetwork
from govcloud.conventions import (
    DR_NETWORK,
    FLAVORS,
    META_REPLICATION,
    META_ROLE,
    META_SYSTEM,
    META_TIER,
    TOKEN_PREFIX,
    WORKLOAD_DR_BACKUP,
    WORKLOAD_DR_STANDBY,
    tenant_resource_name,
)
from govcloud.model import County, DrPolicy, Quota, Replication, Standby, Tier
from modules.quotas import tenant_quotas
from modules.security import SecurityBaseline, SecurityBaselineArgs
from modules.tenant import declare_quotas
from modules.tenant_network import TenantNetwork, TenantNetworkArgs
from modules.workload import Workload, WorkloadArgs, system_ref

# The DR site's tenant has its DR network alone, and no floating IP (the extranet routes it).
DR_SITE_NETWORKS = 1
DR_SITE_FLOATING_IPS = 0


@dataclass(frozen=True)
class ReplicationSetting:
    """How one system is protected at the DR site (exported for the DR drills)."""

    system: str
    department: str
    tier: Tier
    policy: DrPolicy
    primary_region: str
    dr_region: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a stack output: the policy's tokens and its drill targets."""
        return {
            "system": self.system,
            "department": self.department,
            "tier": self.tier.value,
            "replication": self.policy.replication.value,
            "standby": self.policy.standby.value,
            "rpo_s": self.policy.rpo_s,
            "rto_s": self.policy.rto_s,
            "backup_every_min": self.policy.backup_every_min,
            "primary_region": self.primary_region,
            "dr_region": self.dr_region,
        }


def protected(county: County, grants: tuple[ServerGrant, ...]) -> tuple[ServerGrant, ...]:
    """The granted systems whose tier's DR policy puts something at the DR site."""
    return tuple(g for g in grants if county.dr.protects(g.tier))


def replication_settings(
    county: County, grants: tuple[ServerGrant, ...], primary_region: str, dr_region: str
) -> list[ReplicationSetting]:
    """Every protected system's policy, by its tier."""
    return [
        ReplicationSetting(
            system=system_ref(grant),
            department=grant.department,
            tier=grant.tier,
            policy=county.dr.policies[grant.tier],
            primary_region=primary_region,
            dr_region=dr_region,
        )
        for grant in protected(county, grants)
    ]


def dr_site_quota(grants: tuple[ServerGrant, ...], policies: Mapping[Tier, DrPolicy]) -> Quota:
    """What the DR site holds for these systems, with room for what a failover creates.

    Every system counts one server of its flavor and its data volume: running (hot standby) or
    headroom for the restore server and the volume its backup is restored onto (cold). A
    `backup` policy adds the volume the backups land on. Root disks count as storage too:
    Nova's DISK_GB limit and Cinder's gigabytes both take `storage_gb`.
    """
    vcpu = ram_gb = storage_gb = 0
    for grant in grants:
        flavor = FLAVORS[grant.flavor]
        vcpu += flavor.vcpu
        ram_gb += flavor.ram_gb
        storage_gb += flavor.disk_gb + grant.volume_gb
        if policies[grant.tier].replication is Replication.BACKUP:
            storage_gb += grant.volume_gb
    return Quota(
        vcpu=vcpu,
        ram_gb=ram_gb,
        storage_gb=storage_gb,
        floating_ips=DR_SITE_FLOATING_IPS,
        networks=DR_SITE_NETWORKS,
    )


@dataclass(frozen=True)
class DrReplicaArgs:
    """Inputs of one department's counterpart at the DR site."""

    county_code: str
    department: str
    region: str
    project_id: pulumi.Input[str]
    compute_service_id: pulumi.Input[str]
    network: PlannedNetwork
    # The department's networks at the primary (IPv4 and IPv6 in pairs).
    primary_prefixes: tuple[str, ...]
    management_prefixes: tuple[str, ...]
    external_network_id: pulumi.Input[str]
    ipv4_pool_id: pulumi.Input[str]
    ipv6_pool_id: pulumi.Input[str]
    grants: tuple[ServerGrant, ...]  # the department's protected systems
    policies: Mapping[Tier, DrPolicy]
    provider: pulumi.ProviderResource


class DrReplica(pulumi.ComponentResource):
    """The DR-site quotas, network, security baseline, standbys and backup volumes of one
    department."""

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
            quotas=tenant_quotas(dr_site_quota(args.grants, args.policies)),
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
                networks=(args.network,),
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
                # Failback copies the DR server's data back to the primary's networks.
                replication_peers=args.primary_prefixes,
            ),
            opts=child,
        )
        # Standbys run on the DR network, whatever network the primary copy is on.
        hot = tuple(
            dataclasses.replace(g, network=DR_NETWORK)
            for g in args.grants
            if args.policies[g.tier].standby is Standby.HOT
        )
        if hot:
            Workload(
                f"{name}-standby",
                WorkloadArgs(
                    department=args.department,
                    region=args.region,
                    grants=hot,
                    network_ids=network.network_ids,
                    security_groups=tuple(security.group_names),
                    provider=args.provider,
                    role=WORKLOAD_DR_STANDBY,
                    replication={t: p.replication for t, p in args.policies.items()},
                ),
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[security])
                ),
            )
        backup_opts = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(provider=args.provider)
        )
        for grant in args.grants:
            policy = args.policies[grant.tier]
            if policy.replication is not Replication.BACKUP:
                continue
            openstack.blockstorage.Volume(
                f"{name}-{grant.system}-backup",
                name=tenant_resource_name(grant.department, f"{grant.system}-backup"),
                size=grant.volume_gb,
                metadata={
                    META_SYSTEM: system_ref(grant),
                    META_TIER: grant.tier.value,
                    META_ROLE: WORKLOAD_DR_BACKUP,
                    META_REPLICATION: policy.replication.value,
                },
                region=args.region,
                opts=backup_opts,
            )
        self.replicated = [system_ref(g) for g in args.grants]
        self.register_outputs({"replicated": self.replicated})
