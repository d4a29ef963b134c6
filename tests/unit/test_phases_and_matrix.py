"""Phases of the change and the expected reachability matrix, on the small county's lab.

alpha renumbers 192.168.1.0/24 into the extranet; beta keeps 192.168.1.0/24 behind 1:1 NAT:
the two legacy LANs overlap, in the data and in the lab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from small_county import write_county

from govcloud.loader import load_county
from lab.netlab.topology import Topology, build_topology
from network.phases import Phase, host_state, phase_of, router_state
from network.plan import plan_network
from network.reachability import Check, Ports, expected_checks, failures

READY = ("kind: department\n", "kind: department\nipv6_ready: true\n")


def _topology(tmp_path: Path, *, ready: bool = False, bird: tuple[str, ...] = ()) -> Topology:
    changes = {"departments/alpha.yaml": READY} if ready else None
    county = load_county(write_county(tmp_path, changes))
    return build_topology(county, plan_network(county), ("alpha", "beta"), bird=bird)


@pytest.fixture
def lab(tmp_path: Path) -> Topology:
    return _topology(tmp_path)


def test_phases_are_ordered_and_roll_back_one_step() -> None:
    assert [p.rank for p in Phase] == [0, 1, 2, 3]
    assert Phase.CUTOVER.at_least(Phase.MERGED)
    assert not Phase.MERGED.at_least(Phase.DUALSTACK)
    assert Phase.DUALSTACK.previous is Phase.MERGED
    assert Phase.LEGACY.previous is Phase.LEGACY
    assert phase_of(None) is Phase.LEGACY
    assert phase_of("merged\n") is Phase.MERGED
    with pytest.raises(ValueError, match="the phases are legacy, merged, dualstack, cutover"):
        phase_of("done")


def _interfaces(state: dict[str, Any]) -> dict[str, tuple[list[str], list[str], bool, bool]]:
    return {i["name"]: (i["ipv4"], i["ipv6"], i["ospf"], i["ospf6"]) for i in state["interfaces"]}


def test_renumbered_router_through_the_phases(lab: Topology) -> None:
    node = lab.nodes["alpha-rtr"]
    legacy = _interfaces(router_state(node, Phase.LEGACY))
    assert legacy == {
        "lo": ([], [], False, False),
        "up0": ([], [], False, False),
        "lan0": (["198.19.64.1/24"], [], False, False),
    }
    merged = router_state(node, Phase.MERGED)
    assert _interfaces(merged) == {
        "lo": (["198.18.2.2/32"], [], True, False),
        "up0": (["198.18.0.1/31"], [], True, False),
        "lan0": (["198.18.4.1/25"], [], True, False),
    }
    assert merged["protected4"] == ["198.18.4.0/25"]
    assert merged["nat"] == [] and merged["firewall"]
    dual = router_state(node, Phase.DUALSTACK)
    assert _interfaces(dual)["lan0"] == (
        ["198.18.4.1/25"],
        ["2001:db8:1000::1/64"],
        True,
        True,
    )
    assert dual["protected6"] == ["2001:db8:1000::/64"]
    assert [i["ra_prefix"] for i in dual["interfaces"]] == [None, None, "2001:db8:1000::/64"]
    # Not marked ipv6_ready: the cutover keeps IPv4.
    assert _interfaces(router_state(node, Phase.CUTOVER)) == _interfaces(dual)


def test_nat_router_keeps_the_legacy_lan_out_of_ospf(lab: Topology) -> None:
    merged = router_state(lab.nodes["beta-rtr"], Phase.MERGED)
    lan = _interfaces(merged)["lan0"]
    assert lan == (["198.19.64.1/24"], [], False, False)
    assert merged["nat"] == [
        {"inside": "198.19.64.0/24", "outside": "198.18.3.0/24", "interface": "up0"}
    ]
    assert merged["discard4"] == ["198.18.3.0/24"]
    assert merged["protected4"] == ["198.19.64.0/24"]  # the firewall sees the inside address


def test_bird_router_speaks_bgp_per_family(tmp_path: Path) -> None:
    topology = _topology(tmp_path, bird=("beta",))
    node = topology.nodes["beta-rtr"]
    assert router_state(node, Phase.LEGACY)["bgp"] is None
    merged = router_state(node, Phase.MERGED)
    assert not merged["ospf"]
    assert merged["bgp"]["ipv4"] == {"local": "198.18.0.3", "peer": "198.18.0.2"}
    assert merged["bgp"]["ipv6"] is None
    assert merged["announce4"] == ["198.18.2.3/32", "198.18.3.0/24"]
    dual = router_state(node, Phase.DUALSTACK)
    assert dual["bgp"]["ipv6"] == {"local": "2001:db8:1:1::1", "peer": "2001:db8:1:1::"}
    core = topology.nodes["core-rtr"]
    assert [(d["department"], d["protocol"]) for d in core["downlinks"]] == [
        ("alpha", "ospf"),
        ("beta", "bgp"),
    ]


def test_hosts_move_then_name_the_cloud_by_ipv6(tmp_path: Path) -> None:
    topology = _topology(tmp_path, ready=True)
    alpha = topology.nodes["alpha-office-h1"]
    legacy = host_state(alpha, Phase.LEGACY)
    assert (legacy["ipv4"], legacy["gateway4"], legacy["names"]) == (
        ["198.19.64.10/24"],
        "198.19.64.1",
        [],
    )
    merged = host_state(alpha, Phase.MERGED)
    assert (merged["ipv4"], merged["gateway4"], merged["ipv6"]) == (
        ["198.18.4.10/25"],
        "198.18.4.1",
        [],
    )
    assert merged["names"] == [{"address": "198.19.253.10", "name": "cloud.extranet.example"}]
    dual = host_state(alpha, Phase.DUALSTACK)
    assert (dual["ipv6"], dual["gateway6"], dual["slaac"]) == (["2001:db8:1000::a/64"], "ra", True)
    cut = host_state(alpha, Phase.CUTOVER)
    # alpha is ipv6_ready: IPv4 withdrawn, the cloud named by IPv6 only.
    assert (cut["ipv4"], cut["gateway4"]) == ([], None)
    assert [n["address"] for n in cut["names"]] == ["2001:db8:3000::a"]
    beta = host_state(topology.nodes["beta-office-h1"], Phase.CUTOVER)
    assert [n["address"] for n in beta["names"]] == ["2001:db8:3000::a", "198.19.253.10"]


def _by_key(checks: list[Check]) -> dict[tuple[str, str, int, str, int | None], Check]:
    return {c.key: c for c in checks}


def test_legacy_matrix_keeps_departments_apart(lab: Topology) -> None:
    checks = _by_key(expected_checks(lab.nodes, {"alpha": "legacy", "beta": "legacy"}))
    gateway = checks[("alpha-office-h1", "alpha-rtr", 4, "ping", None)]
    assert (gateway.address, gateway.expect) == ("198.19.64.1", True)
    assert not checks[("alpha-office-h1", "cloud-gw", 4, "tcp", 443)].expect
    # Legacy addresses mean nothing across departments (both LANs are 198.19.64.0/24 here):
    # no IPv4 row points at the other department before it is merged.
    assert ("alpha-office-h1", "beta-office-h1", 4, "ping", None) not in checks
    assert not checks[("alpha-office-h1", "beta-office-h1", 6, "ping", None)].expect


def test_merged_matrix_reaches_across_through_nat_and_firewalls(lab: Topology) -> None:
    checks = _by_key(expected_checks(lab.nodes, {"alpha": "merged", "beta": "merged"}))
    across = checks[("alpha-office-h1", "beta-office-h1", 4, "tcp", 443)]
    assert (across.address, across.expect) == ("198.18.3.10", True)  # beta's NAT address
    assert not checks[("alpha-office-h1", "beta-office-h1", 4, "tcp", 8080)].expect
    assert not checks[("cloud-gw", "alpha-office-h1", 4, "tcp", 8080)].expect
    assert checks[("cloud-gw", "beta-office-h1", 4, "tcp", 443)].address == "198.18.3.10"
    assert not checks[("alpha-office-h1", "cloud-gw", 6, "ping", None)].expect
    name = checks[("alpha-office-h1", "cloud-gw", 4, "name", 443)]
    assert (name.address, name.expect) == ("cloud.extranet.example", True)
    # A dependency: alpha/web (on the cloud) uses beta/db (on beta's first host).
    dependency = checks[("cloud-gw", "beta-office-h1", 4, "tcp", 443)]
    assert dependency.expect


def test_one_department_in_dualstack_reaches_the_cloud_over_ipv6_only(lab: Topology) -> None:
    checks = _by_key(expected_checks(lab.nodes, {"alpha": "dualstack", "beta": "merged"}))
    assert checks[("alpha-office-h1", "cloud-gw", 6, "tcp", 443)].expect
    assert not checks[("alpha-office-h1", "beta-office-h1", 6, "tcp", 443)].expect
    assert checks[("alpha-office-h1", "beta-office-h1", 4, "tcp", 443)].expect


def test_cutover_withdraws_ipv4_where_ready(tmp_path: Path) -> None:
    topology = _topology(tmp_path, ready=True)
    checks = _by_key(expected_checks(topology.nodes, {"alpha": "cutover", "beta": "cutover"}))
    assert ("cloud-gw", "alpha-office-h1", 4, "tcp", 443) not in checks
    assert not checks[("alpha-office-h1", "cloud-gw", 4, "ping", None)].expect
    assert checks[("alpha-office-h1", "cloud-gw", 6, "name", 443)].expect
    assert checks[("beta-office-h1", "cloud-gw", 4, "ping", None)].expect


def test_department_scope_and_ports(lab: Topology) -> None:
    ports = Ports(service=8443, internal=9000)
    checks = expected_checks(lab.nodes, {"alpha": "merged"}, ports=ports, department="alpha")
    nodes = {c.source for c in checks} | {c.target for c in checks}
    assert nodes == {"alpha-office-h1", "alpha-rtr", "cloud-gw", "dr-gw"}
    assert {c.port for c in checks} == {None, 8443, 9000}


def test_failures_are_the_checks_that_differ(lab: Topology) -> None:
    checks = expected_checks(lab.nodes, {"alpha": "merged", "beta": "merged"})
    results = {c.key: c.expect for c in checks}
    assert failures(checks, results) == []
    wrong = checks[0]
    results[wrong.key] = not wrong.expect
    assert failures(checks, results) == [wrong]
    del results[checks[1].key]
    assert checks[1] in failures(checks, results)
