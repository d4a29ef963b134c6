"""The lab's nodes and wires, computed from the county model and the network plan (pure).

Nodes: the extranet core router (FRR), one router per chosen department (FRR, or BIRD for the
departments chosen for it), `hosts_per_lan` hosts on each legacy LAN, the cloud gateway and,
when the county has a DR site, the DR region's gateway on a core link of its own.
Every node also has a management interface on a separate bridge, where Ansible and testinfra
run. Each node's description is the `netstate_node` dictionary that the inventory carries
(see `network.phases`); addresses are the plan's, mapped by `lab.netlab.addressing`.

Names: nodes are `core-rtr`, `<code>-rtr`, `<code>-<lan>-h<n>`, `cloud-gw` and `dr-gw`; a lab
workload's servers are `<dept>-<system>` (its machine room), `<dept>-<system>-cloud` (its cloud
server) and `<dept>-<system>-dr` (its DR standby, or its DR backup agent); namespaces are
the node names behind the lab's prefix `gcl-<lab>-`, so `down` can find exactly what `up`
made.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import netaddr

from cloud.addresses import ServerPort
from govcloud.conventions import DR_NETWORK, system_service_name
from govcloud.errors import BadInputError
from govcloud.model import (
    County,
    Department,
    LegacyNetwork,
    Location,
    SiteRole,
    System,
)
from lab.netlab.addressing import (
    CLOUD_SEGMENT_IPV4,
    DR_SEGMENT_IPV4,
    MANAGEMENT_IPV4,
    MANAGEMENT_IPV6,
    AddressMap,
    build_address_map,
)
from network import render
from network.phases import (
    DAEMON_BIRD,
    DAEMON_FRR,
    ROLE_CLOUD,
    ROLE_CLOUD_SERVER,
    ROLE_CORE,
    ROLE_HOST,
    ROLE_ROUTER,
    address_of,
)
from network.plan import COUNTY_WIDE, AllocationKind, NetworkPlan
from network.prefixes import Prefix, format_address, parse

# Private AS numbers (RFC 6996): the core, then one per department by its place in the county.
CORE_ASN: Final = 64512
DEPARTMENT_ASN_BASE: Final = 64513
# A host's address is this far into its LAN (.1 is the router); hosts count up from it.
HOST_OFFSET: Final = 10
MAX_HOSTS_PER_LAN: Final = 4  # the smallest extranet LAN is a /28 (network.plan)
CLOUD_HOST_OFFSET: Final = 10
CLOUD_SERVICE_NAME: Final = "cloud.extranet.example"  # RFC 2606 reserved name
DR_SERVICE_NAME: Final = "dr.extranet.example"
# A workload's server sits on its LAN below the hosts (.1 is the router, hosts from .10),
# then above them as far as the LAN's smallest IPv4 prefix allows.
WORKLOAD_OFFSET: Final = 2
# Workload servers sort after a LAN's ordinary hosts (the first host speaks for the LAN).
WORKLOAD_HOST_INDEX: Final = 100
WORKLOAD_DB_PORT: Final = 5432  # PostgreSQL's registered port
SOURCE_SUFFIX: Final = ""
CLOUD_SERVER_SUFFIX: Final = "-cloud"
DR_SERVER_SUFFIX: Final = "-dr"
# Where a `backup` policy's DR volume (`<dept>-<system>-backup`) is mounted on the system's DR
# node, the backup agent and restore server of the DR site.
DR_BACKUP_ROOT: Final = "/srv/govcloud/dr-backup"
# A backup agent has no Neutron port (a cold standby runs nothing): it takes the last usable
# address of its department's DR network, far from the ports Neutron hands out from the start.
DR_BACKUP_OFFSET_FROM_END: Final = 2
# The lab a plain `govcloud lab up` builds: two overlapping pairs (cgj and gaj share
# 192.168.0.0/24, sfj and zwfw 192.168.1.0/24), NAT'd LANs (gaj, sfj), a department that runs
# BIRD (gaj, the second) and one marked ipv6_ready (zwfw).
DEFAULT_DEPARTMENTS: Final = ("cgj", "gaj", "sfj", "zwfw")
NAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
LAB_NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9]{0,7}$")
NAMESPACE_PREFIX: Final = "gcl-"
MANAGEMENT_NODE: Final = "mgmt"
CORE: Final = "core-rtr"
CLOUD: Final = "cloud-gw"
DR: Final = "dr-gw"
# The core's links to the two sites' gateways: a site cut from the extranet loses its link.
CORE_SITE_INTERFACES: Final = {SiteRole.PRIMARY.value: "cloud0", SiteRole.DR.value: "dr0"}


@dataclass(frozen=True)
class Veth:
    """A veth pair: `a_if` in node `a`, `b_if` in node `b`; `bridge` is a bridge in `a`."""

    a: str
    a_if: str
    b: str
    b_if: str
    bridge: str | None = None


@dataclass(frozen=True)
class WorkloadSpec:
    """A system the lab runs as a real service: its data, its cloud server if deployed, and
    what the DR stack holds for it (a standby's port, or the name of its backup volume)."""

    system: str  # department/system
    data_mb: int
    target: ServerPort | None = None
    dr: ServerPort | None = None
    dr_backup_volume: str | None = None


def source_node(system_ref: str) -> str:
    """The lab node of a system's server in its department's machine room."""
    return system_ref.replace("/", "-") + SOURCE_SUFFIX


def cloud_server_node(system_ref: str) -> str:
    """The lab node of a system's server on the cloud."""
    return system_ref.replace("/", "-") + CLOUD_SERVER_SUFFIX


def dr_server_node(system_ref: str) -> str:
    """The lab node of a system's server at the DR site (its standby, or its backup agent)."""
    return system_ref.replace("/", "-") + DR_SERVER_SUFFIX


def dr_backup_dir(volume: str) -> str:
    """Where a `backup` policy's DR volume is mounted on the system's DR node."""
    return f"{DR_BACKUP_ROOT}/{volume}"


@dataclass
class Topology:
    """Everything the builder needs: nodes (with their inventory data) and wires."""

    lab: str
    county_code: str
    county_name: str
    departments: tuple[str, ...]
    bird: tuple[str, ...]
    address_map: AddressMap
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    veths: list[Veth] = field(default_factory=list)
    bridges: list[tuple[str, str]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """The namespace prefix of this lab."""
        return namespace_prefix(self.lab)

    def namespace(self, node: str) -> str:
        """The network namespace of a node (or of the management controller)."""
        return f"{self.prefix}{node}"

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of the lab: the controller first."""
        return [self.namespace(MANAGEMENT_NODE), *(self.namespace(n) for n in self.nodes)]

    def by_role(self, role: str) -> list[str]:
        """Node names with this role, in build order."""
        return [name for name, node in self.nodes.items() if node["role"] == role]


def namespace_prefix(lab: str) -> str:
    """`gcl-<lab>-`: every namespace of one lab starts with it."""
    return f"{NAMESPACE_PREFIX}{lab}-"


def check_lab_name(lab: str) -> str:
    """Lab names are short: they end up in namespace names."""
    if not LAB_NAME_PATTERN.match(lab):
        raise BadInputError(
            f"lab name {lab!r}: use 1-8 lowercase letters or digits, starting with a letter"
        )
    return lab


def _lan_label(name: str, index: int) -> str:
    label = name.lower()
    return label if NAME_PATTERN.match(label) and len(label) <= 12 else f"lan{index}"


def overlapping_lans(department: Department) -> list[tuple[str, str]]:
    """Pairs of a department's own legacy LANs that overlap (they need VRFs)."""
    pairs = []
    networks = department.legacy_networks
    for i, first in enumerate(networks):
        for second in networks[i + 1 :]:
            if parse(first.prefix).overlaps(parse(second.prefix)):
                pairs.append((first.name, second.name))
    return pairs


def eligible(department: Department) -> bool:
    """The lab models a department router with one routing table and at least one LAN."""
    return bool(department.legacy_networks) and not overlapping_lans(department)


def choose_departments(county: County, wanted: str | None) -> tuple[str, ...]:
    """Department codes from `--departments`: a count, a comma-separated list, or the default."""
    by_code = {d.code: d for d in county.departments}
    usable = sorted(code for code, d in by_code.items() if eligible(d))
    if wanted is None or wanted == "":
        chosen = [c for c in DEFAULT_DEPARTMENTS if c in usable]
        return tuple(chosen or usable[:4])
    if wanted.isdigit():
        count = int(wanted)
        if not 1 <= count <= len(usable):
            raise BadInputError(
                f"--departments {count}: this county has {len(usable)} departments the lab "
                "can model (one routing table per department router); choose 1 to "
                f"{len(usable)}"
            )
        return tuple(usable[:count])
    codes = [c.strip() for c in wanted.split(",") if c.strip()]
    problems = []
    for code in codes:
        if code not in by_code:
            problems.append(f"{code}: no such department in {county.name}")
        elif not by_code[code].legacy_networks:
            problems.append(f"{code}: has no legacy network to put in the lab")
        elif overlapping_lans(by_code[code]):
            pairs = ", ".join(f"{a}/{b}" for a, b in overlapping_lans(by_code[code]))
            problems.append(
                f"{code}: its own LANs overlap ({pairs}); the lab gives each department router "
                "one routing table (this kernel has no VRF support), so leave it out"
            )
    if len(set(codes)) != len(codes):
        problems.append("a department is named twice")
    if problems or not codes:
        raise BadInputError("--departments: " + ("; ".join(problems) or "name at least one"))
    return tuple(sorted(codes))


def default_bird(departments: tuple[str, ...]) -> tuple[str, ...]:
    """Every fourth department, starting with the second, runs BIRD instead of FRR."""
    return tuple(code for i, code in enumerate(departments) if i % 4 == 1)


def _offset(interface_address: str, offset: int) -> str:
    """The address `offset` into the prefix of an interface address, with its length."""
    address, _, length = interface_address.partition("/")
    family = 6 if ":" in address else 4
    bits = 128 if family == 6 else 32
    first = parse(f"{address}/{bits}").first
    network = first & ~((1 << (bits - int(length))) - 1)
    return f"{format_address(family, network + offset)}/{length}"


def build_topology(
    county: County,
    plan: NetworkPlan,
    departments: tuple[str, ...],
    *,
    lab: str = "lab",
    bird: tuple[str, ...] | None = None,
    hosts_per_lan: int = 1,
    address_map: AddressMap | None = None,
    workloads: Sequence[WorkloadSpec] = (),
) -> Topology:
    """The lab for these departments of the county, on the plan's addresses mapped into the lab."""
    bird = _checked(lab, departments, bird, hosts_per_lan)
    _check_workloads(county, departments, workloads)
    chosen = [county.department(code) for code in departments]
    legacy = [n.prefix for d in chosen for n in d.legacy_networks]
    amap = address_map or build_address_map(county, legacy)
    topology = Topology(lab, county.code, county.name, departments, tuple(bird), amap)
    routers = {r.department: r for r in render.routers(county, plan, "frr")}
    index = {a.key: a for a in plan.allocations}
    order = {d.code: i for i, d in enumerate(sorted(county.departments, key=lambda d: d.code))}

    cloud6 = _cloud_ipv6(plan, amap, county)
    cloud = {
        "name": CLOUD_SERVICE_NAME,
        "ipv4": f"{format_address(4, CLOUD_SEGMENT_IPV4.first + CLOUD_HOST_OFFSET)}/24",
        "ipv6": _offset(cloud6, CLOUD_HOST_OFFSET),
    }
    core = routers[COUNTY_WIDE]
    core_node = _core_node(core, amap, plan, cloud6)
    topology.nodes[CORE] = core_node
    downlinks = {i.description.removeprefix("link to "): i for i in core.interfaces}
    cloud_systems: list[dict[str, Any]] = []

    for code in departments:
        department = county.department(code)
        router = routers[code]
        name = f"{code}-rtr"
        daemon = DAEMON_BIRD if code in bird else DAEMON_FRR
        asn = DEPARTMENT_ASN_BASE + order[code]
        uplink = router.interfaces[0]
        downlink = downlinks[code]
        core_node["downlinks"].append(
            {
                "interface": downlink.name,
                "department": code,
                "ipv4": _mapped(amap, downlink.ipv4),
                "ipv6": _mapped(amap, downlink.ipv6),
                "peer_ipv4": address_of(_mapped(amap, uplink.ipv4)),
                "peer_ipv6": address_of(_mapped(amap, uplink.ipv6)),
                "protocol": "bgp" if daemon == DAEMON_BIRD else "ospf",
                "peer_asn": asn if daemon == DAEMON_BIRD else None,
            }
        )
        topology.veths.append(Veth(CORE, downlink.name, name, "up0"))
        lans = []
        hosts: list[str] = []
        for number, (network, interface) in enumerate(
            zip(department.legacy_networks, router.interfaces[1:], strict=True)
        ):
            lan = _lan(amap, index, code, network, interface)
            lans.append(lan)
            topology.bridges.append((name, interface.name))
            label = _lan_label(network.name, number)
            for host_number in range(hosts_per_lan):
                host = f"{code}-{label}-h{host_number + 1}"
                offset = HOST_OFFSET + host_number
                lan["hosts"].append(host)
                hosts.append(host)
                topology.nodes[host] = _host_node(
                    host, department, lan, number, host_number, offset, cloud
                )
                topology.veths.append(
                    Veth(name, f"l{number}h{host_number + 1}", host, "eth0", interface.name)
                )
        cloud_systems += _place_systems(
            topology, county, department, topology.nodes[hosts[0]], name, lans, workloads, cloud
        )
        topology.nodes[name] = _router_node(
            name, department, router, amap, daemon, asn, downlink, lans, cloud
        )
    topology.nodes[CLOUD] = {
        "role": ROLE_CLOUD,
        "hostname": CLOUD,
        "interface": "eth0",
        "ipv4": cloud["ipv4"],
        "gateway4": address_of(core_node["cloud_interface"]["ipv4"]),
        "ipv6": cloud["ipv6"],
        "gateway6": address_of(core_node["cloud_interface"]["ipv6"]),
        "name": CLOUD_SERVICE_NAME,
        "systems": cloud_systems,
    }
    topology.veths.append(Veth(CORE, "cloud0", CLOUD, "eth0"))
    _add_cloud_servers(topology, county, [w for w in workloads if w.target is not None])
    site = _dr_site(county)
    if site is not None:
        _add_dr_site(topology, county, plan, site.name, workloads)
    _order_nodes(topology)
    _management(topology)
    return topology


def _checked(
    lab: str, departments: tuple[str, ...], bird: tuple[str, ...] | None, hosts_per_lan: int
) -> tuple[str, ...]:
    """Check the lab's options; returns the departments that run BIRD."""
    check_lab_name(lab)
    if not 1 <= hosts_per_lan <= MAX_HOSTS_PER_LAN:
        raise BadInputError(f"--hosts-per-lan: choose 1 to {MAX_HOSTS_PER_LAN}")
    bird = default_bird(departments) if bird is None else bird
    unknown = sorted(set(bird) - set(departments))
    if unknown:
        raise BadInputError(f"--bird {','.join(unknown)}: not among the lab's departments")
    return bird


def _router_node(  # noqa: PLR0917  (a router's parts)
    name: str,
    department: Department,
    router: render.Router,
    amap: AddressMap,
    daemon: str,
    asn: int,
    downlink: render.Interface,
    lans: list[dict[str, Any]],
    cloud: dict[str, str],
) -> dict[str, Any]:
    """A department router: identity, loopback, uplink to the core, LANs."""
    uplink = router.interfaces[0]
    return {
        "role": ROLE_ROUTER,
        "hostname": name,
        "department": department.code,
        "daemon": daemon,
        "asn": asn if daemon == DAEMON_BIRD else None,
        "router_id": amap.extranet(router.router_id),
        "ipv6_ready": department.ipv6_ready,
        "loopback": {
            "interface": "lo",
            "ipv4": _mapped(amap, router.loopback.ipv4),
            "ipv6": _mapped(amap, router.loopback.ipv6),
        },
        "uplink": {
            "interface": "up0",
            "ipv4": _mapped(amap, uplink.ipv4),
            "ipv6": _mapped(amap, uplink.ipv6),
            "peer_ipv4": address_of(_mapped(amap, downlink.ipv4)),
            "peer_ipv6": address_of(_mapped(amap, downlink.ipv6)),
            "peer_asn": CORE_ASN,
        },
        "lans": lans,
        "cloud": cloud,
    }


def _lan(
    amap: AddressMap,
    index: dict[tuple[str, str, int, AllocationKind], Any],
    code: str,
    network: LegacyNetwork,
    interface: render.Interface,
) -> dict[str, Any]:
    """A department LAN: the router's legacy, extranet (or NAT) and IPv6 addresses on it."""
    return {
        "name": network.name,
        "interface": interface.name,
        "renumber": network.renumber,
        "legacy": amap.legacy(_offset(network.prefix, 1)),
        "extranet": _mapped(amap, interface.ipv4) if network.renumber else None,
        "nat_outside": (
            None
            if network.renumber
            else amap.extranet(index[(code, network.name, 4, AllocationKind.NAT)].prefix)
        ),
        "ipv6": _mapped(amap, interface.ipv6),
        "hosts": [],
    }


def _core_node(
    core: render.Router, amap: AddressMap, plan: NetworkPlan, cloud6: str
) -> dict[str, Any]:
    """The extranet core: loopback, the cloud segment, and (filled in later) its downlinks."""
    index = {a.key: a for a in plan.allocations if a.department == COUNTY_WIDE}
    return {
        "role": ROLE_CORE,
        "hostname": CORE,
        "asn": CORE_ASN,
        "router_id": amap.extranet(core.router_id),
        "loopback": {
            "interface": "lo",
            "ipv4": _mapped(amap, core.loopback.ipv4),
            "ipv6": _mapped(amap, core.loopback.ipv6),
        },
        "downlinks": [],
        "cloud_interface": {
            "interface": "cloud0",
            "ipv4": f"{format_address(4, CLOUD_SEGMENT_IPV4.first + 1)}/24",
            "ipv6": _offset(cloud6, 1),
        },
        "link_blocks": [
            amap.extranet(index[(COUNTY_WIDE, "p2p-links", 4, AllocationKind.BLOCK)].prefix),
            amap.extranet(index[(COUNTY_WIDE, "p2p-links", 6, AllocationKind.BLOCK)].prefix),
        ],
    }


def _host_node(  # noqa: PLR0917  (one host's coordinates)
    name: str,
    department: Department,
    lan: dict[str, Any],
    lan_index: int,
    host_index: int,
    offset: int,
    cloud: dict[str, str],
) -> dict[str, Any]:
    """A LAN host: its legacy, extranet (or NAT) and IPv6 addresses, and the cloud it uses."""
    nat = lan["nat_outside"]
    return {
        "role": ROLE_HOST,
        "hostname": name,
        "department": department.code,
        "lan": lan["name"],
        "lan_index": lan_index,
        "host_index": host_index,
        "interface": "eth0",
        "renumber": lan["renumber"],
        "legacy": _offset(lan["legacy"], offset),
        "legacy_gateway": address_of(lan["legacy"]),
        "extranet": _offset(lan["extranet"], offset) if lan["extranet"] else None,
        "extranet_gateway": address_of(lan["extranet"]) if lan["extranet"] else None,
        "nat_outside": address_of(_offset(nat, offset)) if nat else None,
        "ipv6": _offset(lan["ipv6"], offset),
        "ipv6_gateway": address_of(lan["ipv6"]),
        "ipv6_ready": department.ipv6_ready,
        "cloud": cloud,
        "systems": [],
    }


def _place_systems(  # noqa: PLR0917  (a department's parts)
    topology: Topology,
    county: County,
    department: Department,
    first_host: dict[str, Any],
    router: str,
    lans: list[dict[str, Any]],
    workloads: Sequence[WorkloadSpec],
    cloud: dict[str, str],
) -> list[dict[str, Any]]:
    """Legacy systems on the first host, or on a server of their own when the lab runs them;
    returns the department's systems on the cloud."""
    code = department.code
    legacy = {f"{code}/{s.code}" for s in department.systems if s.location is not Location.CLOUD}
    served = {w.system: w for w in workloads if w.system in legacy}
    on_cloud = []
    for system in department.systems:
        entry = {"ref": f"{code}/{system.code}", "depends_on": list(system.depends_on)}
        if system.location is Location.CLOUD:
            on_cloud.append(entry)
        elif entry["ref"] not in served:
            first_host["systems"].append(entry)
    for number, spec in enumerate(served.values()):
        entry = {"ref": spec.system, "depends_on": list(_system(county, spec.system).depends_on)}
        _add_source(topology, department, router, lans, number, spec, entry, cloud)
    return on_cloud


def _system(county: County, ref: str) -> Any:
    department, _, code = ref.partition("/")
    return next(s for s in county.department(department).systems if s.code == code)


def _check_workloads(
    county: County, departments: tuple[str, ...], workloads: Sequence[WorkloadSpec]
) -> None:
    """Every workload is an unclassified system: a legacy one of a chosen department with a
    renumbered LAN for its server, or one on the cloud whose cloud server is deployed."""
    problems = []
    seen: set[str] = set()
    codes = {d.code for d in county.departments}
    for spec in workloads:
        department, _, code = spec.system.partition("/")
        if spec.system in seen:
            problems.append(f"{spec.system}: named twice")
        seen.add(spec.system)
        if department not in codes:
            problems.append(f"{spec.system}: its department is not in the lab (--departments)")
            continue
        system = next((s for s in county.department(department).systems if s.code == code), None)
        if system is None:
            problems.append(f"{spec.system}: no such system in {department}")
            continue
        problems += _workload_problems(county, departments, spec, system)
        if spec.data_mb < 0:
            problems.append(f"{spec.system}: data size must not be negative")
    if problems:
        raise BadInputError("--workloads: " + "; ".join(problems))


def _workload_problems(
    county: County, departments: tuple[str, ...], spec: WorkloadSpec, system: System
) -> list[str]:
    """What keeps one known system from running in the lab."""
    department = spec.system.partition("/")[0]
    if system.classified:
        return [f"{spec.system}: classified (涉密) systems never go to the cloud"]
    problems = []
    if system.location is Location.CLOUD:
        if spec.target is None:
            problems.append(
                f"{spec.system}: it runs on the cloud, but the cloud holds no server for it; "
                "deploy the primary stack (`govcloud localcloud deploy --stack primary`)"
            )
    elif department not in departments:
        problems.append(f"{spec.system}: its department is not in the lab (--departments)")
    elif not any(n.renumber for n in county.department(department).legacy_networks):
        problems.append(
            f"{spec.system}: {department} has no renumbered LAN for the system's server"
        )
    if (spec.dr or spec.dr_backup_volume) and not _dr_site(county):
        problems.append(f"{spec.system}: the county has no DR site (sites: role dr)")
    return problems


def _dr_site(county: County) -> Any:
    """The county's DR site, or None."""
    return next((site for site in county.sites if site.role is SiteRole.DR), None)


def workload_offsets(lan: Mapping[str, Any]) -> list[int]:
    """Where a LAN's workload servers may sit: below its hosts, then above them, inside every
    IPv4 prefix the LAN has (legacy, extranet, NAT), short of the broadcast address."""
    prefixes = [lan[key] for key in ("legacy", "extranet", "nat_outside") if lan.get(key)]
    size = min(1 << (32 - int(p.partition("/")[2])) for p in prefixes)
    above = HOST_OFFSET + MAX_HOSTS_PER_LAN
    return [*range(WORKLOAD_OFFSET, HOST_OFFSET), *range(above, size - 1)]


def _add_source(  # noqa: PLR0917  (one server's coordinates)
    topology: Topology,
    department: Department,
    router: str,
    lans: list[dict[str, Any]],
    number: int,
    spec: WorkloadSpec,
    entry: dict[str, Any],
    cloud: dict[str, str],
) -> None:
    """A system's own server on the department's first renumbered LAN, running the system."""
    lan_index = next(i for i, lan in enumerate(lans) if lan["renumber"])
    lan = lans[lan_index]
    name = source_node(spec.system)
    if name in topology.nodes:
        raise BadInputError(f"--workloads: {spec.system}: node name {name} is already taken")
    offsets = workload_offsets(lan)
    if number >= len(offsets):
        raise BadInputError(
            f"--workloads: {department.code}: its LAN {lan['name']} has room for "
            f"{len(offsets)} workload servers; run fewer of its systems in the lab"
        )
    node = _host_node(
        name,
        department,
        lan,
        lan_index,
        WORKLOAD_HOST_INDEX + number,
        offsets[number],
        cloud,
    )
    node["systems"] = [entry]
    node["workload"] = {
        "system": spec.system,
        "name": system_service_name(spec.system),
        "db_port": WORKLOAD_DB_PORT,
        "data_mb": spec.data_mb,
        "cloud_server": cloud_server_node(spec.system) if spec.target else None,
    }
    lan["hosts"].append(name)
    topology.nodes[name] = node
    topology.veths.append(
        Veth(router, f"l{lan_index}w{number + 1}", name, "eth0", lan["interface"])
    )


def _server_node(name: str, port: ServerPort, tenant: str) -> dict[str, Any]:
    """A server of the cloud (either region) at the addresses Neutron gave its port."""
    return {
        "role": ROLE_CLOUD_SERVER,
        "hostname": name,
        "tenant": tenant,
        "server": port.server,
        "server_id": port.server_id,
        "region": port.region,
        "interface": "eth0",
        "ipv4": port.ipv4,
        "gateway4": port.gateway4,
        "ipv6": port.ipv6,
        "gateway6": port.gateway6,
    }


def _add_cloud_servers(
    topology: Topology, county: County, deployed: Sequence[WorkloadSpec]
) -> None:
    """Each deployed server behind the cloud gateway, which routes its tenant subnets; the
    core routes those subnets to the gateway and announces them like the cloud segment."""
    if not deployed:
        return
    _refuse_overlaps(topology, county, deployed)
    cloud = topology.nodes[CLOUD]
    core = topology.nodes[CORE]
    bridges: dict[tuple[str, ...], str] = {}
    cloud["tenants"] = []
    core["static_routes"] = []
    for number, spec in enumerate(deployed):
        port = spec.target
        assert port is not None  # noqa: S101  (filtered by the caller)
        if port.subnets not in bridges:
            bridge = f"t{len(bridges)}"
            bridges[port.subnets] = bridge
            cloud["tenants"].append(
                {
                    "bridge": bridge,
                    "ipv4": f"{port.gateway4}/{port.subnets[0].split('/')[1]}",
                    "ipv6": (
                        f"{port.gateway6}/{port.subnets[1].split('/')[1]}" if port.ipv6 else None
                    ),
                }
            )
            core["static_routes"].append(
                {"prefix": port.subnets[0], "via": address_of(cloud["ipv4"])}
            )
            if port.ipv6:
                core["static_routes"].append(
                    {"prefix": port.subnets[1], "via": address_of(cloud["ipv6"])}
                )
        name = cloud_server_node(spec.system)
        workload: dict[str, Any] = {
            "system": spec.system,
            "name": system_service_name(spec.system),
            "db_port": WORKLOAD_DB_PORT,
            "source": source_node(spec.system),
        }
        if _system(county, spec.system).location is Location.CLOUD:
            # On the cloud already: its cloud server is where it runs, with its data.
            workload |= {"source": None, "data_mb": spec.data_mb}
        topology.nodes[name] = _server_node(name, port, spec.system.partition("/")[0]) | {
            "workload": workload
        }
        topology.veths.append(Veth(CLOUD, f"s{number}", name, "eth0", bridges[port.subnets]))
    for tenant in cloud["tenants"]:
        topology.bridges.append((CLOUD, tenant["bridge"]))


def _add_dr_site(
    topology: Topology,
    county: County,
    plan: NetworkPlan,
    site: str,
    workloads: Sequence[WorkloadSpec],
) -> None:
    """The DR region's gateway on a core link of its own, and behind it each workload's DR
    server: a standby at its Neutron port's addresses, or (a `backup` policy) the backup agent
    on its department's DR network. The core routes the DR site's IPv6 block and the DR
    tenant subnets to the gateway, and announces them like the cloud segment."""
    amap = topology.address_map
    segment6, block6 = _site_ipv6(plan, amap, site)
    core = topology.nodes[CORE]
    core["dr_interface"] = {
        "interface": CORE_SITE_INTERFACES[SiteRole.DR.value],
        "ipv4": f"{format_address(4, DR_SEGMENT_IPV4.first + 1)}/{DR_SEGMENT_IPV4.length}",
        "ipv6": _offset(segment6, 1),
    }
    gateway: dict[str, Any] = {
        "role": ROLE_CLOUD,
        "hostname": DR,
        "site": site,
        "region": _dr_site(county).region,
        "interface": "eth0",
        "ipv4": (
            f"{format_address(4, DR_SEGMENT_IPV4.first + CLOUD_HOST_OFFSET)}/"
            f"{DR_SEGMENT_IPV4.length}"
        ),
        "gateway4": address_of(core["dr_interface"]["ipv4"]),
        "ipv6": _offset(segment6, CLOUD_HOST_OFFSET),
        "gateway6": address_of(core["dr_interface"]["ipv6"]),
        "name": DR_SERVICE_NAME,
        "systems": [],
        "tenants": [],
        # The site's block goes to this gateway; what no tenant holds ends here, not back at
        # the core.
        "unreachable": [block6],
    }
    topology.nodes[DR] = gateway
    topology.veths.append(Veth(CORE, CORE_SITE_INTERFACES[SiteRole.DR.value], DR, "eth0"))
    routes = core.setdefault("static_routes", [])
    routes.append({"prefix": block6, "via": address_of(gateway["ipv6"])})
    bridges: dict[tuple[str, ...], str] = {}
    protected = [w for w in workloads if w.dr is not None or w.dr_backup_volume]
    for number, spec in enumerate(protected):
        port = spec.dr or _backup_agent_port(plan, amap, spec)
        if port.subnets not in bridges:
            bridges[port.subnets] = f"d{len(bridges)}"
            gateway["tenants"].append(
                {
                    "bridge": bridges[port.subnets],
                    "ipv4": f"{port.gateway4}/{port.subnets[0].split('/')[1]}",
                    "ipv6": (
                        f"{port.gateway6}/{port.subnets[1].split('/')[1]}" if port.ipv6 else None
                    ),
                }
            )
            routes.append({"prefix": port.subnets[0], "via": address_of(gateway["ipv4"])})
            if port.ipv6 and netaddr.IPNetwork(port.subnets[1]) not in netaddr.IPNetwork(block6):
                routes.append({"prefix": port.subnets[1], "via": address_of(gateway["ipv6"])})
        _add_dr_server(topology, county, spec, port)
        topology.veths.append(Veth(DR, f"s{number}", dr_server_node(spec.system), "eth0",
                                   bridges[port.subnets]))  # fmt: skip
    for tenant in gateway["tenants"]:
        topology.bridges.append((DR, tenant["bridge"]))


def _add_dr_server(
    topology: Topology, county: County, spec: WorkloadSpec, port: ServerPort
) -> None:
    """A system's DR node, and what its other servers learn of it."""
    system = _system(county, spec.system)
    policy = county.dr.policies[system.tier]
    name = dr_server_node(spec.system)
    primary = cloud_server_node(spec.system) if spec.target is not None else None
    workload: dict[str, Any] = {
        "system": spec.system,
        "name": system_service_name(spec.system),
        "db_port": WORKLOAD_DB_PORT,
        "primary": primary,
        "tier": system.tier.value,
        "replication": policy.replication.value,
        "standby": policy.standby.value,
    }
    if spec.dr_backup_volume:
        workload["backup_volume"] = spec.dr_backup_volume
        workload["backup_dir"] = dr_backup_dir(spec.dr_backup_volume)
    node = _server_node(name, port, spec.system.partition("/")[0])
    topology.nodes[name] = node | {"site": SiteRole.DR.value, "workload": workload}
    for home in (source_node(spec.system), primary):
        if home in topology.nodes:
            topology.nodes[home]["workload"] |= {
                "dr_server": name,
                "dr_replication": policy.replication.value,
                "tier": system.tier.value,
            }


def _backup_agent_port(plan: NetworkPlan, amap: AddressMap, spec: WorkloadSpec) -> ServerPort:
    """Where a `backup` system's DR node sits: its department's DR network as planned (what
    the DR stack builds), near the end, the gateway first (Neutron's default)."""
    department = spec.system.partition("/")[0]
    index = {a.key: a for a in plan.allocations}
    found = []
    for family, kind in ((4, AllocationKind.EXTRANET), (6, AllocationKind.SUBNET)):
        allocation = index.get((department, DR_NETWORK, family, kind))
        if allocation is None:
            raise BadInputError(
                f"--workloads: {spec.system}: the network plan has no DR network for "
                f"{department}; record it (`govcloud net plan --save`) and deploy the DR stack"
            )
        network = netaddr.IPNetwork(amap.extranet(allocation.prefix))
        found.append(
            (
                f"{network[-1 - DR_BACKUP_OFFSET_FROM_END]}/{network.prefixlen}",
                str(network[1]),
            )
        )
    (ipv4, gateway4), (ipv6, gateway6) = found
    volume = spec.dr_backup_volume or ""
    return ServerPort(volume, "", "", ipv4, gateway4, ipv6, gateway6)


def _refuse_overlaps(topology: Topology, county: County, deployed: Sequence[WorkloadSpec]) -> None:
    """A cloud server on a department LAN's own prefix cannot be routed to in the lab (nor
    copied to across the extranet): name it, and the network it should be on."""
    lans = [
        netaddr.IPNetwork(prefix).cidr
        for node in topology.nodes.values()
        for lan in node.get("lans", [])
        for prefix in (lan["legacy"], lan["extranet"], lan["nat_outside"])
        if prefix
    ]
    problems = []
    for spec in deployed:
        assert spec.target is not None  # noqa: S101  (filtered by the caller)
        subnet = netaddr.IPNetwork(spec.target.subnets[0])
        clash = next((lan for lan in lans if lan in subnet or subnet in lan), None)
        if clash is not None and _system(county, spec.system).location is Location.CLOUD:
            problems.append(
                f"{spec.system}: its cloud server {spec.target.server} is on {subnet}, its "
                f"department's own network, which the lab also gives the department's LAN "
                f"({clash}); leave {spec.system.partition('/')[0]} out of --departments "
                "(the lab's other departments are its clients)"
            )
        elif clash is not None:
            problems.append(
                f"{spec.system}: its cloud server {spec.target.server} is on {subnet}, which "
                f"overlaps a department LAN ({clash}); migrated systems belong on their "
                "department's migration network: deploy the stack again after "
                "`govcloud net plan` (the server moves there)"
            )
    if problems:
        raise BadInputError("--workloads: " + "; ".join(problems))


def _order_nodes(topology: Topology) -> None:
    """Core, department routers, hosts, cloud: the order nodes are built and listed in."""
    rank = {ROLE_CORE: 0, ROLE_ROUTER: 1, ROLE_HOST: 2, ROLE_CLOUD: 3, ROLE_CLOUD_SERVER: 4}
    # Within a role, the order they were added: the primary site before the DR site.
    ordered = sorted(topology.nodes.items(), key=lambda item: rank[item[1]["role"]])
    topology.nodes = dict(ordered)


def management_ipv6(lab: str) -> Prefix:
    """The lab's management /64: fd00:ff:<16 bits of the lab name's CRC-32>::/64.

    Each lab gets its own IPv6 management prefix, so SSH control sockets (named after the
    address) of two labs on one machine never collide.
    """
    tag = zlib.crc32(lab.encode()) & 0xFFFF
    return Prefix(6, MANAGEMENT_IPV6.first + (tag << 64), 64)


def _management(topology: Topology) -> None:
    """One management address per node; the controller takes the first."""
    ipv6 = management_ipv6(topology.lab)
    capacity = MANAGEMENT_IPV4.size - 3  # network, broadcast, controller
    if len(topology.nodes) > capacity:
        raise BadInputError(
            f"the lab has {len(topology.nodes)} nodes; the management network "
            f"{MANAGEMENT_IPV4} holds {capacity}: choose fewer departments or hosts per LAN"
        )
    topology.bridges.insert(0, (MANAGEMENT_NODE, "br-mgmt"))
    for number, (name, node) in enumerate(topology.nodes.items(), start=2):
        node["management"] = {
            "interface": "mgmt0",
            "ipv4": f"{format_address(4, MANAGEMENT_IPV4.first + number)}/{MANAGEMENT_IPV4.length}",
            "ipv6": f"{format_address(6, ipv6.first + number)}/{ipv6.length}",
        }
        topology.veths.append(Veth(MANAGEMENT_NODE, f"m{number}", name, "mgmt0", "br-mgmt"))


def controller_addresses(lab: str) -> dict[str, str]:
    """The management controller's own addresses."""
    ipv6 = management_ipv6(lab)
    return {
        "ipv4": f"{format_address(4, MANAGEMENT_IPV4.first + 1)}/{MANAGEMENT_IPV4.length}",
        "ipv6": f"{format_address(6, ipv6.first + 1)}/{ipv6.length}",
    }


def _mapped(amap: AddressMap, address: render.Address | None) -> str:
    if address is None:
        raise ValueError("the router model lacks an address the lab needs")
    return amap.extranet(str(address))


def _cloud_ipv6(plan: NetworkPlan, amap: AddressMap, county: County) -> str:
    """The cloud segment: the first /64 of the primary site's block, as the gateway's address."""
    primary = county.sites[0].name
    for site in county.sites:
        if site.role is SiteRole.PRIMARY:
            primary = site.name
            break
    return _site_ipv6(plan, amap, primary)[0]


def _site_ipv6(plan: NetworkPlan, amap: AddressMap, site: str) -> tuple[str, str]:
    """A site's segment (the first /64 of its block) and its whole block, both in the lab."""
    blocks = {
        a.network: a for a in plan.allocations if a.family == 6 and a.kind is AllocationKind.BLOCK
    }
    block = parse(amap.extranet(blocks[f"site:{site}"].prefix))
    first64 = Prefix(6, block.first, 64)
    return f"{format_address(6, first64.first)}/64", str(block)
