"""What every node of the extranet should look like in its phase (see conftest.py)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
from conftest import addresses

from network.phases import DAEMON_FRR, Phase, address_of, host_state, network_of, router_state


def canonical(values: list[str]) -> set[str]:
    return {str(ipaddress.ip_interface(v)) for v in values}


def test_sshd_listens_on_the_management_network_only(host: Any, node: dict[str, Any]) -> None:
    listening = host.run("ss -Hltn sport = :22").stdout
    management = node["management"]
    for address in (address_of(management["ipv4"]), f"[{address_of(management['ipv6'])}]"):
        assert f"{address}:22" in listening, f"{node['hostname']}: sshd not on {address}"
    assert "0.0.0.0:22" not in listening
    assert "*:22" not in listening


@pytest.mark.roles("lan_host")
def test_host_addresses(host: Any, node: dict[str, Any], phase: Phase) -> None:
    state = host_state(node, phase)
    assert addresses(host, state["interface"]) == canonical(state["ipv4"] + state["ipv6"])
    slaac = addresses(host, state["interface"], dynamic=True)
    if state["slaac"]:
        lan = ipaddress.ip_network(network_of(node["ipv6"]))
        assert any(ipaddress.ip_interface(a).ip in lan for a in slaac), (
            f"{node['hostname']}: no SLAAC address in {lan}"
        )
    else:
        assert not slaac, f"{node['hostname']}: SLAAC addresses left: {sorted(slaac)}"


@pytest.mark.roles("lan_host")
def test_host_default_routes(host: Any, node: dict[str, Any], phase: Phase) -> None:
    state = host_state(node, phase)
    routes4 = json.loads(host.run("ip -json -4 route show default").stdout)
    routes6 = json.loads(host.run("ip -json -6 route show default").stdout)
    assert [r.get("gateway") for r in routes4] == ([state["gateway4"]] if state["gateway4"] else [])
    if state["gateway6"]:
        assert routes6 and all(r.get("protocol") == "ra" for r in routes6), routes6
    else:
        assert not routes6, f"{node['hostname']}: IPv6 default route left: {routes6}"


@pytest.mark.roles("lan_host", "cloud")
def test_services_listen(host: Any, node: dict[str, Any]) -> None:
    for port in (443, 8080):
        assert host.run(f"ss -Hltn sport = :{port}").stdout.strip(), f"nothing on port {port}"


@pytest.mark.roles("lan_host")
def test_host_reaches_its_gateway_and_the_cloud(
    host: Any, node: dict[str, Any], phase: Phase
) -> None:
    state = host_state(node, phase)
    if state["gateway4"]:
        assert host.run(f"ping -4 -c1 -W2 {state['gateway4']}").rc == 0
    cloud4, cloud6 = address_of(node["cloud"]["ipv4"]), address_of(node["cloud"]["ipv6"])
    reaches4 = host.run(f"ping -4 -c1 -W2 {cloud4}").rc == 0
    assert reaches4 is (phase.at_least(Phase.MERGED) and bool(state["ipv4"])), f"cloud {cloud4}"
    if phase.at_least(Phase.DUALSTACK):
        assert host.run(f"ping -6 -c1 -W2 {cloud6}").rc == 0, f"cloud {cloud6}"


@pytest.mark.roles("department_router")
def test_router_addresses(host: Any, node: dict[str, Any], phase: Phase) -> None:
    state = router_state(node, phase)
    for interface in state["interfaces"]:
        expected = canonical(interface["ipv4"] + interface["ipv6"])
        assert addresses(host, interface["name"]) == expected, interface["name"]


@pytest.mark.roles("department_router")
def test_router_routes_to_the_cloud(host: Any, node: dict[str, Any], phase: Phase) -> None:
    state = router_state(node, phase)
    cloud4, cloud6 = address_of(node["cloud"]["ipv4"]), address_of(node["cloud"]["ipv6"])
    route4 = host.run(f"ip -4 route get {cloud4}")
    assert (route4.rc == 0) is phase.at_least(Phase.MERGED), route4.stdout + route4.stderr
    if phase.at_least(Phase.MERGED):
        assert f"dev {state['uplink']}" in route4.stdout
    route6 = host.run(f"ip -6 route get {cloud6}")
    if phase.at_least(Phase.DUALSTACK):
        assert route6.rc == 0 and f"dev {state['uplink']}" in route6.stdout, route6.stdout


@pytest.mark.roles("department_router")
def test_router_sessions(host: Any, node: dict[str, Any], phase: Phase) -> None:
    uplink = node["uplink"]["interface"]
    if node["daemon"] == DAEMON_FRR:
        ospf = json.loads(host.run("vtysh -c 'show ip ospf neighbor json'").stdout or "{}")
        full4 = [
            n
            for ns in ospf.get("neighbors", {}).values()
            for n in ns
            if str(n.get("state", "")).startswith("Full") and uplink in str(n.get("ifaceName", ""))
        ]
        assert bool(full4) is phase.at_least(Phase.MERGED), ospf
        if phase.at_least(Phase.DUALSTACK):
            ospf6 = json.loads(host.run("vtysh -c 'show ipv6 ospf6 neighbor json'").stdout or "{}")
            full6 = [n for n in ospf6.get("neighbors", []) if n.get("state") == "Full"]
            assert full6, ospf6
    else:
        protocols = host.run("birdc -s /run/bird/bird.ctl show protocols").stdout
        established = {line.split()[0] for line in protocols.splitlines() if "Established" in line}
        assert ("core4" in established) is phase.at_least(Phase.MERGED), protocols
        assert ("core6" in established) is phase.at_least(Phase.DUALSTACK), protocols


@pytest.mark.roles("department_router")
def test_router_firewall_mirrors_ipv4_in_ipv6(
    host: Any, node: dict[str, Any], phase: Phase
) -> None:
    state = router_state(node, phase)
    rules = host.run("nft list table inet govcloud_filter")
    assert (rules.rc == 0) is state["firewall"], rules.stderr
    for prefix in state["protected4"]:
        assert f"ip daddr {prefix} tcp dport 443 accept" in rules.stdout
    for prefix in state["protected6"]:
        assert f"ip6 daddr {prefix} tcp dport 443 accept" in rules.stdout
    nat = host.run("nft list table ip govcloud_nat")
    assert (nat.rc == 0) is bool(state["nat"]), nat.stderr
    for mapping in state["nat"]:
        outside, inside = re.escape(mapping["outside"]), re.escape(mapping["inside"])
        rule = rf"ip daddr {outside} dnat (ip )?prefix to {inside}"
        assert re.search(rule, nat.stdout), (
            f"no 1:1 NETMAP {mapping['outside']} → {mapping['inside']}"
        )


@pytest.mark.roles("department_router", "lan_host")
def test_phase_is_recorded(host: Any, phase: Phase) -> None:
    assert host.file("/etc/govcloud/network-phase").content_string.strip() == phase.value


@pytest.mark.roles("core_router")
def test_core_routes_every_department(host: Any, node: dict[str, Any]) -> None:
    for daemon in ("zebra", "ospfd", "ospf6d"):
        assert host.run("vtysh -c 'show daemons'").stdout.count(daemon) >= 1, daemon
    for link in node["downlinks"]:
        assert addresses(host, link["interface"]) == canonical([link["ipv4"], link["ipv6"]])
