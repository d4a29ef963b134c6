"""Every quota field of a tenant, derived from the department's granted quota (pure).

The provider zeroes any Neutron or Cinder quota field left unset (terraform-provider-openstack
#1838), so every field is computed here and set explicitly. The grant names five numbers; the
rest follow from them by the rules below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from govcloud.conventions import MIB_PER_GB, RC_DISK_GB, RC_MEMORY_MB, RC_VCPU, limit_name
from govcloud.model import Quota

# A server needs at least one vCPU, so a tenant never runs more servers than vCPUs.
SERVERS_PER_VCPU: Final = 1
# Dual-stack: every network has one IPv4 and one IPv6 subnet.
SUBNETS_PER_NETWORK: Final = 2
# One tenant router joins all its networks to the extranet; one more for a migration window.
ROUTERS: Final = 2
# Ports: one per server per network, plus the router interfaces and DHCP ports of each network.
PORTS_PER_NETWORK_OVERHEAD: Final = 4
# The baseline and database groups, the per-project default group and room for system groups.
SECURITY_GROUPS: Final = 10
SECURITY_GROUP_RULES: Final = 100
# Tenants use the county subnet pools; they never create their own.
SUBNET_POOLS: Final = 0
RBAC_POLICIES: Final = 0
# Volumes: a boot and a data volume per server; snapshots and backups as many as volumes.
VOLUMES_PER_SERVER: Final = 2


@dataclass(frozen=True)
class ComputeLimits:
    """Keystone unified limits for Nova (the local cloud and current Nova use them)."""

    servers: int
    vcpu: int
    memory_mb: int
    disk_gb: int

    def as_limits(self) -> dict[str, int]:
        """Keystone resource names to values."""
        return {
            "servers": self.servers,
            limit_name(RC_VCPU): self.vcpu,
            limit_name(RC_MEMORY_MB): self.memory_mb,
            limit_name(RC_DISK_GB): self.disk_gb,
        }


@dataclass(frozen=True)
class NetworkQuota:
    """Neutron quota, every field (the names are Neutron's)."""

    networks: int
    subnets: int
    ports: int
    routers: int
    floating_ips: int
    security_groups: int
    security_group_rules: int
    subnet_pools: int
    rbac_policies: int


@dataclass(frozen=True)
class VolumeQuota:
    """Cinder quota, every field (the names are Cinder's)."""

    volumes: int
    gigabytes: int
    snapshots: int
    backups: int
    backup_gigabytes: int
    per_volume_gigabytes: int
    groups: int


@dataclass(frozen=True)
class TenantQuotas:
    """All three services' quotas for one tenant."""

    compute: ComputeLimits
    network: NetworkQuota
    volume: VolumeQuota


UNLIMITED: Final = -1
VOLUME_GROUPS: Final = 0


def tenant_quotas(quota: Quota) -> TenantQuotas:
    """Every field of every service's quota from a department's grant."""
    servers = quota.vcpu * SERVERS_PER_VCPU
    return TenantQuotas(
        compute=ComputeLimits(
            servers=servers,
            vcpu=quota.vcpu,
            memory_mb=quota.ram_gb * MIB_PER_GB,
            disk_gb=quota.storage_gb,
        ),
        network=NetworkQuota(
            networks=quota.networks,
            subnets=quota.networks * SUBNETS_PER_NETWORK,
            ports=servers * quota.networks + quota.networks * PORTS_PER_NETWORK_OVERHEAD,
            routers=ROUTERS,
            floating_ips=quota.floating_ips,
            security_groups=SECURITY_GROUPS,
            security_group_rules=SECURITY_GROUP_RULES,
            subnet_pools=SUBNET_POOLS,
            rbac_policies=RBAC_POLICIES,
        ),
        volume=VolumeQuota(
            volumes=servers * VOLUMES_PER_SERVER,
            gigabytes=quota.storage_gb,
            snapshots=servers * VOLUMES_PER_SERVER,
            backups=servers * VOLUMES_PER_SERVER,
            backup_gigabytes=quota.storage_gb,
            per_volume_gigabytes=UNLIMITED,
            groups=VOLUME_GROUPS,
        ),
    )
