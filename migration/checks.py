"""What the county data must hold before waves can be planned, every problem at once.

`check_migration` is a `govcloud.checks.Check`: the loader runs it after the county's own rules
and places each finding at its file, line and column, so `govcloud migrate plan` reports every
problem of the county and of its migration in one list (exit 2, nothing written).

Errors (the planner could not keep its rules):
- a system, or a move group, whose data fits no wave's transfer window, or a move group with
  more systems than a wave takes;
- a department whose quota cannot hold its systems once they are on the cloud (each system
  gets its tier's flavor and a volume of its data, as the stacks deploy it);
- blackout days while the waves have no dates (`migration.start`).

Warnings (shown with their place; planning goes on):
- a system that moves depending on a classified (涉密) system. The classified system never
  moves, so the dependency will cross from the cloud to the classified network through the
  county's approved exchange; that is a decision for the department and its security officer,
  not a contradiction in the data, and it happens today in real counties (public-security
  query services read classified systems through gateways). Refusing it would block every such
  county from planning at all; staying silent would hide a link that must be approved.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from desired.grants import system_grant
from govcloud.checks import Finding, Path, Severity
from govcloud.conventions import FLAVORS
from govcloud.model import County, Location
from govcloud.quota import QUOTA_RESOURCES, Amounts, total
from migration.graph import build_graph
from migration.inventory import Inventory, InventorySystem, inventory, transfer_hours


def check_migration(county: County) -> list[Finding]:
    """Every migration problem of the county (the module docstring lists them)."""
    found = inventory(county)
    findings: list[Finding] = []
    findings += _classified_dependencies(found)
    findings += _too_big(found)
    findings += _quotas(county)
    findings += _blackouts_need_dates(county)
    return findings


def _system_path(system: InventorySystem, *rest: str | int) -> Path:
    d_index, s_index = system.index
    return ("departments", d_index, "systems", s_index, *rest)


def _movable(system: InventorySystem) -> bool:
    return not system.classified and not system.on_cloud


def _classified_dependencies(found: Inventory) -> Iterator[Finding]:
    classified = {s.ref for s in found.systems() if s.classified}
    for system in found.systems():
        if not _movable(system):
            continue
        for k, target in enumerate(system.depends_on):
            if target in classified:
                yield Finding(
                    _system_path(system, "depends_on", k),
                    f"{system.ref} will move to the cloud but depends on classified (涉密) "
                    f"system {target}, which never moves: the dependency must cross to the "
                    "classified network through the approved exchange, or be removed",
                    Severity.WARNING,
                )


def _too_big(found: Inventory) -> Iterator[Finding]:
    settings = found.settings
    movable = [s for s in found.systems() if _movable(s)]
    by_ref = {s.ref: s for s in movable}
    graph = build_graph(movable, settings.tier_order, by_tier=False)
    window = found.window_gb
    for unit in graph.units:
        first = by_ref[unit.members[0]]
        alone = len(unit.members) == 1
        where = _system_path(first, "data_gb" if alone else "move_group")
        what = (
            first.ref
            if alone
            else f"move group {', '.join(unit.groups)} ({', '.join(unit.members)})"
        )
        if unit.data_gb > window:
            hours = transfer_hours(unit.data_gb, settings)
            need_mbps = math.ceil(settings.bandwidth_mbps * hours / settings.window_hours)
            yield Finding(
                where,
                f"{what} holds {unit.data_gb:,.0f} GB, which fits no wave: at "
                f"{settings.bandwidth_mbps} Mbit/s it needs {hours:,.1f} h and a wave's "
                f"transfer window is {settings.window_hours} h ({window:,.0f} GB); set "
                f"migration.window_hours to {math.ceil(hours)} or more, or "
                f"migration.bandwidth_mbps to {need_mbps} or more, in county.yaml",
            )
        if len(unit.members) > settings.max_systems_per_wave:
            yield Finding(
                where,
                f"{what} must move in one wave, and a wave takes at most "
                f"{settings.max_systems_per_wave} systems: raise "
                "migration.max_systems_per_wave or split the group",
            )


def _quotas(county: County) -> Iterator[Finding]:
    for d_index, department in enumerate(county.departments):
        grants = [system_grant(department, s) for s in department.systems if not s.classified]
        if not any(s.location is Location.LEGACY for s in department.systems if not s.classified):
            continue  # nothing of it migrates: its quota is the stacks' and the portal's matter
        need = total(
            Amounts(
                vcpu=FLAVORS[g.flavor].vcpu,
                ram_gb=FLAVORS[g.flavor].ram_gb,
                storage_gb=g.volume_gb,
            )
            for g in grants
        )
        have = Amounts.from_quota(department.quota)
        for resource in QUOTA_RESOURCES:
            needed, quota = getattr(need, resource), getattr(have, resource)
            if needed > quota:
                yield Finding(
                    ("departments", d_index, "quota", resource),
                    f"{department.code}'s {len(grants)} systems need {resource} {needed} on "
                    f"the cloud once migrated (each its tier's flavor and a volume of its "
                    f"data), but quota.{resource} is {quota}: raise it to {needed} or more",
                )


def _blackouts_need_dates(county: County) -> Iterator[Finding]:
    if county.migration.start is not None:
        return
    for d_index, department in enumerate(county.departments):
        for b_index, _ in enumerate(department.blackouts):
            yield Finding(
                ("departments", d_index, "blackouts", b_index),
                f"{department.code} declares blackout days, but the waves have no dates: set "
                "migration.start (the first wave's date) in county.yaml",
            )
