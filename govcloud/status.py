"""County status: quotas, systems by tier and the on-cloud rate (上云率) per department."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from govcloud.model import County, Department, Location, Quota, Tier


class DepartmentStatus(BaseModel):
    """One department's row in `govcloud status`."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    kind: str
    quota: Quota
    systems: int
    by_tier: dict[Tier, int]
    on_cloud: int
    legacy: int
    classified: int
    eligible: int
    cloud_rate: float | None
    meets_target: bool | None


class CountyStatus(BaseModel):
    """The county total and every department's status."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    # The target in force this year (a fraction), the year that set it, and every year's.
    target: float
    target_year: int
    targets: dict[int, int]
    departments: list[DepartmentStatus]
    total: DepartmentStatus


def _rate(on_cloud: int, eligible: int) -> float | None:
    return on_cloud / eligible if eligible else None


def target_in_force(targets: Mapping[int, int], year: int) -> tuple[int, float]:
    """The year and target (a fraction) that hold in `year`: the latest year's at or before it,
    or, before the first, the first one, which the county is working towards."""
    years = sorted(targets)
    held = [y for y in years if y <= year]
    chosen = held[-1] if held else years[0]
    return chosen, targets[chosen] / 100


def _status_of(  # noqa: PLR0917  (a row's parts)
    code: str,
    name: str,
    kind: str,
    quota: Quota,
    departments: list[Department],
    moved: frozenset[str],
    target: float,
) -> DepartmentStatus:
    systems = [(d.code, system) for d in departments for system in d.systems]
    tiers = Counter(system.tier for _, system in systems)
    on_cloud = sum(
        1
        for department, system in systems
        if system.location is Location.CLOUD or f"{department}/{system.code}" in moved
    )
    systems_only = [system for _, system in systems]
    classified = sum(1 for system in systems_only if system.classified)
    # Classified (涉密) systems may never move, so the rate counts only systems that may.
    eligible = len(systems) - classified
    rate = _rate(on_cloud, eligible)
    return DepartmentStatus(
        code=code,
        name=name,
        kind=kind,
        quota=quota,
        systems=len(systems),
        by_tier={tier: tiers.get(tier, 0) for tier in Tier},
        on_cloud=on_cloud,
        legacy=len(systems) - on_cloud,
        classified=classified,
        eligible=eligible,
        cloud_rate=rate,
        meets_target=None if rate is None else rate >= target,
    )


def county_status(
    county: County, moved: frozenset[str] = frozenset(), year: int | None = None
) -> CountyStatus:
    """Compute the status of every department and the county total. `moved` are the systems
    the migration registry shows cut over (its ON_CLOUD_STATES): the YAML's `location` is
    where a system started, not where it runs now. Rates are judged against the target in
    force in `year` (this year by default)."""
    targets = county.migration.targets
    target_year, target = target_in_force(targets, year or dt.datetime.now(dt.UTC).year)
    rows = [
        _status_of(d.code, d.name, d.kind.value, d.quota, [d], moved, target)
        for d in county.departments
    ]
    total_quota = Quota(
        **{
            field: sum(getattr(d.quota, field) for d in county.departments)
            for field in Quota.model_fields
        }
    )
    total = _status_of(
        "total",
        f"{county.name}合计",
        "county",
        total_quota,
        list(county.departments),
        moved,
        target,
    )
    return CountyStatus(
        code=county.code,
        name=county.name,
        target=target,
        target_year=target_year,
        targets=dict(sorted(targets.items())),
        departments=rows,
        total=total,
    )
