"""Benchmark of the wave planner at province scale (issue 14: migration onto the cloud).

A synthetic province, generated from a seed: 2,000 departments x 25 systems = 50,000 systems,
dependency chains up to 20 deep (each system at level l depends on one at level l-1, sometimes
on one more below), 5% of the systems in move groups of 2-3 (same department and level), 10%
already on the cloud, 2% classified, tiers 50/30/20% general/important/core, a blackout for one
department in ten. The province's link: 10 Gbit/s, 48 h windows, 200 systems per wave.

1. The planner (`migration.waves.plan_waves`: move groups, tiers, blackouts, windows, reasons)
   against the baseline measured in the same run: a plain topological sort (graphlib) with
   first-fit waves by systems and data, no groups, tiers, blackouts or reasons.
2. Adding one department (25 systems depending on the province's) and planning again with the
   first plan as the registry's assignments: the time, and the check that no planned system
   moved (the benchmark fails if one did).

Goals: the full plan under 5 s, adding a department under 100 ms. Each part runs in its own
child process, so every peak RSS belongs to one side only.

Run: .venv/bin/python bench/bench_migration_plan.py [--departments 2000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from graphlib import TopologicalSorter
from types import MappingProxyType
from typing import Any

from bench_network import in_child  # bench/ is the script's folder, so on its path

from govcloud.model import MigrationSettings, Tier
from migration.inventory import (
    BlackoutWindow,
    DepartmentInventory,
    Inventory,
    InventorySystem,
    transfer_gb,
)
from migration.waves import plan_waves, replan

SYSTEMS_PER_DEPARTMENT = 25
CHAIN_DEPTH = 20
GROUP_SHARE = 0.05
ON_CLOUD_SHARE = 0.10
CLASSIFIED_SHARE = 0.02
BLACKOUT_SHARE = 0.10
TIERS = (Tier.GENERAL,) * 5 + (Tier.IMPORTANT,) * 3 + (Tier.CORE,) * 2
SETTINGS = MigrationSettings(
    bandwidth_mbps=10_000,  # the provincial backbone
    window_hours=48,
    max_systems_per_wave=200,
    start=dt.date(2027, 3, 6),
    wave_every_days=7,
)
REPEATS = 5


def department(
    rng: random.Random, code: str, d_index: int, levels: list[list[str]], settings_start: dt.date
) -> DepartmentInventory:
    """One department's systems, depending on systems already made one level down."""
    made: list[InventorySystem] = []
    group_left = 0
    group_key: str | None = None
    group_level = 0
    for s_index in range(SYSTEMS_PER_DEPARTMENT):
        if group_left:
            level, group_left = group_level, group_left - 1
            group = group_key
        else:
            level = min(int(rng.expovariate(0.25)), CHAIN_DEPTH - 1)
            group = None
            if rng.random() < GROUP_SHARE / 2.5:  # groups hold 2.5 systems on average
                group_left, group_level = rng.choice((1, 2)), level
                group_key = group = f"{code}/g{s_index}"
        while level and not levels[level - 1]:
            level -= 1
        deps: list[str] = []
        if level:
            deps.append(rng.choice(levels[level - 1]))
            if level > 1 and rng.random() < 0.3:
                deps.append(rng.choice(levels[rng.randrange(level - 1)]))
        ref = f"{code}/s{s_index}"
        roll = rng.random()
        made.append(
            InventorySystem(
                ref=ref,
                department=code,
                name=ref,
                tier=rng.choice(TIERS),
                data_gb=round(min(rng.lognormvariate(4, 1.5), 5000), 1),
                depends_on=tuple(sorted(set(deps))),
                max_downtime_min=60,
                on_cloud=roll < ON_CLOUD_SHARE and group is None,
                classified=ON_CLOUD_SHARE <= roll < ON_CLOUD_SHARE + CLASSIFIED_SHARE
                and group is None,
                move_group=group,
                index=(d_index, s_index),
            )
        )
    for item in made:
        levels[_level_of(item, levels)].append(item.ref)
    blackouts: tuple[BlackoutWindow, ...] = ()
    if rng.random() < BLACKOUT_SHARE:
        first = settings_start + dt.timedelta(days=rng.randrange(365))
        blackouts = (BlackoutWindow(first, first + dt.timedelta(days=13), "busy season"),)
    return DepartmentInventory(code, tuple(made), blackouts)


_LEVEL: dict[str, int] = {}


def _level_of(item: InventorySystem, levels: list[list[str]]) -> int:
    level = 1 + max((_LEVEL[d] for d in item.depends_on), default=-1)
    _LEVEL[item.ref] = level
    return level


def province(departments: int, seed: int) -> Inventory:
    """The synthetic province (module docstring)."""
    rng = random.Random(seed)  # noqa: S311  (benchmark data, not secrets)
    levels: list[list[str]] = [[] for _ in range(CHAIN_DEPTH)]
    made = {}
    for d in range(departments):
        code = f"d{d:04d}"
        made[code] = department(rng, code, d, levels, SETTINGS.start or dt.date.today())
    return Inventory(SETTINGS, MappingProxyType(made))


def with_one_more(inventory: Inventory, seed: int) -> Inventory:
    """The province and one more department that depends on it."""
    rng = random.Random(seed + 1)  # noqa: S311
    levels: list[list[str]] = [[] for _ in range(CHAIN_DEPTH)]
    for system in inventory.systems():
        levels[_LEVEL[system.ref]].append(system.ref)
    extra = department(rng, "new-dept", len(inventory.departments), levels, dt.date(2027, 3, 6))
    extra = DepartmentInventory(extra.code, extra.systems, ())
    return Inventory(
        inventory.settings, MappingProxyType({**inventory.departments, "new-dept": extra})
    )


def baseline(inventory: Inventory) -> dict[str, int]:
    """A plain topological sort and first-fit waves by systems and data."""
    movable = {s.ref: s for s in inventory.systems() if not s.classified and not s.on_cloud}
    order = TopologicalSorter(
        {ref: [d for d in s.depends_on if d in movable] for ref, s in movable.items()}
    ).static_order()
    window, cap = transfer_gb(inventory.settings), inventory.settings.max_systems_per_wave
    count: list[int] = [0]
    data: list[float] = [0.0]
    wave_of: dict[str, int] = {}
    for ref in order:
        system = movable[ref]
        wave = max((wave_of[d] for d in system.depends_on if d in wave_of), default=1)
        while True:
            while len(count) <= wave:
                count.append(0)
                data.append(0.0)
            if count[wave] < cap and data[wave] + system.data_gb <= window:
                break
            wave += 1
        count[wave] += 1
        data[wave] += system.data_gb
        wave_of[ref] = wave
    return wave_of


def run_ours(departments: int, seed: int) -> dict[str, Any]:
    inventory = province(departments, seed)
    start = time.perf_counter()
    plan = plan_waves(inventory)
    full_s = time.perf_counter() - start
    bigger = with_one_more(inventory, seed)
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        again = replan(plan, bigger)
        timings.append(time.perf_counter() - start)
    # The same re-plan from the registry's rows alone (what `govcloud migrate plan` does).
    previous = plan.assignments()
    start = time.perf_counter()
    from_rows = plan_waves(bigger, previous)
    rows_s = time.perf_counter() - start
    for result in (again, from_rows):
        moved = [r for r, p in plan.placements.items() if result.placements[r].wave != p.wave]
        if moved:
            raise SystemExit(f"adding a department moved {len(moved)} systems: {moved[:5]}")
    added = [p for p in again.placements.values() if p.department == "new-dept"]
    systems = inventory.systems()
    return {
        "systems": len(systems),
        "deepest": 1 + max(_LEVEL[s.ref] for s in systems),
        "groups": sum(s.move_group is not None for s in systems),
        "planned": len(plan.placements),
        "unplanned": len(plan.unplanned),
        "waves": len(plan.waves),
        "full_s": full_s,
        "add_ms": min(timings) * 1000,
        "rows_s": rows_s,
        "added": len(added),
    }


def run_baseline(departments: int, seed: int) -> dict[str, Any]:
    inventory = province(departments, seed)
    start = time.perf_counter()
    waves = baseline(inventory)
    return {"seconds": time.perf_counter() - start, "waves": max(waves.values(), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    ours = in_child(run_ours, args.departments, args.seed)
    theirs = in_child(run_baseline, args.departments, args.seed)
    print(
        f"| wave plan, {ours['systems']:,} systems ({ours['groups']:,} in move groups, "
        f"{args.departments:,} departments, chains up to {ours['deepest']} deep) "
        f"| {ours['full_s']:.2f} s, {ours['waves']} waves, {ours['planned']:,} planned, "
        f"peak RSS {ours['peak_rss_mib']:.0f} MiB "
        f"| topological sort + first fit {theirs['seconds']:.2f} s, {theirs['waves']} waves, "
        f"peak RSS {theirs['peak_rss_mib']:.0f} MiB "
        f"| {ours['full_s'] / theirs['seconds']:.1f}x the baseline's time |"
    )
    print(
        f"| add one department ({ours['added']} systems) and plan again "
        f"| {ours['add_ms']:.1f} ms (best of {REPEATS}) from the plan, "
        f"{ours['rows_s']:.2f} s from the registry's rows alone; 0 planned systems moved | | |"
    )


if __name__ == "__main__":
    main()
