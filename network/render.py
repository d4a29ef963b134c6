"""Router configurations from the plan, through jinja2 templates, per vendor.

`routers(county, plan)` builds a vendor-neutral description of every router: the extranet core
and one edge router per department, with dual-stack interfaces, OSPFv2/OSPFv3, router
advertisements on LANs and 1:1 NETMAP NAT for networks that keep their addresses. The templates
in `templates/<vendor>/` only spell that description in each dialect.

Routing policy: a NAT'd LAN keeps its legacy (possibly overlapping) prefix, so it is never put
into OSPF; its extranet prefix is announced as a static discard route instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import netaddr

from govcloud.model import County
from network.plan import CORE_ROUTER, COUNTY_WIDE, Allocation, AllocationKind, NetworkPlan
from network.prefixes import format_address, parse

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Address:
    """An interface address with its prefix length."""

    address: str
    prefix: str

    @property
    def length(self) -> int:
        """Prefix length."""
        return int(self.prefix.split("/")[1])

    @property
    def netmask(self) -> str:
        """Dotted netmask (IPv4 only)."""
        return str(netaddr.IPNetwork(self.prefix).netmask)

    @property
    def wildcard(self) -> str:
        """Wildcard mask, for OSPF network statements (IPv4 only)."""
        return str(netaddr.IPNetwork(self.prefix).hostmask)

    @property
    def network(self) -> str:
        """The network address."""
        return self.prefix.split("/")[0]

    def __str__(self) -> str:
        return f"{self.address}/{self.length}"


@dataclass(frozen=True)
class Interface:
    """A router interface, named in the vendor's convention."""

    name: str
    description: str
    ipv4: Address | None
    ipv6: Address | None
    ospf: bool  # in OSPFv2 area 0 (IPv6 always runs OSPFv3 where it has an address)
    passive: bool  # a LAN: advertise it, form no adjacency
    router_advertisements: bool


@dataclass(frozen=True)
class NatMapping:
    """1:1 NETMAP: `inside` (the legacy prefix) appears in the extranet as `outside`."""

    inside: Address
    outside: Address
    interface: str  # the uplink that faces the extranet

    @property
    def inside_last(self) -> str:
        """Last address of the inside prefix (for vendors that take a range)."""
        return str(netaddr.IPNetwork(self.inside.prefix)[-1])


@dataclass(frozen=True)
class Router:
    """One router: its identity, interfaces, NAT and the static routes it announces."""

    hostname: str
    department: str
    role: str
    router_id: str
    loopback: Interface
    interfaces: tuple[Interface, ...]
    nat: tuple[NatMapping, ...]
    discard_routes: tuple[Address, ...]


@dataclass(frozen=True)
class Naming:
    """How a vendor names the loopback, the uplink, LANs and the core's downlinks."""

    loopback: str
    uplink: str
    lan: Callable[[int], str]
    downlink: Callable[[int], str]


VENDORS: dict[str, Naming] = {
    "frr": Naming("lo", "up0", lambda i: f"lan{i}", lambda i: f"dl{i}"),
    "huawei": Naming(
        "LoopBack0",
        "GigabitEthernet0/0/0",
        lambda i: f"GigabitEthernet0/0/{i + 1}",
        lambda i: f"GigabitEthernet1/0/{i}",
    ),
    "h3c": Naming(
        "LoopBack0",
        "GigabitEthernet1/0/1",
        lambda i: f"GigabitEthernet1/0/{i + 2}",
        lambda i: f"GigabitEthernet2/0/{i + 1}",
    ),
}


def hostname(department: str) -> str:
    """Router hostname for a department, or for the core."""
    return f"{department or CORE_ROUTER}-rtr"


def _host(prefix: str, offset: int) -> Address:
    parsed = parse(prefix)
    return Address(format_address(parsed.family, parsed.first + offset), prefix)


def routers(county: County, plan: NetworkPlan, vendor: str) -> list[Router]:
    """Every router of the county: the core first, then one per department by code."""
    naming = VENDORS[vendor]
    index: dict[tuple[str, str, int, AllocationKind], Allocation] = {
        a.key: a for a in plan.allocations
    }

    def get(department: str, network: str, family: int, kind: AllocationKind) -> Allocation:
        return index[(department, network, family, kind)]

    def loopback(department: str) -> tuple[Interface, str]:
        """The loopback interface and the router ID (its IPv4 loopback address)."""
        network = "loopback" if department else CORE_ROUTER
        v4 = _host(get(department, network, 4, AllocationKind.LOOPBACK).prefix, 0)
        v6 = _host(get(department, network, 6, AllocationKind.LOOPBACK).prefix, 0)
        interface = Interface(
            naming.loopback,
            "router identity",
            v4,
            v6,
            ospf=True,
            passive=True,
            router_advertisements=False,
        )
        return interface, v4.address

    departments = sorted(county.departments, key=lambda d: d.code)
    core_loopback, core_id = loopback(COUNTY_WIDE)
    downlinks = []
    for number, department in enumerate(departments):
        link_v4 = get(department.code, "p2p", 4, AllocationKind.P2P).prefix
        link_v6 = get(department.code, "p2p", 6, AllocationKind.P2P).prefix
        downlinks.append(
            Interface(
                naming.downlink(number),
                f"link to {department.code}",
                _host(link_v4, 0),
                _host(link_v6, 0),
                ospf=True,
                passive=False,
                router_advertisements=False,
            )
        )
    result = [
        Router(
            hostname(COUNTY_WIDE),
            COUNTY_WIDE,
            "core",
            core_id,
            core_loopback,
            tuple(downlinks),
            (),
            (),
        )
    ]

    for department in departments:
        code = department.code
        edge_loopback, edge_id = loopback(code)
        uplink = Interface(
            naming.uplink,
            "uplink to the extranet core",
            _host(get(code, "p2p", 4, AllocationKind.P2P).prefix, 1),
            _host(get(code, "p2p", 6, AllocationKind.P2P).prefix, 1),
            ospf=True,
            passive=False,
            router_advertisements=False,
        )
        lans, nat, discard = [], [], []
        for number, network in enumerate(department.legacy_networks):
            subnet = _host(get(code, network.name, 6, AllocationKind.SUBNET).prefix, 1)
            if network.renumber:
                v4 = _host(get(code, network.name, 4, AllocationKind.EXTRANET).prefix, 1)
            else:
                v4 = _host(network.prefix, 1)
                outside = get(code, network.name, 4, AllocationKind.NAT).prefix
                nat.append(NatMapping(_host(network.prefix, 0), _host(outside, 0), naming.uplink))
                discard.append(_host(outside, 0))
            lans.append(
                Interface(
                    naming.lan(number),
                    network.name,
                    v4,
                    subnet,
                    ospf=network.renumber,
                    passive=True,
                    router_advertisements=True,
                )
            )
        result.append(
            Router(
                hostname(code),
                code,
                "department",
                edge_id,
                edge_loopback,
                (uplink, *lans),
                tuple(nat),
                tuple(discard),
            )
        )
    return result


def environment(*, autoescape: bool = False) -> jinja2.Environment:
    """The template environment: strict about undefined names; escaping only for HTML."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,  # noqa: S701  (off only for router configurations)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(county: County, plan: NetworkPlan, vendor: str) -> dict[str, str]:
    """File name → content for every router (and, for FRR, an nftables file per NAT router)."""
    env = environment()
    config = env.get_template(f"{vendor}/router.j2")
    files: dict[str, str] = {}
    for router in routers(county, plan, vendor):
        files[f"{router.hostname}.conf"] = config.render(router=router, county=county)
        if vendor == "frr" and router.nat:
            files[f"{router.hostname}.nft"] = env.get_template("frr/nat.nft.j2").render(
                router=router
            )
    return files
