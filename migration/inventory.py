"""The migration inventory: every system of the county as the planner sees it, and its progress.

`inventory(county)` reduces the county model to what planning needs, one frozen record per
system, grouped by department so that a re-plan can tell which departments changed by
comparing them. The YAML's `location` is where a system started; its progress is the
registry's (`Assignment`, read by `migration.store`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from govcloud.checks import move_group_key, system_ref
from govcloud.model import County, Location, MigrationSettings, Tier
from govcloud.registry.migration_state import ON_CLOUD_STATES, MigrationState

# Bits per byte and bytes per GB (decimal, as links and disks are sold).
BITS_PER_BYTE = 8
MB_PER_GB = 1000
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True, slots=True)
class InventorySystem:
    """One system: what it is, what it needs, where it runs, and where the county declares it."""

    ref: str  # "department/system"
    department: str
    name: str
    tier: Tier
    data_gb: float
    depends_on: tuple[str, ...]
    max_downtime_min: int
    on_cloud: bool  # location: cloud in the YAML
    classified: bool
    move_group: str | None  # its county-wide key, "department/group"
    index: tuple[int, int]  # (department, system) positions in the county document


@dataclass(frozen=True, slots=True)
class BlackoutWindow:
    """Days (both included) on which a department may not migrate."""

    start: dt.date
    end: dt.date
    reason: str | None

    def overlaps(self, first: dt.date, last: dt.date) -> bool:
        """Whether any day from `first` to `last` falls in the blackout."""
        return first <= self.end and self.start <= last


@dataclass(frozen=True, slots=True)
class DepartmentInventory:
    """A department's systems and blackouts; equal when nothing the planner reads changed."""

    code: str
    systems: tuple[InventorySystem, ...]
    blackouts: tuple[BlackoutWindow, ...]


@dataclass(frozen=True)
class Inventory:
    """The county's systems by department, with the county's migration settings."""

    settings: MigrationSettings
    departments: Mapping[str, DepartmentInventory]

    def systems(self) -> list[InventorySystem]:
        """Every system, in department order then the department's own order."""
        return [s for d in self.departments.values() for s in d.systems]

    @property
    def window_gb(self) -> float:
        """How much data crosses the link in one wave's transfer window."""
        return transfer_gb(self.settings)


def transfer_gb(settings: MigrationSettings) -> float:
    """GB that cross the migration link in one transfer window."""
    megabytes_per_s = settings.bandwidth_mbps / BITS_PER_BYTE
    return megabytes_per_s * settings.window_hours * SECONDS_PER_HOUR / MB_PER_GB


def transfer_hours(data_gb: float, settings: MigrationSettings) -> float:
    """Hours the link needs to carry `data_gb`."""
    megabytes_per_s = settings.bandwidth_mbps / BITS_PER_BYTE
    return data_gb * MB_PER_GB / megabytes_per_s / SECONDS_PER_HOUR


def inventory(county: County) -> Inventory:
    """The county's systems and blackouts, as frozen records."""
    departments: dict[str, DepartmentInventory] = {}
    for d_index, department in enumerate(county.departments):
        systems = tuple(
            InventorySystem(
                ref=system_ref(department.code, system.code),
                department=department.code,
                name=system.name,
                tier=system.tier,
                data_gb=system.data_gb,
                depends_on=tuple(system.depends_on),
                max_downtime_min=system.max_downtime_min,
                on_cloud=system.location is Location.CLOUD,
                classified=system.classified,
                move_group=(
                    move_group_key(department.code, system.move_group)
                    if system.move_group
                    else None
                ),
                index=(d_index, s_index),
            )
            for s_index, system in enumerate(department.systems)
        )
        blackouts = tuple(BlackoutWindow(b.start, b.end, b.reason) for b in department.blackouts)
        departments[department.code] = DepartmentInventory(department.code, systems, blackouts)
    return Inventory(county.migration, MappingProxyType(departments))


@dataclass(frozen=True, slots=True)
class Assignment:
    """A system's row in the registry: its wave, why, and where it is in the lifecycle."""

    system: str
    department: str
    wave: int | None
    why: str | None
    state: MigrationState

    @property
    def on_cloud(self) -> bool:
        """The cloud serves the system (cut over or later): a dependency, not work."""
        return self.state in ON_CLOUD_STATES

    @property
    def underway(self) -> bool:
        """The lifecycle holds the system (past planned, not yet on the cloud)."""
        return self.state is not MigrationState.PLANNED and not self.on_cloud
