"""The wave planner: its rules as hypothesis properties, and exact examples of each reason."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govcloud.loader import load_county
from govcloud.model import MigrationSettings, Tier
from govcloud.registry.migration_state import MigrationState
from migration.inventory import (
    Assignment,
    BlackoutWindow,
    DepartmentInventory,
    Inventory,
    InventorySystem,
)
from migration.waves import PlacementStatus, WavePlan, plan_waves, replan, run_order

START = dt.date(2027, 3, 6)


def system(
    ref: str,
    *,
    tier: Tier = Tier.GENERAL,
    data_gb: float = 10,
    depends_on: Sequence[str] = (),
    on_cloud: bool = False,
    classified: bool = False,
    move_group: str | None = None,
) -> InventorySystem:
    department = ref.split("/", 1)[0]
    return InventorySystem(
        ref=ref,
        department=department,
        name=ref,
        tier=tier,
        data_gb=data_gb,
        depends_on=tuple(depends_on),
        max_downtime_min=60,
        on_cloud=on_cloud,
        classified=classified,
        move_group=move_group,
        index=(0, 0),
    )


def make_inventory(
    systems: Sequence[InventorySystem],
    blackouts: dict[str, tuple[BlackoutWindow, ...]] | None = None,
    **overrides: Any,
) -> Inventory:
    values: dict[str, Any] = {
        "bandwidth_mbps": 1000,
        "window_hours": 1,
        "max_systems_per_wave": 3,
        "start": START,
        "wave_every_days": 7,
    }
    values.update(overrides)
    by_department: dict[str, list[InventorySystem]] = defaultdict(list)
    for item in systems:
        by_department[item.department].append(item)
    for code in blackouts or {}:
        by_department.setdefault(code, [])
    departments = {
        code: DepartmentInventory(code, tuple(found), (blackouts or {}).get(code, ()))
        for code, found in by_department.items()
    }
    return Inventory(MigrationSettings(**values), MappingProxyType(departments))


def wave_of(plan: WavePlan) -> dict[str, int]:
    return {ref: p.wave for ref, p in plan.placements.items()}


# -- generated counties ----------------------------------------------------------------------
# One hour at 1000 Mbit/s carries 450 GB: sizes up to 200 GB keep most move groups placeable.
@st.composite
def counties(draw: st.DrawFn, prefix: str = "d", known: Sequence[str] = ()) -> list[Any]:
    departments = draw(st.integers(1, 4))
    made: list[InventorySystem] = []
    refs = list(known)
    for d in range(departments):
        code = f"{prefix}{d}"
        for s in range(draw(st.integers(1, 6))):
            ref = f"{code}/s{s}"
            deps = draw(st.lists(st.sampled_from(refs), max_size=3, unique=True)) if refs else []
            made.append(
                system(
                    ref,
                    tier=draw(st.sampled_from(list(Tier))),
                    data_gb=draw(st.floats(0, 200, allow_nan=False)),
                    depends_on=deps,
                    on_cloud=draw(st.integers(0, 4)) == 0,
                    classified=draw(st.integers(0, 9)) == 0,
                    move_group=(
                        f"{code}/g{draw(st.integers(0, 1))}"
                        if draw(st.integers(0, 4)) == 0
                        else None
                    ),
                )
            )
            refs.append(ref)
    return made


blackout_sets = st.dictionaries(
    st.sampled_from(["d0", "d1", "d2"]),
    st.tuples(st.integers(0, 60), st.integers(0, 10)).map(
        lambda a: (
            BlackoutWindow(
                START + dt.timedelta(days=a[0]), START + dt.timedelta(days=a[0] + a[1]), "x"
            ),
        )
    ),
    max_size=2,
)
caps = st.integers(1, 5)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_rules(inventory: Inventory, plan: WavePlan) -> None:
    """Every rule of the planner, on any plan."""
    systems = {s.ref: s for s in inventory.systems()}
    waves = wave_of(plan)
    # every system exactly once: in a wave or unplanned
    unplanned = [u.system for u in plan.unplanned]
    assert sorted([*waves, *unplanned]) == sorted(systems)
    for ref, wave in waves.items():
        item = systems[ref]
        assert not item.classified, f"classified {ref} planned"
        for dep in item.depends_on:
            if dep in waves:
                assert waves[dep] <= wave, f"{ref} (wave {wave}) before its dependency {dep}"
            else:
                assert dep in unplanned
    groups: dict[str, set[int]] = defaultdict(set)
    for ref, wave in waves.items():
        if systems[ref].move_group:
            groups[systems[ref].move_group].add(wave)
    assert all(len(found) == 1 for found in groups.values()), groups
    for wave in plan.waves:
        assert len(wave.systems) <= inventory.settings.max_systems_per_wave
        assert wave.data_gb <= plan.window_gb + 1e-6
        assert math.isclose(wave.data_gb, sum(systems[ref].data_gb for ref in wave.systems))
        days = inventory.settings.wave_days(wave.number)
        assert days is not None
        for ref in wave.systems:
            for window in inventory.departments[systems[ref].department].blackouts:
                assert not window.overlaps(*days), f"{ref} in wave {wave.number} in a blackout"
    for item in plan.unplanned:
        if systems[item.system].classified:
            assert item.why.startswith("classified")
        elif not systems[item.system].on_cloud:
            assert item.why.startswith("fits no wave"), item


@FAST
@given(systems=counties(), cap=caps, blackouts=blackout_sets)
def test_every_plan_keeps_every_rule(
    systems: list[InventorySystem], cap: int, blackouts: dict[str, Any]
) -> None:
    inventory = make_inventory(systems, blackouts, max_systems_per_wave=cap)
    check_rules(inventory, plan_waves(inventory))


def grown(
    systems: list[InventorySystem], cap: int, blackouts: dict[str, Any], data: st.DataObject
) -> tuple[WavePlan, Inventory]:
    """A plan of the systems, and the inventory with departments added that depend on them."""
    first = plan_waves(make_inventory(systems, blackouts, max_systems_per_wave=cap))
    added = data.draw(counties(prefix="new", known=[s.ref for s in systems]))
    return first, make_inventory([*systems, *added], blackouts, max_systems_per_wave=cap)


@FAST
@given(systems=counties(), cap=caps, blackouts=blackout_sets, data=st.data())
def test_adding_departments_moves_no_planned_system(
    systems: list[InventorySystem], cap: int, blackouts: dict[str, Any], data: st.DataObject
) -> None:
    first, after = grown(systems, cap, blackouts, data)
    second = plan_waves(after, first.assignments())
    check_rules(after, second)
    for ref, placement in first.placements.items():
        kept = second.placements[ref]
        assert (kept.wave, kept.status, kept.why) == (
            placement.wave,
            PlacementStatus.KEPT,
            placement.why,
        )
    assert {p.status for r, p in second.placements.items() if r not in first.placements} <= {
        PlacementStatus.NEW
    }


@FAST
@given(systems=counties(), cap=caps, blackouts=blackout_sets)
def test_planning_again_changes_nothing(
    systems: list[InventorySystem], cap: int, blackouts: dict[str, Any]
) -> None:
    inventory = make_inventory(systems, blackouts, max_systems_per_wave=cap)
    first = plan_waves(inventory)
    again = plan_waves(inventory, first.assignments())
    assert again.waves == first.waves
    assert again.unplanned == first.unplanned
    assert all(p.status is PlacementStatus.KEPT for p in again.placements.values())


@FAST
@given(systems=counties(), cap=caps, new_cap=caps, blackouts=blackout_sets)
def test_a_forced_move_says_why_and_keeps_the_rules(
    systems: list[InventorySystem], cap: int, new_cap: int, blackouts: dict[str, Any]
) -> None:
    first = plan_waves(make_inventory(systems, max_systems_per_wave=cap))
    inventory = make_inventory(systems, blackouts, max_systems_per_wave=new_cap)
    second = plan_waves(inventory, first.assignments())
    check_rules(inventory, second)
    for placement in second.moved:
        assert placement.why.startswith(f"moved from wave {placement.previous_wave}: ")
        assert any(
            word in placement.why for word in ("blackout", "over its", "dependency", "move group")
        ), placement.why
    # Without new blackouts and with room to spare, only a unit that fitted no wave before
    # (and now does) can push its dependents out.
    if (
        new_cap >= cap
        and not blackouts
        and not any(u.why.startswith("fits") for u in first.unplanned)
    ):
        assert not second.moved


# -- exact examples --------------------------------------------------------------------------
def test_pilot_general_first_core_last_and_dependencies_first() -> None:
    inventory = make_inventory(
        [
            system("a/db", tier=Tier.CORE),
            system("a/web", tier=Tier.GENERAL, depends_on=["a/db"]),
            system("b/oa", tier=Tier.GENERAL),
            system("b/crm", tier=Tier.IMPORTANT),
        ]
    )
    plan = plan_waves(inventory)
    assert [(w.number, w.systems) for w in plan.waves] == [
        (1, ("b/oa",)),
        (2, ("b/crm",)),
        (3, ("a/db", "a/web")),
    ]
    assert plan.placements["b/oa"].why == "pilot: general systems move first"
    assert plan.placements["a/web"].why == (
        "core systems move last; after its dependency a/db (wave 3); waits for the core phase"
    )
    assert plan.waves[0].why == "pilot: general systems move first; 1 of 3 systems, 10 of 450 GB"
    assert plan.waves[0].date == START and plan.waves[2].date == START + dt.timedelta(days=14)


def test_the_county_may_mix_tiers() -> None:
    inventory = make_inventory(
        [system("a/db", tier=Tier.CORE), system("b/oa")], phase_by_tier=False
    )
    assert [w.systems for w in plan_waves(inventory).waves] == [("a/db", "b/oa")]


def test_classified_and_on_cloud_systems_are_not_work() -> None:
    inventory = make_inventory(
        [
            system("a/secret", classified=True),
            system("a/old", on_cloud=True),
            system("a/app", depends_on=["a/secret", "a/old", "a/moved"]),
            system("a/moved"),
        ]
    )
    previous = {
        "a/moved": Assignment("a/moved", "a", 4, "earlier plan", MigrationState.CUT_OVER),
    }
    plan = plan_waves(inventory, previous)
    assert [w.systems for w in plan.waves] == [("a/app",)]
    assert {u.system: u.why for u in plan.unplanned} == {
        "a/secret": "classified (涉密): never moves to the cloud",
        "a/old": "already on the cloud (location: cloud)",
        "a/moved": "on the cloud since its cutover (cut_over)",
    }


def test_window_and_cap_fill_waves_first_fit() -> None:
    # 450 GB per wave: 300 + 300 cannot share one, 300 + 100 can.
    inventory = make_inventory(
        [system("a/x", data_gb=300), system("a/y", data_gb=300), system("a/z", data_gb=100)]
    )
    plan = plan_waves(inventory)
    assert [w.systems for w in plan.waves] == [("a/x", "a/z"), ("a/y",)]
    assert plan.placements["a/y"].why == "pilot: general systems move first; no room in wave 1"


def test_blackout_skips_a_wave_and_names_it() -> None:
    window = BlackoutWindow(START, START + dt.timedelta(days=2), "年终结算")
    inventory = make_inventory([system("a/x"), system("b/y")], {"a": (window,)})
    plan = plan_waves(inventory)
    assert wave_of(plan) == {"a/x": 2, "b/y": 1}
    assert plan.placements["a/x"].why == (
        "pilot: general systems move first; wave 1 skipped: a blackout 2027-03-06..2027-03-08: "
        "年终结算"
    )


def test_move_group_and_the_dependency_loop_through_it_share_a_wave() -> None:
    # a/app and a/db must move together; a/app needs a/cache, which needs a/db: a/cache too.
    inventory = make_inventory(
        [
            system("a/db", move_group="a/g"),
            system("a/cache", depends_on=["a/db"]),
            system("a/app", depends_on=["a/cache"], move_group="a/g"),
            system("a/other"),
        ]
    )
    plan = plan_waves(inventory)
    assert [w.systems for w in plan.waves] == [("a/db", "a/cache", "a/app"), ("a/other",)]
    assert plan.placements["a/cache"].why == (
        "pilot: general systems move first; move group a/g; tied to it by dependencies: a/cache"
    )


def test_a_unit_too_big_for_any_wave_is_unplanned_with_the_reason() -> None:
    inventory = make_inventory([system("a/huge", data_gb=451), system("a/fine")])
    plan = plan_waves(inventory)
    assert [u.why for u in plan.unplanned] == [
        "fits no wave: 451 GB must cross in one wave, and the transfer window carries 450 GB"
    ]


def test_a_blackout_added_later_moves_the_system_and_says_so() -> None:
    systems = [system("a/x"), system("a/y", depends_on=["a/x"]), system("b/z")]
    first = plan_waves(make_inventory(systems))
    assert wave_of(first) == {"a/x": 1, "a/y": 1, "b/z": 1}
    window = BlackoutWindow(START, START, "审计")
    second = plan_waves(make_inventory(systems, {"a": (window,)}), first.assignments())
    assert wave_of(second) == {"a/x": 2, "a/y": 2, "b/z": 1}
    assert second.placements["a/x"].why == (
        "moved from wave 1: wave 1 falls on a's blackout 2027-03-06..2027-03-06 (审计); "
        "pilot: general systems move first; wave 1 skipped: a blackout 2027-03-06..2027-03-06: 审计"
    )
    assert second.placements["b/z"].status is PlacementStatus.KEPT


def test_a_dependency_that_moves_later_takes_its_dependents_along() -> None:
    systems = [system("a/x", data_gb=100), system("b/y", depends_on=["a/x"])]
    first = plan_waves(make_inventory(systems))
    grown = [system("a/x", data_gb=100), system("b/y", depends_on=["a/x"]), system("a/w")]
    previous = first.assignments()
    previous["a/w"] = Assignment("a/w", "a", 1, "kept", MigrationState.PLANNED)
    previous["a/x"] = Assignment("a/x", "a", 2, "moved by hand", MigrationState.PLANNED)
    second = plan_waves(make_inventory(grown), previous)
    assert wave_of(second) == {"a/w": 1, "a/x": 2, "b/y": 2}
    assert second.placements["b/y"].why.startswith(
        "moved from wave 1: its dependency a/x now moves in wave 2"
    )


def test_underway_systems_stay_and_full_waves_give_back_the_newest() -> None:
    systems = [system(f"a/s{i}") for i in range(4)]
    previous = {
        f"a/s{i}": Assignment(f"a/s{i}", "a", 1, "old", MigrationState.PLANNED) for i in range(4)
    }
    previous["a/s3"] = Assignment("a/s3", "a", 1, "old", MigrationState.REPLICATING)
    plan = plan_waves(make_inventory(systems), previous)
    assert wave_of(plan) == {"a/s0": 1, "a/s1": 1, "a/s2": 2, "a/s3": 1}
    assert plan.placements["a/s3"].status is PlacementStatus.UNDERWAY
    assert plan.placements["a/s2"].why.startswith(
        "moved from wave 1: wave 1 was over its cap of 3 systems"
    )


@FAST
@given(systems=counties(), cap=caps, blackouts=blackout_sets, data=st.data())
def test_replanning_from_the_plan_keeps_the_rules_and_moves_nothing(
    systems: list[InventorySystem], cap: int, blackouts: dict[str, Any], data: st.DataObject
) -> None:
    first, after = grown(systems, cap, blackouts, data)
    # The inventory as a new load would make it: equal departments, not the same objects.
    after = Inventory(after.settings, MappingProxyType(dict(after.departments)))
    quick = replan(first, after)
    check_rules(after, quick)
    assert {r: p.wave for r, p in first.placements.items()} == {
        r: quick.placements[r].wave for r in first.placements
    }
    assert len(quick.placements) == len(plan_waves(after, first.assignments()).placements)


def test_replan_takes_the_full_path_when_a_department_changed() -> None:
    systems = [system("a/x"), system("b/y")]
    first = plan_waves(make_inventory(systems))
    changed = make_inventory([system("a/x", data_gb=500), system("b/y")])
    quick = replan(first, changed)
    assert quick.waves == plan_waves(changed, first.assignments()).waves
    assert [u.why for u in quick.unplanned] == [
        "fits no wave: 500 GB must cross in one wave, and the transfer window carries 450 GB"
    ]


def test_the_county_declaring_a_planned_system_on_the_cloud_drops_it_from_the_plan() -> None:
    previous = {
        "a/x": Assignment("a/x", "a", 1, "planned", MigrationState.PLANNED),
        "a/y": Assignment("a/y", "a", 1, "planned", MigrationState.TEST_LAUNCHED),
    }
    inventory = make_inventory([system("a/x", on_cloud=True), system("a/y", on_cloud=True)])
    plan = plan_waves(inventory, previous)
    assert [(u.system, u.why) for u in plan.unplanned] == [
        ("a/x", "already on the cloud (location: cloud)")
    ]
    assert plan.placements["a/y"].status is PlacementStatus.UNDERWAY


def test_a_wave_runs_each_system_after_the_ones_it_depends_on(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    refs = {f"{d.code}/{s.code}": s for d in county.departments for s in d.systems}
    chained = [r for r, s in refs.items() if any(dep in refs for dep in s.depends_on)]
    wave = set(chained) | {dep for r in chained for dep in refs[r].depends_on}
    assert len(wave) >= 4  # the sample county has chains to order
    order = run_order(county, wave)
    assert sorted(order) == sorted(wave)
    for system in order:
        for dep in refs[system].depends_on:
            assert order.index(dep) < order.index(system), (dep, system)
