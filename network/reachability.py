"""The expected reachability matrix: who reaches whom, over IPv4 and IPv6, by ping and TCP.

Computed from the nodes rendered from the plan (`netstate_node` inventory variables, see
`network.phases`) and the phase each department is in. The same rows drive the playbooks'
precheck and verify phases, `govcloud lab verify` and the integration tests; here they are
only computed, never probed.

Rows, for every department in the matrix:
- gateway: each LAN host pings its router's LAN address.
- cloud: each host pings the cloud gateway and opens its service port; the cloud opens each
  host's service port, and is refused on the internal port (the firewall).
- neighbours: the first host of each department reaches the first host of the next department
  (by code, in a ring): ping and service port allowed, internal port refused.
- internal: hosts on two LANs of the same department reach each other's internal port.
- dependencies: where a system depends on another one (`depends_on`), the host that runs it
  opens the service port of the host that runs the dependency.
- names: after the merge, each host connects to the cloud by name; from the cutover on the
  name must resolve to IPv6 first.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from network.phases import (
    ROLE_CLOUD,
    ROLE_HOST,
    ROLE_ROUTER,
    Node,
    Phase,
    address_of,
    lan_ipv4,
    withdraws_ipv4,
)

# HTTPS (RFC 9110): the port every service in the extranet is reached on.
SERVICE_PORT = 443
# An internal port (HTTP alternate, as commonly used for admin consoles) that the firewall keeps
# inside the department: the extranet is refused there over IPv4 and, mirrored, IPv6.
INTERNAL_PORT = 8080

PROBE_PING = "ping"
PROBE_TCP = "tcp"
PROBE_NAME = "name"  # connect to a name; the family that answered must be `family`


@dataclass(frozen=True, slots=True)
class Check:
    """One probe: from `source`, to `address` of `target`, and whether it should succeed."""

    source: str
    target: str
    family: int
    probe: str
    port: int | None
    address: str
    expect: bool
    reason: str

    @property
    def key(self) -> tuple[str, str, int, str, int | None]:
        """What the check is (not what it expects)."""
        return (self.source, self.target, self.family, self.probe, self.port)

    def label(self) -> str:
        """A short human name: 'gaj-office-h1 → cloud-gw tcp/443 IPv6'."""
        what = self.probe if self.port is None else f"{self.probe}/{self.port}"
        return f"{self.source} → {self.target} {what} IPv{self.family}"

    def as_dict(self) -> dict[str, Any]:
        """Plain fields for JSON and Ansible."""
        return asdict(self)


@dataclass(frozen=True)
class Ports:
    """The TCP ports the matrix probes."""

    service: int = SERVICE_PORT
    internal: int = INTERNAL_PORT


class _View:
    """The nodes and phases the matrix is computed over."""

    def __init__(self, nodes: Mapping[str, Node], phases: Mapping[str, Phase | str]) -> None:
        self.nodes = nodes
        self.phases = {code: Phase(p) for code, p in phases.items()}
        self.clouds = sorted(n for n, v in nodes.items() if v["role"] == ROLE_CLOUD)
        self.routers = {v["department"]: n for n, v in nodes.items() if v["role"] == ROLE_ROUTER}
        hosts: dict[str, list[str]] = {}
        for name, node in nodes.items():
            if node["role"] == ROLE_HOST:
                hosts.setdefault(node["department"], []).append(name)
        self.hosts = {
            code: sorted(names, key=lambda n: (nodes[n]["lan_index"], nodes[n]["host_index"]))
            for code, names in hosts.items()
        }
        self.runners: dict[str, str] = {}
        for name, node in nodes.items():
            for system in node.get("systems", ()):
                self.runners.setdefault(system["ref"], name)

    def department(self, name: str) -> str | None:
        node = self.nodes[name]
        return None if node["role"] == ROLE_CLOUD else str(node["department"])

    def phase(self, name: str) -> Phase:
        """A node's phase; the cloud is built dual-stack and counts as cut over."""
        code = self.department(name)
        return Phase.CUTOVER if code is None else self.phases.get(code, Phase.LEGACY)

    def has(self, name: str, family: int) -> bool:
        """Whether a node has an address of this family in its phase."""
        node, phase = self.nodes[name], self.phase(name)
        if node["role"] == ROLE_CLOUD:
            return True
        if family == 6:
            return phase.at_least(Phase.DUALSTACK)
        return not withdraws_ipv4(node, phase)

    def joined(self, name: str, family: int) -> bool:
        """Whether a node is connected to the extranet for this family."""
        needed = Phase.DUALSTACK if family == 6 else Phase.MERGED
        return self.phase(name).at_least(needed)

    def address(self, target: str, family: int, viewer: str) -> str | None:
        """The address `viewer` uses for `target` (extranet or NAT address across)."""
        node = self.nodes[target]
        if family == 6:
            return address_of(node["ipv6"])
        if node["role"] == ROLE_CLOUD:
            return address_of(node["ipv4"])
        phase = self.phase(target)
        inside = lan_ipv4(node, phase, withdrawn=withdraws_ipv4(node, phase))
        if inside is None:
            return None
        if self.department(viewer) == self.department(target):
            return address_of(inside)
        if not phase.at_least(Phase.MERGED):
            # Legacy addresses mean nothing outside the department (and overlap there).
            return None
        return address_of(inside) if node["renumber"] else str(node["nat_outside"])

    def reaches(self, source: str, target: str, family: int) -> bool:
        """Whether routing and addressing should carry this family from source to target."""
        if not (self.has(source, family) and self.has(target, family)):
            return False
        if self.department(source) == self.department(target):
            return True
        return self.joined(source, family) and self.joined(target, family)


class _Rows:
    """Collects checks, once per key."""

    def __init__(self, view: _View) -> None:
        self.view = view
        self.rows: dict[tuple[str, str, int, str, int | None], Check] = {}

    def add(
        self,
        source: str,
        target: str,
        probe: str,
        port: int | None,
        reason: str,
        *,
        allowed: bool = True,
        families: Iterable[int] = (4, 6),
    ) -> None:
        for family in families:
            address = self.view.address(target, family, source)
            if address is None:
                continue
            expect = allowed and self.view.reaches(source, target, family)
            check = Check(source, target, family, probe, port, address, expect, reason)
            self.rows.setdefault(check.key, check)


def expected_checks(
    nodes: Mapping[str, Node],
    phases: Mapping[str, Phase | str],
    *,
    ports: Ports | None = None,
    department: str | None = None,
) -> list[Check]:
    """Every check of the matrix, or those of one department (with the cloud) when given."""
    ports = ports or Ports()
    view = _View(nodes, phases)
    rows = _Rows(view)
    codes = sorted(view.hosts)
    for code in codes:
        _department_rows(view, rows, code, ports)
    for index, code in enumerate(codes):
        if len(codes) > 1:
            here, there = view.hosts[code][0], view.hosts[codes[(index + 1) % len(codes)]][0]
            rows.add(here, there, PROBE_PING, None, "neighbour")
            rows.add(here, there, PROBE_TCP, ports.service, "neighbour")
            rows.add(here, there, PROBE_TCP, ports.internal, "firewall", allowed=False)
    _dependency_rows(view, rows, ports)
    checks = list(rows.rows.values())
    if department is not None:
        own = {*view.hosts.get(department, ()), *view.clouds}
        if department in view.routers:
            own.add(view.routers[department])
        checks = [c for c in checks if c.source in own and c.target in own]
    return sorted(checks, key=lambda c: (c.source, c.target, c.family, c.probe, c.port or 0))


def _department_rows(view: _View, rows: _Rows, code: str, ports: Ports) -> None:
    hosts = view.hosts[code]
    router = view.routers.get(code)
    for host in hosts:
        node = view.nodes[host]
        if router is not None:
            _gateway_rows(view, rows, host, router, node)
        for cloud in view.clouds:
            rows.add(host, cloud, PROBE_PING, None, "cloud")
            rows.add(host, cloud, PROBE_TCP, ports.service, "cloud")
            rows.add(cloud, host, PROBE_TCP, ports.service, "cloud")
            rows.add(cloud, host, PROBE_TCP, ports.internal, "firewall", allowed=False)
            _name_row(view, rows, host, cloud, ports)
    firsts: dict[int, str] = {}
    for host in hosts:
        firsts.setdefault(view.nodes[host]["lan_index"], host)
    ordered = [firsts[i] for i in sorted(firsts)]
    for here, there in itertools.pairwise(ordered):
        rows.add(here, there, PROBE_PING, None, "internal")
        rows.add(here, there, PROBE_TCP, ports.internal, "internal")


def _gateway_rows(view: _View, rows: _Rows, host: str, router: str, node: Node) -> None:
    """A host pings its router's address on its own LAN."""
    phase = view.phase(host)
    lan = view.nodes[router]["lans"][node["lan_index"]]
    gateways = {4: lan_ipv4(lan, phase, withdrawn=withdraws_ipv4(node, phase)), 6: lan["ipv6"]}
    for family, gateway in gateways.items():
        if gateway is None:
            continue
        expect = view.has(host, family)
        check = Check(
            host, router, family, PROBE_PING, None, address_of(gateway), expect, "gateway"
        )
        rows.rows.setdefault(check.key, check)


def _name_row(view: _View, rows: _Rows, host: str, cloud: str, ports: Ports) -> None:
    """After the merge a host reaches the cloud by name; IPv6 answers from the cutover on."""
    phase = view.phase(host)
    cloud_node = view.nodes[host].get("cloud")
    if cloud_node is None or not phase.at_least(Phase.MERGED):
        return
    if view.nodes[cloud].get("name", cloud_node["name"]) != cloud_node["name"]:
        return  # the host's name is another cloud's (the DR site has a name of its own)
    family = 6 if phase is Phase.CUTOVER else 4
    check = Check(
        host, cloud, family, PROBE_NAME, ports.service, cloud_node["name"], True, "preferred path"
    )
    rows.rows.setdefault(check.key, check)


def _dependency_rows(view: _View, rows: _Rows, ports: Ports) -> None:
    for name in sorted(view.nodes):
        for system in view.nodes[name].get("systems", ()):
            for dependency in system.get("depends_on", ()):
                target = view.runners.get(dependency)
                if target is None or target == name:
                    continue
                rows.add(name, target, PROBE_TCP, ports.service, f"{system['ref']} → {dependency}")


def failures(checks: Iterable[Check], results: Mapping[tuple[Any, ...], bool]) -> list[Check]:
    """The checks whose result differs from what they expect (a missing result fails)."""
    return [c for c in checks if results.get(c.key) is not c.expect]
