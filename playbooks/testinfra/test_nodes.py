"""What every node of the extranet should look like in its phase (see conftest.py)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from conftest import addresses

from network.phases import DAEMON_FRR, Phase, address_of, host_state, network_of, router_state


def canonical(values: list[str]) -> set[str]:
    return {str(ipaddress.ip_interface(v)) for v in values}


def test_sshd_listens_on_the_management_network_only(
    node: dict[str, Any], facts: dict[str, Any]
) -> None:
    listening = facts["listening"]
    management = node["management"]
    for address in (address_of(management["ipv4"]), f"[{address_of(management['ipv6'])}]"):
        assert f"{address}:22 " in listening, f"{node['hostname']}: sshd not on {address}"
    assert "0.0.0.0:22 " not in listening
    assert "*:22 " not in listening


@pytest.mark.roles("lan_host")
def test_host_addresses(node: dict[str, Any], facts: dict[str, Any], phase: Phase) -> None:
    state = host_state(node, phase)
    assert addresses(facts, state["interface"]) == canonical(state["ipv4"] + state["ipv6"])
    slaac = addresses(facts, state["interface"], dynamic=True)
    if state["slaac"]:
        lan = ipaddress.ip_network(network_of(node["ipv6"]))
        assert any(ipaddress.ip_interface(a).ip in lan for a in slaac), f"no SLAAC address in {lan}"
    else:
        assert not slaac, f"SLAAC addresses left: {sorted(slaac)}"


@pytest.mark.roles("lan_host")
def test_host_default_routes(node: dict[str, Any], facts: dict[str, Any], phase: Phase) -> None:
    state = host_state(node, phase)
    gateways4 = [r.get("gateway") for r in facts["routes4"]]
    assert gateways4 == ([state["gateway4"]] if state["gateway4"] else [])
    routes6 = facts["routes6"]
    if state["gateway6"]:
        assert routes6, "no IPv6 default route from router advertisements"
        assert all(r.get("protocol") == "ra" for r in routes6), routes6
    else:
        assert not routes6, f"IPv6 default route left: {routes6}"


@pytest.mark.roles("lan_host", "cloud")
def test_services_listen(facts: dict[str, Any]) -> None:
    for port in (443, 8080):
        assert re.search(rf":{port}\s", facts["listening"]), f"nothing listens on port {port}"


@pytest.mark.roles("lan_host")
def test_host_reaches_its_gateway_and_the_cloud(
    node: dict[str, Any], facts: dict[str, Any], phase: Phase
) -> None:
    state = host_state(node, phase)
    pings = facts["ping"]
    if state["gateway4"]:
        assert pings[state["gateway4"]], f"gateway {state['gateway4']}"
    if phase.at_least(Phase.DUALSTACK):
        assert pings[node["ipv6_gateway"]], f"gateway {node['ipv6_gateway']}"
    cloud4, cloud6 = address_of(node["cloud"]["ipv4"]), address_of(node["cloud"]["ipv6"])
    assert pings[cloud4] is (phase.at_least(Phase.MERGED) and bool(state["ipv4"])), cloud4
    assert pings[cloud6] is phase.at_least(Phase.DUALSTACK), cloud6


@pytest.mark.roles("department_router")
def test_router_addresses(node: dict[str, Any], facts: dict[str, Any], phase: Phase) -> None:
    for interface in router_state(node, phase)["interfaces"]:
        expected = canonical(interface["ipv4"] + interface["ipv6"])
        assert addresses(facts, interface["name"]) == expected, interface["name"]


@pytest.mark.roles("department_router")
def test_router_routes_to_the_cloud(
    node: dict[str, Any], facts: dict[str, Any], phase: Phase
) -> None:
    uplink = f"dev {node['uplink']['interface']}"
    route4 = facts["route_get"][address_of(node["cloud"]["ipv4"])]
    assert (route4["rc"] == 0) is phase.at_least(Phase.MERGED), route4
    if phase.at_least(Phase.MERGED):
        assert uplink in route4["out"], route4
    route6 = facts["route_get"][address_of(node["cloud"]["ipv6"])]
    if phase.at_least(Phase.DUALSTACK):
        assert route6["rc"] == 0 and uplink in route6["out"], route6


@pytest.mark.roles("department_router")
def test_router_sessions(node: dict[str, Any], facts: dict[str, Any], phase: Phase) -> None:
    uplink = node["uplink"]["interface"]
    if node["daemon"] == DAEMON_FRR:
        full4 = [
            n
            for neighbours in facts["ospf"].get("neighbors", {}).values()
            for n in neighbours
            if str(n.get("state", "")).startswith("Full") and uplink in str(n.get("ifaceName"))
        ]
        assert bool(full4) is phase.at_least(Phase.MERGED), facts["ospf"]
        full6 = [n for n in facts["ospf6"].get("neighbors", []) if n.get("state") == "Full"]
        assert bool(full6) is phase.at_least(Phase.DUALSTACK), facts["ospf6"]
    else:
        lines = facts["bird"].splitlines()
        established = {line.split()[0] for line in lines if "Established" in line}
        assert ("core4" in established) is phase.at_least(Phase.MERGED), facts["bird"]
        assert ("core6" in established) is phase.at_least(Phase.DUALSTACK), facts["bird"]


@pytest.mark.roles("department_router")
def test_router_firewall_mirrors_ipv4_in_ipv6(
    node: dict[str, Any], facts: dict[str, Any], phase: Phase
) -> None:
    state = router_state(node, phase)
    rules = facts["nft_filter"]
    assert (rules["rc"] == 0) is state["firewall"], rules["err"]
    for prefix in state["protected4"]:
        assert f"ip daddr {prefix} tcp dport 443 accept" in rules["out"], prefix
    for prefix in state["protected6"]:
        assert f"ip6 daddr {prefix} tcp dport 443 accept" in rules["out"], prefix


@pytest.mark.roles("department_router")
def test_router_maps_kept_lans_one_to_one(
    node: dict[str, Any], facts: dict[str, Any], phase: Phase
) -> None:
    state = router_state(node, phase)
    nat = facts["nft_nat"]
    assert (nat["rc"] == 0) is bool(state["nat"]), nat["err"]
    for mapping in state["nat"]:
        outside, inside = re.escape(mapping["outside"]), re.escape(mapping["inside"])
        rule = rf"ip daddr {outside} dnat (ip )?prefix to {inside}"
        assert re.search(rule, nat["out"]), f"no 1:1 NETMAP {mapping['outside']} → {inside}"


@pytest.mark.roles("department_router", "lan_host")
def test_phase_is_recorded(facts: dict[str, Any], phase: Phase) -> None:
    assert facts["phase"] == phase.value


@pytest.mark.roles("core_router")
def test_core_serves_every_department(node: dict[str, Any], facts: dict[str, Any]) -> None:
    for daemon in ("zebra", "ospfd", "ospf6d", "staticd"):
        assert daemon in facts["daemons"], daemon
    for link in node["downlinks"]:
        assert addresses(facts, link["interface"]) == canonical([link["ipv4"], link["ipv6"]])
