"""Named numbers and names the components share, with the standard or rule that sets them."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from govcloud.model import Tier

# Component type tokens are `county:<area>:<Name>` (docs/stacks.md).
TOKEN_PREFIX: Final = "county"  # noqa: S105  (a type-token prefix, not a password)

# Tags that mark what govcloud manages. Keystone and Neutron tags may not hold "/" or ",".
TAG_MANAGED: Final = "govcloud"
TAG_COUNTY: Final = "county:"
TAG_DEPARTMENT: Final = "department:"
TAG_KIND: Final = "kind:"

# Keystone roles for the department groups: requesters use their tenant, approvers review it.
ROLE_REQUESTER: Final = "member"
ROLE_APPROVER: Final = "reader"

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


class Replication(StrEnum):
    """How a system is replicated to the DR site, by tier (domain brief: 关键应用双活)."""

    ACTIVE_ACTIVE = "active-active"
    ASYNCHRONOUS = "asynchronous"
    OFFSITE_BACKUP = "offsite-backup"


# Tier → replication mode and recovery point objective in minutes. Core systems run at both
# sites (no data loss); important systems replicate asynchronously within 15 minutes; general
# systems get a daily off-site backup (关键数据异地灾备).
REPLICATION: Final = {
    Tier.CORE: (Replication.ACTIVE_ACTIVE, 0),
    Tier.IMPORTANT: (Replication.ASYNCHRONOUS, 15),
    Tier.GENERAL: (Replication.OFFSITE_BACKUP, 24 * 60),
}
# Tiers whose tenant, networks and security baseline are built at the DR site.
DR_SITE_TIERS: Final = (Tier.CORE, Tier.IMPORTANT)
