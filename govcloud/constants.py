"""Named numbers and the standards or plans that set them."""

from typing import Final

# Administrative division codes are six digits (GB/T 2260).
ADMIN_CODE_PATTERN: Final = r"^\d{6}$"
# Department codes are short slugs: they become project names, file names and DNS labels.
DEPARTMENT_CODE_PATTERN: Final = r"^[a-z][a-z0-9-]{1,15}$"
SYSTEM_CODE_PATTERN: Final = r"^[a-z][a-z0-9-]{0,31}$"
# A dependency names another system as "department/system".
SYSTEM_REF_PATTERN: Final = r"^[a-z][a-z0-9-]{1,15}/[a-z][a-z0-9-]{0,31}$"

# IEEE 802.1Q: VLAN IDs 0 and 4095 are reserved.
VLAN_MIN: Final = 1
VLAN_MAX: Final = 4094

# IPv6 plans delegate on nibble boundaries so every level maps onto ip6.arpa zones (RFC 3596)
# and stays readable (RIPE-690 section 4).
NIBBLE_BITS: Final = 4
# SLAAC needs a /64 (RFC 4291 section 2.5.1, RFC 7421).
IPV6_SUBNET_PREFIXLEN: Final = 64
# Point-to-point links get a /127 (RFC 6164); router loopbacks a /128.
IPV6_P2P_PREFIXLEN: Final = 127
IPV6_LOOPBACK_PREFIXLEN: Final = 128
# RFC 3021: a /31 needs no network or broadcast address; a /32 is one host.
IPV4_P2P_PREFIXLEN: Final = 31

# Share of new and existing non-classified systems on the government cloud the plans aim for,
# by year, in percent ("上云为原则，不上云为例外"): the default of county.yaml's
# `migration.targets`.
CLOUD_RATE_TARGETS: Final = {2021: 70, 2022: 80, 2025: 95}

# Migration onto the cloud (迁移上云), the defaults of county.yaml's `migration:`.
# The plans give each county 1 Gbit/s to the extranet backbone.
MIGRATION_BANDWIDTH_MBPS: Final = 1000
# One weekend (Friday evening to Sunday evening) per wave.
MIGRATION_WINDOW_HOURS: Final = 48
# Ten systems per wave: what one operations team can test and watch through a cutover.
MIGRATION_MAX_SYSTEMS_PER_WAVE: Final = 10
MIGRATION_WAVE_EVERY_DAYS: Final = 14
# Pilot waves of general systems first, core systems last, once the team has practised.
MIGRATION_TIER_ORDER: Final = ("general", "important", "core")
# A move group is a name in its department, or "department/group" to join another's.
MOVE_GROUP_PATTERN: Final = r"^([a-z][a-z0-9-]{1,15}/)?[a-z][a-z0-9-]{0,31}$"

# The audit log's first entry chains to this value.
AUDIT_GENESIS_HASH: Final = "0" * 64
# Hash for the audit chain: SM3 (GB/T 32905-2016), as national-cryptography rules require.
AUDIT_HASH_ALGORITHM: Final = "sm3"

# Exit codes shared by every command (docs/architecture.md, "CLI shape").
EXIT_OK: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_UNREACHABLE: Final = 3

# Disaster recovery (灾备), the defaults of county.yaml's `dr:` (issue 15). Core systems: no
# acknowledged write lost, a running copy at the DR site (关键应用双活); important: asynchronous,
# within seconds; general: hourly backups to the DR site, restored on failover
# (关键数据异地灾备). RTOs are the drill targets: 30 s, 2 min, 10 min for 1 GB.
DR_POLICIES: Final = {
    "core": {"replication": "streaming-sync", "standby": "hot", "rpo_s": 0, "rto_s": 30},
    "important": {"replication": "streaming-async", "standby": "hot", "rpo_s": 5, "rto_s": 120},
    "general": {
        "replication": "backup",
        "standby": "cold",
        "rpo_s": 3600,
        "rto_s": 600,
        "backup_every_min": 60,
    },
}
DR_DRILL_EVERY_DAYS: Final = 90

# MLPS 2.0 protection levels (网络安全等级保护, GB/T 22239-2019 and GB/T 22240-2020): 第一级 to
# 第五级. The defaults of county.yaml's `mlps:`: core systems (政务服务, the county's shared
# data) and important ones are usually graded level 3, general systems (a township's service
# desk, an information site) level 2; a department without systems gets the default level.
MLPS_MIN_LEVEL: Final = 1
MLPS_MAX_LEVEL: Final = 5
MLPS_LEVEL_BY_TIER: Final = {"core": 3, "important": 3, "general": 2}
MLPS_DEFAULT_LEVEL: Final = 2
