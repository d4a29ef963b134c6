"""The status report's arithmetic, and the sample county's promised shape."""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path

import netaddr

from govcloud.loader import load_county
from govcloud.model import DepartmentKind, Location, Tier
from govcloud.status import county_status, target_in_force


def test_status_rates_exclude_classified_systems(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    report = county_status(county)
    gaj = next(row for row in report.departments if row.code == "gaj")
    # 5 systems: 2 classified, 1 on cloud of the 3 that may move.
    assert (gaj.systems, gaj.classified, gaj.on_cloud, gaj.eligible) == (5, 2, 1, 3)
    assert gaj.cloud_rate == 1 / 3
    assert gaj.meets_target is False


def test_status_total_adds_up(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    report = county_status(county)
    systems = [s for d in county.departments for s in d.systems]
    total = report.total
    assert total.systems == len(systems) == sum(row.systems for row in report.departments)
    assert total.on_cloud == sum(s.location is Location.CLOUD for s in systems)
    assert total.quota.vcpu == sum(d.quota.vcpu for d in county.departments)
    assert total.by_tier == {t: sum(s.tier is t for s in systems) for t in Tier}
    assert total.cloud_rate == total.on_cloud / (len(systems) - total.classified)
    assert report.target == 0.95


def test_the_target_in_force_is_the_latest_years_and_before_the_first_the_first() -> None:
    targets = {2021: 70, 2022: 80, 2025: 95}
    assert target_in_force(targets, 2020) == (2021, 0.70)
    assert target_in_force(targets, 2021) == (2021, 0.70)
    assert target_in_force(targets, 2024) == (2022, 0.80)
    assert target_in_force(targets, 2031) == (2025, 0.95)


def test_rates_are_judged_against_the_years_target(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    targets = {2021: 50, 2030: 95}
    county = county.model_copy(
        update={"migration": county.migration.model_copy(update={"targets": targets})}
    )
    early, late = county_status(county, year=2026), county_status(county, year=2030)
    rate = early.total.cloud_rate
    assert rate is not None and 0.5 <= rate < 0.95  # the sample county: 80 of 137
    assert (early.target, early.target_year, early.total.meets_target) == (0.5, 2021, True)
    assert (late.target, late.target_year, late.total.meets_target) == (0.95, 2030, False)
    assert early.targets == targets


def test_department_without_systems_has_no_rate(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    empty = county.departments[0].model_copy(update={"systems": []})
    report = county_status(county.model_copy(update={"departments": [empty]}))
    assert report.departments[0].cloud_rate is None
    assert report.departments[0].meets_target is None


def test_sample_county_has_the_promised_shape(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    kinds = Counter(d.kind for d in county.departments)
    assert 38 <= kinds[DepartmentKind.DEPARTMENT] <= 45
    assert 15 <= kinds[DepartmentKind.TOWNSHIP] <= 20
    systems = [s for d in county.departments for s in d.systems]
    assert 130 <= len(systems) <= 170
    assert {s.tier for s in systems} == set(Tier)
    assert sum(bool(s.depends_on) for s in systems) > len(systems) // 2
    classified = [s for s in systems if s.classified]
    assert classified and all(s.location is Location.LEGACY for s in classified)
    assert {s.role.value for s in county.sites} == {"primary", "dr"}


def test_sample_legacy_networks_overlap_like_real_ones(sample_county_dir: Path) -> None:
    county = load_county(sample_county_dir)
    networks = [(d.code, n) for d in county.departments for n in d.legacy_networks]
    prefixes = Counter(n.prefix for _, n in networks)
    assert prefixes["192.168.0.0/24"] >= 10
    assert prefixes["192.168.1.0/24"] >= 10
    cidrs = [netaddr.IPNetwork(n.prefix) for _, n in networks]
    assert any(c in netaddr.IPNetwork("10.0.0.0/8") for c in cidrs)
    assert any(c in netaddr.IPNetwork("172.16.0.0/12") for c in cidrs)
    contained = [(a, b) for a, b in combinations(cidrs, 2) if a != b and (a in b or b in a)]
    assert contained, "the sample should have networks that contain others"
    assert sum(not n.renumber for _, n in networks) >= 3


def test_sample_extranet_uses_only_benchmark_and_documentation_space(
    sample_county_dir: Path,
) -> None:
    county = load_county(sample_county_dir)
    benchmark = netaddr.IPSet(["198.18.0.0/15"])
    assert all(netaddr.IPNetwork(p) in benchmark for p in county.extranet.ipv4_pools)
    assert netaddr.IPNetwork(county.extranet.ipv6_prefix) in netaddr.IPNetwork("2001:db8::/32")


def test_a_system_the_registry_shows_cut_over_counts_as_on_the_cloud(
    sample_county_dir: Path,
) -> None:
    county = load_county(sample_county_dir)
    legacy = next(
        (d.code, s.code)
        for d in county.departments
        for s in d.systems
        if s.location is Location.LEGACY and not s.classified
    )
    before = county_status(county)
    after = county_status(county, frozenset({f"{legacy[0]}/{legacy[1]}"}))
    assert after.total.on_cloud == before.total.on_cloud + 1
    assert after.total.legacy == before.total.legacy - 1
    row = {r.code: r for r in after.departments}[legacy[0]]
    was = {r.code: r for r in before.departments}[legacy[0]]
    assert row.on_cloud == was.on_cloud + 1 and row.cloud_rate is not None
    assert was.cloud_rate is not None and row.cloud_rate > was.cloud_rate
