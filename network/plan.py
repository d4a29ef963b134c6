"""The extranet address plan: IPv4 merge plan and hierarchical IPv6 plan, as pure functions.

`plan_network(county, existing)` returns every allocation the county needs. Allocations that
already exist (from the registry) are kept exactly where they are; only what is missing is
carved from free space, so adding a department or a network never moves anything.

IPv6 hierarchy (lengths from `extranet.ipv6_plan`, all nibble-aligned):

    county prefix (/32)
      block "infrastructure" (/36, index 0)
        block "loopbacks" (/48)  → /128 per router (the subnet-router anycast ::0 skipped)
        block "p2p-links" (/48)  → one /64 reserved per link, its first /127 used (RFC 6164)
      block "departments" (/36, index 1) → /48 per department, sparse → /64 per legacy network
      block "townships"   (/36, index 2) → /48 per township, sparse → /64 per legacy network
      block "site:<name>" (/36, index 3 + site order) for each cloud site; its first /64 is
        the site's own cloud segment; the DR site's block holds a /64 per department's
        DR network (`DR_NETWORK`)

IPv4: every legacy network gets an extranet prefix from the pools sized for its hosts with
growth headroom (`renumber: true`), or a 1:1 NETMAP prefix of its own size (`renumber: false`).
Router loopbacks (/32) and links (/31, RFC 3021) come from two infrastructure blocks.

Networks granted through the portal (`RequestedNetwork`) are planned like legacy networks of
their department that are renumbered: a /64 in the department's block and an extranet IPv4
prefix sized for their hosts. They are part of the plan as long as the registry holds them as
granted, so `govcloud net plan --prune` releases them only after they are decommissioned.

Each department named in `dr_departments` (those with a system a DR policy protects) gets its
network at the DR site, `DR_NETWORK`: an extranet IPv4 prefix from the pools and a /64 from
the DR site's block, so the DR copies never share a prefix with the primary's (streaming
between them is routed) and the DR site's IPv6 is one route at the core.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from govcloud import constants
from govcloud.conventions import DR_NETWORK, DR_NETWORK_HOSTS
from govcloud.model import County, Department, DepartmentKind, SiteRole
from network.ipam import FreeSpace, SpaceExhaustedError, SparseSlots
from network.prefixes import Prefix, format_address, gc_paused, parse, reverse_zone

COUNTY_WIDE = ""  # the department of county-wide allocations
CORE_ROUTER = "core"  # the extranet core router's loopback is allocated under this network

# Growth headroom for renumbered LANs: room for half as many hosts again (RIPE-690 sizes for
# growth; 50% is the planning margin the provincial plans use for access networks).
IPV4_GROWTH_FACTOR = 1.5
# Smallest extranet LAN: a gateway, a VRRP pair and a handful of hosts.
IPV4_MIN_LAN_PREFIXLEN = 28
IPV4_LOOPBACK_BLOCK_PREFIXLEN = 24  # 256 router loopbacks
IPV4_P2P_BLOCK_PREFIXLEN = 23  # 256 router links of /31
# A block's network address is never a router ID, so a loopback block holds one fewer.
IPV4_LOOPBACKS_PER_BLOCK = (1 << (32 - IPV4_LOOPBACK_BLOCK_PREFIXLEN)) - 1
IPV4_LINKS_PER_BLOCK = 1 << (constants.IPV4_P2P_PREFIXLEN - IPV4_P2P_BLOCK_PREFIXLEN)
LOOPBACK_BLOCK = "loopbacks"
LINK_BLOCK = "p2p-links"

BLOCK_INFRASTRUCTURE = 0
BLOCK_DEPARTMENTS = 1
BLOCK_TOWNSHIPS = 2
BLOCK_FIRST_SITE = 3


class AllocationKind(StrEnum):
    """What an allocation is for."""

    EXTRANET = "extranet"
    NAT = "nat"
    BLOCK = "block"
    SUBNET = "subnet"
    P2P = "p2p"
    LOOPBACK = "loopback"


@dataclass(frozen=True, slots=True)
class Allocation:
    """One prefix handed out by the plan; `key` identifies it across runs."""

    department: str
    network: str
    family: int
    kind: AllocationKind
    prefix: str
    parent: str
    inside: str | None = None

    @property
    def key(self) -> tuple[str, str, int, AllocationKind]:
        """What the allocation is for: department, network, family, kind."""
        return (self.department, self.network, self.family, self.kind)

    def as_dict(self) -> dict[str, str | int | None]:
        """Plain fields for JSON, YAML and CSV (county-wide allocations have department None)."""
        return {
            "department": self.department or None,
            "network": self.network,
            "family": self.family,
            "kind": self.kind.value,
            "prefix": self.prefix,
            "parent": self.parent,
            "inside": self.inside,
        }


@dataclass(frozen=True, slots=True)
class RequestedNetwork:
    """A network a department was granted outside the county files (a portal request)."""

    department: str
    network: str
    hosts: int


@dataclass(frozen=True)
class ReverseZone:
    """An ip6.arpa zone to delegate, and to whom."""

    zone: str
    prefix: str
    department: str


@dataclass(frozen=True)
class NetworkPlan:
    """The whole plan and how it differs from what existed."""

    allocations: tuple[Allocation, ...]
    added: tuple[Allocation, ...]
    orphaned: tuple[Allocation, ...]
    warnings: tuple[str, ...]
    zones: tuple[ReverseZone, ...]

    @property
    def kept(self) -> int:
        """How many existing allocations the plan keeps."""
        return len(self.allocations) - len(self.added)


class PlanError(Exception):
    """The plan cannot be made; `problems` says why and what to do."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def lan_prefixlen(hosts: int) -> int:
    """The IPv4 prefix length for a LAN of `hosts` hosts with growth headroom."""
    needed = math.ceil(hosts * IPV4_GROWTH_FACTOR) + 2  # network and broadcast addresses
    length = 32 - max(needed - 1, 1).bit_length()
    return min(length, IPV4_MIN_LAN_PREFIXLEN)


@dataclass
class _Request:
    """A missing allocation, waiting for space."""

    department: str
    network: str
    family: int
    kind: AllocationKind
    length: int
    inside: str | None = None


@dataclass
class _Planner:
    county: County
    existing: dict[tuple[str, str, int, AllocationKind], Allocation]
    requested: dict[str, list[RequestedNetwork]] = field(default_factory=dict)
    # Departments with a network at the DR site, and the name of that site's block.
    dr_departments: frozenset[str] = frozenset()
    dr_block: str | None = None
    result: dict[tuple[str, str, int, AllocationKind], Allocation] = field(default_factory=dict)
    added: list[Allocation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    spaces: dict[Prefix, FreeSpace] = field(default_factory=dict)
    parsed: dict[str, Prefix] = field(default_factory=dict)
    children: dict[str, list[Prefix]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Index what exists by parent once: looking it up per parent would be quadratic.
        for allocation in self.existing.values():
            prefix = self.prefix_of(allocation.prefix)
            self.children.setdefault(allocation.parent, []).append(prefix)

    # -- helpers ---------------------------------------------------------------------------
    def prefix_of(self, text: str) -> Prefix:
        """Parse a prefix once per plan."""
        prefix = self.parsed.get(text)
        if prefix is None:
            prefix = self.parsed[text] = parse(text)
        return prefix

    def space(self, parent: Prefix) -> FreeSpace:
        """Free space under a parent, minus what already exists there."""
        if parent not in self.spaces:
            self.spaces[parent] = FreeSpace(parent, self.children.get(str(parent), ()))
        return self.spaces[parent]

    def keep(self, key: tuple[str, str, int, AllocationKind]) -> Allocation | None:
        found = self.existing.get(key)
        if found is not None:
            self.result[key] = found
        return found

    def add(self, request: _Request, prefix: Prefix, parent: Prefix) -> Allocation:
        """Record a new allocation carved from `parent`."""
        text = str(prefix)
        self.parsed[text] = prefix
        allocation = Allocation(
            request.department,
            request.network,
            request.family,
            request.kind,
            text,
            str(parent),
            request.inside,
        )
        self.result[allocation.key] = allocation
        self.added.append(allocation)
        return allocation

    def child(self, request: _Request, parent: Prefix, strategy: str) -> Prefix | None:
        """The existing prefix for the request, or a new one carved from `parent`."""
        key = (request.department, request.network, request.family, request.kind)
        found = self.keep(key)
        if found is not None:
            return parse(found.prefix)
        space = self.space(parent)
        try:
            prefix = (
                space.first_fit(request.length)
                if strategy == "first"
                else (space.best_fit(request.length))
            )
        except SpaceExhaustedError:
            self.problems.append(
                f"{parent} has no free /{request.length} left for "
                f"{request.department or 'the county'} {request.network}"
            )
            return None
        self.add(request, prefix, parent)
        return prefix

    # -- IPv6 ------------------------------------------------------------------------------
    def plan_ipv6(self) -> None:
        plan = self.county.extranet.ipv6_plan
        county_prefix = parse(self.county.extranet.ipv6_prefix)
        blocks = {
            "infrastructure": BLOCK_INFRASTRUCTURE,
            "departments": BLOCK_DEPARTMENTS,
            "townships": BLOCK_TOWNSHIPS,
            **{f"site:{s.name}": BLOCK_FIRST_SITE + i for i, s in enumerate(self.county.sites)},
        }
        top: dict[str, Prefix] = {}
        for name, index in blocks.items():
            top[name] = self.fixed_block(name, county_prefix, plan.block, index)

        if self.dr_block is not None:
            self.plan_dr_ipv6(top[self.dr_block], plan.subnet)
        infra_loopbacks = self.fixed_block("loopbacks", top["infrastructure"], plan.department, 0)
        infra_links = self.fixed_block("p2p-links", top["infrastructure"], plan.department, 1)
        # Never hand out the subnet-router anycast address (RFC 4291 2.6.1) as a loopback.
        self.space(infra_loopbacks).take(
            Prefix(6, infra_loopbacks.first, constants.IPV6_LOOPBACK_PREFIXLEN)
        )
        self.single(
            COUNTY_WIDE,
            CORE_ROUTER,
            AllocationKind.LOOPBACK,
            family=6,
            parent=infra_loopbacks,
            length=constants.IPV6_LOOPBACK_PREFIXLEN,
        )

        slots = {
            DepartmentKind.DEPARTMENT: SparseSlots(self.space(top["departments"]), plan.department),
            DepartmentKind.TOWNSHIP: SparseSlots(self.space(top["townships"]), plan.township),
        }
        for department in sorted(self.county.departments, key=lambda d: d.code):
            parent = top[
                "departments" if department.kind is DepartmentKind.DEPARTMENT else "townships"
            ]
            self.plan_department_ipv6(department, parent, slots[department.kind])
            self.single(
                department.code,
                "loopback",
                AllocationKind.LOOPBACK,
                family=6,
                parent=infra_loopbacks,
                length=constants.IPV6_LOOPBACK_PREFIXLEN,
            )
            self.link_ipv6(department.code, infra_links)

    def plan_dr_ipv6(self, site_block: Prefix, length: int) -> None:
        """A /64 per DR department in the DR site's block, first fit in department order."""
        # The block's first /64 is the site's own cloud segment (its gateway), never a tenant's.
        self.space(site_block).take(Prefix(6, site_block.first, length))
        for code in sorted(self.dr_departments):
            self.single(
                code, DR_NETWORK, AllocationKind.SUBNET, family=6, parent=site_block, length=length
            )

    def fixed_block(self, name: str, parent: Prefix, length: int, index: int) -> Prefix:
        """A county-wide block at a fixed index: its place is part of the plan's design."""
        key = (COUNTY_WIDE, name, parent.family, AllocationKind.BLOCK)
        found = self.keep(key)
        if found is not None:
            return parse(found.prefix)
        block = parent.subnet(length, index)
        self.space(parent).take(block)
        self.add(
            _Request(COUNTY_WIDE, name, parent.family, AllocationKind.BLOCK, length), block, parent
        )
        return block

    def single(
        self,
        department: str,
        network: str,
        kind: AllocationKind,
        *,
        family: int,
        parent: Prefix,
        length: int,
    ) -> Prefix | None:
        """One first-fit child of `parent` for a department's network (or existing one)."""
        return self.child(_Request(department, network, family, kind, length), parent, "first")

    def link_ipv6(self, department: str, links: Prefix) -> None:
        """A /64 reserved per link (RIPE-690), configured as its first /127 (RFC 6164)."""
        key = (department, "p2p", 6, AllocationKind.P2P)
        if self.keep(key) is not None:
            return
        space = self.space(links)
        try:
            reserved = space.first_fit(constants.IPV6_SUBNET_PREFIXLEN)
        except SpaceExhaustedError:
            self.problems.append(f"{links} has no free /64 left for the {department} link")
            return
        link = Prefix(6, reserved.first, constants.IPV6_P2P_PREFIXLEN)
        self.add(_Request(department, "p2p", 6, AllocationKind.P2P, link.length), link, links)

    def plan_department_ipv6(
        self, department: Department, parent: Prefix, slots: SparseSlots
    ) -> None:
        key = (department.code, "department", 6, AllocationKind.BLOCK)
        found = self.keep(key)
        if found is not None:
            block = parse(found.prefix)
        else:
            try:
                block = slots.allocate()
            except SpaceExhaustedError:
                self.problems.append(
                    f"{parent} has no free /{slots.length} left for {department.code}; "
                    "use a shorter ipv6_plan.block or a larger county prefix"
                )
                return
            self.add(
                _Request(department.code, "department", 6, AllocationKind.BLOCK, slots.length),
                block,
                parent,
            )
        names = [n.name for n in department.legacy_networks]
        names += [r.network for r in self.requested.get(department.code, ())]
        for name in names:
            self.single(
                department.code,
                name,
                AllocationKind.SUBNET,
                family=6,
                parent=block,
                length=self.county.extranet.ipv6_plan.subnet,
            )

    # -- IPv4 ------------------------------------------------------------------------------
    def plan_ipv4(self) -> None:
        pools = sorted(parse(p) for p in self.county.extranet.ipv4_pools)
        for pool in pools:
            self.space(pool)
        routers = len(self.county.departments) + 1  # and the core
        requests: list[_Request] = [
            *(
                _Request(COUNTY_WIDE, name, 4, AllocationKind.BLOCK, IPV4_LOOPBACK_BLOCK_PREFIXLEN)
                for name in infrastructure_blocks(LOOPBACK_BLOCK, routers, IPV4_LOOPBACKS_PER_BLOCK)
            ),
            *(
                _Request(COUNTY_WIDE, name, 4, AllocationKind.BLOCK, IPV4_P2P_BLOCK_PREFIXLEN)
                for name in infrastructure_blocks(
                    LINK_BLOCK, len(self.county.departments), IPV4_LINKS_PER_BLOCK
                )
            ),
        ]
        for department in sorted(self.county.departments, key=lambda d: d.code):
            requests += self.department_ipv4(department)
        dr_length = lan_prefixlen(DR_NETWORK_HOSTS)
        dr_requests = [
            _Request(code, DR_NETWORK, 4, AllocationKind.EXTRANET, dr_length)
            for code in sorted(self.dr_departments if self.dr_block is not None else ())
        ]
        # The DR networks are placed after everything else, so even a fresh plan gives the
        # primary's networks the same prefixes with or without them.
        failed = self.place_missing(requests, pools) + self.place_missing(dr_requests, pools)
        if failed:
            self.problems.append(_exhaustion_message(failed, pools, self.spaces))
            return
        self.infrastructure_ipv4()

    def department_ipv4(self, department: Department) -> list[_Request]:
        """The IPv4 prefixes a department needs at the primary: its legacy networks (renumbered
        or NAT) and its granted networks."""
        requests: list[_Request] = []
        for network in department.legacy_networks:
            legacy = parse(network.prefix)
            if network.renumber:
                requests.append(
                    _Request(
                        department.code,
                        network.name,
                        4,
                        AllocationKind.EXTRANET,
                        lan_prefixlen(network.hosts),
                    )
                )
            else:
                requests.append(
                    _Request(
                        department.code,
                        network.name,
                        4,
                        AllocationKind.NAT,
                        legacy.length,
                        inside=str(legacy),
                    )
                )
        for granted in self.requested.get(department.code, ()):
            requests.append(
                _Request(
                    department.code,
                    granted.network,
                    4,
                    AllocationKind.EXTRANET,
                    lan_prefixlen(granted.hosts),
                )
            )
        return requests

    def place_missing(self, requests: list[_Request], pools: list[Prefix]) -> list[_Request]:
        """Keep what exists, place the rest in the pools; the requests that found no room."""
        missing: list[_Request] = []
        for request in requests:
            found = self.keep((request.department, request.network, 4, request.kind))
            if found is None:
                missing.append(request)
            else:
                self.check_existing_ipv4(request, found)
        # Largest first, then by name: large blocks find aligned room before space fragments.
        missing.sort(key=lambda r: (r.length, r.department, r.network))
        return [r for r in missing if not self.place_in_pools(r, pools)]

    def check_existing_ipv4(self, request: _Request, found: Allocation) -> None:
        have = parse(found.prefix)
        if request.kind is AllocationKind.EXTRANET and have.length > request.length:
            self.warnings.append(
                f"{request.department}/{request.network}: {found.prefix} is smaller than the "
                f"/{request.length} its host count now needs; kept (never moved), renumber "
                "into a new network to grow"
            )
        if request.kind is AllocationKind.NAT and found.inside != request.inside:
            self.warnings.append(
                f"{request.department}/{request.network}: NAT maps {found.inside} but the "
                f"legacy prefix is now {request.inside}; kept (never moved), release it "
                "with --prune and plan again to remap"
            )

    def place_in_pools(self, request: _Request, pools: list[Prefix]) -> bool:
        for pool in pools:
            if request.length <= pool.length:
                # A child as large as its pool would make "parent" ambiguous: never do it.
                continue
            try:
                prefix = self.spaces[pool].best_fit(request.length)
            except SpaceExhaustedError:
                continue
            self.add(request, prefix, pool)
            return True
        return False

    def infrastructure_ipv4(self) -> None:
        departments = sorted(self.county.departments, key=lambda d: d.code)
        loopbacks = self.blocks(LOOPBACK_BLOCK, len(departments) + 1, IPV4_LOOPBACKS_PER_BLOCK)
        links = self.blocks(LINK_BLOCK, len(departments), IPV4_LINKS_PER_BLOCK)
        # The block's network address is never a router ID (as ::0 is never a loopback).
        for block in loopbacks:
            self.space(block).take(Prefix(4, block.first, 32))
        self.first_with_room(
            _Request(COUNTY_WIDE, CORE_ROUTER, 4, AllocationKind.LOOPBACK, 32), loopbacks
        )
        for department in departments:
            self.first_with_room(
                _Request(department.code, "loopback", 4, AllocationKind.LOOPBACK, 32), loopbacks
            )
            self.first_with_room(
                _Request(
                    department.code, "p2p", 4, AllocationKind.P2P, constants.IPV4_P2P_PREFIXLEN
                ),
                links,
            )

    def blocks(self, base: str, needed: int, per_block: int) -> list[Prefix]:
        """The county-wide infrastructure blocks named after `base`, in order."""
        return [
            parse(self.result[(COUNTY_WIDE, name, 4, AllocationKind.BLOCK)].prefix)
            for name in infrastructure_blocks(base, needed, per_block)
        ]

    def first_with_room(self, request: _Request, parents: Sequence[Prefix]) -> Prefix | None:
        """The existing prefix for the request, or the first fit in the first parent with room."""
        found = self.keep((request.department, request.network, request.family, request.kind))
        if found is not None:
            return parse(found.prefix)
        for parent in parents:
            try:
                prefix = self.space(parent).first_fit(request.length)
            except SpaceExhaustedError:
                continue
            self.add(request, prefix, parent)
            return prefix
        self.problems.append(
            f"{', '.join(map(str, parents))} have no free /{request.length} left for "
            f"{request.department or 'the county'} {request.network}"
        )
        return None


def infrastructure_blocks(base: str, needed: int, per_block: int) -> list[str]:
    """Names of the blocks holding `needed` items: `base`, then `base-2`, `base-3`, ...

    The first block keeps its historical name, so a county that grows past one block keeps
    every existing allocation and only gains blocks.
    """
    count = max(1, math.ceil(needed / per_block))
    return [base, *(f"{base}-{number}" for number in range(2, count + 1))]


def _exhaustion_message(
    failed: list[_Request], pools: list[Prefix], spaces: dict[Prefix, FreeSpace]
) -> str:
    shortfall = sum(1 << (32 - r.length) for r in failed)
    free = sum(spaces[p].free_addresses for p in pools)
    suggest = 32 - max(shortfall - 1, 1).bit_length()
    names = ", ".join(f"{r.department or 'county'}/{r.network} (/{r.length})" for r in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    left = "none is free" if not free else f"the {free:,} free addresses are in pieces too small"
    return (
        f"the IPv4 pools are too small: {len(failed)} allocations ({names}{more}) need "
        f"{shortfall:,} more addresses and {left}; add at least a /{suggest} to "
        "extranet.ipv4_pools"
    )


def _dr_block(county: County) -> str | None:
    """The name of the DR site's IPv6 block, None when the county has no DR site."""
    try:
        return f"site:{county.site(SiteRole.DR).name}"
    except KeyError:
        return None


def plan_network(
    county: County,
    existing: Iterable[Allocation] = (),
    families: frozenset[int] = frozenset({4, 6}),
    requested: Iterable[RequestedNetwork] = (),
    dr_departments: Iterable[str] = (),
) -> NetworkPlan:
    """Plan every allocation; keep the existing ones; raise PlanError when space runs out.

    `requested` adds granted networks to their departments (those of departments the county
    no longer has are left out, with a warning, and so become orphans). `dr_departments` get
    their network at the DR site (none without a DR site: a warning says so).
    """
    with gc_paused():
        existing_by_key = {a.key: a for a in existing}
        known = {d.code for d in county.departments}
        by_department: dict[str, list[RequestedNetwork]] = {}
        warnings = []
        for granted in sorted(requested, key=lambda r: (r.department, r.network)):
            if granted.department in known:
                by_department.setdefault(granted.department, []).append(granted)
            else:
                warnings.append(
                    f"granted network {granted.network} belongs to {granted.department}, "
                    "which the county no longer has: not planned"
                )
        dr_known = frozenset(dr_departments) & known
        dr_block = _dr_block(county) if dr_known else None
        if dr_known and dr_block is None:
            warnings.append(
                "the county has no DR site, so the DR networks of "
                f"{', '.join(sorted(dr_known))} are not planned: add a site with role: dr to "
                "county.yaml"
            )
        planner = _Planner(
            county,
            existing_by_key,
            by_department,
            dr_departments=dr_known,
            dr_block=dr_block,
            warnings=warnings,
        )
        if 6 in families:
            planner.plan_ipv6()
        if 4 in families:
            planner.plan_ipv4()
        if planner.problems:
            raise PlanError(planner.problems)

        def order(allocation: Allocation) -> Prefix:
            return planner.prefix_of(allocation.prefix)  # orders by family, then address

        allocations = tuple(sorted(planner.result.values(), key=order))
        orphaned = tuple(
            sorted(
                (
                    a
                    for key, a in existing_by_key.items()
                    if key not in planner.result and a.family in families
                ),
                key=order,
            )
        )
        return NetworkPlan(
            allocations=allocations,
            added=tuple(sorted(planner.added, key=order)),
            orphaned=orphaned,
            warnings=tuple(planner.warnings),
            zones=tuple(reverse_zones(county, allocations, parsed=planner.prefix_of)),
        )


def reverse_zones(
    county: County,
    allocations: Iterable[Allocation],
    parsed: Callable[[str], Prefix] = parse,
) -> list[ReverseZone]:
    """The county's ip6.arpa zone and one per department or township block to delegate."""
    county_prefix = parse(county.extranet.ipv6_prefix)
    zones = [ReverseZone(reverse_zone(county_prefix), str(county_prefix), COUNTY_WIDE)]
    blocks = (
        a for a in allocations if a.family == 6 and a.kind is AllocationKind.BLOCK and a.department
    )
    for allocation in sorted(blocks, key=lambda a: parsed(a.prefix)):
        zones.append(
            ReverseZone(
                reverse_zone(parsed(allocation.prefix)), allocation.prefix, allocation.department
            )
        )
    return zones


def gateway(prefix: str) -> str:
    """The router's address in a LAN: the first host (never the subnet-router anycast ::0)."""
    parsed = parse(prefix)
    return format_address(parsed.family, parsed.first + 1)
