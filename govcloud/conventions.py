"""The conventions every part of govcloud shares, defined once: names, tags, type tokens,
roles, flavors and stack names, with the standard or rule that sets them.

The stacks write these names and tags; `govcloud plan`, the portal's live usage, the policy pack
and the local cloud read them. Anything that finds a resource the stacks built goes through
here, so the writer and the readers cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from govcloud.model import SiteRole, Tier

# The Pulumi project and its stacks: one per site, named after the site's role.
PULUMI_PROJECT: Final = "county-cloud"
STACK_SITE: Final = {"primary": SiteRole.PRIMARY, "dr": SiteRole.DR}
STACKS: Final = tuple(STACK_SITE)

# Component type tokens are `county:<area>:<Name>` (docs/stacks.md).
TOKEN_PREFIX: Final = "county"  # noqa: S105  (a type-token prefix, not a password)

# Tags that mark what govcloud manages. Keystone and Neutron tags may not hold "/" or ",".
TAG_MANAGED: Final = "govcloud"
TAG_COUNTY: Final = "county:"
TAG_DEPARTMENT: Final = "department:"
TAG_KIND: Final = "kind:"
# A project's MLPS protection level (GB/T 22239-2019 8.2.2.1 a): each tenant's level is
# recorded): `mlps:<level>`, the highest level of the department's systems.
TAG_MLPS: Final = "mlps:"
# The platform's own level: the county cloud is built and assessed to MLPS level 3 (the
# catalogue, audit/catalogue.py, checks level-3 requirements), and it may carry no system
# above its own level (8.2.2.1 a)). A higher platform needs a higher catalogue, not a setting.
PLATFORM_MLPS_LEVEL: Final = 3

# Keystone roles for the department groups: requesters use their tenant, approvers review it;
# the deployer operates every tenant it creates.
ROLE_REQUESTER: Final = "member"
ROLE_APPROVER: Final = "reader"
ROLE_OPERATOR: Final = "member"


class OpenStackType(StrEnum):
    """The Pulumi type tokens of the OpenStack resources the stacks declare."""

    PROJECT = "openstack:identity/project:Project"
    GROUP = "openstack:identity/groupV3:GroupV3"
    ROLE_ASSIGNMENT = "openstack:identity/roleAssignment:RoleAssignment"
    LIMIT = "openstack:identity/limitV3:LimitV3"
    NET_QUOTA = "openstack:networking/quotaV2:QuotaV2"
    VOL_QUOTA = "openstack:blockstorage/quoteSetV3:QuoteSetV3"
    SCOPE = "openstack:networking/addressScope:AddressScope"
    POOL = "openstack:networking/subnetPool:SubnetPool"
    NETWORK = "openstack:networking/network:Network"
    SUBNET = "openstack:networking/subnet:Subnet"
    ROUTER = "openstack:networking/router:Router"
    INTERFACE = "openstack:networking/routerInterface:RouterInterface"
    SECGROUP = "openstack:networking/secGroup:SecGroup"
    RULE = "openstack:networking/secGroupRule:SecGroupRule"
    SERVER = "openstack:compute/instance:Instance"
    VOLUME = "openstack:blockstorage/volume:Volume"
    ATTACH = "openstack:compute/volumeAttach:VolumeAttach"


# Server and volume metadata: which system a resource serves and its part in it.
META_SYSTEM: Final = "govcloud:system"
META_TIER: Final = "govcloud:tier"
META_ROLE: Final = "govcloud:role"
META_REPLICATION: Final = "govcloud:replication"
META_REQUEST: Final = "govcloud:request"  # the portal request that granted the resource
# Values of META_ROLE: the primary copy; at the DR site, a hot standby (streaming policies) or
# the volume a `backup` policy's backups land on. META_REPLICATION holds the tier's policy
# token (`govcloud.model.Replication`, county.yaml `dr.policies`).
WORKLOAD_PRIMARY: Final = "primary"
WORKLOAD_DR_STANDBY: Final = "dr-standby"
WORKLOAD_DR_BACKUP: Final = "dr-backup"

# Management ports reachable only from the ops management prefixes (MLPS 2.0 level 3,
# 8.1.3.1 access control; 8.1.4.2 remote management over controlled channels).
SSH_PORT: Final = 22  # RFC 4253
RDP_PORT: Final = 3389  # MS-RDPBCGR
MANAGEMENT_PORTS: Final = (SSH_PORT, RDP_PORT)
# Database ports reachable only from inside the tenant: SQL Server, Oracle, MySQL, DM (达梦),
# PostgreSQL, Kingbase (人大金仓), the engines the county's systems use.
DATABASE_PORTS: Final = (1433, 1521, 3306, 5236, 5432, 54321)

ETHERTYPES: Final = ("IPv4", "IPv6")
ANY_PREFIX: Final = {"IPv4": "0.0.0.0/0", "IPv6": "::/0"}
ICMP_PROTOCOL: Final = {"IPv4": "icmp", "IPv6": "ipv6-icmp"}

# IPv6 tenant subnets use SLAAC (RFC 4862): radvd on the router, no DHCPv6.
IPV6_MODE: Final = "slaac"


@dataclass(frozen=True, slots=True)
class Flavor:
    """A server size: vCPUs, RAM in MiB (as Nova counts it) and root disk in GiB."""

    name: str
    vcpu: int
    ram_mib: int
    disk_gb: int

    @property
    def ram_gb(self) -> int:
        """RAM in whole GB, as the quota counts it (rounded up)."""
        return -(-self.ram_mib // MIB_PER_GB)


MIB_PER_GB: Final = 1024
# The classic m1 flavors: the local cloud creates them, the portal offers them, observed usage
# counts them. m1.tiny's 512 MiB is not a whole GB of the ram_gb quota: it is for throw-away
# test servers and is not requestable.
FLAVORS: Final = {
    f.name: f
    for f in (
        Flavor("m1.tiny", 1, 512, 1),
        Flavor("m1.small", 1, 2048, 20),
        Flavor("m1.medium", 2, 4096, 40),
        Flavor("m1.large", 4, 8192, 80),
        Flavor("m1.xlarge", 8, 16384, 160),
    )
}
TEST_FLAVOR: Final = "m1.tiny"
REQUESTABLE_FLAVORS: Final = {name: f for name, f in FLAVORS.items() if name != TEST_FLAVOR}
# A system's server flavor by tier.
FLAVOR_BY_TIER: Final = {
    Tier.CORE: "m1.large",
    Tier.IMPORTANT: "m1.medium",
    Tier.GENERAL: "m1.small",
}
# The platform image the local cloud uploads; production sets its own.
DEFAULT_IMAGE: Final = "govcloud-tiny"
# Cinder sizes are whole GiB; a system with no data still gets a minimal volume.
MIN_VOLUME_GB: Final = 1
# A compute request names no tier: its servers are general, and being no system of the county
# they get nothing at the DR site, until a request form asks for more.
REQUEST_SERVER_TIER: Final = Tier.GENERAL

# Names of what portal requests grant: they come from the request id, so they never move when
# other requests come and go.
REQUESTED_NETWORK_PREFIX: Final = "req-"


def request_resource_name(request_id: int, index: int) -> str:
    """The name of a request's `index`-th server or volume (from 1): `req<id>-<index>`."""
    return f"req{request_id}-{index}"


def requested_network_name(request_id: int, name: str) -> str:
    """The plan's name for a network granted by portal request `request_id`."""
    return f"{REQUESTED_NETWORK_PREFIX}{request_id}-{name}"


# The department network migrated systems land on: its own prefixes from the network plan, so
# a system's cloud server never shares a subnet with the department LAN it comes from (the
# copy, the rollback and the clients need a routed path between the two). Planned like a
# portal-granted network once the department has a system in the migration registry.
MIGRATION_NETWORK: Final = "migrated"
MIGRATION_NETWORK_HOSTS: Final = 60  # a /26: room for a department's migrated servers


# The department network at the DR site: its own prefixes from the network plan (IPv4 from the
# extranet pools, a /64 from the DR site's IPv6 block), because streaming from the primary
# needs a routed path between the two copies, which a shared subnet cannot give. Planned once
# the department has a system its tier's DR policy protects; standbys and restore servers join
# it.
DR_NETWORK: Final = "dr-site"
DR_NETWORK_HOSTS: Final = 60  # room for a standby or a restore server per system


def tenant_resource_name(department: str, name: str) -> str:
    """The physical name of a server, volume or network in a department's tenant:
    `<department>-<name>` (e.g. `jyj-req7-1`, `jyj-req-9-video`, `jyj-office`)."""
    return f"{department}-{name}"


# Placement resource classes (os-resource-classes) that the quotas map to, and Keystone's
# unified-limit names for them (Nova reads limits named `class:<resource class>`).
RC_VCPU: Final = "VCPU"
RC_MEMORY_MB: Final = "MEMORY_MB"
RC_DISK_GB: Final = "DISK_GB"
CAPACITY_CLASSES: Final = (RC_VCPU, RC_MEMORY_MB, RC_DISK_GB)
LIMIT_CLASS_PREFIX: Final = "class:"
# The compute service's type in the Keystone catalog (unified limits are per service).
COMPUTE_SERVICE_TYPE: Final = "compute"


def limit_name(resource_class: str) -> str:
    """The Keystone unified-limit name of a Placement resource class: `class:VCPU`."""
    return f"{LIMIT_CLASS_PREFIX}{resource_class}"


# Physical names carry the department code, so a department's resources are found by name in
# any listing, and `govcloud plan` matches live resources to desired ones by (kind, region,
# project, name). Projects carry the county code as well: several counties can share a cloud.
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def slug(text: str) -> str:
    """A name-safe form of a prefix or label: 198.18.0.0/24 → 198-18-0-0-24."""
    return _UNSAFE.sub("-", text).strip("-").lower()


def project_name(county_code: str, department: str) -> str:
    """The Keystone project of a department: `<county>-<department>`."""
    return f"{county_code}-{department}"


def mlps_tag(level: int) -> str:
    """The tag recording an MLPS protection level: `mlps:3`."""
    return f"{TAG_MLPS}{level}"


def mlps_levels_of(tags: Iterable[str]) -> list[int | None]:
    """The level of each `mlps:` tag among `tags`, None for a tag that names no level."""
    return [
        int(level) if level.isdigit() else None
        for tag in tags
        if tag.startswith(TAG_MLPS)
        for level in [tag.removeprefix(TAG_MLPS)]
    ]


def project_tags(county_code: str, department: str, kind: str, mlps_level: int) -> list[str]:
    """Tags that mark a project as this county's department tenant, with its MLPS level
    (`County.department_level`)."""
    return [
        TAG_MANAGED,
        f"{TAG_COUNTY}{county_code}",
        f"{TAG_DEPARTMENT}{department}",
        f"{TAG_KIND}{kind}",
        mlps_tag(mlps_level),
    ]


def county_tags(county_code: str) -> list[str]:
    """Tags for county-wide resources (extranet fabric)."""
    return [TAG_MANAGED, f"{TAG_COUNTY}{county_code}"]


def security_group_name(department: str, role: str) -> str:
    """`<department>-baseline` or `<department>-database`."""
    return f"{department}-{role}"


def department_from_tags(tags: list[str] | tuple[str, ...], county_code: str) -> str | None:
    """The department a project belongs to, from the tags `project_tags` writes; None when the
    project is not one of this county's department tenants."""
    found = set(tags)
    if TAG_MANAGED not in found or f"{TAG_COUNTY}{county_code}" not in found:
        return None
    for tag in tags:
        if tag.startswith(TAG_DEPARTMENT):
            return tag.removeprefix(TAG_DEPARTMENT)
    return None


# A department system's service name: clients reach it by name, so migration and failover
# move the name, not the clients (RFC 2606 reserves .example).
SYSTEM_SERVICE_DOMAIN: Final = "svc.extranet.example"


def system_service_name(system_ref: str) -> str:
    """`<system>.<department>.svc.extranet.example` for `department/system`."""
    department, _, system = system_ref.partition("/")
    return f"{system}.{department}.{SYSTEM_SERVICE_DOMAIN}"
