"""The phases of a department's network change, and the state each phase asks of every node.

A department moves through four phases, one playbook each (docs/lab.md):

    legacy ──network-merge──► merged ──ipv6-dualstack──► dualstack ──ipv6-cutover──► cutover

- legacy: the department's private network on its own; LANs on their legacy IPv4 prefixes,
  no link to the extranet.
- merged: the uplink carries IPv4 and routing (OSPFv2, or eBGP for a router that runs BIRD);
  renumbered LANs use their extranet prefix, the others stay behind 1:1 NETMAP; a firewall
  lets the extranet reach the LANs' service port and ICMP only.
- dualstack: IPv6 from the plan on loopback, uplink and LANs (router advertisements for
  SLAAC and a static address per server), OSPFv3 or eBGP over IPv6, and IPv6 firewall rules
  that mirror the IPv4 ones.
- cutover: services are named by their IPv6 address first; a department marked
  `ipv6_ready` also withdraws IPv4 from its LANs.

The node descriptions are plain dictionaries (the `netstate_node` inventory variable) so that
Ansible filters, testinfra tests and the lab all read the same data. The functions here only
compute; they never touch a machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from network.prefixes import format_address, parse

Node = Mapping[str, Any]

ROLE_CORE = "core_router"
ROLE_ROUTER = "department_router"
ROLE_HOST = "lan_host"
ROLE_CLOUD = "cloud"
# A department's server on the cloud (a migration target, a DR replica): the lab realises it
# at the addresses Neutron gave its port, behind the cloud gateway.
ROLE_CLOUD_SERVER = "cloud_server"

DAEMON_FRR = "frr"
DAEMON_BIRD = "bird"


class Phase(StrEnum):
    """Where a department stands in the change, in order."""

    LEGACY = "legacy"
    MERGED = "merged"
    DUALSTACK = "dualstack"
    CUTOVER = "cutover"

    @property
    def rank(self) -> int:
        """Position in the order of the change (legacy is 0)."""
        return list(Phase).index(self)

    def at_least(self, other: Phase) -> bool:
        """True when this phase is `other` or later."""
        return self.rank >= other.rank

    @property
    def previous(self) -> Phase:
        """The phase a rollback returns to (legacy is its own previous)."""
        return list(Phase)[max(self.rank - 1, 0)]


def phase_of(value: str | Phase | None) -> Phase:
    """A phase from its name; a node without a recorded phase is still legacy."""
    if value is None or value == "":
        return Phase.LEGACY
    try:
        return Phase(str(value).strip())
    except ValueError:
        names = ", ".join(p.value for p in Phase)
        raise ValueError(f"{value!r} is not a phase; the phases are {names}") from None


def network_of(interface_address: str) -> str:
    """The prefix of an interface address (198.18.4.1/25 → 198.18.4.0/25)."""
    address, _, length = interface_address.partition("/")
    family = 6 if ":" in address else 4
    bits = 128 if family == 6 else 32
    value = parse(f"{address}/{bits}").first
    mask = ((1 << bits) - 1) ^ ((1 << (bits - int(length))) - 1)
    return f"{format_address(family, value & mask)}/{length}"


def address_of(interface_address: str) -> str:
    """The address part of an interface address (198.18.4.1/25 → 198.18.4.1)."""
    return interface_address.partition("/")[0]


def withdraws_ipv4(node: Node, phase: Phase) -> bool:
    """True when the phase removes IPv4 from this department's LANs."""
    return phase is Phase.CUTOVER and bool(node.get("ipv6_ready"))


def lan_ipv4(lan: Mapping[str, Any], phase: Phase, *, withdrawn: bool) -> str | None:
    """A router's LAN address (or a host's, given a host's fields) in a phase."""
    if withdrawn:
        return None
    if phase.at_least(Phase.MERGED) and lan["renumber"]:
        return str(lan["extranet"])
    return str(lan["legacy"])


def _interface(
    name: str,
    *,
    ipv4: list[str],
    ipv6: list[str],
    ospf: bool = False,
    ospf6: bool = False,
    passive: bool = False,
    point_to_point: bool = False,
    ra_prefix: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "ipv4": ipv4,
        "ipv6": ipv6,
        "ospf": ospf,
        "ospf6": ospf6,
        "passive": passive,
        "point_to_point": point_to_point,
        "ra_prefix": ra_prefix,
    }


def router_state(node: Node, phase: Phase) -> dict[str, Any]:
    """What a department router looks like in a phase (templates spell it per daemon)."""
    merged = phase.at_least(Phase.MERGED)
    dual = phase.at_least(Phase.DUALSTACK)
    frr = node["daemon"] == DAEMON_FRR
    withdrawn = withdraws_ipv4(node, phase)
    loopback, uplink = node["loopback"], node["uplink"]
    interfaces = [
        _interface(
            loopback["interface"],
            ipv4=[loopback["ipv4"]] if merged else [],
            ipv6=[loopback["ipv6"]] if dual else [],
            ospf=merged and frr,
            ospf6=dual and frr,
            passive=True,
        ),
        _interface(
            uplink["interface"],
            ipv4=[uplink["ipv4"]] if merged else [],
            ipv6=[uplink["ipv6"]] if dual else [],
            ospf=merged and frr,
            ospf6=dual and frr,
            point_to_point=True,
        ),
    ]
    nat: list[dict[str, str]] = []
    discard4: list[str] = []
    announce4: list[str] = [network_of(loopback["ipv4"])] if merged else []
    announce6: list[str] = [network_of(loopback["ipv6"])] if dual else []
    protected4: list[str] = []
    protected6: list[str] = []
    for lan in node["lans"]:
        v4 = lan_ipv4(lan, phase, withdrawn=withdrawn)
        v6 = [lan["ipv6"]] if dual else []
        interfaces.append(
            _interface(
                lan["interface"],
                ipv4=[v4] if v4 else [],
                ipv6=v6,
                ospf=merged and frr and lan["renumber"] and v4 is not None,
                ospf6=dual and frr,
                passive=True,
                ra_prefix=network_of(lan["ipv6"]) if dual else None,
            )
        )
        if merged and v4 is not None:
            protected4.append(network_of(v4))
            if lan["renumber"]:
                announce4.append(network_of(v4))
            else:
                nat.append(
                    {
                        "inside": network_of(lan["legacy"]),
                        "outside": lan["nat_outside"],
                        "interface": uplink["interface"],
                    }
                )
                discard4.append(lan["nat_outside"])
                announce4.append(lan["nat_outside"])
        if dual:
            protected6.append(network_of(lan["ipv6"]))
            announce6.append(network_of(lan["ipv6"]))
    bgp = None
    if not frr and merged:
        bgp = {
            "asn": node["asn"],
            "peer_asn": uplink["peer_asn"],
            "ipv4": {"local": address_of(uplink["ipv4"]), "peer": uplink["peer_ipv4"]},
            "ipv6": (
                {"local": address_of(uplink["ipv6"]), "peer": uplink["peer_ipv6"]} if dual else None
            ),
        }
    return {
        "phase": phase.value,
        "hostname": node["hostname"],
        "daemon": node["daemon"],
        "router_id": node["router_id"],
        "interfaces": interfaces,
        "ospf": merged and frr,
        "ospf6": dual and frr,
        "bgp": bgp,
        "nat": nat,
        "discard4": discard4,
        "announce4": announce4,
        "announce6": announce6,
        "firewall": merged,
        "protected4": protected4,
        "protected6": protected6,
        "uplink": uplink["interface"],
        "lan_interfaces": [lan["interface"] for lan in node["lans"]],
    }


def host_state(node: Node, phase: Phase) -> dict[str, Any]:
    """What a LAN host looks like in a phase: addresses, default routes, service names."""
    merged = phase.at_least(Phase.MERGED)
    dual = phase.at_least(Phase.DUALSTACK)
    withdrawn = withdraws_ipv4(node, phase)
    if withdrawn:
        ipv4, gateway4 = None, None
    elif merged and node["renumber"]:
        ipv4, gateway4 = node["extranet"], node["extranet_gateway"]
    else:
        ipv4, gateway4 = node["legacy"], node["legacy_gateway"]
    return {
        "phase": phase.value,
        "hostname": node["hostname"],
        "interface": node["interface"],
        "ipv4": [ipv4] if ipv4 else [],
        "gateway4": gateway4,
        "ipv6": [node["ipv6"]] if dual else [],
        # IPv6 default routes come from router advertisements; "ra" names that.
        "gateway6": "ra" if dual else None,
        "slaac": dual,
        "names": service_names(node, phase),
    }


def system_names(nodes: Sequence[Node], phase: Phase) -> list[dict[str, Any]]:
    """The names of the systems these hosts serve, at the addresses the phase gives them.

    A merge that renumbers a system's server must move the system's name with it, or the
    department loses the service it just kept running. `stale` lists the server's other IPv4
    addresses: only a name that still points at one of them moves (a name a migration moved to
    the cloud stays there).
    """
    found = []
    for node in nodes:
        workload = node.get("workload")
        if not workload or "data_mb" not in workload:
            continue
        now = host_state(node, phase)["ipv4"]
        if not now:
            continue  # IPv4 withdrawn: the name keeps its IPv6 entry elsewhere
        address = address_of(now[0])
        stale = {address_of(a) for a in (node.get("legacy"), node.get("extranet")) if a} - {address}
        found.append({"name": workload["name"], "address": address, "stale": sorted(stale)})
    return found


def service_names(node: Node, phase: Phase) -> list[dict[str, str]]:
    """The service names a host resolves locally, IPv6 first from the cutover on.

    Before the merge nothing outside the department is reachable: no names. During the merge
    and dual-stack phases the cloud's services are named by IPv4 only, so traffic stays on
    the path that was verified; the cutover adds the IPv6 address, which RFC 6724 address
    selection then prefers, and a department that withdrew IPv4 keeps only that.
    """
    cloud = node.get("cloud")
    if not cloud or not phase.at_least(Phase.MERGED):
        return []
    names: list[dict[str, str]] = []
    if phase is Phase.CUTOVER:
        names.append({"address": address_of(cloud["ipv6"]), "name": cloud["name"]})
    if not withdraws_ipv4(node, phase):
        names.append({"address": address_of(cloud["ipv4"]), "name": cloud["name"]})
    return names
