"""The address plan: exact CIDRs on a small county, stability, exhaustion, and properties."""

from __future__ import annotations

from pathlib import Path

import netaddr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_county import write_county

from govcloud.conventions import DR_NETWORK
from govcloud.loader import load_county
from govcloud.model import County, Department
from network.plan import (
    Allocation,
    AllocationKind,
    PlanError,
    gateway,
    infrastructure_blocks,
    lan_prefixlen,
    plan_network,
)
from network.prefixes import format_address, parse


@pytest.fixture
def county(tmp_path: Path) -> County:
    return load_county(write_county(tmp_path))


def table(allocations: tuple[Allocation, ...]) -> set[tuple[str, str, int, str, str, str]]:
    return {
        (a.department, a.network, a.family, a.kind.value, a.prefix, a.parent) for a in allocations
    }


def test_small_county_plan_is_exact(county: County) -> None:
    plan = plan_network(county)
    assert table(plan.allocations) == {
        # IPv6: fixed county-wide blocks, infrastructure, then departments and townships.
        ("", "infrastructure", 6, "block", "2001:db8::/36", "2001:db8::/32"),
        ("", "departments", 6, "block", "2001:db8:1000::/36", "2001:db8::/32"),
        ("", "townships", 6, "block", "2001:db8:2000::/36", "2001:db8::/32"),
        ("", "site:primary", 6, "block", "2001:db8:3000::/36", "2001:db8::/32"),
        ("", "site:dr", 6, "block", "2001:db8:4000::/36", "2001:db8::/32"),
        ("", "loopbacks", 6, "block", "2001:db8::/48", "2001:db8::/36"),
        ("", "p2p-links", 6, "block", "2001:db8:1::/48", "2001:db8::/36"),
        ("", "core", 6, "loopback", "2001:db8::1/128", "2001:db8::/48"),
        ("alpha", "loopback", 6, "loopback", "2001:db8::2/128", "2001:db8::/48"),
        ("beta", "loopback", 6, "loopback", "2001:db8::3/128", "2001:db8::/48"),
        ("alpha", "p2p", 6, "p2p", "2001:db8:1::/127", "2001:db8:1::/48"),
        ("beta", "p2p", 6, "p2p", "2001:db8:1:1::/127", "2001:db8:1::/48"),
        ("alpha", "department", 6, "block", "2001:db8:1000::/48", "2001:db8:1000::/36"),
        ("alpha", "office", 6, "subnet", "2001:db8:1000::/64", "2001:db8:1000::/48"),
        ("beta", "department", 6, "block", "2001:db8:2000::/48", "2001:db8:2000::/36"),
        ("beta", "office", 6, "subnet", "2001:db8:2000::/64", "2001:db8:2000::/48"),
        # IPv4: largest first, best fit; beta keeps 192.168.1.0/24 behind a same-size NAT.
        ("", "p2p-links", 4, "block", "198.18.0.0/23", "198.18.0.0/16"),
        ("", "loopbacks", 4, "block", "198.18.2.0/24", "198.18.0.0/16"),
        ("beta", "office", 4, "nat", "198.18.3.0/24", "198.18.0.0/16"),
        ("alpha", "office", 4, "extranet", "198.18.4.0/25", "198.18.0.0/16"),
        ("", "core", 4, "loopback", "198.18.2.1/32", "198.18.2.0/24"),
        ("alpha", "loopback", 4, "loopback", "198.18.2.2/32", "198.18.2.0/24"),
        ("beta", "loopback", 4, "loopback", "198.18.2.3/32", "198.18.2.0/24"),
        ("alpha", "p2p", 4, "p2p", "198.18.0.0/31", "198.18.0.0/23"),
        ("beta", "p2p", 4, "p2p", "198.18.0.2/31", "198.18.0.0/23"),
    }
    nat = next(a for a in plan.allocations if a.kind is AllocationKind.NAT)
    assert nat.inside == "192.168.1.0/24"
    assert plan.added == plan.allocations
    assert [z.zone for z in plan.zones] == [
        "8.b.d.0.1.0.0.2.ip6.arpa",
        "0.0.0.1.8.b.d.0.1.0.0.2.ip6.arpa",
        "0.0.0.2.8.b.d.0.1.0.0.2.ip6.arpa",
    ]


@pytest.mark.parametrize(
    ("hosts", "length"),
    [
        (0, 28),
        (8, 28),
        (9, 28),
        (10, 27),
        (20, 27),
        (50, 25),
        (84, 25),
        (85, 24),
        (169, 24),
        (170, 23),
        (6000, 18),
    ],
)
def test_lan_size_has_growth_headroom(hosts: int, length: int) -> None:
    assert lan_prefixlen(hosts) == length
    usable = (1 << (32 - length)) - 2
    assert usable >= hosts * 1.5


def test_replanning_changes_nothing(county: County) -> None:
    first = plan_network(county)
    again = plan_network(county, first.allocations)
    assert again.added == () and again.orphaned == ()
    assert again.allocations == first.allocations


def _with_department(county: County, code: str, prefix: str = "192.168.1.0/24") -> County:
    extra = Department.model_validate(
        {
            "code": code,
            "name": code,
            "kind": "department",
            "quota": {"vcpu": 1, "ram_gb": 1, "storage_gb": 1, "floating_ips": 0, "networks": 1},
            "legacy_networks": [{"name": "office", "prefix": prefix, "hosts": 100}],
        }
    )
    return county.model_copy(update={"departments": [*county.departments, extra]})


def test_adding_a_department_allocates_only_for_it(county: County) -> None:
    first = plan_network(county)
    second = plan_network(_with_department(county, "gamma"), first.allocations)
    assert {a.department for a in second.added} == {"gamma"}
    assert set(first.allocations) <= set(second.allocations)
    assert table(second.added) == {
        # The second department block goes to the far side of the /36 (sparse).
        ("gamma", "department", 6, "block", "2001:db8:1800::/48", "2001:db8:1000::/36"),
        ("gamma", "office", 6, "subnet", "2001:db8:1800::/64", "2001:db8:1800::/48"),
        ("gamma", "loopback", 6, "loopback", "2001:db8::4/128", "2001:db8::/48"),
        ("gamma", "p2p", 6, "p2p", "2001:db8:1:2::/127", "2001:db8:1::/48"),
        ("gamma", "office", 4, "extranet", "198.18.5.0/24", "198.18.0.0/16"),
        ("gamma", "loopback", 4, "loopback", "198.18.2.4/32", "198.18.2.0/24"),
        ("gamma", "p2p", 4, "p2p", "198.18.0.4/31", "198.18.0.0/23"),
    }


def test_dr_networks_take_pool_prefixes_and_the_dr_site_block(county: County) -> None:
    plan = plan_network(county, dr_departments={"alpha"})
    assert table(tuple(a for a in plan.allocations if a.network == DR_NETWORK)) == {
        # The DR site block's first /64 is the site's own segment: alpha gets the next one.
        ("alpha", DR_NETWORK, 6, "subnet", "2001:db8:4000:1::/64", "2001:db8:4000::/36"),
        ("alpha", DR_NETWORK, 4, "extranet", "198.18.4.128/25", "198.18.0.0/16"),
    }


def test_dr_networks_leave_the_primary_prefixes_of_a_fresh_plan_alone(county: County) -> None:
    without = plan_network(county)
    with_dr = plan_network(county, dr_departments={"alpha", "beta"})
    assert set(without.allocations) == {a for a in with_dr.allocations if a.network != DR_NETWORK}


def test_a_department_needing_dr_later_gets_only_its_dr_network(county: County) -> None:
    first = plan_network(county, dr_departments={"alpha"})
    second = plan_network(county, first.allocations, dr_departments={"alpha", "beta"})
    assert set(first.allocations) <= set(second.allocations)
    assert table(second.added) == {
        ("beta", DR_NETWORK, 6, "subnet", "2001:db8:4000:2::/64", "2001:db8:4000::/36"),
        ("beta", DR_NETWORK, 4, "extranet", "198.18.5.0/25", "198.18.0.0/16"),
    }


def test_dr_networks_need_a_dr_site(county: County) -> None:
    primary_only = county.model_copy(update={"sites": county.sites[:1]})
    plan = plan_network(primary_only, dr_departments={"alpha"})
    assert not [a for a in plan.allocations if a.network == DR_NETWORK]
    assert plan.warnings == (
        "the county has no DR site, so the DR networks of alpha are not planned: add a site "
        "with role: dr to county.yaml",
    )


def test_removed_network_is_orphaned_not_moved(county: County) -> None:
    first = plan_network(county)
    alpha = county.departments[0].model_copy(update={"legacy_networks": []})
    smaller = county.model_copy(update={"departments": [alpha, county.departments[1]]})
    second = plan_network(smaller, first.allocations)
    assert {(a.department, a.network, a.family) for a in second.orphaned} == {
        ("alpha", "office", 4),
        ("alpha", "office", 6),
    }
    assert second.added == ()


def test_grown_network_is_kept_with_a_warning(county: County) -> None:
    first = plan_network(county)
    alpha = county.departments[0]
    bigger = alpha.model_copy(
        update={"legacy_networks": [alpha.legacy_networks[0].model_copy(update={"hosts": 200})]}
    )
    second = plan_network(
        county.model_copy(update={"departments": [bigger, county.departments[1]]}),
        first.allocations,
    )
    assert second.added == ()
    assert second.warnings == (
        "alpha/office: 198.18.4.0/25 is smaller than the /23 its host count now needs; kept "
        "(never moved), renumber into a new network to grow",
    )


def test_exhausted_pools_say_how_much_more_is_needed(county: County) -> None:
    tiny = county.model_copy(
        update={"extranet": county.extranet.model_copy(update={"ipv4_pools": ["198.18.0.0/23"]})}
    )
    with pytest.raises(PlanError) as caught:
        plan_network(tiny)
    assert caught.value.problems == [
        "the IPv4 pools are too small: 2 allocations (county/p2p-links (/23), alpha/office "
        "(/25)) need 640 more addresses and none is free; add at least a /22 to "
        "extranet.ipv4_pools"
    ]


def test_pool_boundaries_are_respected(county: County) -> None:
    # Adjacent small pools: nothing may straddle from one pool into the next, and nothing
    # takes a whole pool (its parent would be ambiguous).
    pools = ["198.18.0.0/22", "198.18.4.0/23", "198.18.6.0/23"]
    split = county.model_copy(
        update={"extranet": county.extranet.model_copy(update={"ipv4_pools": pools})}
    )
    plan = plan_network(split)
    top = {a.prefix: a.parent for a in plan.allocations if a.parent in pools}
    assert top == {
        "198.18.0.0/23": "198.18.0.0/22",
        "198.18.2.0/24": "198.18.0.0/22",
        "198.18.3.0/24": "198.18.0.0/22",
        "198.18.4.0/25": "198.18.4.0/23",
    }
    assert "198.18.4.0/23" not in top


def test_gateways_avoid_the_subnet_router_anycast_address(county: County) -> None:
    plan = plan_network(county)
    subnets = [a for a in plan.allocations if a.kind is AllocationKind.SUBNET]
    assert [gateway(s.prefix) for s in subnets] == ["2001:db8:1000::1", "2001:db8:2000::1"]
    loopbacks = [
        a.prefix for a in plan.allocations if a.kind is AllocationKind.LOOPBACK and a.family == 6
    ]
    assert "2001:db8::/128" not in loopbacks


def test_every_ipv6_block_is_nibble_aligned(county: County) -> None:
    plan = plan_network(county)
    for allocation in plan.allocations:
        if allocation.family == 6 and allocation.kind in (
            AllocationKind.BLOCK,
            AllocationKind.SUBNET,
        ):
            assert parse(allocation.prefix).length % 4 == 0, allocation


# -- properties -----------------------------------------------------------------------------------
@st.composite
def departments(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(1, 25))
    result = []
    for number in range(count):
        networks = []
        for index in range(draw(st.integers(0, 4))):
            length = draw(st.integers(20, 30))
            third = draw(st.integers(0, 255)) if length >= 24 else 0
            prefix = f"10.{number}.{third >> (max(24 - length, 0))}.0/{length}"
            prefix = str(parse_host_free(prefix))
            renumber = draw(st.booleans())
            hosts = draw(st.integers(0, min(2000, (1 << (32 - length)) - 2)))
            networks.append(
                {"name": f"n{index}", "prefix": prefix, "hosts": hosts, "renumber": renumber}
            )
        result.append(
            {
                "code": f"d{number:02d}",
                "name": f"部门{number}",
                "kind": draw(st.sampled_from(["department", "township"])),
                "quota": {
                    "vcpu": 1,
                    "ram_gb": 1,
                    "storage_gb": 1,
                    "floating_ips": 0,
                    "networks": 1,
                },
                "legacy_networks": networks,
            }
        )
    return result


def parse_host_free(text: str) -> str:
    return str(netaddr.IPNetwork(text).cidr)


PRIMARY_ONLY = [{"name": "p", "role": "primary", "region": "RegionOne"}]
WITH_DR = [*PRIMARY_ONLY, {"name": "d", "role": "dr", "region": "RegionTwo"}]


def _county(
    departments: list[dict[str, object]], sites: list[dict[str, str]] = PRIMARY_ONLY
) -> County:
    return County.model_validate(
        {
            "code": "519901",
            "name": "测试县",
            "sites": sites,
            "extranet": {"ipv4_pools": ["198.18.0.0/15"], "ipv6_prefix": "2001:db8::/32"},
            "departments": departments,
        }
    )


def assert_well_formed(allocations: tuple[Allocation, ...], county: County) -> None:
    by_prefix = {a.prefix: a for a in allocations}
    roots = {county.extranet.ipv6_prefix, *county.extranet.ipv4_pools}
    for allocation in allocations:
        prefix, parent = parse(allocation.prefix), parse(allocation.parent)
        assert parent.contains(prefix) and prefix != parent, allocation
        assert allocation.parent in by_prefix or allocation.parent in roots, allocation
    # No two allocations overlap unless one is an ancestor of the other.
    ordered = sorted(allocations, key=lambda a: parse(a.prefix))
    for index, allocation in enumerate(ordered):
        prefix = parse(allocation.prefix)
        for other in ordered[index + 1 :]:
            other_prefix = parse(other.prefix)
            if not prefix.overlaps(other_prefix):
                if other_prefix.first > prefix.last:
                    break
                continue
            ancestor = other.parent
            chain = set()
            while ancestor in by_prefix:
                chain.add(ancestor)
                ancestor = by_prefix[ancestor].parent
            assert allocation.prefix in chain, (allocation, other)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(departments(), st.data())
def test_plans_never_overlap_and_stay_stable_under_additions(
    declared: list[dict[str, object]],
    data: st.DataObject,
) -> None:
    split = data.draw(st.integers(0, len(declared)))
    before = _county(declared[:split])
    after = _county(declared)
    first = plan_network(before)
    assert_well_formed(first.allocations, before)
    second = plan_network(after, first.allocations)
    assert_well_formed(second.allocations, after)
    assert set(first.allocations) <= set(second.allocations)
    added_departments = {a.department for a in second.added}
    assert added_departments <= {d["code"] for d in declared[split:]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(departments(), st.data())
def test_dr_networks_never_move_as_departments_and_dr_needs_are_added(
    declared: list[dict[str, object]],
    data: st.DataObject,
) -> None:
    codes = [str(d["code"]) for d in declared]
    split = data.draw(st.integers(0, len(declared)))
    protected_before = data.draw(st.sets(st.sampled_from(codes[:split]))) if split else set()
    protected_after = protected_before | data.draw(st.sets(st.sampled_from(codes)))
    before = _county(declared[:split], WITH_DR)
    after = _county(declared, WITH_DR)
    first = plan_network(before, dr_departments=protected_before)
    second = plan_network(after, first.allocations, dr_departments=protected_after)
    assert_well_formed(second.allocations, after)
    assert set(first.allocations) <= set(second.allocations)
    dr = {(a.department, a.family) for a in second.allocations if a.network == DR_NETWORK}
    assert dr == {(code, family) for code in protected_after for family in (4, 6)}
    gained = {a.department for a in second.added}
    assert gained <= set(codes[split:]) | (protected_after - protected_before)


def _numbered_departments(count: int) -> list[dict[str, object]]:
    return [
        {
            "code": f"d{number:04d}",
            "name": f"d{number:04d}",
            "kind": "department",
            "quota": {"vcpu": 1, "ram_gb": 1, "storage_gb": 1, "floating_ips": 0, "networks": 1},
            "legacy_networks": [{"name": "office", "prefix": "192.168.1.0/24", "hosts": 50}],
        }
        for number in range(count)
    ]


def test_infrastructure_blocks_grow_past_one_block_without_moving_anything() -> None:
    # 600 departments: 601 router loopbacks need three /24s (255 each, never the network
    # address) and 600 links three /23s; a county growing from 200 keeps its first blocks.
    declared = _numbered_departments(600)
    smaller, province = _county(declared[:200]), _county(declared)
    first = plan_network(smaller)
    blocks = {
        a.network for a in first.allocations if a.kind is AllocationKind.BLOCK and a.family == 4
    }
    assert blocks == {"loopbacks", "p2p-links"}
    grown = plan_network(province, first.allocations)
    assert set(first.allocations) <= set(grown.allocations)
    assert_well_formed(grown.allocations, province)
    v4 = [a for a in grown.allocations if a.family == 4]
    loopback_blocks = {
        a.prefix for a in v4 if a.kind is AllocationKind.BLOCK and "loopbacks" in a.network
    }
    link_blocks = {
        a.prefix for a in v4 if a.kind is AllocationKind.BLOCK and "p2p-links" in a.network
    }
    assert len(loopback_blocks) == 3 and len(link_blocks) == 3
    loopbacks = [a for a in v4 if a.kind is AllocationKind.LOOPBACK]
    links = [a for a in v4 if a.kind is AllocationKind.P2P]
    assert len(loopbacks) == 601 and len({a.prefix for a in loopbacks}) == 601
    assert len(links) == 600 and len({a.prefix for a in links}) == 600
    assert {a.parent for a in loopbacks} == loopback_blocks
    assert {a.parent for a in links} == link_blocks
    network_addresses = {f"{format_address(4, parse(b).first)}/32" for b in loopback_blocks}
    assert not network_addresses & {a.prefix for a in loopbacks}


def test_infrastructure_block_names_keep_the_first_name() -> None:
    assert infrastructure_blocks("loopbacks", 255, 255) == ["loopbacks"]
    assert infrastructure_blocks("loopbacks", 256, 255) == ["loopbacks", "loopbacks-2"]
    assert infrastructure_blocks("p2p-links", 0, 256) == ["p2p-links"]
