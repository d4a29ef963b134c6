"""The county model: the declared intent that every part of govcloud reads.

The model is loaded from `county/county.yaml` plus one file per department under
`county/departments/` (see `govcloud.loader`). Field checks live here; checks that span the
whole county (unique codes, dependencies, overlaps) live in `govcloud.checks` so that every
problem can be reported at once with its file and line.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Self

import netaddr
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from govcloud import constants


class Frozen(BaseModel):
    """Base for county data: unknown fields are errors, loaded data is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _parse_prefix(value: str, version: int | None) -> str:
    """Return the canonical form of a CIDR prefix, or raise ValueError naming the fix."""
    text = str(value).strip()
    if "/" not in text:
        raise ValueError(f"{text!r} is not a prefix: write it in CIDR form, e.g. 198.18.0.0/24")
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueError(f"{text!r} is not a valid IP prefix") from None
    if version is not None and network.version != version:
        raise ValueError(f"{text!r} is an IPv{network.version} prefix; IPv{version} is needed here")
    if network.ip != network.network:
        raise ValueError(f"{text!r} has host bits set; did you mean {network.cidr}?")
    return str(network.cidr)


def _ipv4_prefix(value: str) -> str:
    return _parse_prefix(value, 4)


def _ipv6_prefix(value: str) -> str:
    return _parse_prefix(value, 6)


def _any_prefix(value: str) -> str:
    return _parse_prefix(value, None)


IPv4Prefix = Annotated[str, AfterValidator(_ipv4_prefix)]
IPv6Prefix = Annotated[str, AfterValidator(_ipv6_prefix)]
AnyPrefix = Annotated[str, AfterValidator(_any_prefix)]
DepartmentCode = Annotated[str, Field(pattern=constants.DEPARTMENT_CODE_PATTERN)]
SystemCode = Annotated[str, Field(pattern=constants.SYSTEM_CODE_PATTERN)]
SystemRef = Annotated[str, Field(pattern=constants.SYSTEM_REF_PATTERN)]
NonNegativeInt = Annotated[int, Field(ge=0)]


def _mlps_level(value: int) -> int:
    if not constants.MLPS_MIN_LEVEL <= value <= constants.MLPS_MAX_LEVEL:
        raise ValueError(
            f"{value} is no MLPS protection level: levels run from {constants.MLPS_MIN_LEVEL} "
            f"(第一级) to {constants.MLPS_MAX_LEVEL} (第五级)"
        )
    return value


# An MLPS 2.0 protection level (等级保护级别), 1 to 5.
MlpsLevel = Annotated[int, AfterValidator(_mlps_level)]
PositiveInt = Annotated[int, Field(gt=0)]
# A move group is named within its department ("his") or, to join another department's group,
# as "department/group" ("wjj/his").
MoveGroup = Annotated[str, Field(pattern=constants.MOVE_GROUP_PATTERN)]


class SiteRole(StrEnum):
    """What a cloud site is for."""

    PRIMARY = "primary"
    DR = "dr"


class DepartmentKind(StrEnum):
    """County departments (委办局) and townships (乡镇/街道) get separate address blocks."""

    DEPARTMENT = "department"
    TOWNSHIP = "township"


class Tier(StrEnum):
    """How critical a system is; the tier decides its DR treatment."""

    CORE = "core"
    IMPORTANT = "important"
    GENERAL = "general"


class Replication(StrEnum):
    """How a system's data reaches the DR site (灾备): the tokens `govcloud dr status` prints."""

    STREAMING_SYNC = "streaming-sync"  # synchronous, a commit waits for the DR copy to apply it
    STREAMING_ASYNC = "streaming-async"  # asynchronous, the DR copy follows within seconds
    BACKUP = "backup"  # scheduled backups to the DR site, restored on failover
    NONE = "none"  # nothing at the DR site (a system the cloud does not run yet)


class Standby(StrEnum):
    """What waits at the DR site: a running copy, or a server a backup is restored onto."""

    HOT = "hot"
    COLD = "cold"


class Location(StrEnum):
    """Where a system runs today."""

    LEGACY = "legacy"
    CLOUD = "cloud"


class Site(Frozen):
    """A cloud site: the primary government cloud or the off-site DR node."""

    name: Annotated[str, Field(min_length=1)]
    role: SiteRole
    region: Annotated[str, Field(min_length=1)]


class IPv6Plan(Frozen):
    """Prefix lengths per level of the hierarchical IPv6 plan."""

    block: int = Field(default=36, description="per site/kind block carved from the county prefix")
    department: int = 48
    township: int = 48
    subnet: int = constants.IPV6_SUBNET_PREFIXLEN


class Extranet(Frozen):
    """The e-government extranet (电子政务外网) address space of the county."""

    ipv4_pools: Annotated[list[IPv4Prefix], Field(min_length=1)]
    ipv6_prefix: IPv6Prefix
    ipv6_plan: IPv6Plan = IPv6Plan()


class Quota(Frozen):
    """A department's cloud quota; every field is explicit (unset is not zero)."""

    vcpu: NonNegativeInt
    ram_gb: NonNegativeInt
    storage_gb: NonNegativeInt
    floating_ips: NonNegativeInt
    networks: NonNegativeInt


class LegacyNetwork(Frozen):
    """A department private network (部门业务专网) that must join the extranet."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    prefix: IPv4Prefix
    vrf: str | None = None
    vlan: Annotated[int, Field(ge=constants.VLAN_MIN, le=constants.VLAN_MAX)] | None = None
    hosts: NonNegativeInt
    renumber: bool = True


class System(Frozen):
    """A department's business system (业务系统)."""

    code: SystemCode
    name: Annotated[str, Field(min_length=1)]
    tier: Tier
    data_gb: Annotated[float, Field(ge=0)]
    depends_on: list[SystemRef] = []
    max_downtime_min: NonNegativeInt
    location: Location
    classified: bool = False
    # Its MLPS protection level; unset: its tier's level (county.yaml `mlps.levels`).
    mlps_level: MlpsLevel | None = None
    # Systems that must move in the same wave (an application and its database that cannot
    # bear the extranet's latency between them).
    move_group: MoveGroup | None = None


class Blackout(Frozen):
    """Days on which a department's systems may not migrate (both days included)."""

    start: dt.date
    end: dt.date
    reason: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(
                f"the blackout ends ({self.end}) before it starts ({self.start}); swap the dates"
            )
        return self


class Department(Frozen):
    """A county department or township, as declared in its own file."""

    code: DepartmentCode
    name: Annotated[str, Field(min_length=1)]
    kind: DepartmentKind
    quota: Quota
    legacy_networks: list[LegacyNetwork] = []
    systems: list[System] = []
    # Every host and service of the department works over IPv6 alone: the IPv6 cutover may
    # withdraw IPv4 from its LANs (the others stay dual-stack).
    ipv6_ready: bool = False
    # Days the department may not migrate (a tax deadline, an exam week): no wave that falls on
    # them takes its systems.
    blackouts: list[Blackout] = []


HOURS_PER_DAY = 24


def _default_targets() -> dict[int, int]:
    return dict(constants.CLOUD_RATE_TARGETS)


def _default_tier_order() -> list[Tier]:
    return [Tier(tier) for tier in constants.MIGRATION_TIER_ORDER]


class MigrationSettings(Frozen):
    """How the county migrates onto the cloud (迁移上云): bandwidth, waves and their order."""

    # The link the migration copies over, in Mbit/s (the plans give each county 1 Gbit/s).
    bandwidth_mbps: PositiveInt = constants.MIGRATION_BANDWIDTH_MBPS
    # Each wave's transfer window in hours: its data must cross the link within it.
    window_hours: PositiveInt = constants.MIGRATION_WINDOW_HOURS
    max_systems_per_wave: PositiveInt = constants.MIGRATION_MAX_SYSTEMS_PER_WAVE
    # The first wave's date, and the days between waves. Without a start the waves are
    # numbered but undated, and departments cannot declare blackouts.
    start: dt.date | None = None
    wave_every_days: PositiveInt = constants.MIGRATION_WAVE_EVERY_DAYS
    # Tiers in the order they move: pilot waves of general systems first, core systems last.
    # `phase_by_tier: false` mixes the tiers (dependencies still come first).
    tier_order: list[Tier] = Field(default_factory=_default_tier_order)
    phase_by_tier: bool = True
    # On-cloud targets (上云率) per year, in percent.
    targets: dict[Annotated[int, Field(ge=2000, le=2100)], Annotated[int, Field(ge=0, le=100)]] = (
        Field(default_factory=_default_targets, min_length=1)
    )

    def wave_days(self, number: int) -> tuple[dt.date, dt.date] | None:
        """The first and last day of wave `number`'s transfer window (None when undated)."""
        if self.start is None:
            return None
        first = self.start + dt.timedelta(days=(number - 1) * self.wave_every_days)
        days = max(1, math.ceil(self.window_hours / HOURS_PER_DAY))
        return first, first + dt.timedelta(days=days - 1)

    @model_validator(mode="after")
    def _every_tier_once(self) -> Self:
        if sorted(self.tier_order) != sorted(Tier):
            raise ValueError(
                "tier_order must name each tier once: "
                + ", ".join(constants.MIGRATION_TIER_ORDER)
                + f" in the order they move (got {', '.join(t.value for t in self.tier_order)})"
            )
        return self


class DrPolicy(Frozen):
    """One tier's protection at the DR site: how the data gets there, what waits there, and
    the recovery point and time objectives a drill is measured against."""

    replication: Replication
    standby: Standby
    rpo_s: Annotated[float, Field(ge=0)]
    rto_s: Annotated[float, Field(gt=0)]
    # Backups only: how often one is taken (the recovery point can be no better than this).
    backup_every_min: PositiveInt | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        streaming = self.replication in {Replication.STREAMING_SYNC, Replication.STREAMING_ASYNC}
        if self.replication is Replication.NONE:
            raise ValueError(
                "a tier's policy must replicate: streaming-sync, streaming-async or backup"
            )
        if streaming and self.standby is not Standby.HOT:
            raise ValueError(
                f"{self.replication.value} streams into a running copy: standby must be hot"
            )
        if streaming and self.backup_every_min is not None:
            raise ValueError("backup_every_min applies to replication: backup only")
        if self.replication is Replication.STREAMING_SYNC and self.rpo_s != 0:
            raise ValueError("streaming-sync loses no acknowledged write: rpo_s must be 0")
        if self.replication is Replication.STREAMING_ASYNC and self.rpo_s == 0:
            raise ValueError(
                "streaming-async can lose the last seconds: give rpo_s > 0, or use streaming-sync"
            )
        if self.replication is Replication.BACKUP:
            if self.backup_every_min is None:
                raise ValueError("replication: backup needs backup_every_min")
            if self.rpo_s < self.backup_every_min * 60:
                raise ValueError(
                    f"backups every {self.backup_every_min} min lose up to "
                    f"{self.backup_every_min * 60} s: rpo_s must be at least that"
                )
        return self


def _default_dr_policies() -> dict[Tier, DrPolicy]:
    return {Tier(tier): DrPolicy(**policy) for tier, policy in constants.DR_POLICIES.items()}


class DrSettings(Frozen):
    """Disaster recovery (灾备): each tier's policy, and how often each system is drilled."""

    policies: dict[Tier, DrPolicy] = Field(default_factory=_default_dr_policies)
    # A system whose last successful drill is older than this is overdue (常态化演练).
    drill_every_days: PositiveInt = constants.DR_DRILL_EVERY_DAYS

    def protects(self, tier: Tier) -> bool:
        """Whether a system of this tier has something at the DR site (its policy replicates)."""
        return self.policies[tier].replication is not Replication.NONE

    @model_validator(mode="after")
    def _every_tier(self) -> Self:
        missing = [tier.value for tier in Tier if tier not in self.policies]
        if missing:
            raise ValueError(
                f"dr.policies must give every tier a policy; missing: {', '.join(missing)}"
            )
        return self


def _default_mlps_levels() -> dict[Tier, int]:
    return {Tier(tier): level for tier, level in constants.MLPS_LEVEL_BY_TIER.items()}


class MlpsSettings(Frozen):
    """MLPS protection levels (等级保护): each tier's level, for systems that give none, and the
    level of a department with no system."""

    levels: dict[Tier, MlpsLevel] = Field(default_factory=_default_mlps_levels)
    default_level: MlpsLevel = constants.MLPS_DEFAULT_LEVEL

    @model_validator(mode="after")
    def _every_tier(self) -> Self:
        missing = [tier.value for tier in Tier if tier not in self.levels]
        if missing:
            defaults = ", ".join(f"{t} {n}" for t, n in constants.MLPS_LEVEL_BY_TIER.items())
            raise ValueError(
                f"levels must give every tier a level; missing: {', '.join(missing)} "
                f"(leave levels out for the defaults: {defaults})"
            )
        return self


class CountyFile(Frozen):
    """The contents of county.yaml: everything but the departments."""

    code: Annotated[str, Field(pattern=constants.ADMIN_CODE_PATTERN)]
    name: Annotated[str, Field(min_length=1)]
    sites: Annotated[list[Site], Field(min_length=1)]
    extranet: Extranet
    migration: MigrationSettings = MigrationSettings()
    dr: DrSettings = DrSettings()
    mlps: MlpsSettings = MlpsSettings()


class County(CountyFile):
    """The whole county: county.yaml plus every department file."""

    departments: list[Department] = []

    def department(self, code: str) -> Department:
        """Return the department with this code (KeyError if none)."""
        for department in self.departments:
            if department.code == code:
                return department
        raise KeyError(code)

    def system_level(self, system: System) -> int:
        """A system's MLPS level: its own, else its tier's."""
        return system.mlps_level if system.mlps_level is not None else self.mlps.levels[system.tier]

    def department_level(self, department: Department) -> int:
        """The MLPS level of a department's tenant: the highest of its systems' levels (a
        classified system is outside MLPS and never on the cloud); the county's default
        level when it has no other system."""
        levels = [self.system_level(s) for s in department.systems if not s.classified]
        return max(levels, default=self.mlps.default_level)

    def site(self, role: SiteRole) -> Site:
        """Return the first site with this role (KeyError if none)."""
        for site in self.sites:
            if site.role is role:
                return site
        raise KeyError(role)
